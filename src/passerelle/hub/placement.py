"""The placement policy applied to the hub: where data is written, and where it lives now.

``enforce_placement`` is called before a byte is written (ingest, extracts, releases, a
move's start, the hub's creation): it decides every store the write goes to (both clouds
during a live move) with :func:`~passerelle.sovereignty.policy.decide_placement`, and a
refusal is audited (decision ``denied``) before it is raised as a
:class:`PolicyViolationError`. ``policy_check`` evaluates every dataset where it lives now
and samples its raw objects: a classification written as ciphertext must really be
envelopes there (the bytes are read, no flag is trusted). The sample at a move's start
(``enforce_ciphertext_at_source``) is an early, clear refusal only; the guarantee is per
object, where bytes move: ``ciphertext_only_prefixes`` says which keys a destination may
hold only as envelopes, and the migration runner checks each one's first bytes as it
copies it (:mod:`passerelle.sovereignty.ciphertext_guard`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from passerelle.errors import PolicyViolationError
from passerelle.hub.audit import append_event, authorize
from passerelle.hub.classified_store import folder_of
from passerelle.hub.rules import Action, Principal
from passerelle.sovereignty.policy import (
    CLASSIFICATIONS,
    DEFAULT_CLASSIFICATION,
    RELEASE_CLASSIFICATION,
    PlacementDecision,
    PlacementPolicy,
    decide_placement,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub, HubConfig
    from passerelle.sovereignty.ciphertext_guard import CiphertextOnly
    from passerelle.storage import Store

__all__ = [
    "Classifier",
    "DatasetPlacement",
    "PlacementReport",
    "ciphertext_only_prefixes",
    "decide_store",
    "enforce_ciphertext_at_source",
    "enforce_placement",
    "policy_check",
    "sample_is_ciphertext",
    "settle_new_hub",
]

_CACHE_SECONDS = 2.0
HUB_WRITES = (DEFAULT_CLASSIFICATION, RELEASE_CLASSIFICATION, "reference")
"""What every hub writes: ingested data and query results, releases, audit checkpoints."""
SAMPLE = 5
"""Raw objects read per dataset and store by ``policy check`` (their first bytes)."""


def decide_store(
    policy: PlacementPolicy, url: str, classification: str, encrypted: bool, dataset: str
) -> PlacementDecision:
    """Decide ``dataset`` of ``classification`` at the store ``url`` (its provider and region
    as ``storage.opener`` resolves them)."""
    from passerelle.providers import load_profiles
    from passerelle.storage.opener import store_location

    if policy.empty:
        return PlacementDecision(True)
    provider, region = store_location(url)
    profile = load_profiles().get(provider) if provider else None
    return decide_placement(
        policy, classification, profile, region, encrypted, dataset=dataset, provider=provider
    )


def _write_urls(hub: Hub) -> tuple[str, ...]:
    """Every store the hub's writes reach: those of the current phase, then its replicas."""
    from passerelle.live.binding import current_binding
    from passerelle.live.phases import route

    writes = route(current_binding(hub)).writes
    return writes + tuple(u for u in hub.replica_noter().replica_urls() if u not in writes)


def refusal(
    config: HubConfig, urls: Iterable[str], items: Iterable[tuple[str, str]]
) -> PlacementDecision | None:
    """The first refused (dataset, classification) at any of ``urls``, as at rest there."""
    for url in urls:
        for dataset, classification in items:
            decision = decide_store(
                config.policy, url, classification, classification in config.encrypt, dataset
            )
            if not decision.allowed:
                return decision
    return None


def enforce_placement(
    hub: Hub,
    actor: Principal,
    action: str,
    target: str,
    items: Iterable[tuple[str, str]],
    *,
    urls: Iterable[str] | None = None,
    session: Session | None = None,
) -> None:
    """Refuse (audited, then :class:`PolicyViolationError`) when any (dataset, classification)
    of ``items`` may not be written where the hub writes (``urls``: default every store
    of the current binding)."""
    if hub.config.policy.empty:
        return
    decision = refusal(hub.config, list(urls) if urls is not None else _write_urls(hub), items)
    if decision is None:
        return
    details = {"rule": decision.rule, "reason": decision.message}
    if session is not None:
        append_event(
            hub,
            session,
            actor=actor.name,
            action=action,
            target=target,
            decision="denied",
            details=details,
        )
        session.commit()
    else:
        with hub.transaction() as own:
            append_event(
                hub,
                own,
                actor=actor.name,
                action=action,
                target=target,
                decision="denied",
                details=details,
            )
    raise PolicyViolationError(decision.message)


