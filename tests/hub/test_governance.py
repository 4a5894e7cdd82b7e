"""The hub's governance on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from passerelle import hub as H
from passerelle.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UsageError,
)
from passerelle.hub.audit import AuditFilter, list_events
from passerelle.hub.views import DatasetFile
from tests.hub.conftest import Cast, approved_project, dataset


def events(c: Cast, **flt: object) -> list[dict[str, object]]:
    return list_events(c.hub, c.auditor, AuditFilter(**flt), limit=10_000)  # type: ignore[arg-type]


def test_the_done_when_story(cast: Cast) -> None:
    c = cast
    dataset(c)
    p = H.submit_project(
        c.hub,
        c.alice,
        title="T",
        purpose="P",
        legal_basis="MR-004",
        authorization_ref="CNIL-1",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
    )
    with pytest.raises(PermissionDeniedError, match="steward"):
        H.change_status(c.hub, c.alice, p.id, "approve")
    denied = [e for e in events(c, actor="alice") if e["decision"] == "denied"]
    assert denied and denied[-1]["action"] == "project.approve"
    H.change_status(c.hub, c.steward2, p.id, "approve")
    H.create_grant(c.hub, c.steward2, p.id, "pmsi_stays")
    assert H.get_dataset(c.hub, c.alice, "pmsi_stays").name == "pmsi_stays"
    assert H.verify_audit(c.hub).ok


def test_a_steward_who_submitted_cannot_approve_nor_grant(cast: Cast) -> None:
    c = cast
    H.update_user(c.hub, c.admin, "steward", roles="steward,researcher")
    steward = H.authenticate(c.hub, c.tokens["steward"])
    p = H.submit_project(
        c.hub,
        steward,
        title="T",
        purpose="P",
        legal_basis="b",
        authorization_ref="r",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
    )
    with pytest.raises(PermissionDeniedError, match="submitted by steward"):
        H.change_status(c.hub, steward, p.id, "approve")
    H.change_status(c.hub, c.steward2, p.id, "approve")
    dataset(c)
    with pytest.raises(PermissionDeniedError, match="submitted by steward"):
        H.create_grant(c.hub, steward, p.id, "pmsi_stays")


def test_researchers_of_one_project_cannot_see_another(cast: Cast) -> None:
    c = cast
    pa = approved_project(c, by=c.alice)
    pb = approved_project(c, by=c.bob)
    dataset(c, "secret_registry", discoverable=False)
    H.create_grant(c.hub, c.steward, pb, "secret_registry")
    with pytest.raises(NotFoundError):
        H.get_project(c.hub, c.alice, pb)
    with pytest.raises(NotFoundError):
        H.list_grants(c.hub, c.alice, pb)
    with pytest.raises(NotFoundError) as hidden:
        H.get_dataset(c.hub, c.alice, "secret_registry")
    with pytest.raises(NotFoundError) as missing:
        H.get_dataset(c.hub, c.alice, "no_such_dataset")
    hidden_text = str(hidden.value).replace("secret_registry", "NAME")
    assert hidden_text == str(missing.value).replace("no_such_dataset", "NAME")
    assert "exists that you may see" in hidden_text
    assert [p.id for p in H.list_projects(c.hub, c.alice).items] == [pa]
    assert "secret_registry" not in [d.name for d in H.list_datasets(c.hub, c.alice).items]
    assert "secret_registry" in [d.name for d in H.list_datasets(c.hub, c.bob).items]


def test_suspension_and_expiry_cut_access_at_once(cast: Cast) -> None:
    c = cast
    dataset(c)
    pid = approved_project(c, end=date(2026, 8, 31))
    H.create_grant(c.hub, c.steward, pid, "pmsi_stays", expires_on=date(2026, 7, 31))

    def readable() -> list[str]:
        with c.hub.transaction() as s:
            return [g.name for g in H.granted_datasets(c.hub, c.alice, pid, s)]

    assert readable() == ["pmsi_stays"]
    H.change_status(c.hub, c.steward, pid, "suspend")
    with pytest.raises(PermissionDeniedError, match="suspended"):
        readable()
    H.change_status(c.hub, c.steward, pid, "reinstate")
    assert readable() == ["pmsi_stays"]
    c.clock.set_day(date(2026, 8, 15))  # grant expired, project still running
    assert readable() == []
    c.clock.set_day(date(2026, 9, 1))  # project ended
    with pytest.raises(PermissionDeniedError, match="ended on 2026-08-31"):
        readable()
    with pytest.raises(ConflictError, match="ended"):
        H.create_grant(c.hub, c.steward, pid, "pmsi_stays")


def test_revoked_grant_and_removed_member_lose_access(cast: Cast) -> None:
    c = cast
    dataset(c)
    pid = approved_project(c)
    H.add_member(c.hub, c.steward, pid, "bob")
    g = H.create_grant(c.hub, c.steward, pid, "pmsi_stays")

    def names(who: H.Principal) -> list[str]:
        with c.hub.transaction() as s:
            return [d.name for d in H.granted_datasets(c.hub, who, pid, s)]

    assert names(c.bob) == ["pmsi_stays"]
    H.remove_member(c.hub, c.alice, pid, "bob")  # alice is the investigator
    with pytest.raises(NotFoundError):
        names(c.bob)
    H.revoke_grant(c.hub, c.steward, g.id)
    assert names(c.alice) == []


def test_grants_never_outlive_the_project_and_name_real_columns(cast: Cast) -> None:
    c = cast
    dataset(c)
    pid = approved_project(c)
    with pytest.raises(UsageError, match="outlive"):
        H.create_grant(c.hub, c.steward, pid, "pmsi_stays", expires_on=date(2027, 1, 1))
    with pytest.raises(UsageError, match="no column 'nir'"):
        H.create_grant(c.hub, c.steward, pid, "pmsi_stays", columns=["nir"])
    g = H.create_grant(c.hub, c.steward, pid, "pmsi_stays", columns=["dept"])
    assert g.columns == ["dept"] and g.expires_on == date(2026, 12, 31)


def test_conflicts_and_bad_input(cast: Cast) -> None:
    c = cast
    with pytest.raises(ConflictError):
        H.create_organization(c.hub, c.steward, "750712184", "again", "hospital")
    with pytest.raises(UsageError, match="kind"):
        H.create_organization(c.hub, c.steward, "123", "X", "pharmacy")
    dataset(c)
    with pytest.raises(ConflictError):
        dataset(c)
    with pytest.raises(UsageError, match="SQL table name"):
        H.create_dataset(
            c.hub,
            c.steward,
            name="Robert'); DROP TABLE x;--",
            organization="750712184",
            classification="reference",
        )
    with pytest.raises(ConflictError):
        H.create_user(c.hub, c.admin, "alice", "researcher")
    with pytest.raises(UsageError, match="unknown role"):
        H.create_user(c.hub, c.admin, "zed", "superuser")
    pid = approved_project(c)
    with pytest.raises(ConflictError, match="cannot be approved"):
        H.change_status(c.hub, c.steward2, pid, "approve")


def test_tokens_expire_and_revoke(cast: Cast) -> None:
    c = cast
    issued = H.issue_token(c.hub, c.alice, label="laptop", days=1)
    assert H.authenticate(c.hub, issued.secret).name == "alice"
    with pytest.raises(NotFoundError, match="no user 'bob' exists that you may see"):
        H.issue_token(c.hub, c.alice, user="bob")  # others' tokens: not found, like a missing user
    c.clock.set_day(date(2026, 6, 3))
    with pytest.raises(AuthenticationError, match="expired"):
        H.authenticate(c.hub, issued.secret)
    other = H.issue_token(c.hub, c.alice)
    H.revoke_token(c.hub, c.admin, other.token.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        H.authenticate(c.hub, other.secret)
    for bad in (None, "", "pst_nope", "Bearer x"):
        with pytest.raises(AuthenticationError):
            H.authenticate(c.hub, bad)
    H.update_user(c.hub, c.admin, "bob", active=False)
    with pytest.raises(AuthenticationError, match="disabled"):
        H.authenticate(c.hub, c.tokens["bob"])
    with pytest.raises(ConflictError):
        H.update_user(c.hub, c.admin, "admin", active=False)
    secrets_in_db = json.dumps(
        [t.__dict__ for t in H.list_tokens(c.hub, c.admin, user="alice")], default=str
    )
    assert issued.secret not in secrets_in_db


def test_dataset_versions_are_content_addressed(cast: Cast) -> None:
    c = cast
    dataset(c)
    files = [DatasetFile("file:///data/pmsi/v1/part-0.parquet", 10, "a" * 64, 5)]
    v1 = H.add_version(
        c.hub,
        c.steward,
        "pmsi_stays",
        digest="sha256:1",
        row_count=5,
        schema=[{"name": "pseudonym", "type": "string"}],
        files=files,
    )
    again = H.add_version(
        c.hub,
        c.steward,
        "pmsi_stays",
        digest="sha256:1",
        row_count=5,
        schema=[{"name": "pseudonym", "type": "string"}],
        files=files,
    )
    v2 = H.add_version(
        c.hub,
        c.steward,
        "pmsi_stays",
        digest="sha256:2",
        row_count=7,
        schema=[{"name": "pseudonym", "type": "string"}],
        files=files,
    )
    assert (v1.version, again.version, v2.version) == (1, 1, 2)
    entry = H.get_dataset(c.hub, c.steward, "pmsi_stays")
    assert entry.current_version == 2 and entry.row_count == 7
    assert entry.locations == ["file:///data/pmsi/v1"]
    assert [v.version for v in H.list_versions(c.hub, c.operator, "pmsi_stays")] == [1, 2]


def test_every_decision_is_audited(cast: Cast) -> None:
    c = cast
    before = len(events(c))
    with pytest.raises(PermissionDeniedError):
        H.create_organization(c.hub, c.alice, "1", "X", "hospital")
    with pytest.raises(PermissionDeniedError):
        H.list_users(c.hub, c.auditor)
    H.list_organizations(c.hub, c.alice)
    after = events(c)
    # +1 for each call above, +1 for the auditor's first listing
    new = [e for e in after if int(e["seq"]) > before]  # type: ignore[call-overload]
    decisions = [(e["actor"], e["action"], e["decision"]) for e in new]
    assert ("alice", "org.create", "denied") in decisions
    assert ("auditor", "user.read", "denied") in decisions
    assert ("alice", "org.read", "allowed") in decisions
    with pytest.raises(PermissionDeniedError):
        list_events(c.hub, c.alice, AuditFilter())


def test_audit_filters(cast: Cast) -> None:
    c = cast
    dataset(c)
    pid = approved_project(c)
    H.create_grant(c.hub, c.steward, pid, "pmsi_stays")
    by_project = events(c, project=pid)
    assert by_project and all(
        e["target"] == f"project:{pid}" or e["details"].get("project") == pid  # type: ignore[union-attr]
        for e in by_project
    )
    assert {e["action"] for e in events(c, dataset=1)} >= {"grant.create"}
    assert all(e["actor"] == "steward" for e in events(c, actor="steward"))
