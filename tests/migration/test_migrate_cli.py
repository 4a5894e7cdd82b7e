"""`passerelle migrate ...` as an operator uses it: exit codes and one-sentence errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from passerelle.storage import open_store
from tests.backends import closed_port, new_store_url, require_backend
from tests.cli.test_storage_commands import assert_one_sentence, run_cli

from .conftest import populate


def _local_pair(tmp_path: Path, count: int = 5) -> tuple[str, str, Path]:
    src = new_store_url("file", tmp_path, "src")
    dst = f"file://{tmp_path / 'dst'}"
    populate(open_store(src), count, large=0)
    return src, dst, tmp_path / "j.db"


def test_plan_run_verify_report_exit_zero(tmp_path: Path) -> None:
    src, dst, journal = _local_pair(tmp_path)
    plan = run_cli("migrate", "plan", src, dst, "-j", str(journal))
    assert plan.returncode == 0, plan.stderr
    assert "to copy" in plan.stdout and "estimate" in plan.stdout
    run = run_cli(
        "migrate",
        "run",
        "-j",
        str(journal),
        "--max-bandwidth",
        "500MB/s",
        "--max-requests-per-second",
        "500",
    )
    assert run.returncode == 0, run.stderr
    assert "copied 5 objects" in run.stdout
    verify = run_cli("migrate", "verify", "-j", str(journal), "--deep", "--source")
    assert verify.returncode == 0 and "5/5 objects proven" in verify.stdout
    report = tmp_path / "manifest.csv"
    out = run_cli(
        "migrate", "report", "-j", str(journal), "--format", "csv", "--output", str(report)
    )
    assert out.returncode == 0, out.stderr
    lines = report.read_text().splitlines()
    assert lines[0].startswith("key,size,sha256,md5") and len(lines) == 6
    text = run_cli("migrate", "report", "-j", str(journal), "--format", "json")
    assert '"manifest"' in text.stdout and '"copied_objects": 5' in text.stdout
    status = run_cli("migrate", "status", "-j", str(journal))
    assert "copied 5/5 objects" in status.stdout
    assert "over 1 worker," in status.stdout and "ETA 0 s" in status.stdout
    assert "    local: 5 objects" in status.stdout and "0 failures" in status.stdout


def test_verify_names_a_forged_object_and_exits_non_zero(tmp_path: Path) -> None:
    src, dst, journal = _local_pair(tmp_path)
    assert run_cli("migrate", "plan", src, dst, "-j", str(journal)).returncode == 0
    assert run_cli("migrate", "run", "-j", str(journal)).returncode == 0
    target = open_store(dst)
    key = "pmsi/2/extract 0002.csv"
    data = target.get(key).read()
    path = Path(dst.removeprefix("file://")) / key
    path.write_bytes(bytes(b ^ 1 for b in data))  # same size, different bytes
    verify = run_cli("migrate", "verify", "-j", str(journal), "--deep")
    assert_one_sentence(verify, "Verification found 1 problems", key)


def test_bad_inputs_give_one_sentence(tmp_path: Path) -> None:
    src, dst, journal = _local_pair(tmp_path)
    assert_one_sentence(run_cli("migrate", "run", "-j", str(tmp_path / "none.db")), "No journal at")
    assert_one_sentence(
        run_cli(
            "migrate", "status", "-j", src.removeprefix("file://") + "/pmsi/0/extract 0000.csv"
        ),
        "not a passerelle journal",
    )
    assert run_cli("migrate", "plan", src, dst, "-j", str(journal)).returncode == 0
    other = f"file://{tmp_path / 'elsewhere'}"
    assert_one_sentence(
        run_cli("migrate", "plan", src, other, "-j", str(journal)), "belongs to another migration"
    )
    assert_one_sentence(
        run_cli("migrate", "run", "-j", str(journal), "--max-bandwidth", "fast"), "not a rate"
    )
    assert_one_sentence(
        run_cli("migrate", "report", "-j", str(journal), "--format", "xml"), "Unknown report format"
    )
    assert_one_sentence(
        run_cli("migrate", "run", "-j", str(journal), "--inject-faults", "oops"), "fault plan"
    )
    assert_one_sentence(
        run_cli("migrate", "plan", src, dst, "-j", str(tmp_path / "no" / "j.db")), "does not exist"
    )


def test_require_refuses_a_destination_naming_the_rule(tmp_path: Path) -> None:
    src, dst, journal = _local_pair(tmp_path)
    proc = run_cli("migrate", "plan", src, dst, "-j", str(journal), "--require", "hds,eea")
    assert_one_sentence(proc, "fails the 'hds' requirement")
    assert proc.returncode == 3
    assert not journal.exists()
    assert_one_sentence(
        run_cli("migrate", "plan", src, dst, "-j", str(journal), "--require", "gdpr"),
        "Unknown requirement 'gdpr'",
    )


def test_require_against_a_cloud_profile(tmp_path: Path) -> None:
    require_backend("azurite")
    src, _, journal = _local_pair(tmp_path)
    azure = new_store_url("azurite", tmp_path, "req")  # profile azure, region francecentral
    ok = run_cli("migrate", "plan", src, azure, "-j", str(journal), "--require", "hds,eea")
    assert ok.returncode == 0, ok.stderr
    refused = run_cli(
        "migrate", "plan", src, azure, "-j", str(tmp_path / "j2.db"), "--require", "eu-jurisdiction"
    )
    assert_one_sentence(refused, "'eu-jurisdiction'", "CLOUD Act")


def test_unreachable_destination_gives_one_sentence(tmp_path: Path) -> None:
    src, _, journal = _local_pair(tmp_path)
    cfg = tmp_path / "dead.toml"
    cfg.write_text(f"""