def enforce_ciphertext_at_source(
    hub: Hub,
    actor: Principal,
    action: str,
    target: str,
    source_url: str,
    dest_url: str,
    session: Session,
    sample: int = SAMPLE,
) -> int:
    """Before a move: every dataset the destination may hold only as ciphertext must really
    be envelopes at the source (the first bytes of a sample of its raw objects are read);
    else refused (audited). Returns how many objects were read. An early refusal only: an
    object past the sample is checked as it is copied (``ciphertext_only_prefixes``)."""
    from sqlalchemy import select

    from passerelle.hub.tables import Dataset

    if hub.config.policy.empty:
        return 0
    raw = hub.open_url(source_url)
    read = 0
    rows = session.execute(select(Dataset.name, Dataset.classification, Dataset.locations))
    for name, classification, locations in list(rows):
        encrypted = classification in hub.config.encrypt
        decision = decide_store(hub.config.policy, dest_url, classification, encrypted, name)
        if not decision.ciphertext_only:
            continue
        for folder in _folders(name, locations or ()):
            n, plain = sample_is_ciphertext(raw, folder, sample)
            read += n
            if plain is not None:
                message = (
                    f"{name} ({classification}) may go to {dest_url} only as ciphertext, but "
                    f"{plain} at the source is not an envelope; write it again through the hub "
                    "(re-ingest) or choose a destination meeting the policy."
                )
                details = {"rule": f"{classification}.ciphertext", "reason": message}
                append_event(
                    hub,
                    session,
                    actor=actor.name,
                    action=action,
                    target=target,
                    decision="denied",
                    details=details,
                )
                session.commit()
                raise PolicyViolationError(message)
    return read


def settle_new_hub(config: HubConfig) -> HubConfig:
    """A new hub's settings checked against its policy at its store, for what every hub
    writes (``HUB_WRITES``) in the form it will write it (``encrypt``): a refusal stops the
    hub before anything is created (so there is no audit log to write it to yet)."""
    if config.policy.empty:
        return config
    url = config.resolve_url(config.store)
    decision = refusal(config, [url], [(f"the hub's {c} data", c) for c in HUB_WRITES])
    if decision is not None:
        raise PolicyViolationError(decision.message)
    return config


