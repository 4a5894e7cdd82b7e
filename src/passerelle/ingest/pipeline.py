"""``ingest``: read a source through the storage layer, check, pseudonymize, write Parquet.

Flow: list the source objects, digest their bytes (the version id is derived
from that digest, the schema and a fingerprint of the key), return the
existing version if its manifest and files verify, otherwise stream batches
through :func:`split_batch` into bounded Parquet parts, then write the
manifest last (its presence marks the version complete).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import sys
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

from passerelle.errors import NotFoundError, PasserelleError, SourceFormatError, UsageError
from passerelle.ingest.fhir import PatientIndex, fhir_batches, order_files
from passerelle.ingest.model import IngestResult, OutputFile, TableResult
from passerelle.ingest.output import PartWriter, verify_file
from passerelle.ingest.pseudonym import check_key
from passerelle.ingest.schema import SourceSchema, ViewSpec, load_schema
from passerelle.ingest.sources import digest_objects
from passerelle.ingest.tabular import (
    BLOCK_SIZE,
    LARGE_BLOCK_SIZE,
    RowTooLongForBlock,
    csv_batches,
    parquet_batches,
)
from passerelle.ingest.transform import (
    RawBatch,
    Split,
    output_schema,
    quarantine_schema,
    split_batch,
)
from passerelle.storage import StorageConfig, Store, open_store, split_object_url

__all__ = ["FORMAT", "MANIFEST", "ingest", "version_id"]

FORMAT = "passerelle-ingest/1"
MANIFEST = "_manifest.json"
_WORKERS = 2


def _return_large_buffers_to_the_os() -> None:
    """Fix glibc's mmap threshold at 1 MiB and use at most two heaps (Linux only).

    Streaming reads hand over many 8-16 MiB buffers between threads; with glibc's
    default sliding threshold and one heap per thread they end up in heaps that
    are never trimmed, and RSS grows to several times the data in flight.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)  # M_ARENA_MAX, as the CLI sets it


def version_id(input_sha256: str, schema: SourceSchema, key: bytes) -> str:
    """24 hex characters from the input digest, the schema (with its policy) and the key.

    The key enters only through an HMAC fingerprint, so the id reveals nothing of it;
    a different key gives a different version (its pseudonyms differ).
    """
    fingerprint = hmac.digest(key, b"passerelle version fingerprint", "sha256").hex()
    text = "|".join((FORMAT, input_sha256, schema.digest(), fingerprint))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _source_objects(
    source_url: str, kind: str, config: StorageConfig | None
) -> tuple[Store, list[str]]:
    if kind == "fhir-ndjson" and not source_url.rstrip("/").endswith(".ndjson"):
        store = open_store(source_url, config=config)
        keys = [o.key for o in store.list() if o.key.endswith(".ndjson")]
        if not keys:
            raise SourceFormatError(
                f"{source_url} holds no .ndjson files; point at a Bulk Data export folder."
            )
        return store, keys
    parent, key = split_object_url(source_url)
    store = open_store(parent, config=config)
    try:
        store.head(key)
    except NotFoundError:
        raise NotFoundError(f"No source object at {source_url}; check the URL.") from None
    return store, [key]


def _existing(out: Store, prefix: str, quarantine: Store) -> IngestResult | None:
    try:
        data = json.loads(out.get(f"{prefix}/{MANIFEST}").read())
        result = IngestResult.from_dict(data)
    except (NotFoundError, ValueError, KeyError, TypeError):
        return None
    if all(verify_file(out, f) for f in result.files) and all(
        verify_file(quarantine, f) for f in result.quarantine_files
    ):
        return IngestResult.from_dict({**data, "reused": True})
    return None