[remotes.dead]
type = "s3"
endpoint = "http://127.0.0.1:{closed_port()}"
access_key_id = "a"
secret_access_key = "b"
max_retries = 1
retry_timeout_s = 2
""")
    proc = run_cli(
        "migrate",
        "plan",
        src,
        "s3://dead@bucket",
        "-j",
        str(journal),
        env={"PASSERELLE_CONFIG": str(cfg)},
    )
    assert_one_sentence(proc, "Cannot reach the endpoint")


def test_no_write_permission_fails_each_object_with_its_reason(tmp_path: Path) -> None:
    require_backend("seaweedfs")
    src, _, journal = _local_pair(tmp_path, 3)
    bucket = new_store_url("seaweedfs", tmp_path, "ro").split("@", 1)[1]
    dst = f"s3://seaweed-readonly@{bucket}"
    assert run_cli("migrate", "plan", src, dst, "-j", str(journal)).returncode == 0
    run = run_cli("migrate", "run", "-j", str(journal))
    assert_one_sentence(run, "3 objects failed", "Permission denied")


def test_archive_tier_blobs_are_blocked_by_name(tmp_path: Path) -> None:
    require_backend("azurite")
    src = new_store_url("azurite", tmp_path, "tiers")
    store = open_store(src)
    for i in range(4):
        store.put(f"cohort/{i}.parquet", b"x" * (100 + i))
    store._admin.set_tier("cohort/2.parquet", "Archive")
    journal = tmp_path / "j.db"
    dst = f"file://{tmp_path / 'dst'}"
    plan = run_cli("migrate", "plan", src, dst, "-j", str(journal))
    assert plan.returncode == 0, plan.stderr
    assert "blocked cohort/2.parquet" in " ".join(plan.stdout.split())
    assert "rehydrate" in plan.stdout
    assert run_cli("migrate", "run", "-j", str(journal)).returncode == 0
    verify = run_cli("migrate", "verify", "-j", str(journal))
    assert_one_sentence(verify, "not copied (blocked)", "cohort/2.parquet")


def test_status_from_another_process_while_run_is_going(tmp_path: Path) -> None:
    src, dst, journal = _local_pair(tmp_path, 60)
    assert run_cli("migrate", "plan", src, dst, "-j", str(journal)).returncode == 0
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "passerelle",
            "migrate",
            "run",
            "-j",
            str(journal),
            "--concurrency",
            "2",
            "--inject-faults",
            "seed=1,latency=1,latency_s=0.08-0.12",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        seen_running = False
        for _ in range(100):
            status = run_cli("migrate", "status", "-j", str(journal))
            assert status.returncode == 0, status.stderr
            if "run in progress" in status.stdout:
                seen_running = True
                break
            time.sleep(0.1)
        assert seen_running
        second = run_cli("migrate", "run", "-j", str(journal))
        assert_one_sentence(second, "Another passerelle process")
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == 0
    assert "run in progress" not in run_cli("migrate", "status", "-j", str(journal)).stdout
