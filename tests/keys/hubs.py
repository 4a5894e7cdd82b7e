"""Hubs for the key tests: a store on a chosen backend, KEKs in a chosen custody."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passerelle import hub as H
from passerelle.hub import Hub, Principal
from passerelle.hub.key_rotation import raw_store
from passerelle.storage import Store
from passerelle.storage.encrypting import EncryptingStore
from tests.backends import new_store_url
from tests.keys.conftest import require_pkcs11

PIN_VAR = "PASSERELLE_TEST_PKCS11_PIN"  # the hub reads its PIN from this variable


@dataclass
class KeyHub:
    hub: Hub
    admin: Principal
    auditor: Principal
    operator: Principal

    def raw(self) -> Store:
        """The hub's store as stored: envelopes and their metadata, never decrypted."""
        return raw_store(self.hub)

    def encrypting(self) -> EncryptingStore:
        """The raw store seen through envelopes (identity = key below the root)."""
        return EncryptingStore(self.raw(), self.hub.custody(), identity_prefix="")


def custody_settings(kind: str) -> dict[str, Any]:
    if kind == "file":
        return {"custody": "file", "kek_file": "keks.json"}
    token = require_pkcs11()
    return {
        "custody": "pkcs11",
        "pkcs11_module": token.module,
        "pkcs11_token": token.label,
        "pkcs11_pin_env": PIN_VAR,
    }


def key_hub(
    tmp_path: Path, *, custody: str = "file", backend: str = "memory", keys: str | None = None
) -> KeyHub:
    settings = {**custody_settings(custody), "encrypt": ("health-pseudonymized",)}
    hub, issued = H.init_hub(
        tmp_path / "hub",
        name=f"h-{uuid.uuid4().hex[:10]}",  # the hub's keys' namespace on a shared token
        database=f"sqlite:///{tmp_path / 'hub.db'}",
        store=new_store_url(backend, tmp_path, "keys"),
        keys=keys,
        settings=settings,
    )
    admin = H.authenticate(hub, issued.secret)
    people = {}
    for name in ("auditor", "operator"):
        H.create_user(hub, admin, name, name)
        people[name] = H.authenticate(hub, H.issue_token(hub, admin, user=name).secret)
    return KeyHub(hub, admin, people["auditor"], people["operator"])


def audit_events(hub: Hub, action: str) -> list[dict[str, Any]]:
    import json

    from sqlalchemy import select

    from passerelle.hub.tables import AuditEvent

    with hub.db.read() as session:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        ).scalars()
        return [
            {"actor": e.actor, "decision": e.decision, "target": e.target, **json.loads(e.details)}
            for e in rows
        ]
