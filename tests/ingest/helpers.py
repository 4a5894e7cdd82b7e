"""Reading ingest outputs back in tests."""

from __future__ import annotations

import io
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from passerelle.ingest import OutputFile
from passerelle.storage import open_store, split_object_url


def read_files(files: Iterable[OutputFile]) -> pa.Table:
    tables = []
    for f in files:
        parent, key = split_object_url(f.url)
        tables.append(pq.read_table(io.BytesIO(open_store(parent).get(key).read())))
    return pa.concat_tables(tables, promote_options="default")


def table(result: object, name: str) -> pa.Table:
    for t in result.tables:  # type: ignore[attr-defined]
        if t.name == name:
            return read_files(t.files)
    raise KeyError(name)
