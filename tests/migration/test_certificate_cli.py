"""`passerelle migrate certificate [verify]` as an operator and an auditor use it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from passerelle import hub as H
from passerelle.hub.checkpoint_chain import public_key_hex
from tests.cli.test_storage_commands import assert_one_sentence, run_cli

from .test_certificate import _migrate


def _hub(tmp_path: Path) -> tuple[Path, str, str]:
    directory = tmp_path / "hub"
    hub, issued = H.init_hub(directory, name="cert-hub")
    admin = H.authenticate(hub, issued.secret)
    H.create_user(hub, admin, "auditor", "auditor")
    auditor = H.issue_token(hub, admin, user="auditor").secret
    hub.close()
    return directory, issued.secret, auditor


def test_issue_then_verify_offline_then_edit_one_row(tmp_path: Path) -> None:
    dst_url, _, journal = _migrate(tmp_path, 12)
    hub_dir, admin, _ = _hub(tmp_path)
    cert, manifest = tmp_path / "cert.json", tmp_path / "manifest.csv"
    issued = run_cli(
        "migrate", "certificate", "--journal", str(journal), "--output", str(cert),
        "--manifest-output", str(manifest), "--hub", str(hub_dir),
        env={"PASSERELLE_TOKEN": admin},
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    body = json.loads(cert.read_text())["body"]
    assert f"merkle root {body['manifest']['root']}" in issued.stdout
    hub = H.Hub.open(hub_dir)
    key = public_key_hex(hub.keys.key("audit"))
    from passerelle.hub.certificates import last_certificates

    recorded = last_certificates(hub)
    hub.close()
    assert recorded[-1]["root"] == body["manifest"]["root"] and recorded[-1]["objects"] == 12
    head = run_cli("audit", "head", "--hub", str(hub_dir))
    assert json.loads(head.stdout)["public_key"] == key

    ok = run_cli(
        "migrate", "certificate", "verify", str(cert), "--manifest", str(manifest),
        "--against", dst_url,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert key in ok.stdout and "passerelle audit head" in ok.stdout
    assert "12 manifest rows match" in ok.stdout and "12 objects at" in ok.stdout
    pinned = run_cli("migrate", "certificate", "verify", str(cert), "--public-key", key)
    assert pinned.returncode == 0 and "pinned" in pinned.stdout

    rows = list(csv.reader(manifest.open()))
    rows[5][1] = "999999"
    with manifest.open("w", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows(rows)
    bad = run_cli("migrate", "certificate", "verify", str(cert), "--manifest", str(manifest))
    assert_one_sentence(bad, "The certificate does not hold: 1 problem,", "Chunk 0 (rows 1-12")
    other = run_cli("migrate", "certificate", "verify", str(cert), "--public-key", "ab" * 32)
    assert_one_sentence(other, "not by the pinned key")


def test_refusals_are_one_sentence(tmp_path: Path) -> None:
    _, _, journal = _migrate(tmp_path, 3)
    hub_dir, _, auditor = _hub(tmp_path)
    cert = tmp_path / "cert.json"
    denied = run_cli(
        "migrate", "certificate", "-j", str(journal), "--output", str(cert), "--hub", str(hub_dir),
        env={"PASSERELLE_TOKEN": auditor},
    )  # fmt: skip
    assert_one_sentence(denied, "permission denied", "migration.certificate needs the role")
    assert not cert.exists()
    assert_one_sentence(run_cli("migrate", "certificate"), "Give --journal and --output")
    missing = run_cli("migrate", "certificate", "verify", str(tmp_path / "none.json"))
    assert_one_sentence(missing, "Cannot read the certificate")
    junk = tmp_path / "junk.json"
    junk.write_text('{"format": "x"}')
    assert_one_sentence(
        run_cli("migrate", "certificate", "verify", str(junk)),
        "is not a passerelle migration certificate",
    )
    lonely = run_cli("migrate", "certificate", "verify", str(junk), "--sample", "3")
    assert_one_sentence(lonely, "not a passerelle migration certificate")
    unverified = tmp_path / "unverified.db"
    from passerelle.migration import plan_migration

    plan_migration(f"file://{tmp_path / 'b'}", f"file://{tmp_path / 'c'}", unverified)
    admin_dir, admin, _ = _hub(tmp_path / "second")
    refused = run_cli(
        "migrate", "certificate", "-j", str(unverified), "--output", str(cert),
        "--hub", str(admin_dir), env={"PASSERELLE_TOKEN": admin},
    )  # fmt: skip
    assert_one_sentence(refused, "never verified", "passerelle migrate verify")


def test_unreadable_manifests_are_one_sentence(tmp_path: Path) -> None:
    _, _, journal = _migrate(tmp_path, 3)
    from .test_certificate import _issue

    cert_text, _ = _issue(journal)
    cert = tmp_path / "cert.json"
    cert.write_text(cert_text)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"key,size,sha256\n\xff\xfe\x00garbage\n")
    for path, words in (
        (binary, "not UTF-8"),
        (tmp_path / "absent.csv", "Cannot read the manifest"),
        (tmp_path, "Cannot read the manifest"),
    ):
        proc = run_cli("migrate", "certificate", "verify", str(cert), "--manifest", str(path))
        assert_one_sentence(proc, words)
