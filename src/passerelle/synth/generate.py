"""Write a synthetic population and its extracts to a folder, chunk by chunk.

Layout of ``out``::

    persons.csv              the population register (every identity, for leak tests)
    stays.csv                PMSI-style hospital stays
    claims.parquet           DCIR-style outpatient claims
    fhir/<Type>.ndjson       FHIR R4 Bulk Data export for a subset of the persons
    defects.csv              source,file,row,kind,reason of every planted defect
    manifest.json            parameters, files, row and defect counts

Memory stays bounded: each chunk of persons is generated, written and dropped.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path

from passerelle.errors import UsageError
from passerelle.synth.extracts import DEFECT_REASONS, claims_rows, fhir_rows, stays_rows
from passerelle.synth.population import CHUNK, MAX_PERSONS, persons_chunk

__all__ = ["FHIR_TYPES", "SynthResult", "expected_reason", "synthesize"]

SOURCES = ("stays", "claims", "fhir")
FHIR_TYPES = ("Patient", "Encounter", "Condition", "Observation")
_REASON_COLUMN = {
    ("stays", "bad-nir-key"): "nir",
    ("stays", "impossible-date"): "admission_date",
    ("stays", "malformed-code"): "main_diagnosis",
    ("claims", "bad-nir-key"): "nir",
    ("claims", "out-of-range-date"): "care_date",
    ("claims", "malformed-code"): "act_code",
    ("Patient", "bad-nir-key"): "nir",
    ("Patient", "impossible-date"): "birth_date",
    ("Encounter", "impossible-date"): "period_start",
    ("Condition", "malformed-code"): "code",
    **{
        (t, k): "subject"
        for t in FHIR_TYPES[1:]
        for k in ("unknown-patient", "patient-quarantined")
    },
}
_REASON_CODE = {("Condition", "malformed-code"): "code-format"}
"""Where the reason's code is not the kind's usual one (a coding column checks its system)."""


def expected_reason(source: str, kind: str) -> str:
    """The reason ingestion reports for a planted defect (``code:column`` or ``code``)."""
    code = _REASON_CODE.get((source, kind), DEFECT_REASONS[kind])
    column = _REASON_COLUMN.get((source, kind))
    return f"{code}:{column}" if column else code


@dataclass(frozen=True, slots=True)
class SynthResult:
    """What :func:`synthesize` wrote."""

    out: str
    persons: int
    seed: int
    defect_rate: float
    rows: dict[str, int]
    defects: dict[str, int]
    files: tuple[str, ...]


def synthesize(
    out: str | Path,
    *,
    persons: int,
    seed: int,
    defect_rate: float = 0.0,
    stays_per_person: float = 2.0,
    claims_per_person: float = 3.0,
    fhir_fraction: float = 0.2,
    sources: Collection[str] = SOURCES,
) -> SynthResult:
    """Generate ``persons`` persons and their extracts under ``out``.

    ``sources`` picks which of ``stays``, ``claims``, ``fhir`` to write (all by default);
    the persons register is always written.
    """
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.csv as pcsv  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    if not 1 <= persons <= MAX_PERSONS:
        raise UsageError(f"--persons must be between 1 and {MAX_PERSONS:,}, not {persons:,}.")
    if unknown := set(sources) - set(SOURCES):
        raise UsageError(f"Unknown source(s) {sorted(unknown)}; choose among {', '.join(SOURCES)}.")
    if not 0.0 <= defect_rate <= 0.5:
        raise UsageError(f"--defect-rate must be between 0 and 0.5, not {defect_rate}.")
    root = Path(out)
    (root / "fhir").mkdir(parents=True, exist_ok=True)
    rows = {"persons": 0, "stays": 0, "claims": 0} | {t: 0 for t in FHIR_TYPES}
    defects: Counter[str] = Counter()
    stays_writer: pcsv.CSVWriter | None = None
    claims_writer: pq.ParquetWriter | None = None
    persons_writer: pcsv.CSVWriter | None = None
    ndjson = {t: (root / "fhir" / f"{t}.ndjson").open("w", encoding="utf-8") for t in FHIR_TYPES}
    with (root / "defects.csv").open("w", newline="", encoding="utf-8") as dfile:
        dw = csv.writer(dfile)
        dw.writerow(["source", "file", "row", "kind", "reason"])
        try:
            for chunk in range((persons + CHUNK - 1) // CHUNK):
                people = persons_chunk(seed, chunk, persons)
                rng = np.random.default_rng([seed, chunk, 2])
                register = pa.table(
                    {
                        "nir": people.nir,
                        "last_name": people.last_name,
                        "first_name": people.first_name,
                        "birth_date": people.birth.astype(str),
                        "sex": people.sex.astype(str),
                        "postcode": people.postcode,
                        "phone": people.phone,
                    }
                )
                persons_writer = persons_writer or pcsv.CSVWriter(
                    str(root / "persons.csv"), register.schema
                )
                persons_writer.write_table(register)
                rows["persons"] += len(people)
                if "stays" not in sources:
                    stays_per_person = 0.0
                stays, bad = stays_rows(people, rng, rows["stays"], defect_rate, stays_per_person)
                stays_writer = stays_writer or pcsv.CSVWriter(str(root / "stays.csv"), stays.schema)
                stays_writer.write_table(stays)
                rows["stays"] += stays.num_rows
                for row, kind in bad:
                    dw.writerow(["stays", "stays.csv", row, kind, expected_reason("stays", kind)])
                    defects["stays"] += 1
                if "claims" not in sources:
                    claims_per_person = 0.0
                claims, bad = claims_rows(
                    people, rng, rows["claims"], defect_rate, claims_per_person
                )
                claims_writer = claims_writer or pq.ParquetWriter(
                    str(root / "claims.parquet"), claims.schema, compression="zstd"
                )
                claims_writer.write_table(claims, row_group_size=256 * 1024)
                rows["claims"] += claims.num_rows
                for row, kind in bad:
                    dw.writerow(
                        ["claims", "claims.parquet", row, kind, expected_reason("claims", kind)]
                    )
                    defects["claims"] += 1
                if "fhir" not in sources:
                    fhir_fraction = 0.0
                fhir = fhir_rows(
                    people, rng, {t: rows[t] for t in FHIR_TYPES}, defect_rate, fhir_fraction
                )
                for t in FHIR_TYPES:
                    lines = fhir.lines[t]
                    if lines:
                        ndjson[t].write("\n".join(lines) + "\n")
                    rows[t] += len(lines)
                for t, line, kind in fhir.defects:
                    dw.writerow(["fhir", f"fhir/{t}.ndjson", line, kind, expected_reason(t, kind)])
                    defects["fhir"] += 1
        finally:
            for w in (stays_writer, claims_writer, persons_writer):
                if w is not None:
                    w.close()
            for f in ndjson.values():
                f.close()
    files = (
        "persons.csv",
        "stays.csv",
        "claims.parquet",
        *(f"fhir/{t}.ndjson" for t in FHIR_TYPES),
        "defects.csv",
    )
    result = SynthResult(str(root), persons, seed, defect_rate, rows, dict(defects), files)
    (root / "manifest.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result