class _Run:
    """Mutable state of one ingest: writers per view, counters, patient index."""

    def __init__(
        self, schema: SourceSchema, out: Store, qstore: Store, prefix: str, urls: tuple[str, str]
    ) -> None:
        self.schema, self.out, self.qstore, self.prefix = schema, out, qstore, prefix
        self.out_url, self.q_url = urls
        self.writers: dict[str, PartWriter] = {}
        self.qwriters: dict[str, PartWriter] = {}
        self.reasons: Counter[str] = Counter()
        self.rows_in = self.accepted = self.quarantined = 0
        self.patients = PatientIndex()

    def writer(self, view: ViewSpec) -> PartWriter:
        if view.name not in self.writers:
            persons = (view.person.column,) if view.person else ()
            self.writers[view.name] = PartWriter(
                self.out,
                f"{self.prefix}/{view.name}",
                output_schema(view),
                rows_per_file=self.schema.rows_per_file,
                person_columns=persons,
                base_url=self.out_url,
            )
        return self.writers[view.name]

    def feed(self, view: ViewSpec, batches: Iterator[RawBatch], key: bytes, source: str) -> None:
        """Split batches two at a time on worker threads (Arrow kernels release the GIL),
        consuming the results in order; drained before returning."""
        from concurrent.futures import ThreadPoolExecutor

        patients = self.patients if view.person and view.person.reference else None
        pending: deque[tuple[RawBatch, Future[Split]]] = deque()
        with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="ingest") as pool:
            for batch in batches:
                job = pool.submit(
                    split_batch, view, batch, key=key, source=source, patients=patients
                )
                pending.append((batch, job))
                if len(pending) >= _WORKERS:
                    self._consume(view, *pending.popleft())
            while pending:
                self._consume(view, *pending.popleft())

    def _consume(self, view: ViewSpec, batch: RawBatch, job: Future[Split]) -> None:
        split = job.result()
        self.writer(view).write(split.accepted)
        if view.person and view.person.id is not None:
            self.patients.add(split.values[view.person.id], split.accepted[view.person.column])
            if split.refused_ids is not None:
                self.patients.refuse(split.refused_ids)
        self.rows_in += batch.size
        self.accepted += split.accepted.num_rows
        if split.quarantine is not None:
            self.quarantined += split.quarantine.num_rows
            if view.name not in self.qwriters:
                self.qwriters[view.name] = PartWriter(
                    self.qstore,
                    f"{self.prefix}/_quarantine/{view.name}",
                    quarantine_schema(view),
                    rows_per_file=self.schema.rows_per_file,
                    base_url=self.q_url,
                )
            self.qwriters[view.name].write(split.quarantine)
        for reasons in split.reasons:
            self.reasons.update(reasons.split(";"))

    def written(self) -> list[tuple[Store, OutputFile]]:
        files = [(self.out, f) for w in self.writers.values() for f in w.files]
        return files + [(self.qstore, f) for w in self.qwriters.values() for f in w.files]


def _write_version(
    schema: SourceSchema,
    src: Store,
    keys: list[str],
    base: str,
    out: Store,
    qstore: Store,
    prefix: str,
    key: bytes,
    batch_rows: int,
    urls: tuple[str, str],
    *,
    block_size: int = BLOCK_SIZE,
) -> _Run:
    """Stream every batch into parts; on any failure delete the parts written so far."""
    run = _Run(schema, out, qstore, prefix, urls)
    try:
        if schema.kind == "csv":
            label = f"{base}/{keys[0]}"
            batches = csv_batches(src, keys[0], schema, label, block_size)
            run.feed(schema.views[0], batches, key, keys[0])
        elif schema.kind == "parquet":
            label = f"{base}/{keys[0]}"
            batches = parquet_batches(src, keys[0], schema, label, batch_rows)
            run.feed(schema.views[0], batches, key, keys[0])
        else:
            for name, view in order_files(keys, schema):
                run.feed(view, fhir_batches(src, name, view, batch_rows), key, name)
        for view in schema.views:
            run.writer(view).close()
        for w in run.qwriters.values():
            w.close()
    except BaseException:
        for written_to, f in run.written():
            with contextlib.suppress(Exception):  # best effort: the original error wins
                written_to.delete(f.key)
        raise
    return run


