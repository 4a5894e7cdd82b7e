"""Research over encrypted datasets: the same answers as plaintext, no plaintext at rest.

The dataset is written twice, in plaintext and through an ``EncryptingStore``; the
same queries (whole dataset, a column-subset grant, pyarrow's ranged reads) give the
same results.  The scan cache then holds only envelopes: its folder is scanned for a
known plaintext value and for Parquet's magic, and the decrypted copies the child read
(anonymous memory) are gone once the query is over.  A destroyed KEK makes the cached
copies unreadable too (audited through the refusal hook); a rotation does not.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.errors import KeyUnavailableError
from passerelle.keys.file_custody import FileCustody
from passerelle.research import QueryLimits, ScanCache, TableSource, open_dataset, run_sandboxed
from passerelle.research.child import ChildPool
from passerelle.research.scan_cache import encrypted_view
from passerelle.storage import Store, StoreWrapper, open_store
from passerelle.storage.encrypting import EncryptingStore
from tests.hub.conftest import Cast

MARKER = "NIR1850575123456MARKER"
ROWS = 30_000
QUERIES = [
    "SELECT departement, count(*) AS n, count(DISTINCT person_id) AS persons, "
    "sum(cost) AS total FROM stays GROUP BY departement ORDER BY departement",
    "SELECT age_group, avg(los_days) AS mean_los, max(cost) AS top FROM stays "
    "WHERE departement IN ('13', '69') GROUP BY age_group ORDER BY age_group",
    "SELECT person_id, cost FROM stays WHERE los_days = 7 AND cost > 990 ORDER BY person_id, cost",
]


def _table(part: int) -> pa.Table:
    lo = part * ROWS
    return pa.table(
        {
            "person_id": [f"{MARKER}-{(i * 7919) % 9000:05d}" for i in range(lo, lo + ROWS)],
            "departement": [f"{(i * 31) % 96 + 1:02d}" for i in range(lo, lo + ROWS)],
            "age_group": [(i * 17) % 5 * 20 for i in range(lo, lo + ROWS)],
            "cost": [round((i * 13) % 100_000 / 100, 2) for i in range(lo, lo + ROWS)],
            "los_days": [i % 30 for i in range(lo, lo + ROWS)],
        }
    )


def _write(store: Store) -> None:
    for part in range(3):
        buffer = io.BytesIO()
        # uncompressed, so the known value is there to find in any plaintext copy
        pq.write_table(_table(part), buffer, row_group_size=4000, compression="none")
        store.put(f"datasets/stays/v1/part-{part}.parquet", buffer.getvalue())


class Refusals:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, key_id: str, key: str, reason: str) -> None:
        self.seen.append((key_id, key, reason))


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Store, EncryptingStore, FileCustody, Refusals]:
    plain = open_store(f"file://{tmp_path / 'plain'}")
    plain.create_container()
    raw = open_store(f"file://{tmp_path / 'raw'}")
    raw.create_container()
    custody = FileCustody(tmp_path / "kek.json")
    custody.create_key()
    refusals = Refusals()
    encrypted = EncryptingStore(raw, custody, on_refused=refusals)
    _write(plain)
    _write(encrypted)
    return plain, encrypted, custody, refusals


@pytest.fixture
def pool() -> ChildPool:
    children = ChildPool(1)
    yield children  # type: ignore[misc]
    children.close()


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _memfds() -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "passerelle-scan" in target:
            found.append(target)
    return found


def _run(sql: str, source: TableSource, cache: ScanCache, pool: ChildPool) -> pa.Table:
    limits = QueryLimits(timeout_s=60, threads=1)  # one thread: float sums in one order
    outcome = run_sandboxed(sql, {"stays": source}, limits, cache, pool)
    assert outcome.result is not None
    return outcome.result


def test_results_are_identical_and_the_cache_holds_no_plaintext(
    stores: tuple[Store, EncryptingStore, FileCustody, Refusals], tmp_path: Path, pool: ChildPool
) -> None:
    plain, encrypted, _, refusals = stores
    plain_cache, enc_cache = ScanCache(tmp_path / "pc"), ScanCache(tmp_path / "ec")
    grants = [None, ("departement", "age_group", "cost", "los_days", "person_id")]
    for columns in grants:
        for sql in QUERIES:
            expected = _run(
                sql, TableSource(plain, "datasets/stays/v1", columns), plain_cache, pool
            )
            for _ in range(2):  # a cache miss, then a hit
                got = _run(
                    sql, TableSource(encrypted, "datasets/stays/v1", columns), enc_cache, pool
                )
                assert got.equals(expected), sql
    subset = TableSource(encrypted, "datasets/stays/v1", ("departement", "cost"))
    narrow = _run(
        "SELECT departement, sum(cost) AS s FROM stays GROUP BY 1 ORDER BY 1",
        subset,
        enc_cache,
        pool,
    )
    assert narrow.num_rows == 96
    copies = _files_under(tmp_path / "ec")
    assert copies, "the envelopes are cached"
    for path in copies:
        data = path.read_bytes()
        assert MARKER.encode() not in data, f"plaintext at rest in {path.name}"
        assert b"PAR1" not in data, f"a Parquet file at rest in {path.name}"
    plain_copies = _files_under(tmp_path / "pc")  # the scan finds plaintext where it is
    assert any(MARKER.encode() in p.read_bytes() for p in plain_copies)
    assert not enc_cache._memory and not _memfds(), "the decrypted copies outlived the query"
    assert not refusals.seen


def test_ranged_reads_through_pyarrow_match_plaintext(
    stores: tuple[Store, EncryptingStore, FileCustody, Refusals],
) -> None:
    plain, encrypted, _, _ = stores
    columns = ["person_id", "cost"]
    want = open_dataset(TableSource(plain, "datasets/stays/v1")).to_table(columns=columns)
    got = open_dataset(TableSource(encrypted, "datasets/stays/v1")).to_table(columns=columns)
    assert got.equals(want)
    flt = pa.compute.field("los_days") == 3
    assert (
        open_dataset(TableSource(encrypted, "datasets/stays/v1"))
        .to_table(filter=flt)
        .equals(open_dataset(TableSource(plain, "datasets/stays/v1")).to_table(filter=flt))
    )


def test_a_destroyed_kek_makes_the_cached_copies_unreadable(
    stores: tuple[Store, EncryptingStore, FileCustody, Refusals], tmp_path: Path, pool: ChildPool
) -> None:
    _, encrypted, custody, refusals = stores
    cache = ScanCache(tmp_path / "ec")
    source = TableSource(encrypted, "datasets/stays/v1")
    _run(QUERIES[0], source, cache, pool)
    old = custody.current_key_id()
    custody.create_key()
    custody.destroy_key(old)
    with pytest.raises(KeyUnavailableError):
        _run(QUERIES[0], source, cache, pool)
    # each file's refused unwrap is audited once (not twice for the quiet retry of a copy)
    assert sorted(refusals.seen) == [
        (old, f"datasets/stays/v1/part-{i}.parquet", "key-unavailable") for i in range(3)
    ]
    assert not cache._memory and not _memfds()


def test_a_rotation_is_followed_quietly_and_a_damaged_copy_is_fetched_again(
    stores: tuple[Store, EncryptingStore, FileCustody, Refusals], tmp_path: Path, pool: ChildPool
) -> None:
    plain, encrypted, custody, refusals = stores
    cache = ScanCache(tmp_path / "ec")
    source = TableSource(encrypted, "datasets/stays/v1")
    expected = _run(
        QUERIES[0], TableSource(plain, "datasets/stays/v1"), ScanCache(tmp_path / "p"), pool
    )
    assert _run(QUERIES[0], source, cache, pool).equals(expected)
    old = custody.current_key_id()
    new = custody.create_key()
    for info in encrypted.list("datasets/stays/v1/"):
        assert encrypted.rewrap(info.key, new)
    custody.destroy_key(old)  # the cached copies still carry the data keys wrapped under old
    assert _run(QUERIES[0], source, cache, pool).equals(expected)
    envelope = next((tmp_path / "ec").glob("*.envelope"))
    damaged = bytearray(envelope.read_bytes())
    damaged[100] ^= 0x40
    envelope.write_bytes(bytes(damaged))
    assert _run(QUERIES[0], source, cache, pool).equals(expected)
    assert not refusals.seen


def test_an_encrypted_store_behind_a_wrapper_is_never_cached_in_plaintext(
    stores: tuple[Store, EncryptingStore, FileCustody, Refusals], tmp_path: Path, pool: ChildPool
) -> None:
    plain, encrypted, _, _ = stores
    hidden = StoreWrapper(encrypted)
    assert encrypted_view(hidden, "datasets/stays/v1") == (True, None)
    assert encrypted_view(plain, "datasets/stays/v1") == (False, None)
    cache = ScanCache(tmp_path / "ec")
    expected = _run(
        QUERIES[1], TableSource(plain, "datasets/stays/v1"), ScanCache(tmp_path / "p"), pool
    )
    assert _run(QUERIES[1], TableSource(hidden, "datasets/stays/v1"), cache, pool).equals(expected)
    assert not _files_under(tmp_path / "ec")  # nothing at rest at all
    assert not cache._memory and not _memfds()


# -- through a hub: the same hub with and without `encrypt` ----------------------------------


def _hub_cast(directory: Path, settings: dict[str, object]) -> Cast:
    from passerelle import hub as H
    from tests.hub.conftest import Clock

    hub, issued = H.init_hub(
        directory, database=f"sqlite:///{directory}/hub.db", name="test-hub", settings=settings
    )
    clock = Clock()
    hub.clock = clock
    admin = H.authenticate(hub, issued.secret)
    people = {}
    for name, roles in [
        ("steward", "steward"),
        ("steward2", "steward"),
        ("alice", "researcher"),
        ("bob", "researcher"),
        ("checker", "output-checker"),
        ("auditor", "auditor"),
        ("operator", "operator"),
    ]:
        H.create_user(hub, admin, name, roles)
        people[name] = H.authenticate(hub, H.issue_token(hub, admin, user=name).secret)
    H.create_organization(hub, people["steward"], "750712184", "AP-HP", "hospital")
    return Cast(hub, clock, admin, tokens={}, **people)


def test_a_hub_that_encrypts_answers_like_a_plaintext_hub_with_no_plaintext_at_rest(
    tmp_path: Path,
) -> None:
    from passerelle import hub as H
    from passerelle.research.caps import LimitRequest
    from passerelle.workspace import read_result, run_query
    from tests.hub.conftest import approved_project
    from tests.workspace.test_queries import publish

    table = pa.concat_tables([_table(0), _table(1)])
    results = {}
    for label, settings in (("plain", {}), ("encrypted", {"encrypt": ["health-pseudonymized"]})):
        c = _hub_cast(tmp_path / label, settings)
        try:
            publish(c, "stays", table)
            project = approved_project(c)
            H.create_grant(c.hub, c.steward, project, "stays")
            answers = []
            for sql in QUERIES:
                view, got = run_query(c.hub, c.alice, project, sql, LimitRequest(threads=1))
                assert read_result(c.hub, c.alice, view.id).equals(got)
                answers.append(got)
            results[label] = answers
        finally:
            c.hub.close()
    for sql, plain, encrypted in zip(QUERIES, results["plain"], results["encrypted"], strict=True):
        assert encrypted.equals(plain), sql
    found = [p for p in _files_under(tmp_path / "plain") if MARKER.encode() in p.read_bytes()]
    assert any("cache" in str(p) for p in found), "the scan finds plaintext where there is some"
    leaks = [p for p in _files_under(tmp_path / "encrypted") if MARKER.encode() in p.read_bytes()]
    assert not leaks, f"plaintext at rest in the encrypting hub: {leaks}"
    assert list((tmp_path / "encrypted" / "cache" / "scan").glob("*.envelope"))
