"""Bulk Data exports for tests: the published HL7 FHIR R4 examples, and French patients."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from passerelle.ingest import IngestResult, ingest, shipped_schema, with_key
from tests.ingest.conftest import KEY

FIXTURES = Path(__file__).parent / "fixtures" / "fhir_r4"
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"


def r4_examples() -> dict[str, list[dict[str, Any]]]:
    """The R4 example resources of ``fixtures/fhir_r4``, by resource type, in file order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(FIXTURES.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        out.setdefault(resource["resourceType"], []).append(resource)
    return out


def write_export(folder: Path, resources: dict[str, list[dict[str, Any]]]) -> Path:
    """``<Type>.ndjson`` per resource type, one resource per line, as ``$export`` writes."""
    folder.mkdir(parents=True, exist_ok=True)
    for rtype, items in resources.items():
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in items]
        (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def ingest_export(tmp: Path, resources: dict[str, list[dict[str, Any]]]) -> IngestResult:
    src = write_export(tmp / "export", resources)
    return ingest(
        f"file://{src}",
        schema=shipped_schema("fhir_bulk"),
        pseudonym_key=KEY,
        output_url=f"file://{tmp}/hub",
    )


def french_patient(
    pid: str, nir_body: str, *, system: str = INS_NIR, birth: str = "1985-05-12", **extra: Any
) -> dict[str, Any]:
    """A patient as FR Core sends one with an INS: the NIR (key computed) under ``system``."""
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [
            {"use": "usual", "system": "urn:oid:1.2.250.1.71.4.2.7", "value": f"IPP-{pid}"},
            {"use": "official", "system": system, "value": with_key(nir_body)},
        ],
        "name": [{"use": "official", "family": "DURSAUTIN", "given": ["Camille"]}],
        "gender": "male" if nir_body[0] == "1" else "female",
        "birthDate": birth,
    }
    patient.update(extra)
    return patient


def condition(cid: str, subject: str, coding: list[Any]) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": copy.deepcopy(coding)},
        "subject": {"reference": subject},
    }
