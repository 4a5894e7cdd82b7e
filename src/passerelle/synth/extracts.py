"""Rows of the three synthetic extracts for one chunk of persons, with planted defects.

Each builder takes a chunk of :class:`Persons`, a random generator, the first
global row number of the chunk and the defect rate, and returns the rows plus
the defects it planted as ``(row, kind)`` pairs.  A defective row carries
exactly one defect; every other row is valid under the shipped schemas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from passerelle.synth.population import Persons

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["DEFECT_REASONS", "FhirChunk", "claims_rows", "fhir_rows", "stays_rows"]

ICD10 = (
    "I10",
    "E119",
    "J189",
    "I500",
    "N179",
    "K359",
    "S720",
    "C509",
    "F329",
    "J441",
    "I214",
    "A419",
    "R074",
    "K802",
    "O800",
    "G409",
    "M170",
    "E669",
    "Z380",
    "I639",
)
CCAM = ("DEQP003", "YYYY600", "ZBQK002", "HHFA016", "NFKA008", "EBQF001", "JQGD010", "AHQB026")
NGAP = ("C", "CS", "G", "GS", "V", "AMI", "K", "B", "APC", "TCG")
LOINC = (
    ("4548-4", "%", 4.0, 9.0),
    ("2339-0", "mg/dL", 70.0, 180.0),
    ("8480-6", "mm[Hg]", 95.0, 170.0),
)
MODES = ("domicile", "transfert", "mutation", "deces")
DEFECT_REASONS = {
    "bad-nir-key": "nir-key",
    "impossible-date": "date",
    "malformed-code": "pattern",
    "out-of-range-date": "range",
    "broken-json": "json",
    "unknown-patient": "unknown-patient",
    "patient-quarantined": "patient-quarantined",
}
"""Planted defect kind -> the reason code ingestion reports for it."""

STAY_FROM = "2015-01-01"
STAY_TO = "2025-12-31"


def _bad_key(nir: str) -> str:
    key = int(nir[13:])
    return f"{nir[:13]}{key % 97 + 1:02d}"


def _dates_after(rng: np.random.Generator, birth: np.ndarray) -> np.ndarray:
    import numpy as np

    lo = np.maximum(birth, np.datetime64(STAY_FROM, "D"))
    hi = np.datetime64(STAY_TO, "D")
    span = (hi - lo).astype(int) + 1
    dates: np.ndarray = lo + (rng.random(len(birth)) * span).astype("timedelta64[D]")
    return dates


def _zfill(values: np.ndarray, width: int) -> np.ndarray:
    """``np.char.zfill``, which fails on an empty array (no stays when only FHIR is asked)."""
    import numpy as np

    if not len(values):
        return values.astype(f"<U{width}")
    filled: np.ndarray = np.char.zfill(values, width)
    return filled


def _pick(rng: np.random.Generator, values: tuple[str, ...], n: int) -> np.ndarray:
    import numpy as np

    picked: np.ndarray = np.array(values)[rng.integers(0, len(values), n)]
    return picked


def _joined(rng: np.random.Generator, values: tuple[str, ...], n: int, most: int) -> list[str]:
    counts = rng.integers(0, most + 1, n)
    picks = _pick(rng, values, int(counts.sum())).tolist()
    out, at = [], 0
    for c in counts.tolist():
        out.append("|".join(picks[at : at + c]))
        at += c
    return out


def stays_rows(
    persons: Persons, rng: np.random.Generator, first_row: int, rate: float, per_person: float
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """PMSI-style stays (all columns as text, as the CSV carries them)."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    counts = rng.poisson(per_person, len(persons))
    who = np.repeat(np.arange(len(persons)), counts)
    n = len(who)
    birth = persons.birth[who]
    admit = _dates_after(rng, birth)
    discharge = admit + rng.integers(0, 30, n).astype("timedelta64[D]")
    nir = persons.nir[who].astype(object)
    admit_s = admit.astype(str).astype(object)
    main = _pick(rng, ICD10, n).astype(object)
    first, last = persons.first_name[who], persons.last_name[who]
    notes = np.where(
        rng.random(n) < 0.3,
        np.char.add(np.char.add(np.char.add("Patient ", first), " "), last),
        "RAS",
    )
    defects: list[tuple[int, str]] = []
    kinds = ("bad-nir-key", "impossible-date", "malformed-code")
    for i in np.flatnonzero(rng.random(n) < rate).tolist():
        kind = kinds[int(rng.integers(0, 3))]
        if kind == "bad-nir-key":
            nir[i] = _bad_key(nir[i])
        elif kind == "impossible-date":
            admit_s[i] = f"{admit_s[i][:4]}-02-30"
        else:
            main[i] = "9" + main[i]
        defects.append((first_row + i, kind))
    stay_id = np.char.add("S", _zfill(np.arange(first_row, first_row + n).astype(str), 10))
    table = pa.table(
        {
            "stay_id": stay_id,
            "nir": nir.astype(str),
            "last_name": last,
            "first_name": first,
            "birth_date": birth.astype(str),
            "sex": persons.sex[who].astype(str),
            "postcode": persons.postcode[who],
            "phone": persons.phone[who],
            "finess": np.char.add(
                "0", _zfill((rng.integers(1, 200, n) * 4_999_999 % 10**8).astype(str), 8)
            ),
            "admission_date": admit_s.astype(str),
            "discharge_date": discharge.astype(str),
            "main_diagnosis": main.astype(str),
            "other_diagnoses": _joined(rng, ICD10, n, 3),
            "procedures": _joined(rng, CCAM, n, 2),
            "discharge_mode": _pick(rng, MODES, n),
            "notes": notes,
        }
    )
    return table, defects


