"""The compliance report: what an auditor needs per dataset, derived from what the hub holds.

For every dataset (or one): its classification; every store it lives in now (both
clouds during a live move) with the provider's published facts (region,
jurisdiction, certifications); each requirement of the placement policy and
its result there (:func:`~passerelle.hub.placement.decide_store`, the same
decision the hub enforces); encryption (ciphertext or not per ``hub.toml``
``encrypt``, the current KEK id, the custody kind, the last rotation from the
audit log's ``keys.rotate`` events); the last migration certificate whose
destination is one of those stores; and an access summary counted from the
audit log itself (reads, queries, extracts per project, decisions). Nothing
is taken from the data's owner: the report is computed from the catalog, the
binding, the custody and the hash-chained log, whose head it quotes.

Only auditors and admins read it (``compliance.read``), and reading it is audited.
:func:`render_html` writes it through an autoescaping Jinja2 template.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from contextlib import suppress
from functools import cache
from typing import TYPE_CHECKING, Any

from passerelle.errors import PasserelleError, UsageError, not_found
from passerelle.hub.audit import authorize
from passerelle.hub.rules import Action, Principal

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub

__all__ = ["FORMAT", "compliance_report", "html_csp", "render_html", "render_json"]

FORMAT = "passerelle-compliance-report/1"
_ACCESS = {"dataset.read-data": "reads", "query.run": "queries", "extract.run": "extracts"}


def _store_facts(url: str) -> dict[str, Any]:
    """Provider, region, jurisdiction and certifications of the store at ``url``."""
    from passerelle.providers import load_profiles
    from passerelle.storage.opener import store_location

    provider, region = None, None
    with suppress(PasserelleError):
        provider, region = store_location(url)
    facts: dict[str, Any] = {"url": url, "provider": provider, "region": region}
    profile = None
    with suppress(PasserelleError):
        profile = load_profiles().get(provider) if provider else None
    if profile is None:
        facts["profile"] = "none: nothing about this provider is proven"
        return facts
    place = profile.region(region)
    facts.update(
        display_name=profile.display_name,
        jurisdiction=profile.legal_home,
        legal_home_in_eu=profile.legal_home_in_eu,
        non_eu_law_exposure=list(profile.non_eu_law_exposure),
        country=place.country if place else None,
        eea=place.eea if place else None,
        provider_certifications=sorted(profile.certifications),  # the provider's own claims
        region_certifications=sorted(place.certifications) if place else [],  # what proves HDS
        secnumcloud=profile.secnumcloud,
    )
    return facts


def _policy_at(hub: Hub, url: str, name: str, classification: str) -> dict[str, Any]:
    from passerelle.hub.placement import decide_store

    policy, encrypted = hub.config.policy, classification in hub.config.encrypt
    rule = policy.rule(classification) if classification else None
    try:
        decision = decide_store(policy, url, classification, encrypted, name)
    except PasserelleError as exc:
        return {"allowed": False, "rules": [], "message": str(exc)}
    requires = rule.require if rule else ()
    return {
        "allowed": decision.allowed,
        "ciphertext_only": decision.ciphertext_only,
        "ciphertext_elsewhere": bool(rule and rule.ciphertext_elsewhere),
        "rules": [
            {"rule": f"{classification}.{r}", "result": "fails" if r in decision.failed else "met"}
            for r in requires
        ],
        "message": decision.message,
    }


def _custody(hub: Hub) -> dict[str, Any]:
    try:
        custody = hub.custody()
        keys = custody.keys()
        current = next((k.key_id for k in keys if k.state == "current"), None)
        return {
            "kind": custody.kind,
            "current_key_id": current,
            "keys": [
                {
                    "key_id": k.key_id,
                    "state": str(k.state),
                    "created": k.created.isoformat(),
                    "destroyed": k.destroyed.isoformat() if k.destroyed else None,
                }
                for k in keys
            ],
        }
    except PasserelleError as exc:
        return {"kind": hub.config.custody, "current_key_id": None, "keys": [], "error": str(exc)}


class _Log:
    """One pass over the audit log: access per dataset, key rotations, certificates, head."""

    def __init__(self, ids: dict[int, str]) -> None:
        self.ids = ids
        self.names = {name: i for i, name in ids.items()}
        self.access: dict[int, dict[str, Any]] = {i: _empty_access() for i in ids}
        self.rotations: list[dict[str, Any]] = []
        self.certificates: list[dict[str, Any]] = []
        self.head: tuple[int, str] = (0, "")

    def add(self, seq: int, at: str, action: str, target: str, decision: str, raw: str) -> None:
        loaded = json.loads(raw) if raw else {}
        details: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
        if action == "keys.rotate" and decision == "allowed":
            phase = details.get("phase", "finish")  # start, then finish (or interrupted)
            self.rotations.append({"at": at, "target": target, "audit_seq": seq, "phase": phase})
        elif action == Action.MIGRATION_CERTIFICATE and decision == "allowed":
            self.certificates.append({"audit_seq": seq, "at": at, **details})
        for dataset in self._datasets(target, details):
            summary = self.access[dataset]
            kind = _ACCESS.get(action, "other")
            if kind != "other" and decision != "allowed":
                kind = "refused"  # an access the rules refused is no read, query or extract
            summary[kind] += 1
            summary["decisions"][decision] = summary["decisions"].get(decision, 0) + 1
            project = details.get("project")
            if kind != "other" and isinstance(project, int) and not isinstance(project, bool):
                per = summary["by_project"].setdefault(str(project), Counter())
                per[kind] += 1
            summary["first_at"] = summary["first_at"] or at
            summary["last_at"] = at

    def _datasets(self, target: str, details: dict[str, Any]) -> set[int]:
        found: set[int] = set()
        kind, _, ident = target.partition(":")
        if kind == "dataset" and ident.isascii() and ident.isdigit() and int(ident) in self.ids:
            found.add(int(ident))
        named = details.get("dataset")
        if isinstance(named, int) and not isinstance(named, bool) and named in self.ids:
            found.add(named)
        tables = details.get("datasets")
        if isinstance(tables, list):
            found.update(self.names[t] for t in tables if isinstance(t, str) and t in self.names)
        return found


def _empty_access() -> dict[str, Any]:
    return {
        "reads": 0,
        "queries": 0,
        "extracts": 0,
        "refused": 0,
        "other": 0,
        "by_project": {},
        "decisions": {},
        "first_at": None,
        "last_at": None,
    }


def _read_log(hub: Hub, ids: dict[int, str]) -> _Log:
    from sqlalchemy import select

    from passerelle.hub.tables import AuditEvent

    log = _Log(ids)
    columns = (
        AuditEvent.seq,
        AuditEvent.at,
        AuditEvent.action,
        AuditEvent.target,
        AuditEvent.decision,
        AuditEvent.details,
        AuditEvent.hash,
    )
    with hub.db.read() as session:
        rows = session.execute(
            select(*columns).order_by(AuditEvent.seq).execution_options(yield_per=2000)
        )
        for seq, at, action, target, decision, details, digest in rows:
            log.add(seq, at, action, target, decision, details)
            log.head = (seq, digest)
    return log


def _stores_of(locations: Iterable[str], hub_stores: list[str]) -> list[str]:
    """Where a catalog entry's files are: the hub's stores, and any outside URL it names."""
    locations = list(locations)
    outside = [u for u in locations if "://" in u and not u.startswith("hub:")]
    inside = any("://" not in u for u in locations) or not outside
    return [*(hub_stores if inside else []), *dict.fromkeys(outside)]


def _same_store(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/") or b.rstrip("/").startswith(a.rstrip("/") + "/")


def compliance_report(hub: Hub, actor: Principal, dataset: str | None = None) -> dict[str, Any]:
    """The report for every dataset, or only ``dataset`` (by name); audited."""
    from sqlalchemy import select

    from passerelle.hub.checkpoint_chain import public_key_hex
    from passerelle.hub.tables import Dataset, DatasetVersion, Organization
    from passerelle.live.binding import current_binding
    from passerelle.live.phases import route

    if dataset is not None and not dataset.strip():
        raise UsageError("--dataset needs a dataset name; leave it out for every dataset.")
    with hub.transaction() as session:
        authorize(
            hub, session, actor, Action.COMPLIANCE_READ, "hub:compliance", {"dataset": dataset}
        )
        query = select(Dataset, Organization).join(
            Organization, Organization.id == Dataset.organization_id
        )
        if dataset is not None:
            query = query.where(Dataset.name == dataset)
        entries = []
        for d, org in session.execute(query.order_by(Dataset.name)):
            files = session.execute(
                select(DatasetVersion.files).where(
                    DatasetVersion.dataset_id == d.id, DatasetVersion.version == d.current_version
                )
            ).scalar_one_or_none()
            entries.append((d, org, list(files or [])))
        if dataset is not None and not entries:
            raise not_found("dataset", dataset)
        rows = [_entry(d, org, files) for d, org, files in entries]
    binding = current_binding(hub)
    hub_stores = list(route(binding).writes)
    log = _read_log(hub, {r["id"]: r["name"] for r in rows})
    custody = _custody(hub)
    finished = [r for r in log.rotations if r["phase"] == "finish"]
    last_rotation = finished[-1] if finished else None
    unfinished = bool(log.rotations) and log.rotations[-1]["phase"] != "finish"
    facts = {url: _store_facts(url) for url in hub_stores}
    for row in rows:
        stores = _stores_of(row.pop("_locations"), hub_stores)
        row["stores"] = []
        for url in stores:
            place = dict(facts.get(url) or _store_facts(url))
            place["policy"] = _policy_at(hub, url, row["name"], row["classification"])
            row["stores"].append(place)
        ciphertext = row["classification"] in hub.config.encrypt
        row["encryption"] = {
            "ciphertext": ciphertext,
            "key_id": custody["current_key_id"] if ciphertext else None,
            "custody": custody["kind"] if ciphertext else None,
            "last_rotation": last_rotation["at"] if ciphertext and last_rotation else None,
        }
        matching = [
            c
            for c in log.certificates
            if any(_same_store(url, str(c.get("destination", ""))) for url in stores)
        ]
        row["last_certificate"] = matching[-1] if matching else None
        access = log.access[row["id"]]
        access["by_project"] = {p: dict(c) for p, c in sorted(access["by_project"].items())}
        row["access"] = access
    return {
        "format": FORMAT,
        "hub": hub.config.name,
        "generated_at": hub.now().isoformat(timespec="seconds"),
        "generated_by": actor.name,
        "policy": hub.config.policy.name if not hub.config.policy.empty else "none",
        "binding": {"phase": str(binding.phase), "stores": [facts[u] for u in hub_stores]},
        "custody": {**custody, "last_rotation": last_rotation, "rotation_unfinished": unfinished},
        "audit_head": {
            "seq": log.head[0],
            "hash": log.head[1],
            "public_key": public_key_hex(hub.keys.key("audit")),
        },
        "certificates": log.certificates[-10:],
        "datasets": rows,
    }


def _entry(d: Any, org: Any, files: list[Any]) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "organization": org.code,
        "organization_name": org.name,
        "classification": d.classification,
        "discoverable": d.discoverable,
        "version": d.current_version,
        "files": len(files),
        "bytes": sum(int(f.get("size", 0)) for f in files),
        "_locations": [str(u) for u in d.locations or ()] + [str(f["url"]) for f in files],
    }


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"


@cache
def _css() -> str:
    from importlib import resources

    return (resources.files("passerelle.hub") / "templates" / "compliance.css").read_text()


def html_csp() -> str:
    """The Content-Security-Policy the HTML report needs: no script, only its own style."""
    digest = base64.b64encode(hashlib.sha256(_css().encode()).digest()).decode()
    return f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML page (every value escaped; no script; prints on A4)."""
    from jinja2 import Environment, PackageLoader

    env = Environment(
        loader=PackageLoader("passerelle.hub", "templates"),
        autoescape=True,
    )
    template = env.get_template("compliance.html.j2")
    return template.render(report=report, css=_css())
