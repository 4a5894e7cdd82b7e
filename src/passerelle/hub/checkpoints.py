"""Audit checkpoints: sign the head (only over a chain that verifies), keep, witness.

Checkpoints live in the hub's checkpoint store under
``<hub>/audit/checkpoints/<number>.json`` and, when ``witness`` is set in
``hub.toml``, in a write-once witness (``witness.py``). They are written
automatically after a write transaction when ``checkpoint_every`` events or
``checkpoint_minutes`` minutes have passed since the newest one, and on demand
(``passerelle audit checkpoint``). Before signing, the hub checks the chain from
the newest checkpoint (itself checked against the witness) to the head, so it
never signs over a truncated, rolled-back or edited log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from passerelle.errors import ConflictError, ObjectNotFoundError, PasserelleError
from passerelle.hub.audit_chain import GENESIS, ChainEvent, ChainReport, verify_chain
from passerelle.hub.checkpoint_chain import (
    Checkpoint,
    CheckpointProblem,
    check_checkpoints,
    public_key_hex,
    sign_checkpoint,
    signature_ok,
)
from passerelle.hub.checkpoint_listing import (
    StoredView,
    checkpoint_key,
    note_signed,
    stored_numbers,
    stored_view,
)
from passerelle.hub.legacy_checkpoints import legacy_problem, read_legacy
from passerelle.hub.tables import AuditEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.hub.witness import Witness

__all__ = [
    "APPENDED_SEQ",
    "CheckpointState",
    "SignedHead",
    "VerifyReport",
    "chain_events",
    "checkpoint_if_due",
    "signed_head",
    "verify_log",
    "write_checkpoint",
]

_log = logging.getLogger("passerelle.audit")


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="microseconds")


APPENDED_SEQ = "passerelle.appended_seq"
"""Where ``append_event`` notes, in its session's ``info``, the seq it wrote."""


def chain_events(session: Session, after: int = 0) -> Iterator[ChainEvent]:
    """The stored events with ``seq > after``, in order, streamed (SQL Core rows: the
    signer reads those since the last checkpoint after every ``checkpoint_every``
    requests, and loading ORM entities cost more than checking them)."""
    from sqlalchemy import select

    e = AuditEvent
    rows = session.execute(
        select(e.seq, e.at, e.actor, e.action, e.target, e.decision, e.details, e.prev_hash, e.hash)
        .where(e.seq > after)
        .order_by(e.seq)
        .execution_options(yield_per=2000)
    )
    for row in rows:
        yield ChainEvent(*row)


def _noting(
    events: Iterator[ChainEvent], positions: set[int], hashes: dict[int, str]
) -> Iterator[ChainEvent]:
    """Pass events through, noting the hash at each of ``positions`` on the way."""
    for e in events:
        if e.seq in positions:
            hashes[e.seq] = e.hash
        yield e


def _read_stored(hub: Hub, number: int) -> Checkpoint | None:
    """Checkpoint ``number`` from the store; None when that file is not a checkpoint."""
    try:
        return Checkpoint.from_json(
            hub.store("checkpoints").get(checkpoint_key(hub, number)).read()
        )
    except ValueError:
        return None


def witness_of(hub: Hub) -> Witness | None:
    """The hub's witness, opened once per hub object."""
    if hub._witness is None:
        from passerelle.hub.witness import open_witness

        hub._witness = open_witness(hub.config) or False
    return hub._witness or None


def _refuse(problem: str) -> ConflictError:
    return ConflictError(
        f"the hub will not sign a checkpoint: {problem}; run `passerelle audit verify` "
        "and restore the database and checkpoints from the witness"
    )


def _witness_view(hub: Hub, number: int) -> tuple[int, Checkpoint | None]:
    """The witness's newest number and that checkpoint (0, None without a witness)."""
    witness = witness_of(hub)
    if witness is None or not number:
        return 0, None
    return number, witness.get(number)


