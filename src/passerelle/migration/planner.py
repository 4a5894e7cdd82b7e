"""Inventory both sides into the journal and plan what to copy, with cost and time.

Listings stream into the journal page by page and the diff streams out of it,
so memory stays flat whatever the number of objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.errors import ContainerNotFoundError, PolicyViolationError
from passerelle.migration.copy import SMALL_OBJECT_LIMIT
from passerelle.migration.decide import (
    DEFAULT_TIER_MAP,
    Action,
    KeyFilter,
    Prior,
    Side,
    decide,
    map_storage_class,
)
from passerelle.migration.estimate import Estimate, estimate_migration
from passerelle.migration.journal import Journal
from passerelle.providers import check_requirements, load_profiles
from passerelle.storage import Store, open_store
from passerelle.storage.config import StorageConfig
from passerelle.storage.multipart import DEFAULT_PART_SIZE, choose_part_size, part_count
from passerelle.storage.opener import store_location

if TYPE_CHECKING:
    from passerelle.sovereignty.policy import PlacementPolicy

__all__ = ["PlanOptions", "PlanSummary", "check_policy", "plan_migration", "replan"]

PAGE = 5000
_STATUS_FOR = {
    Action.COPY: "pending",
    Action.CHANGED: "pending",
    Action.IDENTICAL: "done",
    Action.DEST_ONLY: "extra",
    Action.BLOCKED: "blocked",
}


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Choices made at ``plan`` time and kept in the journal for later commands."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    part_size: int = DEFAULT_PART_SIZE
    tier_map: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_TIER_MAP))
    assume_bandwidth: float = 125_000_000.0
    assume_rate: float = 500.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tier_map"] = dict(self.tier_map)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanOptions:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("include", "exclude", "require"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


@dataclass(frozen=True, slots=True)
class PlanSummary:
    journal: str
    source_url: str
    dest_url: str
    counts: dict[str, tuple[int, int]]
    blocked: list[tuple[str, str]]
    estimate: Estimate
    source_provider: str | None
    dest_provider: str | None
    dest_region: str | None
    dest_exists: bool

    @property
    def to_copy(self) -> tuple[int, int]:
        c = self.counts.get(Action.COPY, (0, 0))
        ch = self.counts.get(Action.CHANGED, (0, 0))
        return c[0] + ch[0], c[1] + ch[1]


def _pages(
    store: Store, keep: Callable[[str], bool], details: bool
) -> Iterator[list[tuple[Any, ...]]]:
    page: list[tuple[Any, ...]] = []
    for info in store.list(page_size=1000, details=details):
        if not keep(info.key):
            continue
        modified = info.last_modified.isoformat() if info.last_modified else None
        page.append((info.key, info.size, info.etag, modified, info.storage_class))
        if len(page) >= PAGE:
            yield page
            page = []
    if page:
        yield page


def _check_destination(
    dest_url: str, require: tuple[str, ...], config: StorageConfig | None
) -> tuple[str | None, str | None]:
    provider, region = store_location(dest_url, config)
    if not require:
        return provider, region
    profiles = load_profiles()
    profile = profiles.get(provider) if provider else None
    if profile is None:
        raise PolicyViolationError(
            f"The destination {dest_url} has no provider profile, so "
            f"{', '.join(require)} cannot be proven; set provider in its remote."
        )
    failures = check_requirements(profile, region, require)
    if failures:
        first = failures[0]
        raise PolicyViolationError(
            f"The destination fails the '{first.requirement}' requirement: {first.reason}; "
            "choose a compliant destination."
        )
    return provider, region


def check_policy(
    source: Store,
    dest_url: str,
    policy: PlacementPolicy,
    classifications: tuple[str, ...],
    config: StorageConfig | None = None,
    sample: int = 5,
) -> list[str]:
    """Refuse a destination the placement ``policy`` forbids for data of ``classifications``.

    Where the policy lets the destination hold a classification only as ciphertext, the
    first bytes of up to ``sample`` SOURCE objects must be envelopes (read, never taken
    from a flag); returns one line per classification saying how it passes."""
    from passerelle.sovereignty.envelope import is_envelope
    from passerelle.sovereignty.policy import decide_placement

    provider, region = store_location(dest_url, config)
    profile = load_profiles().get(provider) if provider else None
    passed: list[str] = []
    for classification in classifications:
        what = f"the source's {classification} data"

        def decide(encrypted: bool, c: str = classification, w: str = what) -> Any:
            return decide_placement(
                policy, c, profile, region, encrypted, dataset=w, provider=provider
            )

        plain = decide(False)
        if plain.allowed:
            passed.append(f"{classification}: allowed at {provider} ({region})")
            continue
        if not decide(True).allowed:
            raise PolicyViolationError(plain.message)
        checked = 0
        for info in source.list():
            first = (
                source.get(info.key, start=0, end=min(info.size, 64)).read() if info.size else b""
            )
            if not is_envelope(first):
                raise PolicyViolationError(
                    f"{what} may reach {provider} ({region}) only as ciphertext, but the source "
                    f"object {info.key} is not an envelope; encrypt the source (hub.toml "
                    "encrypt) or choose a destination meeting the policy."
                )
            checked += 1
            if checked >= sample:
                break
        passed.append(
            f"{classification}: ciphertext only at {provider} ({region}); {checked} source "
            "objects read are envelopes"
        )
    return passed


def plan_migration(
    source_url: str,
    dest_url: str,
    journal_path: str | Path,
    options: PlanOptions = PlanOptions(),
    *,
    config: StorageConfig | None = None,
    source: Store | None = None,
    dest: Store | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> PlanSummary:
    """Create (or refresh) the journal and plan ``source_url`` -> ``dest_url``."""
    src = source or open_store(source_url, config=config)
    dst = dest or open_store(dest_url, config=config)
    _check_destination(dest_url, options.require, config)
    journal = Journal.create(
        journal_path, source_url=src.url, dest_url=dst.url, options=options.to_json()
    )
    try:
        return replan(journal, config=config, source=src, dest=dst, on_progress=on_progress)
    finally:
        journal.close()


def replan(
    journal: Journal,
    *,
    config: StorageConfig | None = None,
    source: Store | None = None,
    dest: Store | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> PlanSummary:
    """Re-inventory both sides and recompute every key's action (used by plan and sync)."""
    options = PlanOptions.from_json(journal.options)
    src = source or open_store(journal.source_url, config=config)
    dst = dest or open_store(journal.dest_url, config=config)
    provider, region = _check_destination(journal.dest_url, options.require, config)
    src_provider, _ = store_location(journal.source_url, config)
    keep = KeyFilter(options.include, options.exclude)

    def counted(
        side: str, pages: Iterator[list[tuple[Any, ...]]]
    ) -> Iterator[list[tuple[Any, ...]]]:
        total = 0
        for page in pages:
            total += len(page)
            if on_progress:
                on_progress(f"inventory {side}", total)
            yield page

    journal.replace_inventory(
        "src", counted("source", _pages(src, keep, src.capabilities.list_details))
    )
    dest_exists = True
    try:
        journal.replace_inventory("dst", counted("destination", _pages(dst, keep, False)))
    except ContainerNotFoundError:
        dest_exists = False
        journal.replace_inventory("dst", iter(()))

    counts: dict[str, list[int]] = {a.value: [0, 0] for a in Action}
    blocked: list[tuple[str, str]] = []
    multipart_objects = multipart_parts = 0
    reader = journal.reader()
    try:
        batch: list[tuple[Any, ...]] = []
        for key, s, d, p in reader.iter_diff():
            src_side = Side(s[0], s[1], s[3]) if s else None
            dst_side = Side(d[0], d[1]) if d else None
            prior = Prior(p[0], p[1], p[2], p[3]) if p else None
            action, reason = decide(src_side, dst_side, prior)
            size = s[0] if s else d[0]  # type: ignore[index]
            counts[action.value][0] += 1
            counts[action.value][1] += size
            if action is Action.BLOCKED and len(blocked) < 1000:
                blocked.append((key, reason))
            if action in (Action.COPY, Action.CHANGED) and size > SMALL_OBJECT_LIMIT:
                multipart_objects += 1
                part = choose_part_size(size, dst.limits, options.part_size)
                multipart_parts += part_count(size, part)
            dest_class = map_storage_class(s[3], options.tier_map) if s else None
            batch.append(
                (
                    key,
                    action.value,
                    reason,
                    _STATUS_FOR[action],
                    size,
                    s[1] if s else None,
                    s[2] if s else None,
                    s[3] if s else None,
                    dest_class,
                )
            )
            if len(batch) >= PAGE:
                journal.write_plan(batch)
                batch = []
                if on_progress:
                    on_progress("plan", sum(c[0] for c in counts.values()))
        journal.write_plan(batch)
    finally:
        reader.close()
    journal.drop_keys_absent_everywhere()

    profiles = load_profiles()
    to_copy = counts[Action.COPY][0] + counts[Action.CHANGED][0]
    bytes_to_copy = counts[Action.COPY][1] + counts[Action.CHANGED][1]
    estimate = estimate_migration(
        to_copy,
        bytes_to_copy,
        multipart_objects,
        multipart_parts,
        profiles.get(src_provider) if src_provider else None,
        profiles.get(provider) if provider else None,
        bandwidth_bytes_per_s=options.assume_bandwidth,
        objects_per_s=options.assume_rate,
    )
    journal.set_meta("plan_estimate", json.dumps(asdict(estimate), sort_keys=True))
    journal.set_meta("source_provider", src_provider or "")
    journal.set_meta("dest_provider", provider or "")
    journal.set_meta("dest_region", region or "")
    return PlanSummary(
        journal=str(journal.path),
        source_url=journal.source_url,
        dest_url=journal.dest_url,
        counts={k: (v[0], v[1]) for k, v in counts.items()},
        blocked=blocked,
        estimate=estimate,
        source_provider=src_provider,
        dest_provider=provider,
        dest_region=region,
        dest_exists=dest_exists,
    )
