"""The signed migration certificate: one named vector per way to break it, and the tree itself.

Each vector takes a real certificate of a real (file -> file) migration, breaks one
thing the way an attacker or an accident would, and checks that offline
verification names it in one sentence. The Merkle tree is checked against a
direct transcription of RFC 6962's recursive definition (hypothesis).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.errors import ConflictError, UsageError
from passerelle.hub.checkpoint_chain import public_key_hex, sign_message
from passerelle.migration import plan_migration, run_migration, sync_migration, verify_migration
from passerelle.migration.certificate import (
    FORMAT,
    ManifestTree,
    build_certificate,
    canonical_json,
    manifest_line,
    signed_message,
)
from passerelle.migration.certificate_verify import CertificateCheck, verify_certificate
from passerelle.migration.merkle import EMPTY_ROOT, MerkleBuilder, combine, leaf_hash, node_hash
from passerelle.storage import Store, open_store
from tests.backends import new_store_url

from .conftest import populate

HUB_KEY = b"h" * 32
OTHER_HUB_KEY = b"o" * 32
CHUNK = 8  # small chunks so 40 objects make 5 of them
MINIMAL = {  # the members a hand-built certificate needs besides its manifest and chunks
    "format": FORMAT,
    "migration_id": "hand-built",
    "source": {"url": "memory://a"},
    "destination": {"url": "memory://b"},
}


@dataclass
class Issued:
    cert: str
    manifest: str
    dst_url: str
    dst: Store
    journal: Path


def _issue(journal: Path, key: bytes = HUB_KEY, chunk_rows: int = CHUNK) -> tuple[str, str]:
    out = io.StringIO()
    cert = build_certificate(
        journal,
        signer=lambda message: sign_message(key, message),
        public_key=public_key_hex(key),
        hub_name="test-hub",
        issued_at="2026-12-02T10:00:00+00:00",
        manifest_out=out,
        chunk_rows=chunk_rows,
    )
    return cert.to_json(), out.getvalue()


def _migrate(tmp_path: Path, count: int = 40, *, deep: bool = True) -> tuple[str, Store, Path]:
    src_url = new_store_url("file", tmp_path / "a", "src")
    dst_url = new_store_url("file", tmp_path / "b", "dst")
    src, dst = open_store(src_url), open_store(dst_url)
    populate(src, count, large=0)
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, source=src, dest=dst)
    assert run_migration(journal, source=src, dest=dst).complete
    assert verify_migration(journal, deep=deep, source=src, dest=dst).ok
    return dst_url, dst, journal


@pytest.fixture
def issued(tmp_path: Path) -> Issued:
    dst_url, dst, journal = _migrate(tmp_path)
    cert, manifest = _issue(journal)
    return Issued(cert, manifest, dst_url, dst, journal)


def _check(cert: str, manifest: str | None = None, **kw: object) -> CertificateCheck:
    handle = io.StringIO(manifest) if manifest is not None else None
    return verify_certificate(cert, manifest=handle, **kw)  # type: ignore[arg-type]


def _rows(manifest: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(manifest)))


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _edit_body(cert: str, edit: Callable[[dict[str, object]], None], key: bytes | None) -> str:
    data = json.loads(cert)
    edit(data["body"])
    if key is not None:  # re-signed, as a forger holding some key would
        data["signature"]["public_key"] = public_key_hex(key)
        data["signature"]["value"] = sign_message(key, signed_message(data["body"]))
    return json.dumps(data)


def _only(check: CertificateCheck, *words: str) -> str:
    assert not check.ok
    text = " | ".join(check.problems)
    for word in words:
        assert word.lower() in text.lower(), text
    return text


# -- a clean certificate ---------------------------------------------------------------


def test_clean_certificate_verifies_with_manifest_and_destination(issued: Issued) -> None:
    body = json.loads(issued.cert)["body"]
    assert body["format"] == FORMAT and body["verify"]["mode"] == "deep"
    assert body["manifest"]["objects"] == 40 and len(body["chunks"]) == 5
    assert body["destination"]["provider"] == "local"
    rows = _rows(issued.manifest)
    assert rows[0] == ["key", "size", "sha256"] and len(rows) == 41
    for key, size, digest in rows[1:4]:
        data = issued.dst.get(key).read()
        assert int(size) == len(data) and digest == hashlib.sha256(data).hexdigest()
    check = _check(
        issued.cert,
        issued.manifest,
        public_key=public_key_hex(HUB_KEY),
        against=issued.dst,
    )
    assert check.ok, check.problems
    assert check.rows_checked == 40 and check.objects_checked == 40
    rebuilt = _check(issued.cert, against=issued.dst)  # no manifest: rows from the destination
    assert rebuilt.ok and rebuilt.rows_checked == 40, rebuilt.problems


def test_signed_bytes_are_the_format_line_and_canonical_json(issued: Issued) -> None:
    data = json.loads(issued.cert)
    message = FORMAT.encode() + b"\n" + canonical_json(data["body"])
    assert signed_message(data["body"]) == message
    assert b" " not in canonical_json({"b": [1, 2], "a": "é"})
    assert canonical_json({"b": 1, "a": "é"}) == b'{"a":"\\u00e9","b":1}'
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(data["signature"]["public_key"]))
    key.verify(bytes.fromhex(data["signature"]["value"]), message)  # raises if not


# -- the named vectors -----------------------------------------------------------------


def test_vector_edited_size(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    rows[12][1] = str(int(rows[12][1]) + 1)  # row 12 of the data lives in chunk 1 (rows 9-16)
    text = _only(_check(issued.cert, _csv(rows)), "chunk 1 (rows 9-16", "size or SHA-256")
    assert rows[9][0] in text and rows[16][0] in text  # the chunk's key range
    assert len(_check(issued.cert, _csv(rows)).problems) == 1  # later chunks do not shift


def test_vector_edited_digest(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    rows[33][2] = hashlib.sha256(b"forged").hexdigest()
    check = _check(issued.cert, _csv(rows))
    _only(check, "chunk 4 (rows 33-40", "was changed")
    assert check.problem_count == 1


def test_vector_added_row_between_keys_is_named(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    extra = [rows[16][0] + "-smuggled", "5", hashlib.sha256(b"x").hexdigest()]
    rows.insert(17, extra)  # after chunk 1's last key, before chunk 2's first
    check = _check(issued.cert, _csv(rows))
    _only(check, extra[0], "not in the certificate", "added row")
    assert check.problem_count == 1


def test_vector_added_row_inside_a_chunk(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    rows.insert(11, [rows[10][0] + "!", "1", hashlib.sha256(b"y").hexdigest()])
    check = _check(issued.cert, _csv(rows))
    _only(check, "chunk 1 (rows 9-16", "9 rows", "a row was added")
    assert check.problem_count == 1


def test_vector_removed_row(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    del rows[20]
    check = _check(issued.cert, _csv(rows))
    _only(check, "chunk 2 (rows 17-24", "7 rows", "a row was removed")
    assert check.problem_count == 1
    first = _rows(issued.manifest)
    gone = first.pop(25)[0]  # the first row of chunk 3
    _only(_check(issued.cert, _csv(first)), "chunk 3", f"its first row {gone!r} is gone")


def test_vector_reordered_rows(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    rows[3], rows[4] = rows[4], rows[3]
    check = _check(issued.cert, _csv(rows))
    _only(check, "Row 4 of the manifest", "sorted by key")


def test_vector_tampered_signature(issued: Issued) -> None:
    data = json.loads(issued.cert)
    value = data["signature"]["value"]
    data["signature"]["value"] = ("0" if value[0] != "0" else "1") + value[1:]
    _only(_check(json.dumps(data)), "signature does not match")


def test_vector_tampered_counts(issued: Issued) -> None:
    def fewer(body: dict[str, object]) -> None:
        body["manifest"]["objects"] = 39  # type: ignore[index]

    _only(_check(_edit_body(issued.cert, fewer, None)), "signature does not match")
    resigned = _check(_edit_body(issued.cert, fewer, OTHER_HUB_KEY))
    _only(resigned, "says 39 objects", "its chunks hold 40 rows")


def test_vector_tampered_chunk_root_resigned(issued: Issued) -> None:
    def swap(body: dict[str, object]) -> None:
        body["chunks"][2]["root"] = "00" * 32  # type: ignore[index]

    _only(_check(_edit_body(issued.cert, swap, OTHER_HUB_KEY)), "do not combine")


def test_vector_another_hubs_key(tmp_path: Path) -> None:
    _, _, journal = _migrate(tmp_path, 10)
    cert, manifest = _issue(journal, key=OTHER_HUB_KEY)
    assert _check(cert, manifest).ok  # self-consistent: only pinning tells whose it is
    pinned = _check(cert, manifest, public_key=public_key_hex(HUB_KEY))
    _only(pinned, "not by the pinned key", "another hub")
    assert pinned.problem_count == 1


def test_vector_destination_object_overwritten(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    key = rows[7][0]
    data = issued.dst.get(key).read()
    issued.dst.put(key, bytes(b ^ 0xFF for b in data) or b"x")  # same size, other bytes
    check = _check(issued.cert, issued.manifest, against=issued.dst)
    _only(check, key, "overwritten or damaged")
    assert check.problem_count == 1
    rebuilt = _check(issued.cert, against=issued.dst)  # no manifest: located by chunk
    _only(rebuilt, "chunk 0 (rows 1-8", "the destination")


def test_vector_destination_object_removed_and_added(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    issued.dst.delete(rows[2][0])
    issued.dst.put("planted.bin", b"not migrated")
    text = _only(_check(issued.cert, issued.manifest, against=issued.dst), "missing")
    assert rows[2][0] in text and "'planted.bin' is at the destination but not in" in text


def test_vector_sample_finds_the_overwritten_object(issued: Issued) -> None:
    import random

    key = _rows(issued.manifest)[5][0]
    issued.dst.put(key, b"overwritten with another size")
    check = _check(
        issued.cert, issued.manifest, against=issued.dst, sample=40, rng=random.Random(1)
    )
    _only(check, key, "bytes, the certificate")
    assert check.objects_checked == 40
    small = _check(issued.cert, issued.manifest, against=issued.dst, sample=3)
    assert small.objects_checked == 3


@pytest.mark.parametrize(
    "text",
    ["", "[]", '{"format": "other/1"}', json.dumps({"format": FORMAT, "body": {}}), "{"],
)
def test_vector_not_a_certificate(text: str) -> None:
    with pytest.raises(UsageError, match="not a passerelle migration certificate"):
        verify_certificate(text)


def test_vector_duplicate_member_and_floats_refused(issued: Issued) -> None:
    doubled = issued.cert.replace('"format"', '"format": "x", "format"', 1)
    with pytest.raises(UsageError, match="appears twice"):
        verify_certificate(doubled)
    floating = issued.cert.replace('"objects": 40', '"objects": 40.0')
    with pytest.raises(UsageError, match="not an integer"):
        verify_certificate(floating)


def test_vector_malformed_manifest(issued: Issued) -> None:
    with pytest.raises(UsageError, match="header key,size,sha256"):
        _check(issued.cert, "name,bytes,digest\n")
    rows = _rows(issued.manifest)
    rows[2][2] = rows[2][2].upper()
    _only(_check(issued.cert, _csv(rows)), "Row 2 of the manifest has no valid SHA-256")


# -- refused unless verify was clean ---------------------------------------------------


def test_refused_before_any_verify_and_after_a_later_sync(tmp_path: Path) -> None:
    src_url = new_store_url("file", tmp_path / "a", "src")
    dst_url = new_store_url("file", tmp_path / "b", "dst")
    src, dst = open_store(src_url), open_store(dst_url)
    populate(src, 5, large=0)
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, source=src, dest=dst)
    with pytest.raises(ConflictError, match="never verified"):
        _issue(journal)
    run_migration(journal, source=src, dest=dst)
    dst.put("pmsi/0/extract 0000.csv", b"changed behind our back")
    assert not verify_migration(journal, deep=True, source=src, dest=dst).ok
    with pytest.raises(ConflictError, match="found 1 problems"):
        _issue(journal)
    sync_migration(journal, source=src, dest=dst)
    assert verify_migration(journal, source=src, dest=dst).ok
    cert, _ = _issue(journal)
    assert json.loads(cert)["body"]["verify"]["mode"] == "fast"
    from passerelle.migration.runner import JournalLock

    with JournalLock(journal), pytest.raises(UsageError, match="Another passerelle process"):
        _issue(journal)  # a run going on: the journal is not read under it
    sync_migration(journal, source=src, dest=dst)
    with pytest.raises(ConflictError, match="changed after its last verify"):
        _issue(journal)


# -- the tree itself (hypothesis) ------------------------------------------------------


def _rfc6962(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_rfc6962(leaves[:k]), _rfc6962(leaves[k:]))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=70), st.sampled_from([1, 2, 4, 8, 16]))
def test_streamed_root_is_rfc6962_and_chunks_combine_into_it(n: int, chunk: int) -> None:
    leaves = [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(n)]
    builder = MerkleBuilder()
    for leaf in leaves:
        builder.add(leaf)
    assert builder.root() == _rfc6962(leaves)
    parts = [leaves[i : i + chunk] for i in range(0, n, chunk)]
    assert combine([(len(p), _rfc6962(p)) for p in parts], chunk) == builder.root()


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.data())
def test_one_edited_row_names_exactly_its_chunk(n: int, data: st.DataObject) -> None:
    rows = [(f"k/{i:03d}", i * 7, hashlib.sha256(str(i).encode()).hexdigest()) for i in range(n)]
    tree = ManifestTree(4)
    for row in rows:
        tree.add(*row)
    root = tree.finish()
    body = {
        **MINIMAL,
        "manifest": {"objects": n, "bytes": tree.total_bytes, "root": root, "chunk_rows": 4},
        "chunks": tree.chunks,
    }
    cert = json.dumps(
        {
            "format": FORMAT,
            "body": body,
            "signature": {
                "algorithm": "ed25519",
                "public_key": public_key_hex(HUB_KEY),
                "value": sign_message(HUB_KEY, signed_message(body)),
            },
        }
    )
    edited = data.draw(st.integers(min_value=0, max_value=n - 1))
    changed = [[k, str(s + (i == edited)), d] for i, (k, s, d) in enumerate(rows)]
    manifest = _csv([["key", "size", "sha256"], *changed])
    check = _check(cert, manifest)
    assert check.problem_count == 1, check.problems
    assert f"chunk {edited // 4} (rows {edited // 4 * 4 + 1}-" in check.problems[0].lower()


def test_leaf_encoding_is_length_prefixed() -> None:
    # "a" + size 0x62... must not collide with key "ab": the key length is in the leaf
    assert leaf_hash("a", 1, "00" * 32) != leaf_hash("a\x00", 1, "00" * 32)
    with pytest.raises(ValueError):
        leaf_hash("a", 1, "AB" * 32)
    with pytest.raises(ValueError):
        leaf_hash("a", -1, "00" * 32)


# -- a real Azurite -> Ceph RGW migration ----------------------------------------------


def test_certificate_of_a_real_azurite_to_ceph_migration(tmp_path: Path) -> None:
    src_url = new_store_url("azurite", tmp_path, "certsrc")
    dst_url = new_store_url("ceph", tmp_path, "certdst")
    src, dst = open_store(src_url), open_store(dst_url)
    populate(src, 30, large=1)  # one 12 MiB object goes through a multipart upload
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, source=src, dest=dst)
    assert run_migration(journal, source=src, dest=dst).complete
    assert verify_migration(journal, deep=True, source=src, dest=dst).ok
    cert, manifest = _issue(journal, chunk_rows=1024)
    body = json.loads(cert)["body"]
    assert body["source"]["provider"] == "azure" and body["destination"]["provider"] == "ceph"
    assert body["source"]["region"] == "francecentral"
    assert body["source"]["jurisdiction"] == "US" and body["source"]["non_eu_law_exposure"]
    assert body["manifest"]["objects"] == 31 and len(body["chunks"]) == 1
    offline = verify_certificate(  # a fresh store object: nothing shared with the migration
        cert, manifest=io.StringIO(manifest), against=open_store(dst_url)
    )
    assert offline.ok and offline.objects_checked == 31, offline.problems
    key = "large/blob-0.bin"
    size = dst.head(key).size
    dst.put(key, b"\x00" * size)  # overwritten at the destination, same size
    check = _check(cert, manifest, against=open_store(dst_url))
    _only(check, key, "overwritten or damaged")
    assert check.problem_count == 1


# -- the known-answer vector of the spec, and a second implementation written from it ----

KAT_ROWS = [
    ("a.csv", 3, hashlib.sha256(b"abc").hexdigest()),
    ("b/\u00e9.bin", 0, hashlib.sha256(b"").hexdigest()),
    ("c", 5, hashlib.sha256(b"hello").hexdigest()),
]
KAT_LEAVES = [
    "70e10ce0b34c78b0675274690f20896e8bcc5e1eb966cdc4dfac0df82e9b68b3",
    "113dbe9aa756b70ca2d2aa99e86ba555aeceb6ceb527e3fb14110885de658018",
    "1a13a1ed28d18ce88ec6d1e06f0053558254569ac159d0743328aff068be4691",
]
KAT_CHUNK0 = "4156fd83217881967a252e28c4fe5854ed2e501e97d09321d2b19b4787d902d7"
KAT_ROOT = "d7d5c23206922b40e2f5a883c9942cbecef84b069f47e02ea4bfd0732046f8fe"


def _spec_leaf(key: str, size: int, digest: str) -> bytes:
    """From docs/sovereignty.md only: 0x00 || u32be(len) || key || u64be(size) || sha256."""
    import struct

    raw = key.encode("utf-8")
    body = b"\x00" + struct.pack(">I", len(raw)) + raw + struct.pack(">Q", size)
    return hashlib.sha256(body + bytes.fromhex(digest)).digest()


def _spec_tree(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _spec_tree(leaves[:k]) + _spec_tree(leaves[k:])).digest()


def test_known_answer_vector() -> None:
    leaves = [_spec_leaf(*row) for row in KAT_ROWS]
    assert [leaf.hex() for leaf in leaves] == KAT_LEAVES
    assert [leaf_hash(*row).hex() for row in KAT_ROWS] == KAT_LEAVES
    assert _spec_tree(leaves[:2]).hex() == KAT_CHUNK0 and _spec_tree(leaves).hex() == KAT_ROOT
    tree = ManifestTree(2)
    for row in KAT_ROWS:
        tree.add(*row)
    assert tree.finish() == KAT_ROOT
    assert [c["root"] for c in tree.chunks] == [KAT_CHUNK0, KAT_LEAVES[2]]
    assert [(c["first_key"], c["last_key"]) for c in tree.chunks] == [
        ("a.csv", "b/\u00e9.bin"),
        ("c", "c"),
    ]


def test_second_implementation_checks_a_real_signature(issued: Issued) -> None:
    """Canonical bytes and signature re-derived from the spec, without passerelle's code."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = json.loads(issued.cert)
    body = data["body"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    message = b"passerelle-migration-certificate/1\n" + canonical.encode("ascii")
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(data["signature"]["public_key"]))
    public.verify(bytes.fromhex(data["signature"]["value"]), message)
    rows = _rows(issued.manifest)[1:]
    leaves = [_spec_leaf(k, int(s), d) for k, s, d in rows]
    assert _spec_tree(leaves).hex() == body["manifest"]["root"]
    for chunk in body["chunks"]:
        assert chunk["rows"] == body["manifest"]["chunk_rows"] or chunk is body["chunks"][-1]
        start = chunk["first_row"]
        assert _spec_tree(leaves[start : start + chunk["rows"]]).hex() == chunk["root"]


