"""The hub's own encrypted views (store_at per classification) under rotation and crypto-erase:
the identity the hub binds below a prefix is the one rotation re-wraps at the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.errors import KeyUnavailableError
from passerelle.hub import Hub
from passerelle.hub import key_admin as K
from tests.keys.hubs import audit_events, key_hub


@pytest.mark.parametrize("custody", ["file", "pkcs11"])
def test_hub_views_survive_rotation_and_are_erased_with_their_kek(
    tmp_path: Path, custody: str
) -> None:
    k = key_hub(tmp_path, custody=custody)
    folder = k.hub.config.directory
    view = k.hub.store_at("datasets/cohort", classification="health-pseudonymized")
    data = {f"v1/part-{i}.parquet": bytes([i + 1]) * (70_000 + i) for i in range(3)}
    for key, value in data.items():
        view.put(key, value)
    raw_keys = sorted(info.key for info in k.raw().list("datasets/cohort/"))
    assert raw_keys == sorted(f"datasets/cohort/{key}" for key in data)
    assert all(bytes([1]) * 1000 not in k.raw().get(key).read() for key in raw_keys)
    old = k.hub.custody().current_key_id()

    report = K.rotate_keys(k.hub, k.admin)
    assert (report.rewrapped, report.failed) == (3, [])

    fresh = Hub.open(folder)  # another process: nothing cached
    again = fresh.store_at("datasets/cohort", classification="health-pseudonymized")
    assert {key: again.get(key).read() for key in data} == data
    assert again.get("v1/part-1.parquet", start=65_530, end=65_550).read() == bytes([2]) * 20

    K.create_key(k.hub, k.admin)
    K.destroy_key(k.hub, k.admin, report.key_id, crypto_erase=True)
    erased = Hub.open(folder).store_at("datasets/cohort", classification="health-pseudonymized")
    with pytest.raises(KeyUnavailableError, match="crypto-erased"):
        erased.get("v1/part-0.parquet").read()
    [use] = audit_events(fresh, "keys.use")  # the hub's own view audits the refusal
    assert use["target"] == f"key:{report.key_id}" and use["decision"] == "denied"
    assert use["object"].endswith("v1/part-0.parquet")
    assert old != report.key_id
    fresh.close()