def ingest(
    source_url: str,
    *,
    schema: SourceSchema | str | Path,
    pseudonym_key: bytes,
    output_url: str,
    kind: str | None = None,
    quarantine_url: str | None = None,
    batch_rows: int = 65_536,
    config: StorageConfig | None = None,
    output_store: Store | None = None,
    quarantine_store: Store | None = None,
    source_label: str | None = None,
) -> IngestResult:
    """Ingest one source into a pseudonymized dataset version under ``output_url``.

    ``source_url`` is an object URL (CSV, Parquet, one NDJSON file) or, for
    ``fhir-ndjson``, a folder URL of a Bulk Data export.  Output layout:
    ``v<version>/<table>/part-NNNNN.parquet`` and ``v<version>/_manifest.json``;
    quarantine under ``v<version>/_quarantine/<table>/`` of ``quarantine_url``
    (default: ``output_url``).  The key is used, never stored or shown.
    ``output_store`` / ``quarantine_store``, when given, are written instead of
    opening the URLs (the hub passes its live-routed data store); ``output_url``
    still names the files in the result. ``source_label``, when given, is the source
    named in the result (the hub reads a pinned copy of the path a steward gave).
    """
    check_key(pseudonym_key)
    _return_large_buffers_to_the_os()
    if not isinstance(schema, SourceSchema):
        schema = load_schema(schema)
    if kind is not None and kind != schema.kind:
        raise UsageError(
            f"The schema declares kind {schema.kind!r}, not {kind!r}; use the matching schema."
        )
    src, keys = _source_objects(source_url, schema.kind, config)
    base = src.url.rstrip("/")
    labels = [(k if schema.kind == "fhir-ndjson" else "", k) for k in keys]
    input_sha, input_bytes = digest_objects(src, labels)
    version = version_id(input_sha, schema, pseudonym_key)
    out = output_store or open_store(output_url, config=config)
    qstore = quarantine_store or (
        open_store(quarantine_url, config=config) if quarantine_url else out
    )
    prefix = f"v{version}"
    existing = _existing(out, prefix, qstore)
    if existing is not None:
        return existing
    for store in {id(out): out, id(qstore): qstore}.values():
        with contextlib.suppress(PasserelleError):  # a folder may need creating; else put says why
            store.create_container()
    out_url = output_url.rstrip("/")
    urls = (out_url, quarantine_url.rstrip("/") if quarantine_url else out_url)
    args = (schema, src, keys, base, out, qstore, prefix, pseudonym_key, batch_rows, urls)
    try:
        run = _write_version(*args)
    except RowTooLongForBlock:
        run = _write_version(*args, block_size=LARGE_BLOCK_SIZE)
    tables = tuple(
        TableResult(
            name=view.name,
            columns=tuple((f.name, str(f.type)) for f in output_schema(view)),
            rows=run.writers[view.name].rows,
            files=tuple(run.writers[view.name].files),
            person_column=view.person.column if view.person else None,
        )
        for view in schema.views
    )
    result = IngestResult(
        dataset=schema.name,
        kind=schema.kind,
        version=version,
        source_url=source_label or source_url,
        input_sha256=input_sha,
        input_bytes=input_bytes,
        schema_sha256=schema.digest(),
        tables=tables,
        rows_in=run.rows_in,
        rows_accepted=run.accepted,
        rows_quarantined=run.quarantined,
        quarantine_files=tuple(f for w in run.qwriters.values() for f in w.files),
        reasons=tuple(sorted(run.reasons.items())),
        manifest_url=f"{urls[0]}/{prefix}/{MANIFEST}",
    )
    assert result.rows_in == result.rows_accepted + result.rows_quarantined
    manifest = json.dumps(result.as_dict(), indent=1, sort_keys=True).encode()
    out.put(f"{prefix}/{MANIFEST}", manifest, content_type="application/json")
    return result