def claims_rows(
    persons: Persons, rng: np.random.Generator, first_row: int, rate: float, per_person: float
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """DCIR-style outpatient claims, typed as the Parquet carries them."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    counts = rng.poisson(per_person, len(persons))
    who = np.repeat(np.arange(len(persons)), counts)
    n = len(who)
    birth = persons.birth[who]
    care = _dates_after(rng, birth)
    nir = persons.nir[who].astype(object)
    act = _pick(rng, NGAP, n).astype(object)
    defects: list[tuple[int, str]] = []
    kinds = ("bad-nir-key", "out-of-range-date", "malformed-code")
    for i in np.flatnonzero(rng.random(n) < rate).tolist():
        kind = kinds[int(rng.integers(0, 3))]
        if kind == "bad-nir-key":
            nir[i] = _bad_key(nir[i])
        elif kind == "out-of-range-date":
            care[i] = np.datetime64("1899-12-31", "D")
        else:
            act[i] = "#" + act[i]
        defects.append((first_row + i, kind))
    table = pa.table(
        {
            "nir": pa.array(nir.astype(str)),
            "birth_date": pa.array(birth, pa.date32()),
            "sex": pa.array(persons.sex[who], pa.int8()),
            "care_date": pa.array(care, pa.date32()),
            "act_code": pa.array(act.astype(str)),
            "amount_eur": pa.array(np.round(rng.uniform(5, 120, n), 2)),
        }
    )
    return table, defects


@dataclass
class FhirChunk:
    """NDJSON lines per resource type, and defects as (resource type, line, kind)."""

    lines: dict[str, list[str]] = field(default_factory=dict)
    defects: list[tuple[str, int, str]] = field(default_factory=list)


def _dump(resource: dict[str, Any]) -> str:
    return json.dumps(resource, separators=(",", ":"))


def fhir_rows(
    persons: Persons,
    rng: np.random.Generator,
    first_line: dict[str, int],
    rate: float,
    fraction: float,
) -> FhirChunk:
    """Bulk Data NDJSON for a random ``fraction`` of the chunk's persons."""
    import numpy as np

    out = FhirChunk({t: [] for t in ("Patient", "Encounter", "Condition", "Observation")})
    chosen = np.flatnonzero(rng.random(len(persons)) < fraction).tolist()
    ids = rng.integers(0, 2**63, (len(chosen), 2))
    visits = rng.integers(1, 4, len(chosen))
    for k, p in enumerate(chosen):
        pid = f"{int(ids[k, 0]):016x}{int(ids[k, 1]):016x}"
        birth = str(persons.birth[p])
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": str(persons.nir[p])}],
            "name": [{"family": str(persons.last_name[p]), "given": [str(persons.first_name[p])]}],
            "gender": "male" if persons.sex[p] == 1 else "female",
            "birthDate": birth,
            "address": [{"postalCode": str(persons.postcode[p]), "country": "FR"}],
            "telecom": [{"system": "phone", "value": str(persons.phone[p])}],
        }
        broken_patient = rng.random() < rate
        lost = "patient-quarantined"  # what its resources say if the Patient is refused
        line = patient_line = first_line["Patient"] + len(out.lines["Patient"])
        if broken_patient:
            kind = ("bad-nir-key", "impossible-date", "broken-json")[int(rng.integers(0, 3))]
            if kind == "bad-nir-key":
                patient["identifier"][0]["value"] = _bad_key(str(persons.nir[p]))
            elif kind == "impossible-date":
                patient["birthDate"] = f"{birth[:4]}-02-30"
            text = _dump(patient)
            out.lines["Patient"].append(text[: len(text) // 2] if kind == "broken-json" else text)
            out.defects.append(("Patient", patient_line, kind))
            if kind == "broken-json":  # a Patient line that is not JSON has no id to name
                lost = "unknown-patient"
        else:
            out.lines["Patient"].append(_dump(patient))
        starts = _dates_after(rng, np.repeat(persons.birth[p], int(visits[k])))
        visit_ids = rng.integers(0, 2**63, len(starts))
        for v, start in enumerate(starts.tolist()):
            eid = f"{int(visit_ids[v]):016x}e{v}"
            day = str(start)
            end = str(start + np.timedelta64(int(rng.integers(0, 20)), "D"))
            subject = {"reference": f"Patient/{pid}"}
            resources: list[tuple[str, dict[str, Any]]] = [
                (
                    "Encounter",
                    {
                        "resourceType": "Encounter",
                        "id": eid,
                        "status": "finished",
                        "class": {"code": "IMP"},
                        "subject": subject,
                        "period": {"start": day, "end": end},
                    },
                ),
            ]
            code = ICD10[int(rng.integers(0, len(ICD10)))]
            resources.append(
                (
                    "Condition",
                    {
                        "resourceType": "Condition",
                        "id": f"{eid}c",
                        "subject": subject,
                        "encounter": {"reference": f"Encounter/{eid}"},
                        "code": {
                            "coding": [
                                {
                                    "system": "http://hl7.org/fhir/sid/icd-10",
                                    "code": f"{code[:3]}.{code[3:]}".rstrip("."),
                                }
                            ]
                        },
                        "recordedDate": day,
                    },
                )
            )
            for o in range(int(rng.integers(0, 3))):
                loinc, unit, lo, hi = LOINC[int(rng.integers(0, len(LOINC)))]
                resources.append(
                    (
                        "Observation",
                        {
                            "resourceType": "Observation",
                            "id": f"{eid}o{o}",
                            "status": "final",
                            "subject": subject,
                            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
                            "valueQuantity": {
                                "value": round(float(rng.uniform(lo, hi)), 1),
                                "unit": unit,
                            },
                            "effectiveDateTime": day,
                        },
                    )
                )
            for rtype, res in resources:
                line = first_line[rtype] + len(out.lines[rtype])
                if broken_patient:
                    out.lines[rtype].append(_dump(res))
                    out.defects.append((rtype, line, lost))
                    continue
                kind = ""
                if rng.random() < rate:
                    kind = "broken-json"
                    if rtype == "Condition" and rng.random() < 0.5:
                        kind = "malformed-code"
                        res["code"]["coding"][0]["code"] = "X"
                    elif rtype == "Encounter" and rng.random() < 0.5:
                        kind = "impossible-date"
                        res["period"]["start"] = f"{day[:4]}-13-01"
                text = _dump(res)
                out.lines[rtype].append(text[:-3] if kind == "broken-json" else text)
                if kind:
                    out.defects.append((rtype, line, kind))
    return out
