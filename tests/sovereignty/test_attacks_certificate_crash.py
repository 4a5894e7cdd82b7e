"""Attacks on the signed migration certificate by someone holding a copy of it, its manifest,
the hub's database and key files but not the HSM: crash the verifier (one sentence expected)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from passerelle.errors import UsageError
from passerelle.migration.certificate_verify import verify_certificate
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.migration.test_certificate import (
    HUB_KEY,
    Issued,
    _check,
    _csv,
    _edit_body,
    _only,
    _rows,
)
from tests.sovereignty.test_attacks_certificate import issued

__all__ = ["issued"]


# -- what crashed the verifier (one sentence expected) --------------------------------


def test_a_deeply_nested_certificate_is_one_sentence() -> None:
    for text in (
        "[" * 100_000,
        '{"format": "passerelle-migration-certificate/1", "body": ' + "[" * 100_000,
    ):
        with pytest.raises(UsageError, match="not a passerelle migration certificate"):
            verify_certificate(text)


def test_a_lone_surrogate_in_a_chunk_key_is_one_sentence(issued: Issued) -> None:
    forged = _edit_body(
        issued.cert, lambda b: b["chunks"][0].__setitem__("first_key", "\ud800"), HUB_KEY
    )
    try:
        check = _check(forged)
    except UsageError:
        return
    assert not check.ok


def test_a_size_of_thousands_of_digits_is_a_bad_row(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    rows[2][1] = "9" * 5000
    check = _check(issued.cert, _csv(rows))
    _only(check, "Row 2 of the manifest")
    rows[2][1] = str(1 << 64)  # past the leaf's u64: the row's size, not its SHA-256
    text = _only(_check(issued.cert, _csv(rows)), "Row 2 of the manifest")
    assert "SHA-256" not in text.split(" | ")[0], text


def test_cli_verify_of_a_crafted_certificate_is_one_sentence(
    tmp_path: Path, issued: Issued
) -> None:
    base = json.loads(issued.cert)
    crafted: dict[str, str] = {"nested": "[" * 100_000}
    no_source = json.loads(issued.cert)
    del no_source["body"]["source"]
    crafted["no-source"] = json.dumps(no_source)
    text_source = json.loads(issued.cert)
    text_source["body"]["source"] = "s3://elsewhere"
    crafted["text-source"] = json.dumps(text_source)
    no_id = json.loads(issued.cert)
    del no_id["body"]["migration_id"]
    crafted["no-migration-id"] = json.dumps(no_id)
    markup = json.loads(issued.cert)
    markup["signature"]["public_key"] = "[/x]" + base["signature"]["public_key"][4:]
    crafted["markup-key"] = json.dumps(markup)
    for name, text in crafted.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        proc = run_cli("migrate", "certificate", "verify", str(path))
        assert_one_sentence(proc)
        assert "error:" in proc.stderr, (name, proc.stderr)


def test_cli_verify_of_a_manifest_with_a_huge_size_is_one_sentence(
    tmp_path: Path, issued: Issued
) -> None:
    rows = _rows(issued.manifest)
    rows[2][1] = "9" * 5000
    cert, manifest = tmp_path / "c.json", tmp_path / "m.csv"
    cert.write_text(issued.cert)
    manifest.write_text(_csv(rows))
    proc = run_cli("migrate", "certificate", "verify", str(cert), "--manifest", str(manifest))
    assert_one_sentence(proc, "The certificate does not hold", "Row 2")
    assert "Traceback" not in proc.stderr
    assert io.StringIO(proc.stderr).read().count("problem:") >= 1
