"""Deterministic synthetic persons and extracts (PMSI CSV, DCIR Parquet, FHIR NDJSON).

No real patient data exists anywhere in passerelle: tests, benchmarks and the
demo run on what :func:`synthesize` writes.
"""

from passerelle.synth.extracts import DEFECT_REASONS
from passerelle.synth.generate import FHIR_TYPES, SynthResult, expected_reason, synthesize
from passerelle.synth.population import MAX_PERSONS

__all__ = [
    "DEFECT_REASONS",
    "FHIR_TYPES",
    "MAX_PERSONS",
    "SynthResult",
    "expected_reason",
    "synthesize",
]
