"""A hostile source's object attributes: that object fails with its reason, the rest moves.

The source is a memory store written through obstore directly, so it holds what
no passerelle write would accept (as another tool's bucket could): CR/LF/NUL
in a content type (obstore panicked on S3 and Azure and the object stayed
pending for ever), a Content-Encoding (silently dropped), keys that are one name
(one value silently won), an empty value (dropped by SeaweedFS), too many keys
(written, then unreadable).  Each must fail alone, before anything is written,
with the one sentence ``migrate report`` shows, and ``verify`` must agree.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import obstore
import pytest

from passerelle.migration import (
    RunOptions,
    plan_migration,
    run_migration,
    verify_migration,
    write_report,
)
from passerelle.storage import open_store
from passerelle.storage.model import MiB
from tests.backends import new_store_url

HOSTILE = {
    "ct-crlf": {"Content-Type": "text/plain\r\nX-Injected: 1"},
    "ct-nul": {"Content-Type": "text/plain\x00"},
    "ct-accent": {"Content-Type": "text/plain; name=é"},
    "encoding": {"Content-Encoding": "gzip"},
    "disposition": {"Content-Disposition": 'attachment; filename="a\r\nb"'},
    "language": {"Content-Language": "fr"},
    "cache": {"Cache-Control": "no-cache"},
    "case": {"Foo": "1", "foo": "2"},
    "hyphen": {"a-b": "1", "a_b": "2"},
    "empty": {"note": ""},
    "value-crlf": {"note": "a\r\nX: 1"},
    "many": {f"k{i}": "v" for i in range(300)},
    "long": {"note": "a" * 3000},
}
LARGE = {"large-encoding": {"Content-Encoding": "gzip"}, "large-crlf": {"Content-Type": "a\r\nb"}}
REASONS = {
    "ct-crlf": "printable ASCII",
    "ct-nul": "printable ASCII",
    "ct-accent": "printable ASCII",
    "encoding": "Content-Encoding",
    "disposition": "Content-Disposition",
    "language": "Content-Language",
    "cache": "Cache-Control",
    "case": "one name",
    "hyphen": "not portable",
    "empty": "empty",
    "value-crlf": "printable ASCII",
    "many": "metadata keys",
    "long": "bytes",
    "large-encoding": "Content-Encoding",
    "large-crlf": "printable ASCII",
}


@pytest.mark.parametrize("dest", ["memory", "file", "azurite", "ceph", "seaweedfs"])
def test_each_hostile_object_fails_alone_and_nothing_of_it_is_written(
    dest: str, tmp_path: Path
) -> None:
    src_url = new_store_url("memory", tmp_path / "a", "src")
    dst_url = new_store_url(dest, tmp_path / "b", "dst")
    src, dst = open_store(src_url), open_store(dst_url)
    for key, attributes in HOSTILE.items():
        obstore.put(src._store, src._path(key), b"hostile", attributes=attributes)  # type: ignore[attr-defined]
    for key, attributes in LARGE.items():
        data = b"z" * (9 * MiB)
        obstore.put(src._store, src._path(key), data, attributes=attributes)  # type: ignore[attr-defined]
    src.put("fine.csv", b"a,b\n", content_type="text/csv", metadata={"Row": "1"})
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, source=src, dest=dst)
    summary = run_migration(journal, RunOptions(concurrency=2), source=src, dest=dst)
    failed = dict(summary.failed)
    assert sorted(failed) == sorted(REASONS)
    for key, words in REASONS.items():
        assert words in failed[key], (key, failed[key])
        assert (
            failed[key].count(". ") == 0 and failed[key].endswith(".") and "\n" not in failed[key]
        )
    assert summary.copied == 1
    assert [i.key for i in dst.list()] == ["fine.csv"]  # nothing half-written
    assert list(dst.list_uploads()) == []
    info = dst.head("fine.csv")
    assert info.content_type == "text/csv" and (info.metadata or {})["row"] == "1"
    out = io.StringIO()
    write_report(journal, "json", out)
    rows = {r["key"]: r for r in json.loads(out.getvalue())["manifest"]}
    assert {k: r["status"] for k, r in rows.items() if k != "fine.csv"} == dict.fromkeys(
        REASONS, "failed"
    )
    assert all(rows[k]["error"] == failed[k] for k in REASONS)
    report = verify_migration(journal, source=src, dest=dst)
    assert not report.ok and report.verified == 1
    assert sorted(k for why, k in report.problems() if why == "not copied (failed)") == sorted(
        REASONS
    )


def _write_raw(backend: str, url: str, key: str, headers: dict[str, str]) -> None:
    """Write ``key`` with standard headers straight through the server's own SDK."""
    store = open_store(url)
    container = url.split("@", 1)[1]
    if backend == "azurite":
        from azure.storage.blob import ContentSettings

        settings = ContentSettings(**{k.lower().replace("-", "_"): v for k, v in headers.items()})
        client = store._admin.service.get_container_client(container)  # type: ignore[attr-defined]
        client.upload_blob(key, b"bytes", content_settings=settings)
    else:
        names = {k: k.replace("-", "") for k in headers}
        store._admin.client.put_object(  # type: ignore[attr-defined]
            Bucket=container, Key=key, Body=b"bytes", **{names[k]: v for k, v in headers.items()}
        )


SERVER_PAIRS = [("azurite", "ceph"), ("ceph", "azurite"), ("seaweedfs", "file")]
HEADERS = {
    "gz": {"Content-Encoding": "gzip"},
    "cc": {"Cache-Control": "no-store"},
    "cd": {"Content-Disposition": "attachment"},
    "cl": {"Content-Language": "fr"},
}


@pytest.mark.parametrize(
    ("source", "dest"), SERVER_PAIRS, ids=[f"{a}-{b}" for a, b in SERVER_PAIRS]
)
def test_standard_headers_a_server_holds_are_refused_not_dropped(
    source: str, dest: str, tmp_path: Path
) -> None:
    src_url = new_store_url(source, tmp_path / "a", "src")
    dst_url = new_store_url(dest, tmp_path / "b", "dst")
    src, dst = open_store(src_url), open_store(dst_url)
    for key, headers in HEADERS.items():
        _write_raw(source, src_url, key, headers)
    src.put("plain", b"p", content_type="text/csv")
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, source=src, dest=dst)
    summary = run_migration(journal, source=src, dest=dst)
    failed = dict(summary.failed)
    assert sorted(failed) == sorted(HEADERS)
    for key, headers in HEADERS.items():
        assert next(iter(headers)) in failed[key]
    assert [i.key for i in dst.list()] == ["plain"]
