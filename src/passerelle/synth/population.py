"""Synthetic persons, generated chunk by chunk from (seed, chunk number).

Every person gets a unique NIR: its birth département and 6 trailing digits
(commune, order) are a bijection of the person's index onto the 96 million
(département, number) slots, so NIRs never repeat up to ten million persons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["CHUNK", "MAX_PERSONS", "METRO_DEPARTEMENTS", "Persons", "persons_chunk"]

CHUNK = 65_536
MAX_PERSONS = 10_000_000

METRO_DEPARTEMENTS = tuple(
    [f"{d:02d}" for d in range(1, 20)] + ["2A", "2B"] + [f"{d:02d}" for d in range(21, 96)]
)
OVERSEAS = ("971", "972", "973", "974", "976")
FIRST_NAMES_M = (
    "JEAN",
    "PIERRE",
    "MICHEL",
    "ANDRE",
    "PHILIPPE",
    "NICOLAS",
    "LUCAS",
    "HUGO",
    "THOMAS",
    "ANTOINE",
    "JULIEN",
    "MATHIEU",
    "YANNICK",
    "GILLES",
    "BERNARD",
    "KARIM",
    "MEHDI",
    "THEO",
)
FIRST_NAMES_F = (
    "MARIE",
    "NATHALIE",
    "ISABELLE",
    "SYLVIE",
    "CATHERINE",
    "JULIE",
    "CAMILLE",
    "EMMA",
    "CHLOE",
    "SOPHIE",
    "AMELIE",
    "LAURENCE",
    "NADIA",
    "FATIMA",
    "CELINE",
    "MANON",
    "LOUISE",
)
_SYLLABLES = (
    "KER",
    "VAL",
    "LOR",
    "BEN",
    "MAR",
    "TIN",
    "DUR",
    "GOU",
    "RIV",
    "BAL",
    "CHE",
    "NOV",
    "PEL",
    "SAU",
    "TRI",
    "ZAR",
    "FON",
    "LAN",
    "MOR",
    "QUE",
    "ROC",
    "VIL",
    "BRE",
    "DAN",
)
_KEY_NUMBER = {"2A": 19, "2B": 18}
_SCRAMBLE = 1_000_003  # coprime with 96 million: index -> slot is a bijection
BIRTH_FROM = "1930-01-01"
BIRTH_TO = "2020-12-31"


@dataclass(frozen=True, slots=True)
class Persons:
    """A chunk of persons as parallel arrays (``index`` is the global person number)."""

    index: npt.NDArray[np.int64]
    nir: npt.NDArray[np.str_]
    sex: npt.NDArray[np.int64]
    birth: npt.NDArray[np.datetime64]
    first_name: npt.NDArray[np.str_]
    last_name: npt.NDArray[np.str_]
    postcode: npt.NDArray[np.str_]
    phone: npt.NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.index)


def _strings(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.str_]:
    import numpy as np

    return np.char.zfill(values.astype(str), width)


def persons_chunk(seed: int, chunk: int, total: int) -> Persons:
    """Persons ``chunk * CHUNK`` .. up to ``total`` (exclusive), deterministic for ``seed``."""
    import numpy as np

    start = chunk * CHUNK
    index = np.arange(start, min(start + CHUNK, total), dtype=np.int64)
    n = len(index)
    rng = np.random.default_rng([seed, chunk, 1])
    sex = rng.integers(1, 3, n)
    lo = np.datetime64(BIRTH_FROM, "D")
    span = int((np.datetime64(BIRTH_TO, "D") - lo).astype(int)) + 1
    birth = lo + rng.integers(0, span, n).astype("timedelta64[D]")
    years = birth.astype("datetime64[Y]").astype(int) + 1970
    months = birth.astype("datetime64[M]").astype(int) % 12 + 1
    choices = np.array(METRO_DEPARTEMENTS)
    slot = (index * _SCRAMBLE + 7_777 * (seed % 10_000)) % (len(choices) * 1_000_000)
    dept = choices[slot // 1_000_000]
    trailing = slot % 1_000_000
    dept_num = np.array([_KEY_NUMBER.get(d, 0) or int(d) for d in METRO_DEPARTEMENTS])[
        slot // 1_000_000
    ]
    number = sex * 10**12 + (years % 100) * 10**10 + months * 10**8 + dept_num * 10**6 + trailing
    key = 97 - number % 97
    nir = np.char.add(
        np.char.add(
            np.char.add(sex.astype(str), _strings(years % 100, 2)),
            np.char.add(_strings(months, 2), dept),
        ),
        np.char.add(_strings(trailing, 6), _strings(key, 2)),
    )
    first = np.where(
        sex == 1,
        np.array(FIRST_NAMES_M)[rng.integers(0, len(FIRST_NAMES_M), n)],
        np.array(FIRST_NAMES_F)[rng.integers(0, len(FIRST_NAMES_F), n)],
    )
    syl = np.array(_SYLLABLES)
    last = np.char.add(
        np.char.add(syl[rng.integers(0, len(syl), n)], syl[rng.integers(0, len(syl), n)]),
        syl[rng.integers(0, len(syl), n)],
    )
    overseas = rng.random(n) < 0.03
    res_dept = choices[rng.integers(0, len(choices), n)]
    res_dept = np.where(res_dept == "2A", "20", np.where(res_dept == "2B", "20", res_dept))
    tail = rng.integers(0, 1000, n)
    corsica_tail = np.where(
        choices[rng.integers(0, 2, n) + 19] == "2A", tail % 200, 200 + tail % 500
    )
    tail = np.where(res_dept == "20", corsica_tail, tail)
    postcode = np.char.add(res_dept, _strings(tail, 3))
    postcode = np.where(
        overseas,
        np.char.add(
            np.array(OVERSEAS)[rng.integers(0, len(OVERSEAS), n)],
            _strings(rng.integers(0, 100, n), 2),
        ),
        postcode,
    )
    phone = np.char.add(
        np.where(rng.random(n) < 0.8, "06", "07"), _strings(rng.integers(0, 10**8, n), 8)
    )
    return Persons(index, nir, sex, birth, first, last, postcode, phone)
