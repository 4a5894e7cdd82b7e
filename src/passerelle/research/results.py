"""Query results as the hub keeps them: exact, storable Arrow tables and their Parquet bytes.

DuckDB hands results over as Arrow. A few of its types have no Parquet (or no
exact Arrow) form; :func:`storable_table` rewrites those, recursively inside
lists, structs and maps, into types that keep every value exactly:

========================================  ==============================================
DuckDB type (as Arrow carries it)          kept as
========================================  ==============================================
``INTERVAL`` (month_day_nano_interval)      ISO 8601 duration text (``P1M2DT3H``)
``UNION`` (sparse union)                    a struct: ``tag`` plus one field per member
``HUGEINT`` / ``UHUGEINT`` (lossless ext.)  ``decimal128(38, 0)``, or exact text past 38 digits
``VARINT`` / ``BIGNUM`` (DuckDB extension)  exact decimal text
``TIMETZ`` (lossless extension)             ``HH:MM:SS.ffffff+HH:MM`` text
``BIT`` (lossless extension)                ``0101...`` text
``UUID`` / ``JSON`` (Arrow extensions)      their text
``BOOLEAN`` (lossless ``bool8`` extension)  boolean
``TIMESTAMP_S`` (timestamp[s])              timestamp[ms] (Parquet has no seconds)
========================================  ==============================================

Anything else is kept as it is. :func:`result_parquet` serialises a table in
one place (so what is stored and what is shown are the same table), and
:func:`write_result` writes one into a workspace prefix.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from passerelle.errors import UsageError
from passerelle.storage.urls import validate_key

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from passerelle.storage.base import Store
    from passerelle.storage.model import PutResult

__all__ = ["interval_text", "result_parquet", "storable_table", "write_result"]

_RESULT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_NANOS_PER_SECOND = 1_000_000_000
_TIMETZ_MAX_OFFSET = 16 * 60 * 60 - 1  # DuckDB stores (max - offset) in the low 24 bits


def interval_text(months: int, days: int, nanoseconds: int) -> str:
    """An Arrow month-day-nano interval as exact ISO 8601 text (each part keeps its sign)."""
    date_part = (f"{months}M" if months else "") + (f"{days}D" if days else "")
    sign = "-" if nanoseconds < 0 else ""
    hours, rest = divmod(abs(nanoseconds), 3600 * _NANOS_PER_SECOND)
    minutes, rest = divmod(rest, 60 * _NANOS_PER_SECOND)
    seconds, fraction = divmod(rest, _NANOS_PER_SECOND)
    time_part = (f"{sign}{hours}H" if hours else "") + (f"{sign}{minutes}M" if minutes else "")
    if seconds or fraction:
        digits = f".{fraction:09d}".rstrip("0") if fraction else ""
        time_part += f"{sign}{seconds}{digits}S"
    if not date_part and not time_part:
        return "PT0S"
    return "P" + date_part + ("T" + time_part if time_part else "")


def _bignum_text(raw: bytes) -> str:
    """DuckDB's VARINT bytes: a 3-byte header (sign bit, length), then big-endian digits;
    negative numbers are stored bitwise inverted."""
    if raw[0] & 0x80:
        return str(int.from_bytes(raw[3:], "big"))
    return str(-int.from_bytes(bytes(b ^ 0xFF for b in raw[3:]), "big"))


def _timetz_text(raw: bytes) -> str:
    bits = int.from_bytes(raw, "little")
    micros, offset = bits >> 24, _TIMETZ_MAX_OFFSET - (bits & 0xFFFFFF)
    seconds, fraction = divmod(micros, 1_000_000)
    clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if fraction:
        clock += f".{fraction:06d}".rstrip("0")
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    zone = f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")
    return clock + zone


def _bit_text(raw: bytes) -> str:
    """DuckDB's BIT bytes: the first byte counts padding bits of the second."""
    if not raw:
        return ""
    return "".join(f"{b:08b}" for b in raw[1:])[raw[0] :]


_OPAQUE_TEXT = {
    "hugeint": lambda raw: str(int.from_bytes(raw, "little", signed=True)),
    "uhugeint": lambda raw: str(int.from_bytes(raw, "little", signed=False)),
    "bignum": _bignum_text,
    "varint": _bignum_text,
    "time_tz": _timetz_text,
    "bit": _bit_text,
}