def _guard(
    hub: Hub,
    session: Session,
    head_seq: int,
    witnessed: tuple[int, Checkpoint | None],
    stored: StoredView,
) -> tuple[Checkpoint | None, tuple[int, str]]:
    """The newest checkpoint, once the chain after it and the witness agree, and the last
    event verified (seq, hash); else raise. ``stored`` (the stored checkpoints) was listed
    before ``session`` first read: every event a listed checkpoint signed is in its view."""
    newest = stored.newest
    if stored.missing is not None:
        raise _refuse(f"checkpoint {stored.missing} is missing from the hub's checkpoint store")
    key = hub.keys.key("audit")
    public = public_key_hex(key)
    try:
        anchor = _read_stored(hub, newest) if newest else None
    except ObjectNotFoundError:  # seen by this signer before, gone now
        raise _refuse(f"checkpoint {newest} is missing from the hub's checkpoint store") from None
    if newest and (anchor is None or not signature_ok(public, anchor)):
        raise _refuse(f"checkpoint {newest} in the hub's store is damaged or forged")
    number, seen = witnessed
    if number > newest:
        raise _refuse(f"checkpoint {number} was witnessed but is missing from the hub's store")
    if number:
        try:
            kept = anchor if number == newest else _read_stored(hub, number)
        except ObjectNotFoundError:
            raise _refuse(
                f"checkpoint {number} is missing from the hub's checkpoint store"
            ) from None
        if seen is None or kept != seen:
            raise _refuse(f"checkpoint {number} differs from the witnessed one")
    after_seq, after_hash = (anchor.seq, anchor.hash) if anchor else (0, GENESIS)
    if anchor is not None:
        at_anchor = session.get(AuditEvent, anchor.seq)
        if head_seq < anchor.seq or at_anchor is None or at_anchor.hash != anchor.hash:
            raise _refuse(
                f"the log no longer holds event {anchor.seq} as checkpoint {anchor.number} "
                "saw it (events deleted or the database restored from an older copy)"
            )
    legacy = read_legacy(hub)[0] if anchor is None else []  # the first: check the old ones
    hashes: dict[int, str] = {}
    events = _noting(chain_events(session, after_seq), {cp.seq for cp in legacy}, hashes)
    chain = verify_chain(key, events, after_seq=after_seq, after_hash=after_hash)
    if not chain.ok:
        raise _refuse(chain.problem)
    old = legacy_problem(key, legacy, hashes, chain.head_seq)
    if old is not None:
        raise _refuse(old.problem)
    return anchor, (chain.head_seq, chain.head_hash)


def write_checkpoint(hub: Hub) -> Checkpoint | None:
    """Sign the head as the next checkpoint, keep it and witness it (None: no events).

    Refuses (``ConflictError``) when the chain since the newest checkpoint does not
    verify or the checkpoints disagree with the witness. The checks that grow with
    the log (the checkpoint files, the witness, the chain since the newest checkpoint)
    run before the audit lock, so appenders never wait on them; holding the lock,
    the signer checks only the events appended since and that no other signer has
    numbered a checkpoint meanwhile (then it checks again), and numbers the next.
    """
    from passerelle.errors import TransientError

    for _ in range(_SIGN_ATTEMPTS):
        # Listed before the read below begins: a checkpoint another signer numbers after
        # the head is read would otherwise look like events deleted (a false alarm).
        stored = stored_view(hub, witness_of(hub))
        witnessed = _witness_view(hub, stored.witnessed)
        with hub.db.read() as session:
            head = _head(session)
            if head is None:
                return None
            anchor, verified = _guard(hub, session, head[0], witnessed, stored)
        checkpoint = _sign_under_lock(hub, anchor, verified)
        if checkpoint is not None:
            note_signed(hub, checkpoint.number)  # a no-op unless it follows the known one
            # after the lock; a repeat is a harmless version
            _witness_up_to(hub, checkpoint, stored.witnessed)
            hub._checkpoint_state = CheckpointState(checkpoint.seq, hub.now())
            return checkpoint
    raise TransientError(  # being outpaced is no refusal: checkpoint_if_due audits none
        "other signers kept numbering audit checkpoints while this one was checked; retry"
    )


_SIGN_ATTEMPTS = 5


def _head(session: Session) -> tuple[int, str] | None:
    from sqlalchemy import select

    head = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (int(head[0]), str(head[1])) if head is not None else None


def _sign_under_lock(
    hub: Hub, anchor: Checkpoint | None, verified: tuple[int, str]
) -> Checkpoint | None:
    """Holding the audit lock: the events after ``verified`` checked, then the head signed
    as the checkpoint after ``anchor`` (None: another signer numbered one first)."""
    with hub.db.transaction() as session:
        hub.db.lock_audit(session)
        if _numbered_after(hub, anchor):
            return None
        after_seq, after_hash = verified
        at_verified = session.get(AuditEvent, after_seq) if after_seq else None
        if after_seq and (at_verified is None or at_verified.hash != after_hash):
            raise _refuse(
                f"event {after_seq} changed while the chain was being checked (events "
                "rewritten or the database restored from an older copy)"
            )
        key = hub.keys.key("audit")
        tail = verify_chain(
            key, chain_events(session, after_seq), after_seq=after_seq, after_hash=after_hash
        )
        if not tail.ok:
            raise _refuse(tail.problem)
        head_seq, head_hash = tail.head_seq, tail.head_hash
        if anchor is not None and anchor.seq == head_seq:
            return anchor  # nothing new since the newest checkpoint
        checkpoint = sign_checkpoint(
            key,
            number=anchor.number + 1 if anchor else 1,
            seq=head_seq,
            head_hash=head_hash,
            at=_iso(hub.now()),
            prev=anchor.digest() if anchor else GENESIS,
        )
        data = checkpoint.to_json().encode()
        hub.store("checkpoints").put(
            checkpoint_key(hub, checkpoint.number),
            data,
            size=len(data),
            content_type="application/json",
        )
        return checkpoint