def test_sign_message_refuses_a_checkpoint_layout() -> None:
    with pytest.raises(ValueError, match="format tag"):
        sign_message(HUB_KEY, b'["passerelle-audit-checkpoint/1",1,1,"h","t","p"]')


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
        min_size=0,
        max_size=30,
        unique=True,
    )
)
def test_hostile_keys_survive_the_csv_manifest(keys: list[str]) -> None:
    """Commas, quotes, newlines, non-ASCII in keys: the CSV written is the CSV verified."""
    keys = sorted(keys, key=lambda k: k.encode("utf-8"))
    tree, out = ManifestTree(4), io.StringIO()
    out.write("key,size,sha256\n")
    for n, key in enumerate(keys):
        digest = hashlib.sha256(key.encode()).hexdigest()
        tree.add(key, n, digest)
        out.write(manifest_line(key, n, digest))
    root = tree.finish()
    body = {
        **MINIMAL,
        "manifest": {"objects": len(keys), "bytes": tree.total_bytes, "root": root,
                     "chunk_rows": 4},
        "chunks": tree.chunks,
    }  # fmt: skip
    cert = json.dumps(
        {
            "format": FORMAT,
            "body": body,
            "signature": {
                "algorithm": "ed25519",
                "public_key": public_key_hex(HUB_KEY),
                "value": sign_message(HUB_KEY, signed_message(body)),
            },
        }
    )
    check = _check(cert, out.getvalue())
    assert check.ok and check.rows_checked == len(keys), check.problems


