"""The audit checkpoints against names the parsers did not expect.

Played by the holder of the database file and the hub store's credentials (who
can plant files among the checkpoints), and by whoever holds the witness bucket's
credentials (the hub's own): file names made of Unicode digits that
``str.isdigit`` accepts, some of which ``int`` then refuses (superscripts) and
some of which it reads as a number (Arabic-Indic digits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.hub.audit import verify_audit, write_checkpoint
from passerelle.hub.witness import ObjectLockWitness, _number_of
from tests.cli.test_storage_commands import run_cli
from tests.databases import DATABASES, fresh_database
from tests.hub.conftest import Cast
from tests.hub.test_audit_checkpoint_store import FOLDER, put
from tests.hub.test_audit_tamper import activity

SUPERSCRIPT = "\u00b2" * 12  # '²': isdigit() but not int()
ARABIC_INDIC = "\u0660" * 11 + "\u0661"  # '٠٠٠٠٠٠٠٠٠٠٠١': isdigit() and int() == 1


@pytest.mark.parametrize("stem", [SUPERSCRIPT, ARABIC_INDIC], ids=["superscript", "arabic"])
def test_a_planted_unicode_digit_name_is_named_and_breaks_no_write(cast: Cast, stem: str) -> None:
    """A superscript name used to crash every later write (checkpointing runs after each
    one) with a traceback; an Arabic-Indic one passed for checkpoint 1 and was never
    named as planted."""
    cast.hub.config = dataclasses.replace(cast.hub.config, checkpoint_every=1)
    activity(cast, 1)
    cp = write_checkpoint(cast.hub)
    assert cp is not None and verify_audit(cast.hub).ok
    put(cast, f"{FOLDER}{stem}.json", cp.to_json().encode())
    report = verify_audit(cast.hub)
    assert not report.ok and "damaged or planted" in report.problem and stem in report.problem
    H.create_user(cast.hub, cast.admin, "mallory", "researcher")  # the action still works
    cast.hub.store("checkpoints").delete(f"{FOLDER}{stem}.json")
    assert verify_audit(cast.hub).ok


def test_witness_numbers_are_ascii_digits_only() -> None:
    assert _number_of("hub/audit-checkpoints/000000000007.json") == 7
    for key in (f"h/{SUPERSCRIPT}.json", f"h/{ARABIC_INDIC}.json", "h/7.json.bak", "h/.json"):
        assert _number_of(key) is None


@pytest.fixture
def witness() -> Iterator[ObjectLockWitness]:
    """A witness in a fresh Object Lock bucket on the real Ceph RGW."""
    from tests.backends import unique_name
    from tests.hub.test_audit_witness import NOW, ceph_admin

    bucket = unique_name("witness")
    admin = ceph_admin(bucket)
    admin.create_locked_bucket()
    yield ObjectLockWitness(admin, "hub/audit-checkpoints/", 1, lambda: NOW, f"s3://ceph@{bucket}")


def test_a_planted_unicode_name_in_the_witness_bucket_breaks_nothing(
    witness: ObjectLockWitness,
) -> None:
    from tests.hub.test_audit_witness import checkpoints

    locked = witness
    cps = checkpoints(2)
    for cp in cps:
        locked.record(cp)
    for stem in (SUPERSCRIPT, ARABIC_INDIC):
        locked.admin.client.put_object(
            Bucket=locked.admin.bucket,
            Key=f"hub/audit-checkpoints/{stem}.json",
            Body=cps[0].to_json().encode(),
        )
    assert locked.numbers() == [1, 2]
    assert locked.get(2) == cps[1]


@pytest.mark.parametrize("db_kind", DATABASES)
def test_a_witness_repointed_in_hub_toml_does_not_hide_a_rollback(
    tmp_path: Path, db_kind: str
) -> None:
    """Whoever holds the hub folder restores an older database, deletes the newer
    checkpoint files and edits hub.toml's ``witness`` to a fresh, empty folder: the
    hub's own view then agrees with itself. The auditor verifies against the
    witness they know (``audit verify --witness``), which still lists the deleted
    checkpoints; hub.toml naming another witness is named as well."""
    from tests.hub.test_audit_rollback import (
        Witnessed,
        build_cast,
        delete_checkpoint_files,
        more,
        restore,
        snapshot,
    )

    real = f"file://{tmp_path / 'witness'}"
    settings = {"witness": real, "checkpoint_every": 8, "checkpoint_minutes": 10}
    with fresh_database(db_kind, tmp_path) as url:
        cast = build_cast(tmp_path, url, settings)
        cast.clock.now = datetime.now(UTC)  # the CLI below runs on the real clock
        admin = H.authenticate(cast.hub, cast.tokens["admin"])
        auditor = H.issue_token(cast.hub, admin, user="auditor").secret
        w = Witnessed(cast, "folder", url)
        try:
            activity(cast, 1)
            old_cp = write_checkpoint(cast.hub)
            assert old_cp is not None
            rows = snapshot(w, tmp_path / "old.db")
            more(w, 3)
            assert write_checkpoint(cast.hub).number > old_cp.number  # type: ignore[union-attr]
            assert verify_audit(cast.hub, witness_url=real).ok  # the auditor's check, untouched
            restore(w, tmp_path / "old.db", rows)
            delete_checkpoint_files(w, old_cp.number)
            fresh = f"file://{tmp_path / 'fresh'}"
            cast.hub.config = dataclasses.replace(cast.hub.config, witness=fresh)
            (tmp_path / "hub" / "hub.toml").write_text(cast.hub.config.to_toml())
            cast.hub._witness = None  # the hub restarted on the edited folder
            cast.hub._checkpoint_known = None
            report = verify_audit(cast.hub, cast.auditor, witness_url=real)
            assert not report.ok
            assert "witnessed but is missing from the hub's checkpoint store" in report.problem
            env = {
                "PASSERELLE_HUB": str(tmp_path / "hub"),
                "PASSERELLE_TOKEN": auditor,
            }
            proc = run_cli("audit", "verify", "--witness", real, env=env)
            assert proc.returncode == 1 and "witnessed but is missing" in proc.stderr
            more(w, 2)  # the fooled hub signs over the old copy, into the fresh witness...
            assert write_checkpoint(cast.hub) is not None
            laundered = verify_audit(cast.hub, witness_url=real)  # ...which the real one refutes
            assert not laundered.ok and "witness" in laundered.problem
        finally:
            cast.hub.close()


@pytest.mark.parametrize("db_kind", DATABASES)
def test_hub_toml_naming_another_witness_fails_the_auditors_check(
    tmp_path: Path, db_kind: str
) -> None:
    with fresh_database(db_kind, tmp_path) as url:
        from tests.hub.test_audit_rollback import build_cast

        real = f"file://{tmp_path / 'witness'}"
        cast = build_cast(tmp_path, url, {"witness": real})
        try:
            activity(cast, 1)
            write_checkpoint(cast.hub)
            assert verify_audit(cast.hub, witness_url=real).ok
            for other in (f"file://{tmp_path / 'fresh'}", None):
                cast.hub.config = dataclasses.replace(cast.hub.config, witness=other)
                cast.hub._witness = None
                report = verify_audit(cast.hub, witness_url=real)
                assert not report.ok and "hub.toml names the witness" in report.problem
                assert verify_audit(cast.hub).ok  # the hub's own view was fooled
        finally:
            cast.hub.close()


def test_a_huge_target_typed_by_a_caller_is_kept_bounded_and_the_chain_holds(cast: Cast) -> None:
    """A name reaches the audit log before anything checks it (a refused request is
    audited with what it named); PostgreSQL refused a target over the column's 200
    characters, so the refusal itself failed with a database error (the API bounds its
    path names; the library and the CLI did not)."""
    from passerelle.errors import PermissionDeniedError
    from passerelle.hub.accounts import update_user
    from passerelle.hub.audit import TARGET_CHARS, list_events

    huge = "x" * 20_000
    with pytest.raises(PermissionDeniedError):  # decided before the name is looked up
        update_user(cast.hub, cast.alice, huge, active=False)
    events = list_events(cast.hub, cast.admin, H.AuditFilter(), limit=10_000)
    (event,) = [e for e in events if "xxxx" in e["target"]]
    assert len(event["target"]) == TARGET_CHARS and event["target"].endswith(" chars)")
    assert event["decision"] == "denied"
    assert verify_audit(cast.hub, cast.admin).ok
