"""Turn one checked batch into accepted output rows and protected quarantine rows (pure).

The quarantine keeps no more than the dataset would, plus why: per refused row
its source, row number, reasons and person pseudonym; each kept column as the
dataset holds it (generalized: birth date to year-month, postcode to
département; text with identifiers redacted; codings as JSON text); the value that
made the row fail,
and every column the dataset drops (NIR, names, free text), as its shape only
(letters ``x``, digits ``9``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from passerelle.ingest.coded import coding_type
from passerelle.ingest.generalize import generalize
from passerelle.ingest.pseudonym import pseudonymize, pseudonymize_local
from passerelle.ingest.schema import ColumnSpec, ViewSpec
from passerelle.ingest.validate import check_batch, mask_shape

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "Broken",
    "Patients",
    "RawBatch",
    "Split",
    "output_schema",
    "quarantine_schema",
    "split_batch",
]


class Patients(Protocol):
    """What a reference view asks of the Patients read so far (``fhir.PatientIndex``)."""

    def lookup(self, references: pa.Array) -> pa.Array:
        """The person pseudonym of each referenced Patient; null when not accepted."""
        ...

    def refused(self, references: pa.Array) -> list[bool]:
        """Whether each reference names a Patient that was quarantined."""
        ...


@dataclass(frozen=True, slots=True)
class Broken:
    """A record that could not even be split into fields (bad CSV row, broken JSON line)."""

    row: int | None
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class RawBatch:
    """Text columns of consecutive records, their row numbers, and unreadable records."""

    columns: dict[str, pa.Array]
    rows: pa.Array
    broken: tuple[Broken, ...] = field(default_factory=tuple)

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.broken)


@dataclass(frozen=True, slots=True)
class Split:
    """The accepted table, the quarantine table, the accepted rows' values, every refused
    row's reasons, and (for the Patient view) the resource ids of the refused rows."""

    accepted: pa.Table
    quarantine: pa.Table | None
    values: dict[str, pa.Array]
    reasons: list[str]
    refused_ids: pa.Array | None = None


def _out_type(col: ColumnSpec) -> pa.DataType:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    if col.generalize is not None:
        return pa.string()
    if col.type == "coding":
        return coding_type()
    return {"date": pa.date32(), "integer": pa.int64(), "number": pa.float64()}.get(
        col.type, pa.string()
    )


def output_schema(view: ViewSpec) -> pa.Schema:
    """Columns of the accepted table: the person pseudonym first, then kept columns."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    fields = [pa.field(view.person.column, pa.string())] if view.person else []
    fields += [pa.field(c.name, _out_type(c)) for c in view.columns if c.kept]
    return pa.schema(fields)


def quarantine_schema(view: ViewSpec) -> pa.Schema:
    """Columns of the quarantine: where, why, the pseudonym if computable, then text."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    fields = [
        pa.field("_source", pa.string()),
        pa.field("_row", pa.int64()),
        pa.field("_reason", pa.string()),
        pa.field("_text", pa.string()),
    ]
    if view.person:
        fields.append(pa.field(view.person.column, pa.string()))
    fields += [pa.field(c.name, pa.string()) for c in view.columns]
    return pa.schema(fields)


def _person(
    view: ViewSpec, values: Mapping[str, pa.Array], key: bytes, patients: Patients | None
) -> pa.Array:
    """Each row's person pseudonym: from the NIR identity, else (no NIR at all) from the
    local identifier when the view declares one, or from the referenced Patient."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    person = view.person
    assert person is not None
    if person.reference is not None:
        if patients is None:
            raise ValueError("a reference view needs the patients read so far")
        return patients.lookup(values[person.reference])
    assert person.nir and person.birth_date and person.sex
    nir, birth, sex = values[person.nir], values[person.birth_date], values[person.sex]
    from passerelle.ingest.fastcheck import fixed_width, nir_checks

    _fmt, key_ok = nir_checks(*fixed_width(nir, 15))
    ok = pc.and_(pc.and_(pa.array(key_ok), pc.is_valid(birth)), pc.is_valid(sex))
    null = pa.scalar(None, pa.string())
    iso = pc.cast(birth, pa.string())
    found = pseudonymize(
        key, pc.if_else(ok, nir, null), pc.if_else(ok, iso, null), pc.if_else(ok, sex, null)
    )
    if person.local_id is None:
        return found
    local = values[person.local_id]
    use_local = pc.and_(pc.is_null(nir), pc.is_valid(local))  # no NIR given: a local identity
    return pc.if_else(use_local, pseudonymize_local(key, local), found)


def split_batch(
    view: ViewSpec,
    batch: RawBatch,
    *,
    key: bytes,
    source: str,
    patients: Patients | None = None,
) -> Split:
    """Validate, pseudonymize and generalize one batch; route bad rows to quarantine
    with every reason that applies to them."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    checked = check_batch(view, batch.columns)
    bad, reasons = checked.bad.copy(), list(checked.reasons)
    person = _person(view, checked.values, key, patients) if view.person else None
    if view.person and person is not None:
        bad, reasons = _identity_reasons(view, checked.values, person, patients, bad, reasons)
    good = pa.array(~bad)
    out: dict[str, pa.Array] = {}
    if view.person and person is not None:
        out[view.person.column] = pc.filter(person, good)
    for col in view.columns:
        if not col.kept:
            continue
        value = pc.filter(checked.values[col.name], good)
        if col.generalize is not None:
            value = generalize(pc.cast(value, pa.string()), col.generalize)
        out[col.name] = value
    accepted = pa.table(out, schema=output_schema(view)) if out else pa.table({})
    values = {name: pc.filter(v, good) for name, v in checked.values.items()}
    quarantine = _quarantine(view, batch, bad, reasons, person, source, checked.values)
    refused = None
    if view.person and view.person.id is not None:
        refused = pc.filter(checked.values[view.person.id], pa.array(bad))
    return Split(accepted, quarantine, values, [b.reason for b in batch.broken] + reasons, refused)


