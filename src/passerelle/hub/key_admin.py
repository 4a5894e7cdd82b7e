"""Managing the hub's key-encryption keys: list, status, create, rotate, destroy.

Every service authorizes (``keys.read``: admins and auditors; ``keys.manage``:
admins) and audits: ``keys.create``, ``keys.rotate`` (phase ``start``, then ``finish``
or ``interrupted``, with counts), ``keys.destroy`` (``crypto_erased``: how many
objects became unreadable), ``keys.wrap-secrets``, and ``keys.use`` for every key
use the encrypting store refuses (a destroyed KEK, a wrapped key or segment that
fails authentication).

Rotation makes a new KEK current, then walks every object of the hub's raw store and
re-wraps each data key whose metadata names another KEK
(``EncryptingStore.rewrap``: a metadata update, the ciphertext is not touched). It
is resumable: when the last rotation did not finish (or left objects it could not
re-wrap) and its KEK is still current, ``rotate`` continues it instead of making
another key, and objects already under that KEK are skipped. Crypto-erase is
``destroy --crypto-erase``: refused without the flag while any object (or the
hub's wrapped secrets) still names the KEK.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from passerelle.errors import (
    ConflictError,
    KeyUnavailableError,
    PasserelleError,
)
from passerelle.hub.audit import SYSTEM, append_event, authorize
from passerelle.hub.key_rotation import (
    current_key,
    key_references,
    last_rotation,
    raw_store,
    rewrap_store,
    unfinished_rotation,
)
from passerelle.hub.rules import Action, Principal
from passerelle.keys.custody import KekState, check_key_id

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = [
    "DestroyReport",
    "KeyStatus",
    "KeyView",
    "RotationReport",
    "create_key",
    "destroy_key",
    "key_status",
    "list_keys",
    "refused_key_use_auditor",
    "rotate_keys",
]

Progress = Callable[[str, str], None]
"""``progress(object_key, outcome)``; outcomes: rewrapped, already, plaintext, erased, failed."""

_SHOWN_FAILURES = 20  # failures named in the audit event (all are counted)


@dataclass(frozen=True)
class KeyView:
    key_id: str
    custody: str
    state: str
    created: datetime
    destroyed: datetime | None = None
    objects: int | None = None  # objects whose data key it wraps (None: not counted)


@dataclass(frozen=True)
class KeyStatus:
    custody: str
    current: str | None
    keys: list[KeyView]
    plaintext_objects: int
    secrets_under: dict[str, str]  # hub secret -> KEK, when the hub's secrets are wrapped
    last_rotation: str | None
    unknown_keys: dict[str, int] = field(default_factory=dict)  # KEKs no custody entry names


@dataclass(frozen=True)
class RotationReport:
    key_id: str
    resumed: bool
    rewrapped: int = 0
    already: int = 0
    plaintext: int = 0
    erased: int = 0  # under a destroyed KEK: unreadable, left as they are
    failed: list[tuple[str, str]] = field(default_factory=list)  # (object, reason)
    secrets_rewrapped: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class DestroyReport:
    key_id: str
    crypto_erased: int  # objects that named it and are now unreadable


# -- reading ---------------------------------------------------------------------------
def list_keys(hub: Hub, actor: Principal) -> list[KeyView]:
    """Every KEK the custody has held, destroyed ones included (no store walk)."""
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.KEYS_READ, "keys", {"op": "list"})
    return [_view(k) for k in hub.custody().keys()]  # noqa: SIM118 (a custody's keys)


def key_status(hub: Hub, actor: Principal) -> KeyStatus:
    """The KEKs with how many objects of the hub's store each one protects."""
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.KEYS_READ, "keys", {"op": "status"})
    custody = hub.custody()
    counts = key_references(raw_store(hub))
    current = current_key(custody)
    held = custody.keys()
    views = [_view(k, counts.get(k.key_id, 0)) for k in held]
    known = {k.key_id for k in held}
    unknown = {str(kek): n for kek, n in counts.items() if kek is not None and kek not in known}
    return KeyStatus(
        custody.kind,
        current,
        views,
        counts.get(None, 0),
        _secrets_under(hub),
        last_rotation(hub),
        unknown,
    )


