"""CSV and Parquet sources as streams of :class:`RawBatch` (text columns), bounded in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

from passerelle.errors import SchemaMismatchError, SourceFormatError
from passerelle.ingest.schema import SourceSchema, ViewSpec
from passerelle.ingest.sources import READ_CHUNK, RangeFile, StreamFile
from passerelle.ingest.transform import Broken, RawBatch
from passerelle.storage import Store

if TYPE_CHECKING:
    pass

__all__ = [
    "BLOCK_SIZE",
    "LARGE_BLOCK_SIZE",
    "RowTooLongForBlock",
    "check_columns",
    "csv_batches",
    "parquet_batches",
]

BLOCK_SIZE = 8 * 1024 * 1024
"""CSV parse block; a file with a longer row is read again with :data:`LARGE_BLOCK_SIZE`."""
LARGE_BLOCK_SIZE = 64 * 1024 * 1024


class RowTooLongForBlock(Exception):
    """A CSV row does not fit the parse block: read the file again with larger blocks."""


def check_columns(label: str, found: list[str], view: ViewSpec, delimiter: str) -> None:
    """Refuse a source whose columns differ from the declared ones, saying how."""
    declared = [c.name for c in view.columns]
    missing = [c for c in declared if c not in found]
    extra = [c for c in found if c not in declared]
    if len(found) == 1 and missing:
        for sep in (";", "\t", "|", ","):
            if sep != delimiter and sep in found[0]:
                raise SchemaMismatchError(
                    f"{label} has a single column {found[0][:60]!r}: it looks delimited by "
                    f"{sep!r}, not {delimiter!r}; set delimiter in the schema's [dataset]."
                )
    if missing:
        raise SchemaMismatchError(
            f"{label} lacks the declared column(s) {', '.join(missing)}; "
            "fix the export or the schema."
        )
    if extra:
        raise SchemaMismatchError(
            f"{label} has undeclared column(s) {', '.join(extra)}; declare them in the schema "
            "(identifier = true if they identify a person) so nothing passes unchecked."
        )


def _header(first: bytes, schema: SourceSchema, label: str) -> list[str]:
    if not first:
        raise SourceFormatError(f"{label} is empty; nothing to ingest, check the export.")
    line = first.split(b"\n", 1)[0].rstrip(b"\r")
    if line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        text = line.decode(schema.encoding)
    except (UnicodeDecodeError, LookupError):
        raise _encoding_error(label, schema) from None
    return next(csv.reader([text], delimiter=schema.delimiter), [])


def _encoding_error(label: str, schema: SourceSchema) -> SourceFormatError:
    return SourceFormatError(
        f"{label} is not valid {schema.encoding} text; re-export it as UTF-8 or declare its "
        'encoding in the schema (e.g. encoding = "latin-1").'
    )


def _arrow_error(exc: Exception, label: str, schema: SourceSchema, block_size: int) -> Exception:
    msg = str(exc)
    if "UTF8" in msg or "UTF-8" in msg or "utf-8" in msg:
        return _encoding_error(label, schema)
    if "straddling" in msg or "block" in msg:
        if block_size < LARGE_BLOCK_SIZE:
            return RowTooLongForBlock(label)
        return SourceFormatError(
            f"{label} has a row longer than {block_size // 2**20} MiB (or an unclosed quote); "
            "check the quoting of the export."
        )
    first = msg.splitlines()[0] if msg else type(exc).__name__
    return SourceFormatError(f"{label} cannot be read as CSV ({first}); check the export.")


def csv_batches(
    store: Store, key: str, schema: SourceSchema, label: str, block_size: int = BLOCK_SIZE
) -> Iterator[RawBatch]:
    """Parse the CSV object ``key`` in blocks; malformed rows come back as :class:`Broken`.

    Raises :class:`RowTooLongForBlock` when a row exceeds ``block_size`` (below
    :data:`LARGE_BLOCK_SIZE`), so the caller can start again with larger blocks.
    """
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.csv as pcsv  # type: ignore[import-untyped, unused-ignore]

    view = schema.views[0]
    chunks = iter(store.get(key, chunk_size=READ_CHUNK))
    first = next(chunks, b"")
    check_columns(label, _header(first, schema, label), view, schema.delimiter)
    broken: list[Broken] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        broken.append(
            Broken(None, row.text or "", f"columns:{row.actual_columns}/{row.expected_columns}")
        )
        return "skip"

    def all_chunks() -> Iterator[bytes]:
        yield first
        yield from chunks

    names = [c.name for c in view.columns]
    try:
        reader = pcsv.open_csv(
            io.BufferedReader(StreamFile(all_chunks()), buffer_size=READ_CHUNK),
            read_options=pcsv.ReadOptions(block_size=block_size, encoding=schema.encoding),
            parse_options=pcsv.ParseOptions(
                delimiter=schema.delimiter, invalid_row_handler=on_invalid
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        row = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            rows = pa.array(np.arange(row, row + batch.num_rows, dtype=np.int64))
            row += batch.num_rows
            found, broken[:] = tuple(broken), []
            yield RawBatch({n: batch.column(n) for n in names}, rows, found)
        if broken:
            yield RawBatch(
                {n: pa.array([], pa.string()) for n in names},
                pa.array([], pa.int64()),
                tuple(broken),
            )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        raise _arrow_error(exc, label, schema, block_size) from None


def parquet_batches(
    store: Store, key: str, schema: SourceSchema, label: str, batch_rows: int
) -> Iterator[RawBatch]:
    """Read the Parquet object ``key`` row group by row group, every column cast to text."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    view = schema.views[0]
    size = store.head(key).size
    if size == 0:
        raise SourceFormatError(f"{label} is empty; nothing to ingest, check the export.")
    try:
        pf = pq.ParquetFile(io.BufferedReader(RangeFile(store, key, size), buffer_size=READ_CHUNK))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceFormatError(
            f"{label} is not a complete Parquet file ({str(exc).splitlines()[0]}); "
            "it may be truncated, export it again."
        ) from None
    check_columns(label, pf.schema_arrow.names, view, ",")
    names = [c.name for c in view.columns]
    for name in names:
        t = pf.schema_arrow.field(name).type
        if pa.types.is_nested(t) or pa.types.is_binary(t):
            raise SchemaMismatchError(
                f"{label} column {name} has type {t}, which passerelle cannot check as text; "
                "flatten it in the export."
            )
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_rows, columns=names):
            cols = {n: pc.cast(batch.column(n), pa.string()) for n in names}
            yield RawBatch(cols, pa.array(np.arange(row, row + batch.num_rows, dtype=np.int64)))
            row += batch.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceFormatError(
            f"{label} cannot be read past row {row} ({str(exc).splitlines()[0]}); "
            "it may be truncated, export it again."
        ) from None