class Classifier:
    """The classification of a key of the hub's store, from its folder and the catalog
    (read again after a couple of seconds)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}

    def classification_of(self, key: str) -> str | None:
        folder = folder_of(key, self._hub.config.name)
        if folder is None:
            return None
        if folder.kind == "fixed":
            return folder.classification
        entry = (folder.kind, folder.name)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(entry)
            if cached is not None and now - cached[1] < _CACHE_SECONDS:
                return cached[0]
        found = self._lookup(folder.kind, folder.name)
        with self._lock:
            self._cache[entry] = (found, now)
        return found

    def encrypts(self, key: str) -> bool | None:
        classification = self.classification_of(key)
        return None if classification is None else classification in self._hub.config.encrypt

    def _lookup(self, kind: str, name: str) -> str:
        from sqlalchemy import select

        from passerelle.hub.tables import Dataset
        from passerelle.sovereignty.ciphertext_guard import classify_folder

        with self._hub.db.read() as session:
            entries = list(
                session.execute(select(Dataset.name, Dataset.classification, Dataset.locations))
            )
        return classify_folder(kind, name, entries)


def ciphertext_only_prefixes(
    hub: Hub, dest_url: str, session: Session | None = None
) -> CiphertextOnly:
    """Which keys of the hub's store ``dest_url`` may hold only as ciphertext: each
    classification the policy refuses there in plaintext, and the catalog that says which
    folder holds which classification (read once; pure data, for a whole run)."""
    from sqlalchemy import select

    from passerelle.hub.tables import Dataset
    from passerelle.sovereignty.ciphertext_guard import CiphertextOnly

    policy = hub.config.policy
    if policy.empty:
        return CiphertextOnly(dest_url, hub.config.name, {})
    rules = {
        c: f"{c}.ciphertext"
        for c in CLASSIFICATIONS
        if not decide_store(policy, dest_url, c, False, f"the hub's {c} data").allowed
    }
    if not rules:
        return CiphertextOnly(dest_url, hub.config.name, {})
    query = select(Dataset.name, Dataset.classification, Dataset.locations)
    if session is None:
        with hub.db.read() as own:
            rows = list(own.execute(query))
    else:
        rows = list(session.execute(query))
    datasets = tuple((str(n), str(c), tuple(str(loc) for loc in locs or ())) for n, c, locs in rows)
    return CiphertextOnly(dest_url, hub.config.name, rules, datasets)


def sample_is_ciphertext(store: Store, prefix: str, sample: int = SAMPLE) -> tuple[int, str | None]:
    """Read the first bytes of up to ``sample`` raw objects under ``prefix``: (objects read,
    the first key that is not an envelope, or None)."""
    from passerelle.sovereignty.envelope import is_envelope

    read = 0
    for info in store.list(prefix):
        if info.size == 0:
            return read + 1, info.key
        head = store.get(info.key, start=0, end=min(info.size, 64)).read()
        read += 1
        if not is_envelope(head):
            return read, info.key
        if read >= sample:
            break
    return read, None


@dataclass(frozen=True)
class DatasetPlacement:
    dataset: str
    classification: str
    store: str
    provider: str | None
    region: str | None
    encrypted: bool  # the hub writes it as ciphertext (hub.toml encrypt)
    allowed: bool
    rule: str = ""
    message: str = ""
    sampled: int = 0  # raw objects read to check they are envelopes
    plaintext_key: str | None = None  # an object found in plaintext where ciphertext is due


@dataclass(frozen=True)
class PlacementReport:
    policy: str
    rows: list[DatasetPlacement] = field(default_factory=list)

    @property
    def violations(self) -> list[DatasetPlacement]:
        return [r for r in self.rows if not r.allowed]


def _folders(d_name: str, locations: Iterable[str]) -> list[str]:
    """The hub store folders a catalog entry's files lie in."""
    return sorted(
        {loc.removeprefix("hub:").rstrip("/") + "/" for loc in locations if "://" not in loc}
    )


def policy_check(hub: Hub, actor: Principal, *, sample: int = SAMPLE) -> PlacementReport:
    """Every dataset against the policy in every store it is written to now (audited)."""
    from sqlalchemy import select

    from passerelle.hub.tables import Dataset
    from passerelle.storage.opener import store_location

    with hub.transaction() as session:
        authorize(hub, session, actor, Action.POLICY_READ, "hub:placement", {"check": True})
        entries = [
            (n, c, list(locs or ()))
            for n, c, locs in session.execute(
                select(Dataset.name, Dataset.classification, Dataset.locations).order_by(
                    Dataset.name
                )
            )
        ]
    urls = _write_urls(hub)
    config = hub.config
    rows: list[DatasetPlacement] = []
    for url in urls:
        provider, region = store_location(url)
        raw = hub.open_url(url)
        for name, classification, locations in entries:
            encrypted = classification in config.encrypt
            decision = decide_store(config.policy, url, classification, encrypted, name)
            row = DatasetPlacement(
                name,
                classification,
                url,
                provider,
                region,
                encrypted,
                decision.allowed,
                decision.rule,
                decision.message,
            )
            if encrypted or decision.ciphertext_only:
                read, plain = 0, None
                for folder in _folders(name, locations):
                    n, plain = sample_is_ciphertext(raw, folder, sample)
                    read += n
                    if plain is not None:
                        break
                if plain is not None:
                    row = DatasetPlacement(
                        name,
                        classification,
                        url,
                        provider,
                        region,
                        encrypted,
                        False,
                        f"{classification}.ciphertext",
                        f"{name} ({classification}) is held in plaintext at {url} ({plain} is "
                        "not an envelope) where the hub writes it encrypted; re-ingest it or "
                        "remove the plaintext object.",
                        read,
                        plain,
                    )
                else:
                    row = DatasetPlacement(**{**row.__dict__, "sampled": read})
            rows.append(row)
    report = PlacementReport(config.policy.name if not config.policy.empty else "none", rows)
    with hub.transaction() as session:
        append_event(
            hub,
            session,
            actor=actor.name,
            action="policy.check",
            target="hub:placement",
            decision="allowed",
            details={
                "datasets": len(entries),
                "stores": list(urls),
                "violations": [f"{r.dataset}: {r.rule}" for r in report.violations][:50],
            },
        )
    return report
