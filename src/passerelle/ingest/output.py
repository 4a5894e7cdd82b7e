"""Write Parquet parts through the storage layer, one bounded part at a time."""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO, TYPE_CHECKING

from passerelle.ingest.model import OutputFile
from passerelle.storage import Store

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

__all__ = ["PartWriter", "verify_file"]

PASSERELLE_META = b"passerelle.person_columns"
_CHUNK = 8 * 1024 * 1024


def _spool() -> IO[bytes]:
    """A part being written: in memory up to 16 MiB, then in a private temporary file."""
    return tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)


class PartWriter:
    """Append batches; every ``rows_per_file`` rows become one ``part-NNNNN.parquet``
    object under ``prefix`` (streamed with :meth:`Store.put`).  A part is spooled to
    a private temporary file beyond 16 MiB, so memory does not grow with its size."""

    def __init__(
        self,
        store: Store,
        prefix: str,
        schema: pa.Schema,
        *,
        rows_per_file: int,
        person_columns: tuple[str, ...] = (),
        base_url: str | None = None,
    ) -> None:
        self._base_url = (base_url or store.url).rstrip("/")
        meta = {PASSERELLE_META: ",".join(person_columns).encode()}
        self.schema = schema.with_metadata(meta)
        self.files: list[OutputFile] = []
        self._store, self._prefix, self._limit = store, prefix.rstrip("/"), rows_per_file
        self._buffer: IO[bytes] | None = None
        self._writer: pq.ParquetWriter | None = None
        self._rows = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        at = 0
        while at < table.num_rows:
            if self._writer is None:
                self._buffer = _spool()
                self._writer = pq.ParquetWriter(
                    self._buffer, self.schema, compression="zstd", compression_level=1
                )
            take = min(self._limit - self._rows, table.num_rows - at)
            self._writer.write_table(
                table.slice(at, take).cast(self.schema), row_group_size=128 * 1024
            )
            self._rows += take
            self.rows += take
            at += take
            if self._rows >= self._limit:
                self._flush()

    def _flush(self) -> None:
        if self._writer is None or self._buffer is None:
            return
        self._writer.close()
        buffer = self._buffer
        size = buffer.tell()
        digest = hashlib.sha256()
        buffer.seek(0)
        for chunk in iter(lambda: buffer.read(_CHUNK), b""):
            digest.update(chunk)
        buffer.seek(0)
        key = f"{self._prefix}/part-{len(self.files):05d}.parquet"
        self._store.put(
            key,
            iter(lambda: buffer.read(_CHUNK), b""),
            size=size,
            content_type="application/vnd.apache.parquet",
        )
        buffer.close()
        url = f"{self._base_url}/{key}"
        self.files.append(OutputFile(url, key, size, digest.hexdigest(), self._rows))
        self._writer, self._buffer, self._rows = None, None, 0

    def close(self) -> list[OutputFile]:
        """Write the last part (an empty table is still written once, to carry the schema)."""
        if self._writer is None and not self.files:
            import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

            self.write(pa.Table.from_batches([], self.schema))
            if self._writer is None:
                import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

                self._buffer = _spool()
                self._writer = pq.ParquetWriter(self._buffer, self.schema)
        self._flush()
        return self.files


def verify_file(store: Store, f: OutputFile) -> bool:
    """Whether the object is there with the recorded size and SHA-256."""
    from passerelle.errors import NotFoundError

    h = hashlib.sha256()
    size = 0
    try:
        for chunk in store.get(f.key):
            h.update(chunk)
            size += len(chunk)
    except NotFoundError:
        return False
    return size == f.size and h.hexdigest() == f.sha256
