"""The hub's governance: catalog, projects, grants, users, tokens and the audit log.

Front-ends (CLI, HTTP API) call these functions with the authenticated
``Principal``; every function decides with ``rules.decide``, writes the decision
to the audit log in the same transaction, and returns plain views.
"""

from __future__ import annotations

from passerelle.hub.accounts import (
    authenticate,
    create_user,
    init_hub,
    issue_token,
    list_tokens,
    list_users,
    revoke_token,
    update_user,
)
from passerelle.hub.audit import AuditFilter, export_events, verify_audit, write_checkpoint
from passerelle.hub.catalog import create_dataset, get_dataset, list_datasets, update_dataset
from passerelle.hub.dataset_versions import add_version, list_versions
from passerelle.hub.hub import Hub, HubConfig
from passerelle.hub.ingest_history import list_ingests
from passerelle.hub.organizations import create_organization, list_organizations
from passerelle.hub.projects import (
    GrantedDataset,
    add_member,
    change_status,
    create_grant,
    get_project,
    granted_datasets,
    list_grants,
    list_projects,
    remove_member,
    revoke_grant,
    submit_project,
)
from passerelle.hub.rules import Action, Principal, ProjectStatus, Role

__all__ = [
    "Action",
    "AuditFilter",
    "GrantedDataset",
    "Hub",
    "HubConfig",
    "Principal",
    "ProjectStatus",
    "Role",
    "add_member",
    "add_version",
    "authenticate",
    "change_status",
    "create_dataset",
    "create_grant",
    "create_organization",
    "create_user",
    "export_events",
    "get_dataset",
    "get_project",
    "granted_datasets",
    "init_hub",
    "issue_token",
    "list_datasets",
    "list_grants",
    "list_ingests",
    "list_organizations",
    "list_projects",
    "list_tokens",
    "list_users",
    "list_versions",
    "remove_member",
    "revoke_grant",
    "revoke_token",
    "submit_project",
    "update_dataset",
    "update_user",
    "verify_audit",
    "write_checkpoint",
]
