"""Inventory both sides into the journal and plan what to copy, with cost and time.

Both listings stream in key order (as object stores list) and are merged with the
journal's earlier rows, read in chunks; the plan is written as one transaction.
Memory stays flat whatever the number of objects, and only the plan itself goes to
disk.  A listing out of key order is loaded into the journal first and read back
sorted.
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
    decide_source_only,
    map_storage_class,
)
from passerelle.migration.estimate import Estimate, estimate_migration
from passerelle.migration.journal import Journal, now_iso
from passerelle.migration.parallel_listing import parallel_list
from passerelle.providers import check_requirements, load_profiles
from passerelle.storage import Store, open_store
from passerelle.storage.config import StorageConfig
from passerelle.storage.multipart import DEFAULT_PART_SIZE, choose_part_size, part_count
from passerelle.storage.opener import store_location

if TYPE_CHECKING:
    from passerelle.sovereignty.policy import PlacementPolicy

__all__ = ["PlanOptions", "PlanSummary", "check_policy", "plan_migration", "replan"]

PAGE = 5000  # rows per journal write
CHUNK = 20_000  # rows per read of a journal table during the plan
_Row = tuple[Any, ...]
_STATUS_FOR = {
    Action.COPY: "pending",
    Action.CHANGED: "pending",
    Action.IDENTICAL: "done",
    Action.DEST_ONLY: "extra",
    Action.BLOCKED: "blocked",
}
_VALUES_FOR = {action: (action.value, status) for action, status in _STATUS_FOR.items()}


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
    md5: bool = True
    """Store an MD5 (``md5chksum``) beside the SHA-256 proof, for third-party tools."""
    list_threads: int = 8
    """Prefixes listed at once when a side splits by prefix (1: one serial listing)."""

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


class _Unsorted(Exception):
    """A listing that is not in strictly increasing key order (or repeats a key)."""

    def __init__(self, side: str) -> None:
        super().__init__(side)
        self.side = side


class _NoDestination(Exception):
    """The destination container does not exist yet."""


def _listing(
    store: Store,
    keep: KeyFilter,
    details: bool,
    side: str,
    ordered: bool = True,
    threads: int = 1,
) -> Iterator[_Row]:
    """(key, size, etag, modified, class) of every kept object, checked to be in key order.

    Object stores list in key order (UTF-8 byte order, which is the order of Python
    strings and of SQLite's BINARY collation); a store that does not raises
    :class:`_Unsorted` and the planner lets SQLite sort that side.
    """
    filtering = bool(keep.include or keep.exclude)
    dates = side == "src"  # the plan keeps the source's modified time and tier only
    last = ""
    infos = parallel_list(store, threads=threads, details=details, page_size=1000)
    for info in infos if infos is not None else store.list(page_size=1000, details=details):
        key = info.key
        if filtering and not keep(key):
            continue
        if ordered:
            if key <= last:
                raise _Unsorted(side)
            last = key
        if dates:
            modified = info.last_modified
            yield (
                key,
                info.size,
                info.etag,
                modified.isoformat() if modified else None,
                info.storage_class,
            )
        else:
            yield (key, info.size, info.etag, None, None)


def _pages(rows: Iterator[_Row]) -> Iterator[list[_Row]]:
    page: list[_Row] = []
    for row in rows:
        page.append(row)
        if len(page) >= PAGE:
            yield page
            page = []
    if page:
        yield page


def _chunked(fetch: Callable[[str | None, int], list[_Row]]) -> Iterator[_Row]:
    """A journal table in key order, read ``CHUNK`` rows at a time (no long-lived read).

    Once a read comes back short the table is done: rows the plan writes after
    that point are never read back as if they were earlier state.
    """
    after: str | None = None
    while True:
        rows = fetch(after, CHUNK)
        yield from rows
        if len(rows) < CHUNK:
            return
        after = rows[-1][0]


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
        journal_path,
        source_url=src.url,
        dest_url=dst.url,
        options=options.to_json(),
        planning=True,
    )
    try:
        return replan(journal, config=config, source=src, dest=dst, on_progress=on_progress)
    finally:
        journal.close()


@dataclass
class _Tally:
    counts: dict[str, list[int]] = field(default_factory=lambda: {a.value: [0, 0] for a in Action})
    blocked: list[tuple[str, str]] = field(default_factory=list)
    multipart_objects: int = 0
    multipart_parts: int = 0
    listed: dict[str, int] = field(default_factory=lambda: {"src": 0, "dst": 0})


def replan(
    journal: Journal,
    *,
    config: StorageConfig | None = None,
    source: Store | None = None,
    dest: Store | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> PlanSummary:
    """Re-inventory both sides and recompute every key's action (used by plan and sync).

    Both listings stream in key order through a merge with the journal's earlier
    rows, and the new plan is written as one transaction (:meth:`Journal.planning`),
    so memory stays flat and an interrupted plan is never taken for a finished one.
    A listing that is not in key order is first loaded into the journal's
    inventory table, which gives it back sorted.
    """
    options = PlanOptions.from_json(journal.options)
    src = source or open_store(journal.source_url, config=config)
    dst = dest or open_store(journal.dest_url, config=config)
    provider, region = _check_destination(journal.dest_url, options.require, config)
    src_provider, _ = store_location(journal.source_url, config)
    keep = KeyFilter(options.include, options.exclude)

    def listing(side: str, ordered: bool) -> Iterator[_Row]:
        if side == "src":
            details = src.capabilities.list_details
            return _listing(src, keep, details, side, ordered, options.list_threads)
        return dest_listing(ordered)

    def dest_listing(ordered: bool) -> Iterator[_Row]:
        try:
            yield from _listing(dst, keep, False, "dst", ordered, options.list_threads)
        except ContainerNotFoundError:
            raise _NoDestination from None

    spilled: set[str] = set()  # sides read back sorted from the inventory table
    loaded: set[str] = set()
    dest_exists = True
    while True:
        sources: dict[str, Callable[[], Iterator[_Row]]] = {}
        for side in ("src", "dst"):
            if side == "dst" and not dest_exists:
                sources[side] = lambda: iter(())
            elif side in spilled:
                sources[side] = lambda side=side: _chunked(  # type: ignore[misc]
                    lambda after, n: journal.inventory_after(side, after, n)
                )
            else:
                sources[side] = lambda side=side: listing(side, True)  # type: ignore[misc]
        try:
            for side in sorted(spilled - loaded):
                journal.load_inventory(side, _pages(listing(side, False)))
                loaded.add(side)
            with journal.planning():
                for side in ("src", "dst"):
                    if side not in spilled:
                        journal.clear_inventory(side)
                tally = _merge_plan(journal, sources, options, dst, on_progress)
                estimate = _finish(journal, tally, options, src_provider, provider, region)
            break
        except _Unsorted as unsorted:
            spilled.add(unsorted.side)
        except _NoDestination:
            dest_exists = False
            spilled.discard("dst")
    return PlanSummary(
        journal=str(journal.path),
        source_url=journal.source_url,
        dest_url=journal.dest_url,
        counts={k: (v[0], v[1]) for k, v in tally.counts.items()},
        blocked=tally.blocked,
        estimate=estimate,
        source_provider=src_provider,
        dest_provider=provider,
        dest_region=region,
        dest_exists=dest_exists,
    )


def _merge_plan(
    journal: Journal,
    sources: Mapping[str, Callable[[], Iterator[_Row]]],
    options: PlanOptions,
    dst: Store,
    on_progress: Callable[[str, int], None] | None,
) -> _Tally:
    """Merge the two sorted listings with the journal's rows and write every key's action."""
    tally = _Tally()
    counts, blocked = tally.counts, tally.blocked
    tier_map = options.tier_map
    srcs, dsts = sources["src"](), sources["dst"]()
    priors = _chunked(journal.priors_after)
    s = next(srcs, None)
    d = next(dsts, None)
    p = next(priors, None)
    n_src = n_dst = done = 0
    batch: list[_Row] = []
    absent: list[str] = []
    source_only: dict[str | None, tuple[Action, str]] = {}  # by tier (decide_source_only)
    blocked_action, copy_action, changed_action = Action.BLOCKED, Action.COPY, Action.CHANGED
    while s is not None or d is not None:
        if d is None or (s is not None and s[0] < d[0]):
            key, src_row, dst_row = s[0], s, None  # type: ignore[index]
            s = next(srcs, None)
        elif s is None or d[0] < s[0]:
            key, src_row, dst_row = d[0], None, d
            d = next(dsts, None)
        else:
            key, src_row, dst_row = s[0], s, d
            s = next(srcs, None)
            d = next(dsts, None)
        while p is not None and p[0] < key:
            absent.append(p[0])
            p = next(priors, None)
        prior = None
        if p is not None and p[0] == key:
            prior = Prior(p[1], p[2], p[3], p[4])
            p = next(priors, None)
        if src_row is not None:
            n_src += 1
            size = src_row[1]
            tier = src_row[4]
            if dst_row is None:
                found = source_only.get(tier)
                if found is None:
                    found = source_only[tier] = decide_source_only(tier)
                action, reason = found
            else:
                n_dst += 1
                action, reason = decide(
                    Side(size, src_row[2], tier), Side(dst_row[1], dst_row[2]), prior
                )
            value, status = _VALUES_FOR[action]
            batch.append(
                (
                    key,
                    value,
                    reason,
                    status,
                    size,
                    src_row[2],
                    src_row[3],
                    tier,
                    None if tier is None else map_storage_class(tier, tier_map),
                )
            )
        else:
            n_dst += 1
            size = dst_row[1]  # type: ignore[index]
            action, reason = decide(None, Side(size, dst_row[2]), prior)  # type: ignore[index]
            value, status = _VALUES_FOR[action]
            batch.append((key, value, reason, status, size, None, None, None, None))
        tally_row = counts[value]
        tally_row[0] += 1
        tally_row[1] += size
        if action is blocked_action and len(blocked) < 1000:
            blocked.append((key, reason))
        if size > SMALL_OBJECT_LIMIT and (action is copy_action or action is changed_action):
            tally.multipart_objects += 1
            part = choose_part_size(size, dst.limits, options.part_size)
            tally.multipart_parts += part_count(size, part)
        if len(batch) >= PAGE:
            journal.write_plan(batch)
            done += len(batch)
            batch = []
            if absent:
                journal.delete_objects(absent)
                absent = []
            if on_progress:
                on_progress("plan", done)
    while p is not None:
        absent.append(p[0])
        p = next(priors, None)
        if len(absent) >= PAGE:
            journal.delete_objects(absent)
            absent = []
    journal.write_plan(batch)
    journal.delete_objects(absent)
    if on_progress:
        on_progress("plan", done + len(batch))
    tally.listed = {"src": n_src, "dst": n_dst}
    return tally


def _finish(
    journal: Journal,
    tally: _Tally,
    options: PlanOptions,
    src_provider: str | None,
    provider: str | None,
    region: str | None,
) -> Estimate:
    counts = tally.counts
    profiles = load_profiles()
    estimate = estimate_migration(
        counts[Action.COPY][0] + counts[Action.CHANGED][0],
        counts[Action.COPY][1] + counts[Action.CHANGED][1],
        tally.multipart_objects,
        tally.multipart_parts,
        profiles.get(src_provider) if src_provider else None,
        profiles.get(provider) if provider else None,
        bandwidth_bytes_per_s=options.assume_bandwidth,
        objects_per_s=options.assume_rate,
    )
    stamp = now_iso()
    for side, count in tally.listed.items():
        journal.set_meta(f"inventory_{side}_at", stamp)
        journal.set_meta(f"inventory_{side}_count", str(count))
    journal.set_meta("plan_estimate", json.dumps(asdict(estimate), sort_keys=True))
    journal.set_meta("source_provider", src_provider or "")
    journal.set_meta("dest_provider", provider or "")
    journal.set_meta("dest_region", region or "")
    return estimate
