"""A small synthetic population with defects, ingested once per session (file:// outputs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from passerelle.ingest import IngestResult, ingest, shipped_schema
from passerelle.synth import SynthResult, synthesize

KEY = b"test-pseudonym-key-0123456789abcdef"


@dataclass(frozen=True)
class Ingested:
    synth: SynthResult
    src: Path
    out: Path
    stays: IngestResult
    claims: IngestResult
    fhir: IngestResult


@pytest.fixture(scope="session")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    src = tmp_path_factory.mktemp("synth")
    out = tmp_path_factory.mktemp("hub")
    synth = synthesize(src, persons=400, seed=3, defect_rate=0.05)
    results = [
        ingest(
            f"file://{src}/{path}",
            schema=shipped_schema(name),
            pseudonym_key=KEY,
            output_url=f"file://{out}/{name}",
            batch_rows=128,  # many batches: exercises the threaded, ordered pipeline
        )
        for path, name in (
            ("stays.csv", "pmsi_stays"),
            ("claims.parquet", "dcir_claims"),
            ("fhir", "fhir_bulk"),
        )
    ]
    return Ingested(synth, src, out, *results)