def create_key(hub: Hub, actor: Principal) -> KeyView:
    """Make a new KEK current (the previous one is retired; nothing is re-wrapped)."""
    custody = hub.custody()
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.KEYS_MANAGE, "keys", {"op": "create"})
        key_id = _refusal_audited(hub, session, actor, "keys.create", "keys", custody.create_key)
        _event(hub, session, actor, "keys.create", f"key:{key_id}", {"custody": custody.kind})
    return next(_view(k) for k in custody.keys() if k.key_id == key_id)  # noqa: SIM118 (a custody's keys)


def rotate_keys(
    hub: Hub, actor: Principal, *, progress: Progress | None = None, workers: int = 8
) -> RotationReport:
    """A new current KEK (or the unfinished rotation's), then every data key re-wrapped under it."""
    custody = hub.custody()
    resume = unfinished_rotation(hub, custody)
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.KEYS_MANAGE, "keys", {"op": "rotate"})
        if resume is None:
            key_id = _refusal_audited(
                hub, session, actor, "keys.rotate", "keys", custody.create_key
            )
            _event(hub, session, actor, "keys.create", f"key:{key_id}", {"custody": custody.kind})
        else:
            key_id = resume
        details = {"phase": "start", "key": key_id, "resumed": resume is not None}
        _event(hub, session, actor, "keys.rotate", f"key:{key_id}", details)
    counts: Counter[str] = Counter()
    failed: list[tuple[str, str]] = []
    secrets = 0
    try:
        secrets = _rewrap_secrets(hub, key_id)
        for key, outcome, reason in rewrap_store(raw_store(hub), custody, key_id, workers=workers):
            counts[outcome] += 1
            if outcome == "failed":
                failed.append((key, reason))
            if progress is not None:
                progress(key, outcome)
    except BaseException as exc:  # Ctrl-C included: the audit says where it stopped
        _finish(hub, actor, key_id, "interrupted", counts, failed, secrets, repr(exc)[:300])
        raise
    _finish(hub, actor, key_id, "finish", counts, failed, secrets, None)
    return RotationReport(
        key_id,
        resume is not None,
        counts["rewrapped"],
        counts["already"],
        counts["plaintext"],
        counts["erased"],
        failed,
        secrets,
    )


def destroy_key(
    hub: Hub, actor: Principal, key_id: str, *, crypto_erase: bool = False
) -> DestroyReport:
    """Destroy KEK ``key_id``; refused while objects name it, unless ``crypto_erase``."""
    custody = hub.custody()
    target = f"key:{key_id[:80]}"
    with hub.transaction() as session:
        details = {"op": "destroy", "crypto_erase": crypto_erase}
        authorize(hub, session, actor, Action.KEYS_MANAGE, target, details)
        try:
            check_key_id(key_id)
        except KeyUnavailableError as exc:  # a malformed id is a refused key use too
            _refuse_destroy(hub, session, actor, target, str(exc), KeyUnavailableError)
        known = {k.key_id: k for k in custody.keys()}  # noqa: SIM118 (a custody's keys)
        info = known.get(key_id)
        if info is None:
            _refuse_destroy(
                hub,
                session,
                actor,
                target,
                f"the custody holds no key {key_id!r}; list the keys with `passerelle keys list`",
                KeyUnavailableError,
            )
        if info.state is KekState.DESTROYED:
            _refuse_destroy(
                hub,
                session,
                actor,
                target,
                f"{key_id!r} was already destroyed on {info.destroyed:%Y-%m-%d}",
                ConflictError,
            )
        if info.state is KekState.CURRENT:
            _refuse_destroy(
                hub,
                session,
                actor,
                target,
                f"{key_id!r} is the current key-encryption "
                "key; rotate first (`passerelle keys rotate`), then destroy it",
                ConflictError,
            )
        secrets = sorted(n for n, k in _secrets_under(hub).items() if k == key_id)
        if secrets:
            _refuse_destroy(
                hub,
                session,
                actor,
                target,
                f"{key_id!r} wraps the hub's own secrets "
                f"({', '.join(secrets)}); rotate first (`passerelle keys rotate`)",
                ConflictError,
            )
    under = key_references(raw_store(hub)).get(key_id, 0)
    with hub.transaction() as session:
        if under and not crypto_erase:
            _refuse_destroy(
                hub,
                session,
                actor,
                target,
                f"{key_id!r} still protects {under} "
                "object(s); rotate them to the current key (`passerelle keys rotate`), "
                "or destroy it on purpose with --crypto-erase, which makes them unreadable",
                ConflictError,
                {"objects": under},
            )
        _refusal_audited(
            hub, session, actor, "keys.destroy", target, lambda: custody.destroy_key(key_id)
        )
        _event(
            hub,
            session,
            actor,
            "keys.destroy",
            target,
            {"custody": custody.kind, "crypto_erase": crypto_erase, "crypto_erased": under},
        )
    hub.forget_keys()
    return DestroyReport(key_id, under)