def _needs_rewrite(kind: Any) -> bool:
    import pyarrow as pa
    import pyarrow.types as pat  # type: ignore[import-untyped]

    if isinstance(kind, pa.BaseExtensionType) or pat.is_interval(kind) or pat.is_union(kind):
        return True
    if pat.is_timestamp(kind) and kind.unit == "s":  # Parquet has no seconds: keep ms
        return True
    if pat.is_dictionary(kind):
        return _needs_rewrite(kind.value_type)
    if pat.is_map(kind):
        return _needs_rewrite(kind.key_type) or _needs_rewrite(kind.item_type)
    if pat.is_list(kind) or pat.is_large_list(kind) or pat.is_fixed_size_list(kind):
        return _needs_rewrite(kind.value_type)
    if pat.is_list_view(kind) or pat.is_large_list_view(kind):
        return True
    if pat.is_struct(kind):
        return any(_needs_rewrite(kind.field(i).type) for i in range(kind.num_fields))
    return False


def _text_array(values: list[str | None]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def _extension(array: Any) -> pa.Array:
    import pyarrow as pa

    kind = array.type
    name = getattr(kind, "type_name", None) or getattr(kind, "extension_name", "")
    name = str(name).removeprefix("duckdb.").removeprefix("arrow.")
    storage = array.storage
    if name in ("hugeint", "uhugeint"):
        return _huge(storage.to_pylist(), signed=name == "hugeint")
    if name in _OPAQUE_TEXT:
        text = _OPAQUE_TEXT[name]
        return _text_array([None if v is None else text(v) for v in storage.to_pylist()])
    if name == "bool8":
        return storage.cast(pa.bool_())
    if name == "uuid":
        raw = storage.to_pylist()
        return _text_array([None if v is None else _uuid_text(v) for v in raw])
    if name == "json" or pa.types.is_string(storage.type) or pa.types.is_large_string(storage.type):
        return _rewrite(storage)
    raise UsageError(
        f"the result has a column of type {name or kind} that the hub cannot keep exactly; "
        "cast it to VARCHAR in the query"
    )


def _huge(raw: list[bytes | None], *, signed: bool) -> pa.Array:
    """128-bit integers as ``decimal128(38, 0)`` (numeric, e.g. a ``sum()``) when every value
    has at most 38 digits, else as exact decimal text."""
    import pyarrow as pa

    values = [None if v is None else int.from_bytes(v, "little", signed=signed) for v in raw]
    if all(v is None or abs(v) < 10**38 for v in values):
        return pa.array([None if v is None else Decimal(v) for v in values], pa.decimal128(38, 0))
    return _text_array([None if v is None else str(v) for v in values])


def _uuid_text(raw: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes=raw))


def _interval(array: Any) -> pa.Array:
    return _text_array(
        [
            None if v is None else interval_text(v.months, v.days, v.nanoseconds)
            for v in array.to_pylist()
        ]
    )


def _union(array: Any) -> pa.Array:
    """A sparse union as a struct: ``tag`` names the member, only that member is set."""
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    kind = array.type
    if kind.mode != "sparse":
        raise UsageError("the result has a dense UNION column; cast it to VARCHAR in the query")
    codes = array.type_codes
    names = [kind.field(i).name for i in range(kind.num_fields)]
    tags = pc.take(pa.array([*names, None]), _code_index(codes, kind.type_codes))
    children = [tags]
    for i, code in enumerate(kind.type_codes):
        child = _rewrite(array.field(i))
        mask = pc.equal(codes, pa.scalar(code, pa.int8()))
        children.append(pc.if_else(mask, child, pa.nulls(len(array), child.type)))
    if "tag" in names:
        raise UsageError("a UNION column has a member named 'tag'; rename it in the query")
    return pa.StructArray.from_arrays(children, names=["tag", *names])


def _code_index(codes: Any, type_codes: list[int]) -> pa.Array:
    import pyarrow as pa

    position = {code: i for i, code in enumerate(type_codes)}
    return pa.array([position.get(c, len(type_codes)) for c in codes.to_pylist()], pa.int32())


