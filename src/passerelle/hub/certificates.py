"""Migration certificates issued by the hub: signed with its key, recorded in its audit log.

The certificate itself is built by :mod:`passerelle.migration.certificate` (which
knows nothing of the hub); here the hub decides who may ask (admins and
operators), signs with its Ed25519 checkpoint key (the public half is what
``passerelle audit head`` prints) and appends one ``migration.certificate``
event carrying the Merkle root, so the compliance report and any auditor find
it in the tamper-evident trail.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.errors import UsageError
from passerelle.hub.audit import authorize
from passerelle.hub.rules import Action, Principal, decide

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.migration.certificate import Certificate

__all__ = ["IssuedCertificate", "issue_certificate", "last_certificates"]


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: Certificate
    output: Path
    manifest: Path | None
    sha256: str  # of the certificate file as written


def _writable(path: Path) -> Path:
    if not path.parent.is_dir():
        raise UsageError(f"The folder {path.parent} does not exist; create it first.")
    return path


def issue_certificate(
    hub: Hub,
    actor: Principal,
    journal: str | Path,
    output: Path,
    manifest_output: Path | None = None,
) -> IssuedCertificate:
    """Sign the certificate of a cleanly verified migration, write it, audit its root."""
    from passerelle.hub.checkpoint_chain import public_key_hex, sign_message
    from passerelle.migration.certificate import build_certificate

    target = f"migration:{Path(journal).name}"
    if not decide(actor, Action.MIGRATION_CERTIFICATE, today=hub.now().date()).allowed:
        with hub.transaction() as session:  # audits the refusal, then raises
            authorize(hub, session, actor, Action.MIGRATION_CERTIFICATE, target)
    _writable(output)
    if manifest_output is not None:
        _writable(manifest_output)
    audit_key = hub.keys.key("audit")
    partial = (
        manifest_output.with_name(manifest_output.name + ".partial") if manifest_output else None
    )
    handle = partial.open("w", encoding="utf-8", newline="") if partial else None
    try:
        cert = build_certificate(
            journal,
            signer=lambda message: sign_message(audit_key, message),
            public_key=public_key_hex(audit_key),
            hub_name=hub.config.name,
            issued_at=hub.now().isoformat(timespec="seconds"),
            manifest_out=handle,
        )
    except BaseException:
        if handle and partial:
            handle.close()
            partial.unlink(missing_ok=True)
        raise
    if handle and partial and manifest_output:
        handle.close()
        partial.replace(manifest_output)
    text = cert.to_json()
    tmp = output.with_name(output.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    body = cert.body
    with hub.transaction() as session:
        authorize(
            hub,
            session,
            actor,
            Action.MIGRATION_CERTIFICATE,
            f"migration:{body['migration_id']}",
            {
                "migration_id": body["migration_id"],
                "root": cert.root,
                "objects": body["manifest"]["objects"],
                "bytes": body["manifest"]["bytes"],
                "chunks": len(body["chunks"]),
                "source": body["source"]["url"],
                "destination": body["destination"]["url"],
                "verify_mode": body["verify"]["mode"],
                "verified_at": body["time"]["verified_at"],
                "public_key": cert.public_key,
                "certificate_sha256": digest,
            },
        )
    return IssuedCertificate(cert, output, manifest_output, digest)


def last_certificates(hub: Hub) -> list[dict[str, Any]]:
    """Every certificate the audit log records (allowed events), oldest first."""
    from sqlalchemy import select

    from passerelle.hub.tables import AuditEvent

    out = []
    with hub.db.read() as session:
        rows = session.execute(
            select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor, AuditEvent.details)
            .where(
                AuditEvent.action == str(Action.MIGRATION_CERTIFICATE),
                AuditEvent.decision == "allowed",
            )
            .order_by(AuditEvent.seq)
        )
        for seq, at, who, details in rows:
            out.append({"audit_seq": seq, "at": at, "issued_by": who, **json.loads(details)})
    return out