def test_certificate_of_an_encrypted_store_covers_the_ciphertext(tmp_path: Path) -> None:
    """The rows are the stored bytes (envelopes); --decrypt's count is certified too."""
    from passerelle.keys.file_custody import FileCustody
    from passerelle.migration.decrypt_check import DecryptCheck
    from passerelle.sovereignty.envelope import is_envelope
    from passerelle.storage.encrypting import EncryptingStore

    src_url = new_store_url("file", tmp_path / "a", "src")
    dst_url = new_store_url("file", tmp_path / "b", "dst")
    custody = FileCustody(tmp_path / "kek.json")
    custody.create_key()
    writer = EncryptingStore(open_store(src_url), custody)
    secret = b"NIR 1850575123456 "
    for i in range(6):
        writer.put(f"datasets/stays/v1/part-{i}.parquet", secret * (i * 1000 + 1))
    src, dst = open_store(src_url), open_store(dst_url)
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, source=src, dest=dst)
    assert run_migration(journal, source=src, dest=dst).complete
    check = DecryptCheck(custody)
    assert verify_migration(journal, deep=True, source=src, dest=dst, decrypt=check).ok
    cert, manifest = _issue(journal)
    body = json.loads(cert)["body"]
    assert body["verify"] == {"mode": "deep", "pass": body["verify"]["pass"], "checked": 6,
                              "decrypted": 6}  # fmt: skip
    for key, size, digest in _rows(manifest)[1:]:
        raw = dst.get(key).read()
        assert is_envelope(raw[:64]) and secret not in raw
        assert int(size) == len(raw) and digest == hashlib.sha256(raw).hexdigest()
    assert secret.decode() not in cert + manifest
    assert _check(cert, manifest, against=open_store(dst_url)).ok


def test_profile_keeps_region_and_provider_certifications_apart() -> None:
    """Scaleway is HDS-certified in fr-par only: nl-ams must not read as HDS."""
    from passerelle.migration.certificate import _profile

    ams = _profile("s3://scw@bucket", "scaleway", "nl-ams")
    assert "HDS" in ams["provider_certifications"] and "HDS" not in ams["region_certifications"]
    assert ams["jurisdiction"] == "FR" and ams["eea"] is True
    par = _profile("s3://scw@bucket", "scaleway", "fr-par")
    assert "HDS" in par["region_certifications"]
    unknown = _profile("s3://x@bucket", None, None)
    assert unknown == {"url": "s3://x@bucket", "provider": None, "region": None}