def _numbered_after(hub: Hub, anchor: Checkpoint | None) -> bool:
    """Whether the checkpoint after ``anchor`` already exists (another signer's)."""
    from passerelle.errors import ObjectNotFoundError

    try:
        hub.store("checkpoints").head(checkpoint_key(hub, anchor.number + 1 if anchor else 1))
    except ObjectNotFoundError:
        return False
    return True


def _witness_up_to(hub: Hub, checkpoint: Checkpoint, witnessed: int) -> None:
    """Give the witness every stored checkpoint it lacks (its newest was ``witnessed``
    when listed), up to ``checkpoint``."""
    witness = witness_of(hub)
    if witness is None:
        return
    start = witnessed + 1
    for number in range(start, checkpoint.number + 1):
        cp = checkpoint if number == checkpoint.number else _read_stored(hub, number)
        if cp is not None:
            witness.record(cp)


@dataclass(frozen=True)
class CheckpointState:
    """The newest checkpoint's position and when it was taken (per hub object)."""

    seq: int
    at: datetime


def _load_state(hub: Hub, session: Session) -> CheckpointState:
    from sqlalchemy import select

    stored = stored_view(hub, None)
    newest = _read_stored(hub, stored.newest) if stored.newest else None
    if newest is not None:
        return CheckpointState(newest.seq, _when(newest.at, hub))
    first = session.execute(select(AuditEvent.at).where(AuditEvent.seq == 1)).scalar()
    return CheckpointState(0, _when(first, hub) if first else hub.now())


def _when(text: str, hub: Hub) -> datetime:
    """A stored time, comparable with the hub's clock (UTC when it names no zone)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return hub.now()  # unreadable: count the period from now
    return _aware(when)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def checkpoint_if_due(hub: Hub, head: int) -> None:
    """After a write that appended event ``head``: checkpoint when ``checkpoint_every``
    events (and at least ``checkpoint_min_seconds``) or ``checkpoint_minutes`` have passed
    since the newest checkpoint.

    The spacing bounds a busy hub's signing to about once a second per process: at
    300 appends a second, every 50 events was six signatures, six listings of the
    checkpoint store and six object writes a second, a third of the server's throughput
    (``docs/benchmarks.md``). The unsigned tail stays at most ``checkpoint_every``
    events or one second's, whichever is more.

    ``head`` is the appender's own event, so no query is needed to know it (the signer
    reads the real head under the lock). A refusal (tampering) or an unreachable witness
    never fails the caller's action, which is already committed: it is logged, and a
    refusal is audited.
    """
    every, minutes = hub.config.checkpoint_every, hub.config.checkpoint_minutes
    if every <= 0 and minutes <= 0:
        return
    if hub._checkpoint_state is None:
        with hub.db.read() as session:
            hub._checkpoint_state = _load_state(hub, session)
    state: CheckpointState = hub._checkpoint_state
    if head <= state.seq:
        return
    elapsed = _aware(hub.now()) - _aware(state.at)
    # A clock stepped back (elapsed < 0) must not hold the count back until it catches up.
    spaced = not timedelta(0) <= elapsed < timedelta(seconds=hub.config.checkpoint_min_seconds)
    by_count = every > 0 and head >= state.seq + every and spaced
    by_time = minutes > 0 and elapsed >= timedelta(minutes=minutes)
    if not (by_count or by_time):
        return
    try:
        write_checkpoint(hub)
    except ConflictError as exc:
        hub._checkpoint_state = CheckpointState(head, hub.now())  # retry after the next period
        _log.error("%s", exc)
        _audit_refusal(hub, str(exc))
    except PasserelleError as exc:  # retry after the next period, not on every write
        hub._checkpoint_state = CheckpointState(head, hub.now())
        _log.warning("audit checkpoint not written or not witnessed: %s", exc)


def _audit_refusal(hub: Hub, reason: str) -> None:
    from passerelle.hub.audit import SYSTEM, append_event

    with hub.db.transaction() as session:
        append_event(
            hub,
            session,
            actor=SYSTEM,
            action="audit.checkpoint",
            target="audit",
            decision="denied",
            details={"reason": reason},
        )


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify_log`` found: the chain, the checkpoints, the witness."""

    chain: ChainReport
    checkpoints: int
    witnessed: int = 0
    witness: str = ""
    checkpoint_problem: str = ""
    checkpoint_bad_seq: int | None = None
    checkpoint_number: int | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.checkpoint_problem

    @property
    def first_bad_seq(self) -> int | None:
        return self.chain.first_bad_seq if not self.chain.ok else self.checkpoint_bad_seq

    @property
    def problem(self) -> str:
        return self.chain.problem or self.checkpoint_problem


