"""The person holding the database file against a witnessed hub, on SQLite and PostgreSQL.

They delete tail events, restore an older copy of the database, delete checkpoint
files from the hub store and try to delete the witness's newest object. Each
time ``audit verify`` names what is missing, and the hub refuses to sign a new
checkpoint over the tampered log, so automatic checkpointing launders nothing.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from passerelle import hub as H
from passerelle.errors import ConflictError
from passerelle.hub.audit import verify_audit, write_checkpoint
from passerelle.hub.checkpoints import signed_head
from passerelle.hub.witness import ObjectLockWitness, prepare_witness
from tests.backends import require_backend, unique_name
from tests.databases import DATABASES, fresh_database
from tests.hub.conftest import Cast, Clock, approved_project
from tests.hub.test_audit_tamper import activity, raw

WITNESSES = ("object-lock", "folder")


@dataclass
class Witnessed:
    cast: Cast
    kind: str
    database: str

    @property
    def hub(self) -> H.Hub:
        return self.cast.hub


def witness_url(kind: str, tmp_path: Path) -> str:
    if kind == "folder":
        return f"file://{tmp_path / 'witness'}"
    require_backend("ceph")
    return f"s3://ceph@{unique_name('audit-lock')}/witness"


def build_cast(
    tmp_path: Path, url: str, settings: dict[str, Any], *, name: str = "test-hub"
) -> Cast:
    # The clock below stands still unless a test moves it, so the count is the only trigger
    # here unless a test asks for spacing (test_a_busy_hub_signs_at_most_once_a_second).
    settings = {"checkpoint_min_seconds": 0, **settings}
    hub, issued = H.init_hub(tmp_path / "hub", database=url, name=name, settings=settings)
    prepare_witness(hub.config)
    clock = Clock()
    hub.clock = clock
    admin = H.authenticate(hub, issued.secret)
    tokens, people = {"admin": issued.secret}, {}
    for who, roles in [
        ("steward", "steward"),
        ("steward2", "steward"),
        ("alice", "researcher"),
        ("bob", "researcher"),
        ("checker", "output-checker"),
        ("auditor", "auditor"),
        ("operator", "operator"),
    ]:
        H.create_user(hub, admin, who, roles)
        tokens[who] = H.issue_token(hub, admin, user=who).secret
        people[who] = H.authenticate(hub, tokens[who])
    H.create_organization(hub, people["steward"], "750712184", "AP-HP", "hospital")
    return Cast(hub, clock, admin, tokens=tokens, **people)


@pytest.fixture(params=[(d, w) for d in DATABASES for w in WITNESSES], ids=lambda p: "-".join(p))
def witnessed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Witnessed]:
    db_kind, kind = request.param
    settings = {
        "witness": witness_url(kind, tmp_path),
        "witness_retain_days": 1,
        "checkpoint_every": 8,
        "checkpoint_minutes": 10,
    }
    with fresh_database(db_kind, tmp_path) as url:
        cast = build_cast(tmp_path, url, settings)
        yield Witnessed(cast, kind, url)
        cast.hub.close()


def numbers(w: Witnessed) -> tuple[list[int], list[int]]:
    """Checkpoint numbers in the hub store, and in the witness."""
    store = w.hub.store("checkpoints")
    stored = sorted(
        int(i.key.rsplit("/", 1)[-1][:-5]) for i in store.list("test-hub/audit/checkpoints/")
    )
    from passerelle.hub.checkpoints import witness_of

    witness = witness_of(w.hub)
    assert witness is not None
    return stored, witness.numbers()


def head(w: Witnessed) -> int:
    with w.hub.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT max(seq) FROM audit_events")).scalar_one())


def test_checkpoints_come_by_count_and_by_time_numbered_and_witnessed(
    witnessed: Witnessed,
) -> None:
    w = witnessed
    activity(w.cast)
    stored, seen = numbers(w)
    assert stored and stored == list(range(1, len(stored) + 1)) and seen == stored
    newest = signed_head(w.hub).checkpoint
    assert newest is not None and head(w) - newest.seq < 8  # by count: at most 8 behind
    H.list_datasets(w.hub, w.cast.alice)  # one event: not enough by count
    assert numbers(w)[0] == stored
    w.cast.clock.now += timedelta(minutes=11)  # ...but the time is up
    H.list_datasets(w.hub, w.cast.alice)
    after, seen = numbers(w)
    assert after == [*stored, stored[-1] + 1] and seen == after
    newest = signed_head(w.hub).checkpoint
    assert newest is not None and newest.seq == head(w)
    report = verify_audit(w.hub)
    assert report.ok, report.problem
    assert report.checkpoints == report.witnessed == len(after)


def test_a_busy_hub_signs_at_most_once_a_second(tmp_path: Path) -> None:
    """``checkpoint_min_seconds``: events past ``checkpoint_every`` within the spacing wait for
    the next append after it; the unsigned tail is then signed whole, and the time trigger
    (``checkpoint_minutes``) is not held back by the spacing."""
    settings = {"checkpoint_every": 4, "checkpoint_minutes": 10, "checkpoint_min_seconds": 1}
    cast = build_cast(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", settings)
    try:
        hub, alice = cast.hub, cast.alice
        write_checkpoint(hub)  # the cast's set-up signed as one instant
        signed = signed_head(hub).checkpoint
        assert signed is not None
        for _ in range(12):  # three times checkpoint_every, within one second
            H.list_datasets(hub, alice)
        assert signed_head(hub).checkpoint == signed
        cast.clock.now += timedelta(milliseconds=999)
        H.list_datasets(hub, alice)
        assert signed_head(hub).checkpoint == signed  # still inside the spacing
        cast.clock.now += timedelta(milliseconds=1)
        H.list_datasets(hub, alice)
        newest = signed_head(hub).checkpoint
        assert newest is not None and newest.number == signed.number + 1
        with hub.db.engine.connect() as conn:
            assert newest.seq == conn.execute(text("SELECT max(seq) FROM audit_events")).scalar()
        H.list_datasets(hub, alice)  # one event, one instant later: nothing due
        assert signed_head(hub).checkpoint == newest
        cast.clock.now -= timedelta(hours=1)  # the clock stepped back: the count still counts
        for _ in range(4):
            H.list_datasets(hub, alice)
        stepped_back = signed_head(hub).checkpoint
        assert stepped_back is not None and stepped_back.number == newest.number + 1
        assert verify_audit(hub).ok
    finally:
        cast.hub.close()


def test_checkpoint_spacing_must_be_a_whole_number_of_seconds(tmp_path: Path) -> None:
    from passerelle.errors import ConfigError
    from passerelle.hub.hub import read_settings

    for bad in ("-1", "0.5", '"1"', "true"):
        (tmp_path / "hub.toml").write_text(f"[hub]\ncheckpoint_min_seconds = {bad}\n")
        with pytest.raises(ConfigError, match="checkpoint_min_seconds must be a whole number"):
            read_settings(tmp_path / "hub.toml")


def test_tail_events_deleted_are_named_and_never_signed_over(witnessed: Witnessed) -> None:
    w = witnessed
    activity(w.cast)
    cp = write_checkpoint(w.hub)
    assert cp is not None
    raw(w.cast, f"DELETE FROM audit_events WHERE seq > {cp.seq - 3}")
    report = verify_audit(w.hub)
    assert not report.ok and report.first_bad_seq == cp.seq - 2
    assert f"witnessed checkpoint {cp.number}" in report.problem
    with pytest.raises(ConflictError, match="will not sign a checkpoint"):
        write_checkpoint(w.hub)
    before = numbers(w)
    for _ in range(3):  # activity that would trigger automatic checkpoints
        approved_project(w.cast)
    w.cast.clock.now += timedelta(hours=1)
    H.list_datasets(w.hub, w.cast.alice)
    assert numbers(w) == before  # nothing signed over the cut
    report = verify_audit(w.hub)  # new events now fill the cut: they differ from the witness
    assert not report.ok and report.checkpoint_number == cp.number
    assert f"event {cp.seq} differs from witnessed checkpoint" in report.problem
    with w.hub.db.engine.connect() as conn:
        refusals = conn.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'audit.checkpoint'")
        ).scalar_one()
    assert refusals >= 1  # the refusal itself is on the record


def test_middle_edit_is_not_laundered_by_later_checkpoints(witnessed: Witnessed) -> None:
    w = witnessed
    activity(w.cast)
    raw(w.cast, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4")
    for _ in range(3):
        approved_project(w.cast)
    write_checkpoint(w.hub)
    report = verify_audit(w.hub)
    assert not report.ok and report.first_bad_seq == 4 and "modified" in report.problem


def more(w: Witnessed, rounds: int) -> None:
    for _ in range(rounds):
        approved_project(w.cast)
        H.list_datasets(w.hub, w.cast.alice)


def snapshot(w: Witnessed, where: Path) -> list[dict[str, Any]]:
    """What the attacker keeps: a copy of the SQLite file, or the audit rows (PostgreSQL)."""
    if w.hub.db.dialect == "sqlite":
        live = sqlite3.connect(w.hub.db.url.removeprefix("sqlite:///"))
        copy = sqlite3.connect(where)
        live.backup(copy)
        copy.close()
        live.close()
        return []
    with w.hub.db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_events"))]


def restore(w: Witnessed, where: Path, rows: list[dict[str, Any]]) -> None:
    """Put the older database back, as someone with the file or superuser rights would."""
    if w.hub.db.dialect == "sqlite":
        path = Path(w.hub.db.url.removeprefix("sqlite:///"))
        w.hub.db.dispose()
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(where, path)
        return
    raw(w.cast, "DELETE FROM audit_events")
    with w.hub.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, at, actor, action, target, decision, details, "
                "prev_hash, hash) VALUES (:seq, :at, :actor, :action, :target, :decision, "
                ":details, :prev_hash, :hash)"
            ),
            rows,
        )


def delete_checkpoint_files(w: Witnessed, newer_than: int) -> None:
    store = w.hub.store("checkpoints")
    for info in list(store.list("test-hub/audit/checkpoints/")):
        if int(info.key.rsplit("/", 1)[-1][:-5]) > newer_than:
            store.delete(info.key)


@pytest.mark.parametrize("files_too", [False, True], ids=["db-only", "db-and-checkpoints"])
def test_database_restored_from_an_older_copy(
    witnessed: Witnessed, tmp_path: Path, files_too: bool
) -> None:
    w = witnessed
    activity(w.cast, 1)
    old_cp = write_checkpoint(w.hub)
    assert old_cp is not None
    rows = snapshot(w, tmp_path / "old.db")
    more(w, 3)
    newest = write_checkpoint(w.hub)
    assert newest is not None and newest.number > old_cp.number
    restore(w, tmp_path / "old.db", rows)
    if files_too:  # the checkpoint store rolled back to match the old database
        delete_checkpoint_files(w, old_cp.number)
    report = verify_audit(w.hub)
    assert not report.ok
    if files_too:
        assert report.checkpoint_number == old_cp.number + 1
        assert "witnessed but is missing from the hub's checkpoint store" in report.problem
    else:
        assert "restored from an older copy" in report.problem
    with pytest.raises(ConflictError, match="will not sign"):
        write_checkpoint(w.hub)
    more(w, 2)  # life goes on over the old copy: still no checkpoint over it
    assert not verify_audit(w.hub).ok
    assert numbers(w)[1][-1] == newest.number


def test_a_deleted_checkpoint_file_in_the_middle_is_named(
    witnessed: Witnessed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``audit verify`` names it at once; the signer, which lists only the checkpoints
    after the newest it knows between two full listings, refuses from its next one."""
    from passerelle.hub import checkpoint_listing

    w = witnessed
    activity(w.cast, 1)
    for _ in range(3):
        more(w, 1)
        write_checkpoint(w.hub)
    stored, _ = numbers(w)
    assert len(stored) >= 3
    w.hub.store("checkpoints").delete(f"test-hub/audit/checkpoints/{2:012d}.json")
    report = verify_audit(w.hub)
    assert not report.ok and report.checkpoint_number == 2
    assert "checkpoint 2" in report.problem
    monkeypatch.setattr(checkpoint_listing, "FULL_LISTING_EVERY", 0.0)  # the period passed
    with pytest.raises(ConflictError, match="checkpoint 2 is missing"):
        write_checkpoint(w.hub)


