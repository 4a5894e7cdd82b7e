"""Rotation and crypto-erase over a real hub store (memory and Ceph RGW), both custodies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from passerelle.errors import ConflictError, KeyUnavailableError, PermissionDeniedError
from passerelle.hub import key_admin as K
from passerelle.hub.audit import verify_audit
from passerelle.hub.key_rotation import key_references
from tests.keys.hubs import KeyHub, audit_events, key_hub

CASES = [("memory", "file"), ("memory", "pkcs11"), ("ceph", "file"), ("ceph", "pkcs11")]


def _payloads(n: int) -> dict[str, bytes]:
    # several segments (64 KiB each), one empty object, and odd sizes around the boundary
    sizes = [0, 1, 65535, 65536, 65537, 200_000] + [1000 * i for i in range(1, n - 5)]
    return {
        f"datasets/d{i % 3}/part-{i:03d}.parquet": (
            hashlib.sha256(str(i).encode()).digest() * (s // 32 + 1)
        )[:s]
        for i, s in enumerate(sizes[:n])
    }


def _write(k: KeyHub, payloads: dict[str, bytes]) -> None:
    store = k.encrypting()
    for key, data in payloads.items():
        store.put(key, data)
    k.raw().put("datasets/readme.txt", b"plaintext, no envelope")


def _raw(k: KeyHub, keys: list[str]) -> dict[str, bytes]:
    return {key: k.raw().get(key).read() for key in keys}


@pytest.mark.parametrize(("backend", "custody"), CASES, ids=["-".join(c) for c in CASES])
def test_rotation_rewraps_without_touching_ciphertext(
    tmp_path: Path, backend: str, custody: str
) -> None:
    k = key_hub(tmp_path, custody=custody, backend=backend)
    first = k.hub.custody().current_key_id()
    payloads = _payloads(10)
    _write(k, payloads)
    before = _raw(k, list(payloads))
    assert key_references(k.raw()) == {first: 10, None: 1}

    report = K.rotate_keys(k.hub, k.admin, workers=3)

    assert report.ok and not report.resumed
    assert (report.rewrapped, report.already, report.plaintext) == (10, 0, 1)
    new = report.key_id
    assert new != first and k.hub.custody().current_key_id() == new
    assert _raw(k, list(payloads)) == before  # every segment byte for byte
    for key in payloads:
        assert k.raw().head(key).metadata["passerelle_kek"] == new  # type: ignore[index]
    fresh = k.encrypting()  # no cached data key: everything unwrapped under the new KEK
    assert {key: fresh.get(key).read() for key in payloads} == payloads
    assert key_references(k.raw()) == {new: 10, None: 1}
    states = {v.key_id: v.state for v in K.list_keys(k.hub, k.auditor)}
    assert states == {first: "retired", new: "current"}
    # running it again makes another key and moves everything once more, skipping nothing
    again = K.rotate_keys(k.hub, k.admin)
    assert (again.rewrapped, again.already) == (10, 0) and again.key_id != new
    phases = [(e["phase"], e["key"]) for e in audit_events(k.hub, "keys.rotate")]
    assert phases == [
        ("start", new),
        ("finish", new),
        ("start", again.key_id),
        ("finish", again.key_id),
    ]
    finish = audit_events(k.hub, "keys.rotate")[1]
    assert (finish["rewrapped"], finish["plaintext"], finish["failed"]) == (10, 1, 0)
    assert verify_audit(k.hub).ok


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("custody", ["file", "pkcs11"])
def test_an_interrupted_rotation_resumes_where_it_stopped(tmp_path: Path, custody: str) -> None:
    k = key_hub(tmp_path, custody=custody)
    payloads = _payloads(12)
    _write(k, payloads)
    before = _raw(k, list(payloads))
    seen: list[str] = []

    def stop_after_three(key: str, outcome: str) -> None:
        seen.append(outcome)
        if seen.count("rewrapped") == 3:
            raise Interrupted("operator pressed Ctrl-C")

    with pytest.raises(Interrupted):
        K.rotate_keys(k.hub, k.admin, progress=stop_after_three, workers=1)
    target = k.hub.custody().current_key_id()
    done = key_references(k.raw())[target]
    assert 3 <= done < 12  # some moved, not all

    resumed = K.rotate_keys(k.hub, k.admin)
    assert resumed.resumed and resumed.key_id == target  # no third key
    assert (resumed.already, resumed.rewrapped) == (done, 12 - done)
    assert len(K.list_keys(k.hub, k.admin)) == 2
    assert _raw(k, list(payloads)) == before
    assert {key: k.encrypting().get(key).read() for key in payloads} == payloads
    phases = [e["phase"] for e in audit_events(k.hub, "keys.rotate")]
    assert phases == ["start", "interrupted", "start", "finish"]
    assert "Ctrl-C" in audit_events(k.hub, "keys.rotate")[1]["error"]


@pytest.mark.parametrize(("backend", "custody"), CASES, ids=["-".join(c) for c in CASES])
def test_crypto_erase_makes_objects_unreadable(tmp_path: Path, backend: str, custody: str) -> None:
    k = key_hub(tmp_path, custody=custody, backend=backend)
    old = k.hub.custody().current_key_id()
    payloads = _payloads(6)
    _write(k, payloads)
    with pytest.raises(ConflictError, match="current key-encryption key; rotate first"):
        K.destroy_key(k.hub, k.admin, old)
    K.create_key(k.hub, k.admin)  # a new current key, nothing re-wrapped: objects still need old
    with pytest.raises(ConflictError, match="still protects 6 object"):
        K.destroy_key(k.hub, k.admin, old)
    assert k.encrypting().get(next(iter(payloads))).read() == next(iter(payloads.values()))
    first = max(payloads, key=lambda key: len(payloads[key]))
    ranged = k.hub.store().get(first, start=0, end=10).read()  # a ranged read keeps its data key
    assert ranged == payloads[first][:10]

    report = K.destroy_key(k.hub, k.admin, old, crypto_erase=True)

    assert report.crypto_erased == 6
    from passerelle.hub.key_admin import refused_key_use_auditor
    from passerelle.storage.encrypting import EncryptingStore

    store = EncryptingStore(k.raw(), k.hub.custody(), on_refused=refused_key_use_auditor(k.hub))
    for key in payloads:
        with pytest.raises(KeyUnavailableError, match="crypto-erased"):
            store.get(key).read()
    used = audit_events(k.hub, "keys.use")
    assert len(used) == 6 and all(e["decision"] == "denied" for e in used)
    assert {e["object"] for e in used} == set(payloads)
    assert all(e["target"] == f"key:{old}" and e["reason"] == "key-unavailable" for e in used)
    with pytest.raises(KeyUnavailableError):  # not served from the hub's memory either
        k.hub.store().get(first, start=0, end=10).read()
    destroys = audit_events(k.hub, "keys.destroy")
    assert [e["decision"] for e in destroys] == ["denied", "denied", "allowed"]
    assert destroys[-1]["crypto_erased"] == 6 and destroys[-1]["crypto_erase"] is True
    with pytest.raises(ConflictError, match="already destroyed"):
        K.destroy_key(k.hub, k.admin, old, crypto_erase=True)
    # a later rotation leaves the erased objects alone and says so
    rotated = K.rotate_keys(k.hub, k.admin)
    assert (rotated.erased, rotated.rewrapped, rotated.failed) == (6, 0, [])
    assert verify_audit(k.hub).ok


def test_destroy_after_rotation_needs_no_crypto_erase(tmp_path: Path) -> None:
    k = key_hub(tmp_path)
    old = k.hub.custody().current_key_id()
    payloads = _payloads(4)
    _write(k, payloads)
    K.rotate_keys(k.hub, k.admin)
    assert K.destroy_key(k.hub, k.admin, old).crypto_erased == 0
    assert {key: k.encrypting().get(key).read() for key in payloads} == payloads


def test_only_admins_manage_keys_and_auditors_read_them(tmp_path: Path) -> None:
    k = key_hub(tmp_path)
    current = k.hub.custody().current_key_id()
    for who in (k.auditor, k.operator):
        with pytest.raises(PermissionDeniedError, match=r"keys\.manage needs the role admin"):
            K.create_key(k.hub, who)
        with pytest.raises(PermissionDeniedError, match=r"keys\.manage needs the role admin"):
            K.rotate_keys(k.hub, who)
        with pytest.raises(PermissionDeniedError, match=r"keys\.manage needs the role admin"):
            K.destroy_key(k.hub, who, current)
    with pytest.raises(PermissionDeniedError, match=r"keys\.read"):
        K.list_keys(k.hub, k.operator)
    status = K.key_status(k.hub, k.auditor)
    assert status.custody == "file" and status.current == k.hub.custody().current_key_id()
    denied = [e for e in audit_events(k.hub, "keys.manage") if e["decision"] == "denied"]
    assert len(denied) == 6
    assert len(K.list_keys(k.hub, k.auditor)) == 1  # nothing was created by the refused calls
    assert status.unknown_keys == {}
    k.encrypting().put("datasets/x/part-0.parquet", b"rows")
    planted = dict(k.raw().head("datasets/x/part-0.parquet").metadata or {})
    for kek in ("kek-20200101-deadbeef", "KEK/../other"):  # another hub's key, a hostile one
        k.raw().put(f"datasets/x/{len(kek)}", b"x", metadata={**planted, "passerelle_kek": kek})
    status = K.key_status(k.hub, k.auditor)
    assert status.unknown_keys == {"kek-20200101-deadbeef": 1, "KEK/../other": 1}
    assert [v.objects for v in status.keys] == [1]
    rotated = K.rotate_keys(k.hub, k.admin)
    assert sorted(key for key, _ in rotated.failed) == ["datasets/x/12", "datasets/x/21"]


def test_an_object_that_cannot_be_rewrapped_is_named_and_the_rotation_continues(
    tmp_path: Path,
) -> None:
    k = key_hub(tmp_path)
    payloads = _payloads(5)
    _write(k, payloads)
    victim = sorted(payloads)[2]
    metadata = dict(k.raw().head(victim).metadata or {})
    stolen = dict(k.raw().head(sorted(payloads)[0]).metadata or {})
    metadata["passerelle_dek"] = stolen["passerelle_dek"]  # another object's wrapped key
    k.raw().update_metadata(victim, metadata)

    report = K.rotate_keys(k.hub, k.admin)

    assert not report.ok and [key for key, _ in report.failed] == [victim]
    assert "does not belong to this object" in report.failed[0][1]
    assert report.rewrapped == 4
    finish = audit_events(k.hub, "keys.rotate")[-1]
    assert finish["failed"] == 1 and finish["failures"][0]["object"] == victim
    # once the object is restored, running rotate again finishes the same rotation
    k.raw().put(victim, b"")  # the operator deletes or restores it; here: overwritten
    k.encrypting().put(victim, payloads[victim])
    again = K.rotate_keys(k.hub, k.admin)
    assert again.resumed and again.key_id == report.key_id and again.ok
    assert (again.already, again.rewrapped) == (5, 0)


def test_leaving_a_provider_crypto_erases_the_copies_left_there(tmp_path: Path) -> None:
    """The documented exit: copy ciphertext away, rotate, destroy the old KEK."""
    from passerelle.storage import open_store
    from passerelle.storage.encrypting import EncryptingStore
    from tests.backends import new_store_url

    k = key_hub(tmp_path, backend="ceph")
    old = k.hub.custody().current_key_id()
    payloads = _payloads(4)
    _write(k, payloads)
    left_behind = open_store(new_store_url("memory", tmp_path, "old-provider"))
    for key in payloads:  # what the provider we leave still holds: ciphertext + metadata
        raw = k.raw().get(key)
        left_behind.put(key, raw.read(), metadata=dict(raw.info.metadata or {}))
    readable = EncryptingStore(left_behind, k.hub.custody())
    assert readable.get(sorted(payloads)[1]).read() == payloads[sorted(payloads)[1]]

    K.rotate_keys(k.hub, k.admin)
    assert K.destroy_key(k.hub, k.admin, old).crypto_erased == 0  # the hub needs it no more

    for key in payloads:
        with pytest.raises(KeyUnavailableError, match="crypto-erased"):
            EncryptingStore(left_behind, k.hub.custody()).get(key).read()
    assert {key: k.encrypting().get(key).read() for key in payloads} == payloads
