"""FHIR Bulk Data NDJSON flattened into view tables (SQL-on-FHIR style column paths).

Patient files are read first: every accepted Patient's resource id is mapped
to its person pseudonym (32 bytes per patient held in memory), so that each
``Patient/<id>`` reference in other resources is replaced by the same
pseudonym the CSV and Parquet sources give that person.  The ids of the
Patients that were quarantined are remembered too, so that a resource
referring to one says so (``patient-quarantined:<column>``) beside its own
reasons; a reference to a Patient the export does not hold gives
``unknown-patient:<column>``.  Coding columns are read as the JSON text of
``[system, code, display]`` triples, checked by :mod:`passerelle.ingest.coded`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from passerelle.errors import SchemaMismatchError
from passerelle.ingest.fhirpath import compile_path, to_text
from passerelle.ingest.schema import SourceSchema, ViewSpec
from passerelle.ingest.sources import MAX_LINE, READ_CHUNK, ndjson_lines
from passerelle.ingest.transform import Broken, RawBatch
from passerelle.storage import Store

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["PatientIndex", "coding_text", "fhir_batches", "order_files", "resource_of"]

_TYPE = re.compile(r"^(?:[0-9]+[._-])?([A-Z][A-Za-z]+)")
_PATIENT_REF = re.compile(r"Patient/([A-Za-z0-9.\-]{1,64})(?:/_history/[A-Za-z0-9.\-]{1,64})?")
"""A relative ``Patient/<id>`` reference, possibly versioned; an absolute URL names a
Patient of another server, never one of this export."""


def patient_id(reference: object) -> str | None:
    """The Patient id a reference names, or ``None``."""
    if not isinstance(reference, str):
        return None
    m = _PATIENT_REF.fullmatch(reference)
    return m.group(1) if m else None


def coding_text(values: list[Any]) -> str | None:
    """The text of a coding column: a JSON list of ``[system, code, display]``; null when empty.

    Items that are not ``Coding`` objects are kept as ``[null, item, null]`` (the check
    refuses them as codes)."""
    triples = [
        [v.get("system"), v.get("code"), v.get("display")]
        if isinstance(v, dict)
        else [None, v, None]
        for v in values
    ]
    return json.dumps(triples, ensure_ascii=False, separators=(",", ":")) if triples else None


def resource_of(key: str) -> str | None:
    """The resource type a Bulk Data file name announces (``Patient.ndjson``, ``1.Patient...``)."""
    m = _TYPE.match(key.rsplit("/", 1)[-1])
    return m.group(1) if m else None


def order_files(keys: list[str], schema: SourceSchema) -> list[tuple[str, ViewSpec]]:
    """Pair each NDJSON file with its view, Patient files first; refuse unmapped types."""
    by_type = {v.resource: v for v in schema.views}
    pairs = []
    for key in sorted(keys):
        rtype = resource_of(key)
        if rtype not in by_type:
            raise SchemaMismatchError(
                f"{key} holds {rtype or 'unknown'} resources, for which the schema has no view; "
                "add a view or leave the file out of the source."
            )
        pairs.append((key, by_type[rtype]))
    pairs.sort(key=lambda p: (p[1].person is None or p[1].person.id is None, p[0]))
    return pairs


class PatientIndex:
    """Patient resource id -> person pseudonym, and the ids of quarantined Patients."""

    def __init__(self) -> None:
        self._map: dict[str, bytes] = {}
        self._refused: set[str] = set()

    def __len__(self) -> int:
        return len(self._map)

    def add(self, ids: pa.Array, pseudonyms: pa.Array) -> None:
        for rid, p in zip(ids.to_pylist(), pseudonyms.to_pylist(), strict=True):
            if rid is not None and p is not None:
                self._map[rid] = bytes.fromhex(p)

    def refuse(self, ids: pa.Array) -> None:
        """Remember Patients that went to quarantine."""
        self._refused.update(rid for rid in ids.to_pylist() if isinstance(rid, str))

    def lookup(self, references: pa.Array) -> pa.Array:
        """Pseudonyms for ``Patient/<id>`` references; null when unknown."""
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        get = self._map.get
        out = []
        for ref in references.to_pylist():
            rid = patient_id(ref)
            found = get(rid) if rid is not None else None
            out.append(found.hex() if found is not None else None)
        return pa.array(out, pa.string())

    def refused(self, references: pa.Array) -> list[bool]:
        """Per reference, whether it names a Patient that was quarantined (and none accepted)."""
        out = []
        for ref in references.to_pylist():
            rid = patient_id(ref)
            out.append(rid is not None and rid in self._refused and rid not in self._map)
        return out


def _flatten(resource: Any, paths: list[tuple[str, Any]], coded: set[str]) -> dict[str, str | None]:
    out = {}
    for name, path in paths:
        found = path(resource)
        out[name] = coding_text(found) if name in coded else to_text(found)
    return out


def fhir_batches(
    store: Store, key: str, view: ViewSpec, batch_lines: int, *, max_line: int = MAX_LINE
) -> Iterator[RawBatch]:
    """Flatten one NDJSON file into text columns, ``batch_lines`` lines at a time.

    A line that is not JSON is ``json``; one nested too deeply to read or write back
    (Python's recursion limit, about 1,000 levels) is ``too-deep``; one longer than
    ``max_line`` bytes is ``too-long`` (its text is not kept)."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    paths = [(c.name, compile_path(c.path or c.name)) for c in view.columns]
    coded = {c.name for c in view.columns if c.type == "coding"}
    line_no = 0
    for lines in ndjson_lines(
        store.get(key, chunk_size=READ_CHUNK), batch_lines, max_line=max_line
    ):
        cols: dict[str, list[str | None]] = {name: [] for name, _ in paths}
        rows: list[int] = []
        broken: list[Broken] = []
        for raw in lines:
            at, line_no = line_no, line_no + 1
            if not raw.strip():
                continue
            if len(raw) > max_line:
                broken.append(Broken(at, "", "too-long"))
                continue
            try:
                resource = json.loads(raw)
            except ValueError:
                broken.append(Broken(at, raw.decode("utf-8", "replace"), "json"))
                continue
            except RecursionError:
                broken.append(Broken(at, raw.decode("utf-8", "replace"), "too-deep"))
                continue
            if not isinstance(resource, dict) or resource.get("resourceType") != view.resource:
                broken.append(Broken(at, raw.decode("utf-8", "replace"), "resource-type"))
                continue
            try:
                row = _flatten(resource, paths, coded)
            except RecursionError:  # a value nested too deeply to write back as text
                broken.append(Broken(at, raw.decode("utf-8", "replace"), "too-deep"))
                continue
            rows.append(at)
            for name, text in row.items():
                cols[name].append(text)
        yield RawBatch(
            {n: pa.array(v, pa.string()) for n, v in cols.items()},
            pa.array(rows, pa.int64()),
            tuple(broken),
        )
