"""The portal's sections a principal sees, from the same rules the pages enforce."""

from __future__ import annotations

from datetime import date

from passerelle.hub.rules import Action, Principal, Role, decide

__all__ = ["sections"]

_BY_ACTION = (
    ("The move", "/portal/operator", Action.MIGRATION_RUN),
    ("Audit", "/portal/audit", Action.AUDIT_READ),
    ("Where data lives", "/portal/compliance", Action.COMPLIANCE_READ),
)


def sections(principal: Principal, today: date) -> list[tuple[str, str]]:
    """(label, path) of each section ``principal`` may open (pure).

    Role-only actions ask ``rules.decide``; the release queue is for output checkers
    (anyone may open it and see the pending releases of the projects they can read).
    """
    out = [("Catalog", "/portal/catalog"), ("Projects", "/portal/projects")]
    if principal.has(Role.OUTPUT_CHECKER):
        out.append(("Releases to check", "/portal/releases"))
    out += [
        (label, path)
        for label, path, action in _BY_ACTION
        if decide(principal, action, today=today).allowed
    ]
    out.append(("API", "/docs"))
    return out