def _rewrite(array: Any) -> pa.Array:
    """``array`` with every type :func:`_needs_rewrite` flags turned into an exact one."""
    import pyarrow as pa
    import pyarrow.types as pat

    kind = array.type
    if not _needs_rewrite(kind):
        return array
    mask = array.is_null() if array.null_count else None
    if isinstance(kind, pa.BaseExtensionType):
        return _extension(array)
    if pat.is_interval(kind):
        return _interval(array)
    if pat.is_timestamp(kind):
        return array.cast(pa.timestamp("ms", tz=kind.tz))
    if pat.is_union(kind):
        return _union(array)
    if pat.is_dictionary(kind):
        return _rewrite(array.dictionary_decode())
    if pat.is_list_view(kind) or pat.is_large_list_view(kind):
        return _rewrite(array.cast(pa.list_(kind.value_type)))
    if pat.is_fixed_size_list(kind):
        size = kind.list_size
        values = array.values.slice(array.offset * size, len(array) * size)
        return pa.FixedSizeListArray.from_arrays(_rewrite(values), size, mask=mask)
    if pat.is_map(kind):
        return pa.MapArray.from_arrays(
            array.offsets, _rewrite(array.keys), _rewrite(array.items), mask=mask
        )
    if pat.is_list(kind) or pat.is_large_list(kind):
        cls = pa.ListArray if pat.is_list(kind) else pa.LargeListArray
        return cls.from_arrays(array.offsets, _rewrite(array.values), mask=mask)
    fields = [kind.field(i) for i in range(kind.num_fields)]
    children = [_rewrite(array.field(i)) for i in range(kind.num_fields)]
    return pa.StructArray.from_arrays(children, names=[f.name for f in fields], mask=mask)


def _as_text(array: Any) -> pa.Array:
    import pyarrow as pa

    try:
        return array.cast(pa.string())
    except (pa.ArrowException, ValueError):
        raise UsageError(
            "a result column changes type from one batch to the next; cast it to VARCHAR "
            "in the query"
        ) from None


def storable_table(table: pa.Table) -> pa.Table:
    """``table`` with every column Parquet cannot hold exactly rewritten (see the module doc).

    Raises :class:`UsageError` (one sentence) for a type the hub cannot keep exactly.
    """
    import pyarrow as pa

    if not any(_needs_rewrite(f.type) for f in table.schema):
        return table
    columns = []
    for column in table.columns:
        chunks = [_rewrite(c) for c in column.chunks]
        if len({c.type for c in chunks}) > 1:  # e.g. 128-bit integers that fit in one chunk only
            chunks = [_as_text(c) for c in chunks]
        if chunks:
            columns.append(pa.chunked_array(chunks))
        else:
            empty = _rewrite(pa.array([], type=column.type))
            columns.append(pa.chunked_array([], type=empty.type))
    return pa.Table.from_arrays(columns, names=table.column_names)


def result_parquet(table: pa.Table) -> bytes:
    """``table`` (already :func:`storable_table`) as one Parquet file (zstd)."""
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    try:
        pq.write_table(table, buffer, compression="zstd")
    except (pa.ArrowException, ValueError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"the result cannot be stored ({first.rstrip('.')}); cast the column to VARCHAR"
        ) from None
    return buffer.getvalue()


def write_result(table: pa.Table, store: Store, workspace: str, name: str) -> PutResult:
    """Write ``table`` as ``<workspace>/<name>.parquet`` in ``store`` and return the put result.

    ``workspace`` is the prefix the caller owns (e.g. ``projects/P/workspace``);
    ``name`` is one plain file name (letters, digits, ``_ . -``), never a path, so a
    result cannot land outside the workspace. The table is made :func:`storable_table`.
    """
    prefix = workspace.strip("/")
    if not prefix or ".." in prefix.split("/"):
        raise UsageError(f"{workspace!r} is not a workspace prefix; give the project's prefix.")
    if not _RESULT_NAME.match(name) or ".." in name:
        raise UsageError(
            f"{name!r} is not a result name; use letters, digits, '_', '.' or '-', no '/'."
        )
    key = f"{prefix}/{name if name.endswith('.parquet') else name + '.parquet'}"
    validate_key(key)
    return store.put(
        key,
        result_parquet(storable_table(table)),
        content_type="application/vnd.apache.parquet",
    )