def refused_key_use_auditor(hub: Hub) -> Callable[[str, str, str], None]:
    """``on_refused`` for ``EncryptingStore``: one denied ``keys.use`` event per refusal."""

    def audit(key_id: str, object_key: str, reason: str) -> None:
        with hub.transaction() as session:
            append_event(
                hub,
                session,
                actor=SYSTEM,
                action="keys.use",
                target=f"key:{key_id}"[:200],
                decision="denied",
                details={"object": object_key[:1024], "reason": reason[:500]},
            )

    return audit


def _finish(
    hub: Hub,
    actor: Principal,
    key_id: str,
    phase: str,
    counts: Counter[str],
    failed: list[tuple[str, str]],
    secrets: int,
    error: str | None,
) -> None:
    details: dict[str, Any] = {"phase": phase, "key": key_id, **counts, "secrets": secrets}
    details["failed"] = len(failed)
    if failed:
        details["failures"] = [{"object": k, "reason": r} for k, r in failed[:_SHOWN_FAILURES]]
    if error:
        details["error"] = error
    with hub.transaction() as session:
        _event(hub, session, actor, "keys.rotate", f"key:{key_id}", details)


# -- small helpers ---------------------------------------------------------------------
def _view(info: Any, objects: int | None = None) -> KeyView:
    return KeyView(
        info.key_id, info.custody, str(info.state), info.created, info.destroyed, objects
    )


def _event(
    hub: Hub,
    session: Session,
    actor: Principal,
    action: str,
    target: str,
    details: dict[str, Any],
) -> None:
    append_event(
        hub,
        session,
        actor=actor.name,
        action=action,
        target=target,
        decision="allowed",
        details=details,
    )


def _refuse_destroy(
    hub: Hub,
    session: Session,
    actor: Principal,
    target: str,
    reason: str,
    error: type[PasserelleError],
    details: dict[str, Any] | None = None,
) -> NoReturn:
    """Audit a refused destruction, commit it, and raise ``error(reason)``."""
    append_event(
        hub,
        session,
        actor=actor.name,
        action="keys.destroy",
        target=target,
        decision="denied",
        details={**(details or {}), "reason": reason},
    )
    session.commit()
    raise error(reason)


def _refusal_audited(
    hub: Hub,
    session: Session,
    actor: Principal,
    action: str,
    target: str,
    op: Callable[[], Any],
) -> Any:
    """``op()``; when the custody refuses it, that refusal is audited before it is raised."""
    try:
        return op()
    except PasserelleError as exc:
        append_event(
            hub,
            session,
            actor=actor.name,
            action=action,
            target=target,
            decision="denied",
            details={"reason": str(exc)[:500]},
        )
        session.commit()
        raise


def _rewrap_secrets(hub: Hub, key_id: str) -> int:
    from passerelle.keys.wrapped_secrets import WrappedKeyStore

    return hub.keys.rewrap(key_id) if isinstance(hub.keys, WrappedKeyStore) else 0


def _secrets_under(hub: Hub) -> dict[str, str]:
    from passerelle.keys.wrapped_secrets import WrappedKeyStore

    return hub.keys.key_ids() if isinstance(hub.keys, WrappedKeyStore) else {}
