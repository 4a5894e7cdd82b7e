"""Check a batch of raw text columns against a view's declared columns (pure, vectorised).

Every column arrives as text (CSV fields, Parquet values cast to text, FHIR
path results).  :func:`check_batch` returns, per row, whether it is valid and
if not the reasons (``code:column`` joined by ``;``), plus the typed values of
every column.  Reason codes: ``missing``, ``too-long``, ``pattern``,
``nir-format``, ``nir-key``, ``date``, ``range``, ``number``, ``sex``, for coding
columns ``code-system`` and ``code-format`` (:mod:`passerelle.ingest.coded`), and for
text and number columns holding a direct identifier (see
:mod:`passerelle.ingest.identifiers`) ``nir-in-text``, ``phone-in-text``,
``email-in-text`` -- unless the column's ``on_identifier`` is ``redact``; either
way the typed value comes back redacted (text) or null (numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, TypeAlias

from passerelle.ingest.coded import check_codings
from passerelle.ingest.fastcheck import fixed_width, iso_dates, nir_checks
from passerelle.ingest.identifiers import find_identifiers
from passerelle.ingest.schema import ColumnSpec, ViewSpec

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["Checked", "check_batch", "mask_shape"]
if TYPE_CHECKING:
    Mask: TypeAlias = pa.Array | npt.NDArray[np.bool_]

_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_INTEGER = r"^[+-]?[0-9]+$"
_SEX_CODES = ["1", "2", "m", "h", "male", "f", "female"]
_SEX_VALUES = ["1", "2", "1", "1", "1", "2", "2"]


@dataclass(frozen=True, slots=True)
class Checked:
    """The verdict on one batch: ``bad`` rows with ``reasons`` (one per bad row, in order),
    and ``values``: each column typed (dates as ``date32``, numbers as ``float64``, sex
    as ``"1"``/``"2"``, NIRs normalized), null where missing or invalid."""

    bad: npt.NDArray[np.bool_]
    reasons: list[str]
    values: dict[str, pa.Array]


def mask_shape(text: str) -> str:
    """``text`` with every letter replaced by ``x`` and every digit by ``9`` (shape only)."""
    return "".join("9" if ch.isdigit() else "x" if ch.isalpha() else ch for ch in text)


def _np(mask: Mask) -> npt.NDArray[np.bool_]:
    import numpy as np
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    if isinstance(mask, np.ndarray):
        return mask

    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def _pattern_fails(col: ColumnSpec, text: pa.Array) -> pa.Array:
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    regex = f"^(?:{col.pattern})$"
    if col.list_separator is None:
        return pc.invert(pc.match_substring_regex(text, regex))
    parts = pc.split_pattern(text, col.list_separator)
    flat = pc.list_flatten(parts)
    wrong = pc.invert(pc.match_substring_regex(flat, regex))
    parents = pc.list_parent_indices(parts)
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    rows = np.zeros(len(text), dtype=bool)
    rows[parents.to_numpy()[_np(wrong)]] = True
    return pa.array(rows)


def _bounds(col: ColumnSpec, value: pa.Array, fails: list[tuple[Mask, str]]) -> None:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    for bound, op in ((col.min, pc.less), (col.max, pc.greater)):
        if bound is not None:
            fails.append((op(value, pa.scalar(date.fromisoformat(bound))), f"range:{col.name}"))


def _check_column(col: ColumnSpec, raw: pa.Array) -> tuple[list[tuple[Mask, str]], pa.Array]:
    """(failure masks with reasons, typed values) for one column."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    fails: list[tuple[Mask, str]] = []
    present = pc.fill_null(pc.not_equal(raw, ""), False)
    text = pc.if_else(present, raw, pa.scalar(None, pa.string()))
    if col.required and col.type != "coding":  # codings: no code at all, checked below
        fails.append((pc.invert(present), f"missing:{col.name}"))
    long = pc.greater(pc.binary_length(text), col.max_length)
    fails.append((long, f"too-long:{col.name}"))
    text = pc.if_else(pc.fill_null(long, False), pa.scalar(None, pa.string()), text)
    if col.nir:
        text = pc.ascii_upper(text)
        m, ok = fixed_width(text, 15)
        given = _np(pc.is_valid(text))
        if (given & ~ok).any():  # spaces, dots or dashes somewhere: normalize first
            text = pc.replace_substring_regex(text, r"[\s.\-]", "")
            m, ok = fixed_width(text, 15)
        fmt, key_ok = nir_checks(m, ok)
        fails.append((given & ~fmt, f"nir-format:{col.name}"))
        fails.append((fmt & ~key_ok, f"nir-key:{col.name}"))
    if col.pattern is not None:
        wrong = _pattern_fails(col, text)
        if col.on_mismatch == "null":  # not this column's kind of value: dropped, not a reason
            text = pc.if_else(pc.fill_null(wrong, False), pa.scalar(None, pa.string()), text)
        else:
            fails.append((wrong, f"pattern:{col.name}"))
    value: pa.Array = text
    if col.scanned and col.type in ("string", "coding"):
        found = find_identifiers(text)
        if col.on_identifier == "quarantine":
            fails += [(rows, f"{kind}-in-text:{col.name}") for kind, rows in found.rows.items()]
        value = found.redacted
    if col.type == "coding":
        coded, value = check_codings(col.name, value, required=col.required)
        return fails + list(coded), value
    if col.type == "date":
        iso = col.format == "%Y-%m-%d"
        if iso:  # accept FHIR dateTimes: keep the date part
            is_dt = pc.equal(pc.utf8_slice_codeunits(text, 10, 11), "T")
            text = pc.if_else(
                pc.fill_null(is_dt, False), pc.utf8_slice_codeunits(text, 0, 10), text
            )
        given = _np(pc.is_valid(text))
        m, ok = fixed_width(text, 10)
        if iso and not (given & ~ok).any():  # every date is YYYY-MM-DD wide: integer checks
            valid, days = iso_dates(m, ok)
            fails.append((given & ~valid, f"date:{col.name}"))
            value = pa.array(days, pa.int32()).cast(pa.date32())
            value = pc.if_else(pa.array(valid), value, pa.scalar(None, pa.date32()))
            _bounds(col, value, fails)
            return fails, value
        stamp = pc.strptime(text, format=col.format, unit="s", error_is_null=True)
        if iso:  # strptime rolls 02-30 over to 03-02: compare the day back
            shaped = pc.match_substring_regex(text, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
            parsed = pc.if_else(
                pc.and_(pc.is_valid(stamp), shaped), text, pa.scalar(None, pa.string())
            )
            day = pc.cast(pc.utf8_slice_codeunits(parsed, 8, 10), pa.int64())
            same = pc.equal(pc.day(stamp), day)
        else:
            same = pc.equal(pc.strftime(stamp, format=col.format), text)
        bad = pc.and_(pc.is_valid(text), pc.invert(pc.fill_null(same, False)))
        fails.append((bad, f"date:{col.name}"))
        value = pc.cast(pc.if_else(bad, pa.scalar(None, pa.timestamp("s")), stamp), pa.date32())
        _bounds(col, value, fails)
    elif col.type in ("integer", "number"):
        bad = pc.invert(
            pc.match_substring_regex(text, _INTEGER if col.type == "integer" else _NUMBER)
        )
        fails.append((bad, f"number:{col.name}"))
        clean = pc.if_else(pc.fill_null(bad, False), pa.scalar(None, pa.string()), text)
        value = pc.cast(clean, pa.int64() if col.type == "integer" else pa.float64())
        for bound, op in ((col.min, pc.less), (col.max, pc.greater)):
            if bound is not None:
                fails.append((op(value, float(bound)), f"range:{col.name}"))
        if col.scanned:  # a NIR or phone number passes as a number: never kept as one
            found = find_identifiers(clean)  # as written, and as the number kept reads
            again = find_identifiers(_as_whole_number(value))
            rows = {kind: found.rows[kind] | again.rows[kind] for kind in found.rows}
            if col.on_identifier == "quarantine":
                fails += [(hit, f"{kind}-in-text:{col.name}") for kind, hit in rows.items()]
            hidden = np.logical_or.reduce(list(rows.values()))
            value = pc.if_else(pa.array(hidden), pa.scalar(None, value.type), value)
    elif col.type == "sex":
        where = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(text)), pa.array(_SEX_CODES))
        fails.append((pc.and_(pc.is_valid(text), pc.is_null(where)), f"sex:{col.name}"))
        value = pc.take(pa.array(_SEX_VALUES), where)
    return fails, value


