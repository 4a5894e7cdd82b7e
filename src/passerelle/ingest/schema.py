"""Declared schemas of sources: columns, checks, identifiers and generalization policy.

A schema is a TOML file (format documented in ``docs/ingestion.md``); shipped
examples for the synthetic sources are in ``passerelle/ingest/schemas/``.
Loading checks the file itself and raises :class:`ConfigError` with one sentence.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from passerelle.errors import ConfigError, UsageError
from passerelle.ingest.generalize import GENERALIZERS
from passerelle.storage.keys import TABLE, check_name

__all__ = [
    "KINDS",
    "ON_IDENTIFIER",
    "ON_MISMATCH",
    "TYPES",
    "ColumnSpec",
    "PersonSpec",
    "SourceSchema",
    "ViewSpec",
    "load_schema",
    "parse_schema",
    "shipped_schema",
]

KINDS = ("csv", "parquet", "fhir-ndjson")
ON_IDENTIFIER = ("quarantine", "redact")
"""What happens to a row whose scanned text holds a NIR, phone number or e-mail."""
ON_MISMATCH = ("quarantine", "null")
"""What happens to a row whose value does not match the column's ``pattern``."""
TYPES = ("string", "integer", "number", "date", "sex", "coding")
_DEFAULT_MAX_LENGTH = 65_536


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One declared column: its checks and what happens to it on the way out."""

    name: str
    type: str = "string"
    required: bool = False
    pattern: str | None = None
    list_separator: str | None = None
    format: str = "%Y-%m-%d"
    min: str | None = None
    max: str | None = None
    nir: bool = False
    identifier: bool = False
    free_text: bool = False
    safe: bool = False
    generalize: str | None = None
    max_length: int = _DEFAULT_MAX_LENGTH
    path: str | None = None
    on_identifier: str = "quarantine"
    on_mismatch: str = "quarantine"

    @property
    def kept(self) -> bool:
        """Whether the column reaches the output dataset."""
        return not (self.identifier or self.nir or (self.free_text and not self.safe))

    @property
    def scanned(self) -> bool:
        """Whether its values are searched for direct identifiers: every kept text or number
        column (generalized ones are cut to a few characters first)."""
        text = self.type in ("string", "coding") and self.generalize is None
        return self.kept and (text or self.type in ("integer", "number"))


@dataclass(frozen=True, slots=True)
class PersonSpec:
    """How the person pseudonym is computed and where it goes.

    Either from identity columns (``nir``, ``birth_date``, ``sex``) or, for FHIR
    resources, from a ``reference`` column holding ``Patient/<id>``; the Patient
    view names its resource ``id`` column so references can be resolved.
    """

    column: str = "person_id"
    nir: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    id: str | None = None
    reference: str | None = None
    local_id: str | None = None


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A table of the output: for CSV and Parquet the whole source, for FHIR one resource type."""

    name: str
    columns: tuple[ColumnSpec, ...]
    person: PersonSpec | None = None
    resource: str | None = None

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class SourceSchema:
    """A whole declared source: kind, reading options and its views."""

    name: str
    kind: str
    views: tuple[ViewSpec, ...]
    delimiter: str = ","
    encoding: str = "utf-8"
    rows_per_file: int = 1_000_000

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form (part of the dataset version id)."""
        text = json.dumps(_settled(asdict(self)), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


_LATER_DEFAULTS = {"on_mismatch": "quarantine", "local_id": None}
"""Settings added after the first schemas, left out of the digest at their default so
that a schema not using them keeps its digest (and its versions their ids)."""


def _settled(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _settled(v)
            for k, v in value.items()
            if not (k in _LATER_DEFAULTS and v == _LATER_DEFAULTS[k])
        }
    if isinstance(value, list | tuple):
        return [_settled(v) for v in value]
    return value


_COLUMN_KEYS = set(ColumnSpec.__slots__)
_PERSON_KEYS = set(PersonSpec.__slots__)


def _fail(where: str, what: str) -> ConfigError:
    return ConfigError(f"Schema {where}: {what}.")


def _column(raw: dict[str, Any], where: str, fhir: bool, on_identifier: str) -> ColumnSpec:
    raw = {"on_identifier": on_identifier, **raw}
    unknown = set(raw) - _COLUMN_KEYS
    if unknown:
        raise _fail(where, f"unknown column setting(s) {sorted(unknown)}")
    if "name" not in raw:
        raise _fail(where, "every column needs a name")
    try:
        col = ColumnSpec(**raw)
    except TypeError as exc:  # pragma: no cover - guarded by the key check
        raise _fail(where, str(exc)) from None
    at = f"{where} column {col.name!r}"
    if col.type not in TYPES:
        raise _fail(at, f"type {col.type!r} is not one of {', '.join(TYPES)}")
    if col.on_identifier not in ON_IDENTIFIER:
        raise _fail(at, f"on_identifier {col.on_identifier!r} is not one of quarantine, redact")
    if col.on_mismatch not in ON_MISMATCH:
        raise _fail(at, f"on_mismatch {col.on_mismatch!r} is not one of quarantine, null")
    if col.type == "coding":
        if not fhir:
            raise _fail(at, "type coding reads FHIR Coding elements; use it in FHIR schemas")
        extra = [k for k in ("pattern", "list_separator", "generalize", "min", "max") if raw.get(k)]
        if extra or col.nir:
            raise _fail(at, f"a coding column takes no {', '.join(extra) or 'nir'} setting")
    if col.generalize is not None and col.generalize not in GENERALIZERS:
        raise _fail(at, f"generalize {col.generalize!r} is not one of {', '.join(GENERALIZERS)}")
    if col.pattern is not None:
        try:
            re.compile(col.pattern)
        except re.error as exc:
            raise _fail(at, f"pattern is not a regular expression ({exc})") from None
    if col.type == "date":
        for bound in (col.min, col.max):
            if bound is not None:
                try:
                    date.fromisoformat(bound)
                except ValueError:
                    raise _fail(at, f"bound {bound!r} is not an ISO date") from None
    if fhir and not col.path:
        raise _fail(at, "FHIR columns need a path")
    return col


def _person(raw: Any, where: str, names: set[str]) -> PersonSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - _PERSON_KEYS:
        raise _fail(where, f"[person] takes only {sorted(_PERSON_KEYS)}")
    person = PersonSpec(**raw)
    identity = (person.nir, person.birth_date, person.sex)
    if person.reference is None and None in identity:
        raise _fail(where, "[person] needs nir, birth_date and sex columns (or a reference)")
    for ref in (*identity, person.id, person.reference, person.local_id):
        if ref is not None and ref not in names:
            raise _fail(where, f"[person] names {ref!r}, which is not a declared column")
    return person


def _view(raw: dict[str, Any], where: str, fhir: bool, on_identifier: str) -> ViewSpec:
    columns = tuple(
        _column(c, where, fhir, on_identifier)
        for c in raw.get("columns", [])
        if isinstance(c, dict)
    )
    if not columns:
        raise _fail(where, "declares no columns")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise _fail(where, "declares a column name twice")
    person = _person(raw.get("person"), where, set(names))
    return ViewSpec(
        name=str(raw.get("name", "")),
        columns=columns,
        person=person,
        resource=raw.get("resource"),
    )


def parse_schema(text: str, *, origin: str = "<text>") -> SourceSchema:
    """Parse and check a schema from TOML text."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Schema {origin} is not valid TOML ({exc}); fix the file.") from None
    ds = doc.get("dataset", {})
    kind = ds.get("kind")
    if kind not in KINDS:
        raise _fail(origin, f"[dataset] kind must be one of {', '.join(KINDS)}")
    name = ds.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise _fail(origin, "[dataset] name must be lowercase letters, digits and _")
    on_identifier = ds.get("on_identifier", "quarantine")
    if on_identifier not in ON_IDENTIFIER:
        raise _fail(origin, "[dataset] on_identifier must be quarantine or redact")
    if kind == "fhir-ndjson":
        raw_views = doc.get("views", [])
        views = tuple(
            _view(v, f"{origin} view {v.get('name')!r}", True, on_identifier) for v in raw_views
        )
        if not views or any(not v.resource or not v.name for v in views):
            raise _fail(origin, "FHIR schemas need [[views]] with a name and a resource")
        patients = [v for v in views if v.person is not None and v.person.id is not None]
        if len(patients) > 1:
            raise _fail(origin, "only one view may define Patient identities")
    else:
        views = (_view({**doc, "name": name}, origin, False, on_identifier),)
    for view in views:  # a view's name becomes a folder of the store and part of a dataset name
        try:
            check_name(view.name, TABLE)
        except UsageError as exc:
            raise _fail(origin, str(exc)) from None
    rows = ds.get("rows_per_file", 1_000_000)
    if not isinstance(rows, int) or rows < 1:
        raise _fail(origin, "rows_per_file must be a positive integer")
    return SourceSchema(
        name=name,
        kind=kind,
        views=views,
        delimiter=str(ds.get("delimiter", ",")),
        encoding=str(ds.get("encoding", "utf-8")),
        rows_per_file=rows,
    )


def load_schema(path: str | Path) -> SourceSchema:
    """Read and check a schema file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read schema file {p} ({exc.strerror}).") from None
    return parse_schema(text, origin=str(p))


def shipped_schema(name: str) -> SourceSchema:
    """One of the example schemas shipped for the synthetic sources.

    ``pmsi_stays``, ``dcir_claims`` or ``fhir_bulk``.
    """
    from importlib.resources import files

    resource = files("passerelle.ingest").joinpath("schemas").joinpath(f"{name}.toml")
    if not resource.is_file():
        raise ConfigError(
            f"No shipped schema named {name!r}; use pmsi_stays, dcir_claims or fhir_bulk."
        )
    return parse_schema(resource.read_text(encoding="utf-8"), origin=f"{name}.toml")
