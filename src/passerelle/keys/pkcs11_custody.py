"""KEKs inside a PKCS#11 token (an HSM, a cloud HSM, or SoftHSM2 for tests).

Each KEK is an AES-256 secret key generated *in* the token (``CKA_TOKEN``,
``CKA_PRIVATE``, ``CKA_SENSITIVE``, never ``CKA_EXTRACTABLE``, usable only to encrypt
and decrypt: no ``CKA_WRAP``, so it cannot export other keys either). Wrapping a
data key is AES-GCM computed by the token: ``wrapped = nonce(12) || ciphertext || tag(16)``
(60 bytes for a 32-byte data key, the same layout as ``FileCustody``), the caller's
``context`` as associated data. The key bytes never reach this process.

The registry: one private ``CKO_DATA`` object per KEK (``CKA_APPLICATION``
``passerelle-kek/<namespace>``, ``CKA_LABEL`` the key id, ``CKA_VALUE`` JSON with the
id, state and dates). Labels alone cannot do it: a destroyed KEK's key object is
gone, yet `keys list` and the audit must still name it and its dates. SoftHSM2
keeps a data object's value read-only, so a state change writes a new object and
then removes the old one; states only move forward (current, retired, destroyed),
so after a crash between the two the most advanced state wins. The key object is
labelled ``passerelle/<namespace>/<key id>``; the namespace (the hub's name) lets
several hubs share a token without seeing each other's keys.

One session per (module, token) per process, shared by every instance, and one
lock per module around every call: a module initialized without locking
arguments (SoftHSM2) must not be entered by two threads at once.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from passerelle.errors import (
    AuthenticationError,
    ConfigError,
    KeyUnavailableError,
    TamperedDataError,
)
from passerelle.keys.custody import KekInfo, KekState, check_key_id

__all__ = ["Pkcs11Custody"]

_NONCE = 12
_TAG_BITS = 128
_ORDER = {KekState.CURRENT: 0, KekState.RETIRED: 1, KekState.DESTROYED: 2}
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_T = TypeVar("_T")

_GLOBAL = threading.Lock()
_LIBS: dict[str, tuple[Any, threading.RLock]] = {}  # module path -> (pkcs11.lib, its lock)
_CONNECTIONS: dict[tuple[str, str], _Connection] = {}


@dataclass
class _Record:
    key_id: str
    state: KekState
    created: str
    destroyed: str | None
    objects: list[Any]


class _Connection:
    """One logged-in session on one token, reopened once if the token drops it."""

    def __init__(self, lib: Any, lock: threading.RLock, module: str, label: str, pin: str):
        self.lib, self.lock, self.module, self.label = lib, lock, module, label
        self._pin = pin
        self.session: Any = None
        self.open()

    def open(self) -> None:
        from pkcs11 import exceptions as p11

        try:
            token = self.lib.get_token(token_label=self.label)
        except p11.NoSuchToken:
            raise ConfigError(
                f"the PKCS#11 module {self.module} has no token labelled {self.label!r}; "
                "initialize it (softhsm2-util --init-token) or fix pkcs11_token in hub.toml"
            ) from None
        except p11.MultipleTokensReturned:
            raise ConfigError(
                f"several tokens of {self.module} are labelled {self.label!r}; "
                "give each token a distinct label"
            ) from None
        try:
            self.session = token.open(rw=True, user_pin=self._pin)
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
            raise AuthenticationError(
                f"the HSM token {self.label!r} refused the PIN; "
                "check the variable named by pkcs11_pin_env in hub.toml"
            ) from None
        except p11.PinLocked:
            raise AuthenticationError(
                f"the user PIN of HSM token {self.label!r} is locked after too many wrong "
                "tries; its security officer must unlock it"
            ) from None
        except p11.UserPinNotInitialized:
            raise ConfigError(
                f"the HSM token {self.label!r} has no user PIN yet; "
                "its security officer must set one (softhsm2-util --init-token --pin ...)"
            ) from None
        except p11.PKCS11Error as exc:
            raise KeyUnavailableError(
                f"cannot log in to HSM token {self.label!r} ({_name(exc)}); "
                "check the token and its module"
            ) from None

    def matches(self, pin: str) -> bool:
        return secrets.compare_digest(self._pin.encode(), pin.encode())


def _name(exc: BaseException) -> str:
    return type(exc).__name__


def _load(module: str) -> tuple[Any, threading.RLock]:
    """The module loaded and initialized once per process (unloading it finalizes it)."""
    found = _LIBS.get(module)
    if found is not None:
        return found
    if not Path(module).is_file():
        raise ConfigError(
            f"the PKCS#11 module {module!r} does not exist; install it (Debian: "
            "apt-get install softhsm2) or fix pkcs11_module in hub.toml"
        )
    import pkcs11

    try:
        lib = pkcs11.lib(module)
    except pkcs11.PKCS11Error as exc:
        detail = str(exc).rsplit(": ", 1)[-1] or _name(exc)
        raise ConfigError(
            f"{module} cannot be loaded as a PKCS#11 module ({detail}); "
            "fix pkcs11_module in hub.toml"
        ) from None
    _LIBS[module] = (lib, threading.RLock())
    return _LIBS[module]


def _connect(module: str, label: str, pin: str) -> _Connection:
    if not module:
        raise ConfigError("pkcs11_module is not set; name the token's PKCS#11 library in hub.toml")
    if not label:
        raise ConfigError("pkcs11_token is not set; name the token's label in hub.toml")
    with _GLOBAL:
        lib, lock = _load(module)
        with lock:
            conn = _CONNECTIONS.get((module, label))
            if conn is not None:
                if not conn.matches(pin):
                    raise AuthenticationError(
                        f"the PIN for HSM token {label!r} is not the one this process logged "
                        "in with; check the variable named by pkcs11_pin_env in hub.toml"
                    )
                return conn
            conn = _Connection(lib, lock, module, label, pin)
            _CONNECTIONS[(module, label)] = conn
            return conn


class Pkcs11Custody:
    """KEKs as non-extractable AES keys in a PKCS#11 token, used inside it."""

    kind = "pkcs11"

    def __init__(
        self, module: str, token_label: str, pin: str, *, namespace: str = "passerelle"
    ) -> None:
        if not _NAMESPACE.fullmatch(namespace):
            raise ConfigError(
                f"{namespace!r} cannot name this hub's keys on the token; "
                "use 1-64 letters, digits, '.', '_' or '-'"
            )
        self.module, self.token_label, self.namespace = module, token_label, namespace
        self._application = f"passerelle-kek/{namespace}"
        self._conn = _connect(module, token_label, pin)

    def __repr__(self) -> str:
        return f"Pkcs11Custody({self.module!r}, {self.token_label!r}, namespace={self.namespace!r})"

    # -- the contract ---------------------------------------------------------------
    def current_key_id(self) -> str:
        current = self._current(self._run(self._records))
        if current is None:
            raise KeyUnavailableError(
                f"the HSM token {self.token_label!r} holds no current key-encryption key for "
                f"{self.namespace!r}; create one with `passerelle keys create`"
            )
        return current.key_id

    def create_key(self) -> str:
        return self._run(self._create)

    def wrap(self, key_id: str, data_key: bytes, context: bytes) -> bytes:
        check_key_id(key_id)
        nonce = secrets.token_bytes(_NONCE)

        def run() -> bytes:
            key = self._key(key_id)
            out: bytes = key.encrypt(bytes(data_key), **_gcm(nonce, context))
            return out

        return nonce + self._run(run)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        from pkcs11 import exceptions as p11

        check_key_id(key_id)
        wrapped = bytes(wrapped)

        def run() -> bytes:
            key = self._key(key_id)
            if len(wrapped) < _NONCE + _TAG_BITS // 8:
                raise TamperedDataError(
                    f"a data key wrapped under {key_id!r} is too short to be genuine; "
                    "the object's key metadata was damaged or altered"
                )
            try:
                out: bytes = key.decrypt(wrapped[_NONCE:], **_gcm(wrapped[:_NONCE], context))
            except (  # SoftHSM2 answers a failed GCM tag with CKR_GENERAL_ERROR
                p11.GeneralError,
                p11.EncryptedDataInvalid,
                p11.EncryptedDataLenRange,
                p11.DataInvalid,
                p11.DataLenRange,
                p11.FunctionFailed,
            ):
                raise TamperedDataError(
                    f"a data key wrapped under {key_id!r} does not belong to this object; "
                    "its key metadata or identity was altered"
                ) from None
            return out

        return self._run(run)

    def destroy_key(self, key_id: str) -> None:
        check_key_id(key_id)
        self._run(lambda: self._destroy(key_id))

    def keys(self) -> list[KekInfo]:
        records = self._run(self._records)
        current = self._current(records)
        out = []
        for r in sorted(records.values(), key=lambda r: (r.created, r.key_id)):
            state = r.state
            if state is KekState.CURRENT and r is not current:
                state = KekState.RETIRED  # a crash left two current: the newest one is
            out.append(
                KekInfo(
                    r.key_id,
                    self.kind,
                    state,
                    datetime.fromisoformat(r.created),
                    datetime.fromisoformat(r.destroyed) if r.destroyed else None,
                )
            )
        return out

    # -- inside the token (callers hold the lock) -------------------------------------
    def _run(self, action: Callable[[], _T]) -> _T:
        """``action`` under the module's lock; a dropped session is reopened once."""
        from pkcs11 import exceptions as p11

        lost = (
            p11.SessionHandleInvalid,
            p11.SessionClosed,
            p11.DeviceRemoved,
            p11.TokenNotPresent,
            p11.UserNotLoggedIn,
        )
        with self._conn.lock:
            for attempt in (1, 2):
                try:
                    return action()
                except lost as exc:
                    if attempt == 2:
                        raise KeyUnavailableError(
                            f"the session with HSM token {self.token_label!r} keeps dropping "
                            f"({_name(exc)}); check the token is present and its module's log"
                        ) from None
                    self._conn.open()
                except p11.PKCS11Error as exc:
                    raise KeyUnavailableError(
                        f"the HSM token {self.token_label!r} refused the operation "
                        f"({_name(exc)}); check the token and its module's log"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _records(self) -> dict[str, _Record]:
        from pkcs11 import Attribute, ObjectClass

        found: dict[str, _Record] = {}
        query = {Attribute.CLASS: ObjectClass.DATA, Attribute.APPLICATION: self._application}
        for obj in self._conn.session.get_objects(query):
            try:
                data = json.loads(bytes(obj[Attribute.VALUE]))
                record = _Record(
                    check_key_id(data["id"]),
                    KekState(data["state"]),
                    datetime.fromisoformat(data["created"]).isoformat(),
                    data.get("destroyed"),
                    [obj],
                )
            except (ValueError, KeyError, TypeError, KeyUnavailableError):
                raise ConfigError(
                    f"the HSM token {self.token_label!r} holds a damaged key registry entry "
                    f"for {self.namespace!r}; restore the token from its backup"
                ) from None
            known = found.get(record.key_id)
            if known is None:
                found[record.key_id] = record
            elif _ORDER[record.state] > _ORDER[known.state]:
                record.objects += known.objects
                found[record.key_id] = record
            else:
                known.objects += record.objects
        return found

    @staticmethod
    def _current(records: dict[str, _Record]) -> _Record | None:
        currents = [r for r in records.values() if r.state is KekState.CURRENT]
        return max(currents, key=lambda r: (r.created, r.key_id), default=None)

    def _write(self, record: _Record) -> None:
        """Replace the registry entry: the new object first, then the old ones."""
        from pkcs11 import Attribute, ObjectClass

        value = {"id": record.key_id, "state": record.state.value, "created": record.created}
        if record.destroyed:
            value["destroyed"] = record.destroyed
        new = self._conn.session.create_object(
            {
                Attribute.CLASS: ObjectClass.DATA,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.APPLICATION: self._application,
                Attribute.LABEL: record.key_id,
                Attribute.VALUE: json.dumps(value, sort_keys=True).encode(),
            }
        )
        for old in record.objects:
            old.destroy()
        record.objects = [new]

    def _label(self, key_id: str) -> str:
        return f"passerelle/{self.namespace}/{key_id}"

    def _key_objects(self, key_id: str) -> list[Any]:
        from pkcs11 import Attribute, ObjectClass

        query = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: self._label(key_id)}
        return list(self._conn.session.get_objects(query))

    def _key(self, key_id: str) -> Any:
        """The KEK's key object (looked up on each use, so a destroy elsewhere counts)."""
        found = self._key_objects(key_id)
        if found:
            return found[0]
        record = self._records().get(key_id)
        if record is not None and record.state is KekState.DESTROYED:
            raise KeyUnavailableError(
                f"the key-encryption key {key_id!r} was destroyed on {record.destroyed}: "
                "the objects under it are crypto-erased and cannot be read"
            )
        if record is not None:
            raise KeyUnavailableError(
                f"the key-encryption key {key_id!r} is listed but missing from HSM token "
                f"{self.token_label!r} (deleted outside passerelle); restore the token from backup"
            )
        raise KeyUnavailableError(
            f"no key-encryption key {key_id!r} is in HSM token {self.token_label!r} for "
            f"{self.namespace!r}; the objects under it cannot be read here"
        )

    def _create(self) -> str:
        from pkcs11 import Attribute, KeyType, MechanismFlag

        records = self._records()
        key_id = _new_key_id(records)
        self._conn.session.generate_key(
            KeyType.AES,
            256,
            label=self._label(key_id),
            id=self._label(key_id).encode(),
            store=True,
            capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
            template={
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.MODIFIABLE: False,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.DERIVE: False,
                Attribute.SIGN: False,
                Attribute.VERIFY: False,
            },
        )
        self._write(_Record(key_id, KekState.CURRENT, _now(), None, []))
        for record in records.values():
            if record.state is KekState.CURRENT:
                record.state = KekState.RETIRED
                self._write(record)
        return key_id

    def _destroy(self, key_id: str) -> None:
        records = self._records()
        record = records.get(key_id)
        if record is None:
            raise KeyUnavailableError(
                f"HSM token {self.token_label!r} has no key {key_id!r} for {self.namespace!r}"
            )
        if record is self._current(records):
            raise KeyUnavailableError(
                f"{key_id!r} is the current key-encryption key; "
                "rotate to a new one (`passerelle keys rotate`) before destroying it"
            )
        for obj in self._key_objects(key_id):  # the key first: a crash leaves it erased
            obj.destroy()
        if record.state is not KekState.DESTROYED:
            record.state, record.destroyed = KekState.DESTROYED, _now()
            self._write(record)


def _gcm(nonce: bytes, context: bytes) -> dict[str, Any]:
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    return {
        "mechanism": Mechanism.AES_GCM,
        "mechanism_param": GCMParams(nonce, bytes(context), _TAG_BITS),
    }


def _now() -> str:
    """Microseconds: two keys made in the same second still sort by creation."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _new_key_id(taken: dict[str, Any]) -> str:
    """``kek-YYYYMMDD-<8 hex>``: sortable by day, unique by chance."""
    while True:
        key_id = f"kek-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
        if key_id not in taken:
            return key_id