def _as_whole_number(value: pa.Array) -> pa.Array:
    """Each parsed number as the digits a reader of the dataset sees, for the scan.

    ``1.85057512345673e14``, ``185057512345673e0`` or ``0185057512345673`` hide a NIR
    from a scan of the text as written, and the kept value is that NIR: whole numbers
    are rendered without exponent or leading zeros (others are left out)."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    if pa.types.is_integer(value.type):
        return pc.cast(value, pa.string())
    whole = pc.and_(pc.equal(value, pc.floor(value)), pc.less(pc.abs(value), pa.scalar(9.0e18)))
    as_int = pc.cast(pc.if_else(whole, value, pa.scalar(None, value.type)), pa.int64())
    return pc.cast(as_int, pa.string())


def check_batch(view: ViewSpec, columns: dict[str, pa.Array]) -> Checked:
    """Validate the text ``columns`` of one batch against ``view``'s declared columns."""
    import numpy as np

    n = len(next(iter(columns.values()))) if columns else 0
    failures: list[tuple[npt.NDArray[np.bool_], str]] = []
    values: dict[str, pa.Array] = {}
    for col in view.columns:
        fails, value = _check_column(col, columns[col.name])
        values[col.name] = value
        for mask, reason in fails:
            m = _np(mask)
            if m.any():
                failures.append((m, reason))
    bad = np.zeros(n, dtype=bool)
    for m, _ in failures:
        bad |= m
    reasons = []
    if failures:
        rows = np.flatnonzero(bad)
        picked = [(m[rows], reason) for m, reason in failures]
        reasons = [";".join(reason for m, reason in picked if m[k]) for k in range(len(rows))]
    return Checked(bad, reasons, values)