def _auditors_witness(hub: Hub, url: str) -> tuple[Witness | None, str]:
    """The witness an auditor names (not hub.toml's, which the database's holder may
    edit), and the problem when the hub itself is set to witness elsewhere or nowhere."""
    import dataclasses

    from passerelle.hub.witness import open_witness

    chosen = open_witness(dataclasses.replace(hub.config, witness=url))
    configured = hub.config.witness or ""
    if configured.rstrip("/") == url.rstrip("/"):
        return chosen, ""
    return chosen, (
        f"hub.toml names the witness {configured or '(none)'}, not {url}: the hub's "
        "checkpoints are witnessed elsewhere or not at all (hub.toml was edited?)"
    )


def verify_log(
    hub: Hub, kept: Sequence[Checkpoint] = (), *, witness_url: str | None = None
) -> VerifyReport:
    """Verify the whole chain and every checkpoint against the witness and ``kept`` heads.

    ``kept`` are checkpoints a third party kept (from ``passerelle audit head``);
    they count as witnessed. ``witness_url``: the witness the auditor knows, used
    instead of hub.toml's (whoever holds the hub folder can point hub.toml at a
    fresh, empty witness); hub.toml naming another one is itself a problem.
    """
    key = hub.keys.key("audit")
    numbers, strays = stored_numbers(hub)
    stored: list[Checkpoint] = []
    damaged: list[int] = []
    for n in numbers:
        cp = _read_stored(hub, n)
        if cp is not None and cp.number == n:
            stored.append(cp)
        else:
            damaged.append(n)
    witness, elsewhere = (
        _auditors_witness(hub, witness_url) if witness_url else (witness_of(hub), "")
    )
    witnessed_numbers = witness.numbers() if witness is not None else []
    witnessed = list(kept)
    if witness is not None and witnessed_numbers:
        newest = witness.get(witnessed_numbers[-1])
        if newest is not None:
            witnessed.append(newest)
    legacy, bad_legacy = read_legacy(hub)
    positions = {cp.seq for cp in [*stored, *witnessed]} | {cp.seq for cp in legacy}
    hashes: dict[int, str] = {}
    with hub.db.read() as session:
        chain = verify_chain(key, _noting(chain_events(session), positions, hashes))
    found: CheckpointProblem | None
    if damaged or strays or bad_legacy:
        what = f"checkpoint {damaged[0]}" if damaged else (strays or bad_legacy)[0]
        found = CheckpointProblem(
            damaged[0] if damaged else None,
            None,
            f"{what} in the hub's checkpoint store is not a checkpoint (damaged or planted)",
        )
    else:
        found = check_checkpoints(
            public_key_hex(key),
            stored,
            witnessed,
            [*witnessed_numbers, *(cp.number for cp in kept)],
            hashes,
            chain.head_seq,
        ) or legacy_problem(key, legacy, hashes, chain.head_seq)
    if found is None and elsewhere:
        found = CheckpointProblem(None, None, elsewhere)
    return VerifyReport(
        chain,
        len(stored),
        len(witnessed_numbers),
        witness.description if witness is not None else "",
        found.problem if found else "",
        found.seq if found else None,
        found.number if found else None,
    )


@dataclass(frozen=True)
class SignedHead:
    """The newest checkpoint and the public key that checks it: safe to publish."""

    hub: str
    public_key: str
    checkpoint: Checkpoint | None

    def to_dict(self) -> dict[str, object]:
        return {
            "hub": self.hub,
            "public_key": self.public_key,
            "checkpoint": self.checkpoint.to_dict() if self.checkpoint else None,
        }


def signed_head(hub: Hub) -> SignedHead:
    """The newest checkpoint in the hub's store, for third parties to keep."""
    numbers, _ = stored_numbers(hub)
    newest = _read_stored(hub, numbers[-1]) if numbers else None
    return SignedHead(hub.config.name, public_key_hex(hub.keys.key("audit")), newest)
