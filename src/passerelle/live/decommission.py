"""Is the store a finished move retired safe to switch off? (``hub migrate decommission-check``)

After ``finish`` the old store stays as a read fallback: anything the hub's store lacks is
still read from it, so switching it off loses exactly that. Since a delete made after
``finish`` reaches the retired store too (``LiveStore.delete``), every object left there
that the hub's store lacks is one the hub still serves from the old cloud. The check lists
both sides the way a migration plan does (``plan_migration``, retired -> current, into a
throwaway journal: sorted listings merged, flat memory) and counts the objects only the
retired store holds, and those it cannot compare (an archive tier). An object on both
sides with different content is not counted: after ``finish`` the hub's copy is the newer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from passerelle.errors import ConflictError
from passerelle.hub.audit import append_event, authorize

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal

__all__ = ["DecommissionCheck", "decommission_check"]

_EXAMPLES = 10


@dataclass(frozen=True)
class DecommissionCheck:
    """What the retired store holds that the hub's store does not."""

    retired_url: str
    store_url: str
    listed: int  # objects on the retired store
    only_there: int  # of which the hub's store lacks
    only_there_bytes: int
    not_comparable: int  # in an archive tier: not listed comparably, never assumed copied
    examples: tuple[str, ...]  # the first keys only the retired store holds

    @property
    def safe(self) -> bool:
        return self.only_there == 0 and self.not_comparable == 0

    def problem(self) -> str:
        """One sentence: what is wrong and what to do ("" when safe)."""
        if self.safe:
            return ""
        if self.only_there:
            return (
                f"{self.only_there} objects ({self.only_there_bytes} bytes) live only on the "
                f"retired store {self.retired_url} (first: {self.examples[0]}); the hub still "
                "reads them from there: copy each to the hub's store (`--keys FILE` lists "
                "them) and run this check again before switching it off"
            )
        return (
            f"{self.not_comparable} objects on the retired store {self.retired_url} are in an "
            "archive tier and could not be compared; rehydrate them and run this check again"
        )

    def as_details(self) -> dict[str, object]:
        return {
            "safe": self.safe,
            "retired": self.retired_url,
            "store": self.store_url,
            "listed": self.listed,
            "only_on_retired": self.only_there,
            "only_on_retired_bytes": self.only_there_bytes,
            "not_comparable": self.not_comparable,
            "examples": list(self.examples),
            "problem": self.problem(),
        }


def decommission_check(
    hub: Hub, actor: Principal, *, keys_out: Path | None = None
) -> DecommissionCheck:
    """Compare the retired store with the hub's store (operators, admins, auditors);
    the check and its answer are audited. ``keys_out``: a file to write every key only
    the retired store holds to, one per line."""
    from passerelle.live.binding import current_binding
    from passerelle.live.mover import watching_action
    from passerelle.live.phases import Phase

    with hub.transaction() as session:
        authorize(
            hub,
            session,
            actor,
            watching_action(actor, hub.now().date()),
            "hub:storage",
            {"step": "decommission-check"},
        )
    binding = current_binding(hub)
    if binding.phase is not Phase.SINGLE:
        raise ConflictError(
            f"the move is in phase {binding.phase}: the old store is still written to; "
            "finish the move (`passerelle hub migrate finish`) before decommissioning it"
        )
    if binding.retired_url is None:
        raise ConflictError(
            "no store is retired: only a finished move (`passerelle hub migrate finish`) "
            "leaves one to decommission"
        )
    # the keys file is created before anything is listed, so a bad name fails at once
    with _new_private_file(keys_out) if keys_out is not None else nullcontext() as handle:
        check = _compare(binding.retired_url, binding.source_url, handle)
    with hub.transaction() as session:
        append_event(
            hub,
            session,
            actor=actor.name,
            action="hub.migrate.decommission-check",
            target="hub:storage",
            decision="allowed",
            details=check.as_details(),
        )
    return check


def _compare(retired_url: str, store_url: str, keys_out: TextIO | None) -> DecommissionCheck:
    from passerelle.migration.decide import Action
    from passerelle.migration.journal import Journal
    from passerelle.migration.planner import PlanOptions, plan_migration

    with tempfile.TemporaryDirectory(prefix="passerelle-decommission-") as folder:
        path = Path(folder) / "check.journal"
        summary = plan_migration(retired_url, store_url, path, PlanOptions(md5=False))
        journal = Journal.open(path)
        try:
            only = (row.key for row in journal.iter_objects("action = ?", (str(Action.COPY),)))
            examples = _write_keys(only, keys_out)
        finally:
            journal.close()
    only_there, only_bytes = summary.counts.get(Action.COPY, (0, 0))
    blocked = summary.counts.get(Action.BLOCKED, (0, 0))[0]
    listed = sum(n for action, (n, _) in summary.counts.items() if action != Action.DEST_ONLY)
    return DecommissionCheck(
        retired_url, store_url, listed, only_there, only_bytes, blocked, examples
    )


def _write_keys(keys: Iterator[str], out: TextIO | None) -> tuple[str, ...]:
    """The first few of ``keys``, after writing them all to ``out`` (when given)."""
    examples: list[str] = []
    for key in keys:
        if len(examples) < _EXAMPLES:
            examples.append(key)
        if out is None and len(examples) == _EXAMPLES:
            break
        if out is not None:
            out.write(json.dumps(key) + "\n")  # one JSON string a line: any key
    return tuple(examples)


def _new_private_file(path: Path) -> TextIO:
    """A new file for the keys, readable by its owner only (they name projects and
    datasets), never reached through a symbolic link planted at that name."""
    from passerelle.errors import UsageError

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists: name a new file for --keys") from None
    except OSError as exc:
        raise UsageError(f"cannot create {path} ({exc.strerror}): name another file") from None
    return os.fdopen(fd, "w", encoding="utf-8")
