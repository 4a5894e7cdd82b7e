"""Project extracts: copies of dataset files whose person pseudonyms are re-keyed per project.

Each person column (named in the file's ``passerelle.person_columns`` metadata,
or given explicitly) becomes HMAC-SHA-256(project key, pseudonym) in hex, so
joins inside one project's extracts still work while two projects' extracts
share no person identifier.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from passerelle.errors import SourceFormatError
from passerelle.ingest.model import ExtractResult, OutputFile
from passerelle.ingest.output import PASSERELLE_META, PartWriter
from passerelle.ingest.pseudonym import check_key, rekey
from passerelle.ingest.sources import READ_CHUNK, RangeFile
from passerelle.storage import StorageConfig, Store, open_store, split_object_url

__all__ = ["extract_for_project"]


def extract_for_project(
    files: Sequence[str],
    *,
    project_key: bytes,
    output_url: str,
    person_columns: Sequence[str] | None = None,
    rows_per_file: int = 1_000_000,
    config: StorageConfig | None = None,
    output_store: Store | None = None,
    source_store: Store | None = None,
) -> ExtractResult:
    """Re-key the person columns of the Parquet ``files`` (object URLs) into ``output_url``.

    Output keys keep each file's name under a folder named after its table
    (the file's parent folder), e.g. ``pmsi_stays/part-00000.parquet``.
    """
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    check_key(project_key, "project key")
    out = output_store or open_store(output_url, config=config)
    written: list[OutputFile] = []
    rows = 0
    rekeyed: set[str] = set()
    for n, url in enumerate(files):
        if source_store is not None:  # ``files`` are keys of it (the hub's own store)
            src, key = source_store, url
        else:
            parent, key = split_object_url(url)
            src = open_store(parent, config=config)
        size = src.head(key).size
        try:
            pf = pq.ParquetFile(
                io.BufferedReader(RangeFile(src, key, size), buffer_size=READ_CHUNK)
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceFormatError(f"{url} is not a readable Parquet file ({exc}).") from None
        meta = pf.schema_arrow.metadata or {}
        declared = meta.get(PASSERELLE_META, b"").decode()
        columns = (
            tuple(person_columns)
            if person_columns is not None
            else tuple(c for c in declared.split(",") if c)
        )
        parts = url.rstrip("/").rsplit("/", 2)
        table_name = parts[-2] if len(parts) == 3 else "data"
        writer = PartWriter(
            out,
            f"{table_name}/{n:05d}",
            pf.schema_arrow.remove_metadata(),
            rows_per_file=rows_per_file,
            person_columns=columns,
        )
        for batch in pf.iter_batches(batch_size=65_536):
            table = pa.Table.from_batches([batch])
            for col in columns:
                i = table.schema.get_field_index(col)
                table = table.set_column(
                    i, col, rekey(project_key, table.column(col).combine_chunks())
                )
                rekeyed.add(col)
            writer.write(table)
            rows += table.num_rows
        written.extend(writer.close())
    return ExtractResult(out.url, tuple(written), rows, tuple(sorted(rekeyed)))
