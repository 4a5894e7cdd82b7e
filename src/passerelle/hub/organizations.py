"""Supplying organizations: the hospitals, insurers, registries and research institutes
whose datasets the catalog holds (stewards register them; any signed-in user may list them)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from passerelle.errors import ConflictError, NotFoundError, UsageError
from passerelle.hub.audit import authorize
from passerelle.hub.rules import Action, Principal
from passerelle.hub.tables import Organization
from passerelle.hub.views import OrganizationView, Page

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = ["ORGANIZATION_KINDS", "create_organization", "list_organizations", "org_by_code"]

ORGANIZATION_KINDS = ("hospital", "insurer", "registry", "research-institute")
_ORG_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _org_view(o: Organization) -> OrganizationView:
    return OrganizationView(o.id, o.code, o.name, o.kind, o.created_at)


def create_organization(
    hub: Hub, actor: Principal, code: str, name: str, kind: str
) -> OrganizationView:
    from sqlalchemy import select

    if not _ORG_CODE.fullmatch(code):
        raise UsageError(f"invalid organization code {code!r}: use letters, digits, '.', '_', '-'")
    if kind not in ORGANIZATION_KINDS:
        raise UsageError(
            f"unknown organization kind {kind!r}: use one of {', '.join(ORGANIZATION_KINDS)}"
        )
    if not name.strip():
        raise UsageError("an organization needs a name")
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.ORG_CREATE, f"org:{code}", {"kind": kind})
        if session.execute(select(Organization.id).where(Organization.code == code)).first():
            raise ConflictError(f"an organization with code {code!r} already exists")
        org = Organization(code=code, name=name.strip(), kind=kind, created_at=hub.now())
        session.add(org)
        session.flush()
        return _org_view(org)


def list_organizations(
    hub: Hub, actor: Principal, *, limit: int = 100, offset: int = 0
) -> Page[OrganizationView]:
    from sqlalchemy import func, select

    with hub.transaction() as session:
        authorize(hub, session, actor, Action.ORG_READ, "orgs")
        total = session.execute(select(func.count(Organization.id))).scalar_one()
        rows = session.execute(
            select(Organization).order_by(Organization.id).limit(limit).offset(offset)
        )
        return Page([_org_view(o) for (o,) in rows], total, limit, offset)


def org_by_code(session: Session, code: str) -> Organization:
    from sqlalchemy import select

    org = session.execute(
        select(Organization).where(Organization.code == code)
    ).scalar_one_or_none()
    if org is None:
        raise NotFoundError(f"no organization with code {code!r}: register it first")
    return org
