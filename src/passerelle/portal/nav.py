"""The portal's sections a principal sees, from the same rules the pages enforce."""

from __future__ import annotations

from datetime import date

from passerelle.hub.rules import Action, Principal, Role, role_may

__all__ = ["sections"]

_BY_ACTION = (
    ("Projects to approve", "/portal/projects?status=submitted", Action.PROJECT_APPROVE),
    ("Ingests", "/portal/ingests", Action.INGEST_READ),
    ("The move", "/portal/operator", Action.MIGRATION_RUN),
    ("Audit", "/portal/audit", Action.AUDIT_READ),
    ("Where data lives", "/portal/compliance", Action.COMPLIANCE_READ),
)


def sections(principal: Principal, today: date) -> list[tuple[str, str]]:
    """(label, path) of each section ``principal`` may open (pure).

    Each section's action asks ``rules.role_may``; the release queue is for output checkers
    (anyone may open it and see the pending releases of the projects they can read).
    """
    out = [("Catalog", "/portal/catalog"), ("Projects", "/portal/projects")]
    if principal.has(Role.OUTPUT_CHECKER):
        out.append(("Releases to check", "/portal/releases"))
    out += [(label, path) for label, path, action in _BY_ACTION if role_may(principal, action)]
    out.append(("API", "/docs"))
    return out