@pytest.mark.parametrize(
    "witnessed", [(d, "folder") for d in DATABASES], indirect=True, ids=DATABASES
)
def test_the_newest_checkpoint_deleted_between_full_listings_stops_the_signer(
    witnessed: Witnessed,
) -> None:
    """Between full listings the signer still reads the newest checkpoint it knows: that
    one gone (its number seen, its file deleted) is refused at once."""
    w = witnessed
    activity(w.cast, 1)
    for _ in range(2):
        more(w, 1)
        newest = write_checkpoint(w.hub)
    assert newest is not None
    w.hub.store("checkpoints").delete(f"test-hub/audit/checkpoints/{newest.number:012d}.json")
    more(w, 1)
    with pytest.raises(ConflictError, match=f"checkpoint {newest.number} is missing"):
        write_checkpoint(w.hub)


def test_the_signer_lists_only_the_checkpoints_after_the_newest_it_knows(
    witnessed: Witnessed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub read all day signs thousands of checkpoints: between full listings each
    signing lists the store after the newest number it knows (S3's StartAfter)."""
    from passerelle.hub import checkpoint_listing

    w = witnessed
    activity(w.cast, 1)
    for _ in range(4):
        more(w, 1)
        write_checkpoint(w.hub)
    seen: list[tuple[int, int]] = []
    original = checkpoint_listing.stored_numbers

    def counting(hub: Any, *, after: int = 0) -> Any:
        found = original(hub, after=after)
        seen.append((after, len(found[0])))
        return found

    monkeypatch.setattr(checkpoint_listing, "stored_numbers", counting)
    more(w, 1)
    signed = write_checkpoint(w.hub)
    assert signed is not None and signed.number >= 5
    assert seen == [(signed.number - 1, 0)]  # nothing listed below the newest it knew
    assert verify_audit(w.hub).ok


@pytest.mark.parametrize(
    "witnessed", [(d, "object-lock") for d in DATABASES], indirect=True, ids=DATABASES
)
def test_the_witness_refuses_to_lose_its_newest_object(witnessed: Witnessed) -> None:
    """Only S3 Object Lock refuses deletes (the file witness is documented as weaker)."""
    w = witnessed
    from botocore.exceptions import ClientError

    from passerelle.hub.checkpoints import witness_of

    activity(w.cast)
    cp = write_checkpoint(w.hub)
    assert cp is not None
    witness = witness_of(w.hub)
    assert isinstance(witness, ObjectLockWitness)
    client, bucket = witness.admin.client, witness.admin.bucket
    key = f"{witness.prefix}{cp.number:012d}.json"
    page = client.list_object_versions(Bucket=bucket, Prefix=key)
    for version in page["Versions"]:
        with pytest.raises(ClientError, match="AccessDenied"):
            client.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    client.delete_object(Bucket=bucket, Key=key)  # only a delete marker
    raw(w.cast, f"DELETE FROM audit_events WHERE seq > {cp.seq - 1}")
    delete_checkpoint_files(w, cp.number - 1)
    report = verify_audit(w.hub)
    assert not report.ok and report.checkpoint_number == cp.number
    assert "witnessed but is missing" in report.problem


def test_a_kept_head_catches_what_a_truncated_file_witness_hides(tmp_path: Path) -> None:
    """The file witness can be truncated by its writer; a head kept by a third party cannot."""
    with fresh_database("sqlite", tmp_path) as url:
        settings = {"witness": f"file://{tmp_path / 'witness'}", "checkpoint_every": 8}
        cast = build_cast(tmp_path, url, settings)
        try:
            activity(cast, 1)
            first = write_checkpoint(cast.hub)
            approved_project(cast)
            write_checkpoint(cast.hub)
            kept = signed_head(cast.hub).checkpoint  # a regulator fetched GET /audit/head
            assert first is not None and kept is not None and kept.number > first.number
            witness_file = tmp_path / "witness" / "test-hub.audit-witness.jsonl"
            lines = witness_file.read_text().splitlines()
            witness_file.write_text("\n".join(lines[: first.number]) + "\n")
            raw(cast, f"DELETE FROM audit_events WHERE seq > {first.seq}")
            store = cast.hub.store("checkpoints")
            for n in range(first.number + 1, kept.number + 1):
                store.delete(f"test-hub/audit/checkpoints/{n:012d}.json")
            assert verify_audit(cast.hub).ok  # a consistent rollback of all the hub holds...
            report = verify_audit(cast.hub, kept=[kept])
            assert not report.ok and report.checkpoint_number == first.number + 1  # ...but not
        finally:
            cast.hub.close()


def test_a_witness_inside_the_hub_folder_is_refused(tmp_path: Path) -> None:
    from passerelle.errors import ConfigError

    with fresh_database("sqlite", tmp_path) as url:
        hub, _ = H.init_hub(
            tmp_path / "hub",
            database=url,
            name="test-hub",
            settings={"witness": f"file://{tmp_path / 'hub' / 'w'}"},
        )
        try:
            with pytest.raises(ConfigError, match="inside the hub folder"):
                prepare_witness(hub.config)
        finally:
            hub.close()


@pytest.mark.parametrize("db_kind", DATABASES)
def test_a_witness_added_later_receives_the_earlier_checkpoints(
    db_kind: str, tmp_path: Path
) -> None:
    import dataclasses

    with fresh_database(db_kind, tmp_path) as url:
        cast = build_cast(tmp_path, url, {"checkpoint_every": 8})
        try:
            activity(cast)
            before = write_checkpoint(cast.hub)
            assert before is not None and before.number >= 2
            cast.hub.config = dataclasses.replace(
                cast.hub.config, witness=f"file://{tmp_path / 'late-witness'}"
            )
            cast.hub._witness = None
            approved_project(cast)
            newest = write_checkpoint(cast.hub)
            assert newest is not None
            w = Witnessed(cast, "folder", url)
            assert numbers(w) == (list(range(1, newest.number + 1)),) * 2
            assert verify_audit(cast.hub).ok
        finally:
            cast.hub.close()


def test_an_unreachable_witness_never_fails_a_users_action(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    from passerelle.hub.checkpoints import witness_of
    from tests.backends import closed_port

    gone = tmp_path / "config.toml"
    gone.write_text(
        f'[remotes.gone]\ntype = "s3"\nendpoint = "http://127.0.0.1:{closed_port()}"\n'
        'access_key_id = "a"\nsecret_access_key = "b"\nmax_retries = 0\nconnect_timeout_s = 1\n'
    )
    with fresh_database("sqlite", tmp_path) as url:
        cast = build_cast(tmp_path, url, {"checkpoint_every": 4})
        try:
            monkey = pytest.MonkeyPatch()
            monkey.setenv("PASSERELLE_CONFIG", str(gone))
            cast.hub.config = dataclasses.replace(cast.hub.config, witness="s3://gone@lock")
            cast.hub._witness = None
            witness_of(cast.hub)  # opened while the config names the unreachable server
            monkey.undo()
            before = signed_head(cast.hub).checkpoint
            with caplog.at_level("WARNING", logger="passerelle.audit"):
                project = approved_project(cast)  # due by count: the witness cannot be reached
            assert project > 0
            assert "Cannot reach" in caplog.text
            caplog.clear()
            with caplog.at_level("WARNING", logger="passerelle.audit"):
                H.list_datasets(cast.hub, cast.alice)
            assert "Cannot reach" not in caplog.text  # not retried on every write
            assert signed_head(cast.hub).checkpoint == before  # nothing signed unchecked
            with pytest.raises(Exception, match="Cannot reach"):
                write_checkpoint(cast.hub)
        finally:
            cast.hub.close()


def test_concurrent_writers_number_checkpoints_without_gaps_or_forks(
    witnessed: Witnessed,
) -> None:
    """Four processes' worth of hubs write at once, each checkpointing every 3 events."""
    import dataclasses
    import threading

    w = witnessed
    config = dataclasses.replace(w.hub.config, checkpoint_every=3)
    errors: list[BaseException] = []

    def worker(token: str) -> None:
        own = H.Hub.from_config(config)  # its own engine and witness, like another process
        own.clock = w.cast.clock
        try:
            me = H.authenticate(own, token)
            for _ in range(10):
                H.list_datasets(own, me)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [
        threading.Thread(target=worker, args=(w.cast.tokens[n],))
        for n in ("alice", "bob", "steward", "operator")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    stored, seen = numbers(w)
    assert stored == list(range(1, len(stored) + 1)) and seen == stored and len(stored) >= 10
    report = verify_audit(w.hub)
    assert report.ok, report.problem