def _identity_reasons(
    view: ViewSpec,
    values: Mapping[str, pa.Array],
    person: pa.Array,
    patients: Patients | None,
    bad: npt.NDArray[np.bool_],
    reasons: list[str],
) -> tuple[npt.NDArray[np.bool_], list[str]]:
    """Add to each row's reasons why it has no person: a referenced Patient that was
    quarantined or is unknown, or (Patient view) neither a NIR nor a local identifier."""
    import numpy as np
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    spec = view.person
    assert spec is not None
    none = pc.fill_null(pc.is_null(person), True).to_numpy(zero_copy_only=False)
    extra: dict[int, str] = {}
    if spec.reference is not None and none.any():
        assert patients is not None
        references = values[spec.reference]
        refused = patients.refused(references)
        if view.column(spec.reference).required:  # no reference at all: missing:<column>
            none &= pc.is_valid(references).to_numpy(zero_copy_only=False)
        for row in np.flatnonzero(none).tolist():
            code = "patient-quarantined" if refused[row] else "unknown-patient"
            extra[row] = f"{code}:{spec.reference}"
    elif spec.nir is not None and not view.column(spec.nir).required:  # else missing:<nir>
        given = pc.is_valid(values[spec.nir])
        if spec.local_id is not None:
            given = pc.or_(given, pc.is_valid(values[spec.local_id]))
        unidentified = none & ~pc.fill_null(given, False).to_numpy(zero_copy_only=False)
        extra = {row: "no-identity" for row in np.flatnonzero(unidentified).tolist()}
    if not extra:
        return bad, reasons
    old = dict(zip(np.flatnonzero(bad).tolist(), reasons, strict=True))
    rows = np.zeros(len(bad), dtype=bool)
    rows[list(extra)] = True
    merged = bad | rows
    out = []
    for row in np.flatnonzero(merged).tolist():
        parts = [p for p in (old.get(row), extra.get(row)) if p]
        out.append(";".join(parts))
    return merged, out


def _shown(col: ColumnSpec, value: pa.Array) -> pa.Array:
    """A kept column's values as text, as the dataset would hold them."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    if col.type == "coding":
        rows = value.to_pylist()
        return pa.array(
            [json.dumps(r, ensure_ascii=False) if r is not None else None for r in rows],
            pa.string(),
        )
    text = pc.cast(value, pa.string())
    return generalize(text, col.generalize) if col.generalize is not None else text


def _failed_columns(reasons: list[str]) -> list[set[str]]:
    """Per refused row, the columns whose value made it fail (reasons ``code:column``);
    text columns refused for an identifier they hold are left out (they come redacted)."""
    return [
        {
            part.split(":", 1)[1]
            for part in reason.split(";")
            if ":" in part and not part.split(":", 1)[0].endswith("-in-text")
        }
        for reason in reasons
    ]


def _quarantine(
    view: ViewSpec,
    batch: RawBatch,
    bad: npt.NDArray[np.bool_],
    reasons: list[str],
    person: pa.Array | None,
    source: str,
    values: Mapping[str, pa.Array],
) -> pa.Table | None:
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    rows_bad = np.flatnonzero(bad)
    if not len(rows_bad) and not batch.broken:
        return None
    idx = pa.array(rows_bad, pa.int64())
    data: dict[str, list[Any]] = {
        "_source": [source] * (len(batch.broken) + len(rows_bad)),
        "_row": [b.row for b in batch.broken] + batch.rows.take(idx).to_pylist(),
        "_reason": [b.reason for b in batch.broken] + reasons,
        "_text": [mask_shape(b.text) for b in batch.broken] + [None] * len(rows_bad),
    }
    if view.person:
        pseud = person.take(idx).to_pylist() if person is not None else [None] * len(rows_bad)
        data[view.person.column] = [None] * len(batch.broken) + pseud
    failed = _failed_columns(reasons)
    for col in view.columns:
        raw = batch.columns[col.name].take(idx).to_pylist()
        shown = _shown(col, values[col.name].take(idx)).to_pylist() if col.kept else raw
        column = [
            mask_shape(r) if r is not None and (not col.kept or col.name in why) else s
            for r, s, why in zip(raw, shown, failed, strict=True)
        ]
        data[col.name] = [None] * len(batch.broken) + column
    return pa.table(data, schema=quarantine_schema(view))
