"""An encrypted store migrates as unchanged ciphertext (Azurite -> Ceph RGW), proven twice.

The engine copies stored bytes: the SHA-256 of every raw object is the same at both
ends and is what the journal proves; the wrapped data key travels in the metadata,
so the destination decrypts with the same custody; ``migrate verify --deep
--decrypt`` also checks each envelope's authenticated plaintext SHA-256 and names,
per object and in one sentence, a tampered object, a missing wrapped key and a
destroyed KEK.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from passerelle.keys.file_custody import FileCustody
from passerelle.migration import RunOptions, plan_migration, run_migration, verify_migration
from passerelle.migration.decrypt_check import DecryptCheck
from passerelle.migration.journal import Journal
from passerelle.migration.planner import PlanOptions
from passerelle.storage import Store, open_store
from passerelle.storage.encrypting import EncryptingStore
from passerelle.storage.model import MiB
from tests.backends import new_store_url
from tests.cli.test_storage_commands import assert_one_sentence, run_cli

MARKER = b"NIR-1850575123456-PLAINTEXT-MARKER"
SEGMENT = 64 * 1024
DEK = "passerelle_dek"


def _plaintexts(seed: int = 3) -> dict[str, bytes]:
    """Sizes around the segment boundaries, an empty object, and one multipart-sized."""
    rng = random.Random(seed)
    sizes = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 200_000]
    objects = {
        f"datasets/stays/v1/part-{i:03d}.parquet": (MARKER + rng.randbytes(n))[:n]
        for i, n in enumerate(sizes)
    }
    objects["datasets/big/v1/blob.bin"] = MARKER * 4 + rng.randbytes(12 * MiB + 321)
    return objects


def _raw_digest(store: Store, key: str) -> str:
    sha = hashlib.sha256()
    for chunk in store.get(key):
        sha.update(chunk)
    return sha.hexdigest()


@pytest.fixture
def encrypted_pair(tmp_path: Path) -> tuple[str, str, FileCustody, dict[str, bytes]]:
    src_url = new_store_url("azurite", tmp_path, "encsrc")
    dst_url = new_store_url("ceph", tmp_path, "encdst")
    custody = FileCustody(tmp_path / "kek.json")
    custody.create_key()
    writer = EncryptingStore(open_store(src_url), custody)
    objects = _plaintexts()
    for key, data in objects.items():
        if len(data) > 8 * MiB:
            writer.put(
                key,
                iter([data[i : i + MiB] for i in range(0, len(data), MiB)]),
                size=len(data),
                part_size=5 * MiB,
            )
        else:
            writer.put(key, data, content_type="application/vnd.apache.parquet")
    return src_url, dst_url, custody, objects


def _migrate(src_url: str, dst_url: str, journal: Path) -> None:
    plan_migration(src_url, dst_url, journal, PlanOptions(part_size=5 * MiB))
    summary = run_migration(journal, RunOptions(concurrency=4))
    assert summary.complete, (summary.failed, summary.changed)


def test_ciphertext_crosses_unchanged_and_the_destination_decrypts(
    encrypted_pair: tuple[str, str, FileCustody, dict[str, bytes]], tmp_path: Path
) -> None:
    src_url, dst_url, custody, objects = encrypted_pair
    src, dst = open_store(src_url), open_store(dst_url)
    raw = {key: _raw_digest(src, key) for key in objects}
    journal = tmp_path / "j.db"
    _migrate(src_url, dst_url, journal)
    opened = Journal.open(journal)
    rows = {row.key: row for row in opened.iter_objects()}
    opened.close()
    reader = EncryptingStore(dst, custody)
    for key, data in objects.items():
        got = dst.get(key).read()
        assert MARKER not in got, f"{key}: plaintext at the destination"
        assert hashlib.sha256(got).hexdigest() == raw[key], f"{key}: ciphertext changed"
        assert rows[key].sha256 == raw[key], "the journal's proof covers the stored bytes"
        src_meta = src.head(key).metadata or {}
        dst_meta = dst.head(key).metadata or {}
        assert dst_meta.get(DEK) and dst_meta.get(DEK) == src_meta.get(DEK), key
        assert dst_meta.get("passerelle_sha256") == raw[key]
        assert reader.get(key).read() == data
        assert reader.head(key).size == len(data)
        assert reader.plaintext_digest(key) == hashlib.sha256(data).hexdigest()
        if len(data) > 2 * SEGMENT:  # a ranged read across a segment boundary
            assert (
                reader.get(key, start=SEGMENT - 7, end=SEGMENT + 9).read()
                == data[SEGMENT - 7 : SEGMENT + 9]
            )
    report = verify_migration(journal, deep=True, decrypt=DecryptCheck(custody))
    assert report.ok, list(report.problems())
    assert report.decrypted == len(objects) and report.plaintext_objects == 0
    cli = run_cli(
        "migrate",
        "verify",
        "-j",
        str(journal),
        "--deep",
        "--decrypt",
        "--kek-file",
        str(tmp_path / "kek.json"),
    )
    assert cli.returncode == 0, cli.stderr
    assert f"{len(objects)} envelopes decrypted" in cli.stdout


def test_verify_decrypt_names_tamper_missing_key_and_destroyed_kek(
    encrypted_pair: tuple[str, str, FileCustody, dict[str, bytes]], tmp_path: Path
) -> None:
    src_url, dst_url, custody, objects = encrypted_pair
    old_kek = custody.current_key_id()
    custody.create_key()  # rotation: later objects under the new KEK, the first ones stay
    writer = EncryptingStore(open_store(src_url), custody)
    writer.put("reference/codes.csv", b"code,label\nA01,x\n")
    open_store(src_url).put("reference/readme.txt", b"plaintext by policy\n")
    journal = tmp_path / "j.db"
    _migrate(src_url, dst_url, journal)
    dst = open_store(dst_url)
    keys = sorted(objects)
    tampered, stripped = keys[2], keys[3]
    data = bytearray(dst.get(tampered).read())
    data[40] ^= 1  # one bit of the first segment, same size
    info = dst.head(tampered)
    dst.put(tampered, bytes(data), metadata=dict(info.metadata or {}))
    meta = dict(dst.head(stripped).metadata or {})
    meta.pop(DEK)
    dst.update_metadata(stripped, meta)
    report = verify_migration(journal, deep=True, decrypt=DecryptCheck(custody))
    broken = dict(report.undecryptable)
    assert "stored bytes differ" in broken[tampered]
    assert "fails authentication" in broken[tampered]
    assert "wrapped data key is missing" in broken[stripped]
    assert report.plaintext_objects == 1 and report.decrypted == len(objects) - 2 + 1
    custody.destroy_key(old_kek)  # crypto-erase of everything written before the rotation
    report = verify_migration(journal, deep=True, decrypt=DecryptCheck(custody))
    broken = dict(report.undecryptable)
    assert set(broken) == set(objects)  # every object under the destroyed KEK, by name
    assert "wrapped data key is missing" in broken[stripped]
    assert "stored bytes differ" in broken[tampered]  # no key left to say more
    for key in set(objects) - {stripped}:
        assert "was destroyed, so it is crypto-erased" in broken[key], broken[key]
    assert report.decrypted == 1 and report.plaintext_objects == 1  # the new KEK's, the plain
    cli = run_cli(
        "migrate",
        "verify",
        "-j",
        str(journal),
        "--deep",
        "--decrypt",
        "--kek-file",
        str(tmp_path / "kek.json"),
    )
    assert_one_sentence(cli, "Verification found", "problems")
    for key in objects:
        assert key in cli.stdout
    assert cli.stdout.count("not decryptable") == len(objects)


def test_verify_decrypt_refuses_bad_options_in_one_sentence(tmp_path: Path) -> None:
    src = new_store_url("file", tmp_path, "src")
    open_store(src).put("a.txt", b"a")
    journal = tmp_path / "j.db"
    assert (
        run_cli("migrate", "plan", src, f"file://{tmp_path / 'dst'}", "-j", str(journal)).returncode
        == 0
    )
    assert run_cli("migrate", "run", "-j", str(journal)).returncode == 0
    base = ("migrate", "verify", "-j", str(journal))
    kek = tmp_path / "kek.json"
    FileCustody(kek).create_key()
    for args, words in [
        (("--decrypt", "--kek-file", str(kek)), ("add --deep",)),
        (("--deep", "--decrypt"), ("--hub", "--kek-file")),
        (("--deep", "--decrypt", "--kek-file", str(kek), "--hub", str(tmp_path)), ("either",)),
        (("--deep", "--decrypt", "--kek-file", str(tmp_path / "nope.json")), ("does not exist",)),
        (("--deep", "--kek-file", str(kek)), ("only go with --decrypt",)),
        (("--deep", "--decrypt", "--kek-file", str(kek), "--identity-prefix", "../up"), ()),
    ]:
        assert_one_sentence(run_cli(*base, *args), *words)
    ok = run_cli(*base, "--deep", "--decrypt", "--kek-file", str(kek))
    assert ok.returncode == 0, ok.stderr
    assert "0 envelopes decrypted" in ok.stdout and "1 objects not encrypted" in ok.stdout


def test_verify_decrypt_with_the_hubs_custody(tmp_path: Path) -> None:
    from passerelle import hub as H

    hub, _ = H.init_hub(
        tmp_path / "hub",
        database=f"sqlite:///{tmp_path / 'hub' / 'hub.db'}",
        name="enc-hub",
        settings={"encrypt": ["health-pseudonymized"]},
    )
    try:
        store = hub.store_at("datasets/stays", classification="health-pseudonymized")
        objects = {f"v1/part-{i}.parquet": MARKER * (i + 1) * 500 for i in range(3)}
        for key, data in objects.items():
            store.put(key, data)
        src = hub.config.resolve_url(hub.config.store)
    finally:
        hub.close()
    journal = tmp_path / "j.db"
    dst = f"file://{tmp_path / 'dst'}"
    assert run_cli("migrate", "plan", src, dst, "-j", str(journal)).returncode == 0
    assert run_cli("migrate", "run", "-j", str(journal)).returncode == 0
    raw = open_store(dst)
    assert not [i.key for i in raw.list() if MARKER in raw.get(i.key).read()]
    base = ("migrate", "verify", "-j", str(journal), "--deep", "--decrypt", "--hub")
    ok = run_cli(*base, str(tmp_path / "hub"))
    assert ok.returncode == 0, ok.stderr
    assert "3 envelopes decrypted" in ok.stdout
    # the same store seen from its dataset folder: identities are keys below the hub's root
    sub = tmp_path / "j2.db"
    assert (
        run_cli(
            "migrate", "plan", f"{dst}/datasets/stays", f"file://{tmp_path / 'd2'}", "-j", str(sub)
        ).returncode
        == 0
    )
    assert run_cli("migrate", "run", "-j", str(sub)).returncode == 0
    wrong = run_cli(
        "migrate", "verify", "-j", str(sub), "--deep", "--decrypt", "--hub", str(tmp_path / "hub")
    )
    assert_one_sentence(wrong, "Verification found 3 problems", "fails authentication")
    right = run_cli(
        "migrate",
        "verify",
        "-j",
        str(sub),
        "--deep",
        "--decrypt",
        "--hub",
        str(tmp_path / "hub"),
        "--identity-prefix",
        "datasets/stays",
    )
    assert right.returncode == 0, right.stdout
