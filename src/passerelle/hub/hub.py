"""A hub: its config file, database, keys, stores and clock, built from arguments.

A hub lives in a directory holding ``hub.toml``::

    [hub]
    name = "hdh"
    database = "sqlite:///hub.db"            # or postgresql+psycopg://user@host:5432/hub
    store = "file://data"                    # where datasets and workspaces live (any store URL)
    checkpoints = "store"                    # signed audit checkpoints: "store" (the data store,
                                             # so they move with the hub) or any store URL
    keys = "keys.json"                       # a key file, or "env" for PASSERELLE_KEY_* variables
    checkpoint_every = 50                    # events between automatic checkpoints
    checkpoint_minutes = 10                  # and at most this many minutes between them,
    checkpoint_min_seconds = 1               # at least this many seconds (a busy hub signs
                                             # once a second, not every 50 events)
    witness = "s3://vault@hdh-audit-lock"    # write-once copies of the checkpoints: S3 Object
                                             # Lock (compliance) or file:///folder outside the hub
    witness_retain_days = 3650               # how long the witness's objects stay locked
    token_days = 90                          # longest lifetime of an API token (admins too)
    auth_failures = 10                       # failed authentications allowed per client address
    auth_window_seconds = 60                 # per window; then 429 until the window ends
    ingest_sources = ["az://landing@drop/"]  # URL prefixes stewards may ingest from
                                             # (unset: any URL the server can read)
    destinations = ["file:///mnt/replica/"]  # URL prefixes replicas and moves may write to
                                             # (unset: any configured remote, and local
                                             # folders beside the hub's directory)
    result_retention_days = 90               # days a query's stored result is kept, then
                                             # unreadable and purged (`passerelle queries purge`)
    query_max_rows = 100000                  # caps on one research query: rows kept,
    query_max_seconds = 60                   # seconds before its process is killed,
    query_max_memory_mb = 2048               # memory (the OS refuses more), DuckDB threads;
    query_max_threads = 2                    # `query` and the API may ask less, never more
    custody = "file"                         # who holds the key-encryption keys (KEKs): "file"
    kek_file = "keks.json"                   # (this file, mode 0600) or "pkcs11" (an HSM:
    pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"   # its PKCS#11 library,
    pkcs11_token = "passerelle"              # the token's label, and the environment variable
    pkcs11_pin_env = "PASSERELLE_HSM_PIN"    # holding the user PIN)
    encrypt = ["health-pseudonymized"]       # classifications written as ciphertext under
                                             # hub-held keys (client-side envelope encryption)
    catalog_url = "https://hdh.example.eu/"  # the hub's public address: every IRI of its
                                             # DCAT-AP catalog starts with it (unset:
                                             # https://NAME.invalid/, which resolves nowhere)
    catalog_country = "FRA"                  # the EU code of the country its datasets cover
    hdab_name = "Health Data Hub"            # the health data access body, the catalog's
    hdab_email = "dac@example.eu"            # publisher and contact point (unset: the hub's
                                             # name and hdab@NAME.invalid)

    [policy.health-pseudonymized]            # where each classification may live (optional;
    require = ["hds", "eea"]                 # none: anywhere): provider requirements, and
    ciphertext_elsewhere = true              # whether a provider failing them may hold it
                                             # encrypted (`passerelle init --policy national`)

Relative paths (in ``sqlite:///`` and ``file://`` URLs and ``keys``) are taken
from the hub directory. ``open_hub(path)`` reads it; ``init_hub`` writes it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.errors import ConfigError
from passerelle.hub.database import HubDatabase
from passerelle.hub.tables import utcnow
from passerelle.keys.hub_secrets import EnvKeyStore, FileKeyStore, KeyStore
from passerelle.sovereignty.policy import (
    DEFAULT_CLASSIFICATION,
    PlacementPolicy,
    check_classification,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.placement import Classifier
    from passerelle.keys.custody import KeyCustody
    from passerelle.live.replica_outbox import OutboxNoter
    from passerelle.research import ChildPool, QueryLimits, ScanCache
    from passerelle.research.caps import LimitRequest, QueryCaps
    from passerelle.storage import Store

__all__ = [
    "DEFAULT_HUB_DIR",
    "Hub",
    "HubConfig",
    "hub_dir_from_env",
    "load_config",
    "read_settings",
]

DEFAULT_HUB_DIR = "passerelle-hub"
CONFIG_NAME = "hub.toml"


@dataclass(frozen=True)
class HubConfig:
    directory: Path
    name: str = "passerelle-hub"
    database: str = "sqlite:///hub.db"
    store: str = "file://data"
    checkpoints: str = "store"
    keys: str = "keys.json"
    checkpoint_every: int = 50
    checkpoint_minutes: int = 10
    checkpoint_min_seconds: int = 1
    witness: str = ""
    witness_retain_days: int = 3650
    token_days: int = 90
    auth_failures: int = 10
    auth_window_seconds: int = 60
    ingest_sources: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    result_retention_days: int = 90
    query_max_rows: int = 100_000
    query_max_seconds: float = 60.0
    query_max_memory_mb: int = 2048
    query_max_threads: int = 2
    custody: str = "file"
    kek_file: str = "keks.json"
    pkcs11_module: str = ""
    pkcs11_token: str = ""
    pkcs11_pin_env: str = "PASSERELLE_HSM_PIN"
    encrypt: tuple[str, ...] = ()
    catalog_url: str = ""
    catalog_country: str = ""
    hdab_name: str = ""
    hdab_email: str = ""
    policy: PlacementPolicy = field(default_factory=PlacementPolicy)

    def query_caps(self) -> QueryCaps:
        """The most one research query may use on this hub (the ``query_max_*`` settings)."""
        from passerelle.research.caps import QueryCaps

        return QueryCaps(
            self.query_max_rows,
            self.query_max_seconds,
            self.query_max_memory_mb,
            self.query_max_threads,
        )

    def resolved_database(self) -> str:
        prefix = "sqlite:///"
        if self.database.startswith(prefix) and not self.database.startswith(prefix + "/"):
            rest = self.database[len(prefix) :]
            if rest and rest != ":memory:":
                return prefix + str((self.directory / rest).resolve())
        return self.database

    def resolve_url(self, url: str) -> str:
        if url.startswith("file://") and not url.startswith("file:///"):
            return "file://" + str((self.directory / url[len("file://") :]).resolve())
        return url

    def settings(self) -> dict[str, Any]:
        """The ``[hub]`` table as data: the settings every hub.toml names, and the optional
        ones only where they differ from their defaults."""
        from passerelle.research.caps import CAP_SETTINGS

        names = ["name", "database", "store", "checkpoints", "keys"]
        names += ["checkpoint_every", "checkpoint_minutes", "checkpoint_min_seconds"]
        names += ["witness", "witness_retain_days"] if self.witness else []
        names += ["token_days", "auth_failures", "auth_window_seconds", "result_retention_days"]
        names += [n for n in ("ingest_sources", "destinations") if getattr(self, n)]
        if self.custody != "file" or self.kek_file != "keks.json":
            names += ["custody", "kek_file"]
        if self.custody == "pkcs11":
            names += ["pkcs11_module", "pkcs11_token", "pkcs11_pin_env"]
        names += ["encrypt"] if self.encrypt else []
        catalog = ("catalog_url", "catalog_country", "hdab_name", "hdab_email")
        names += [n for n in catalog if getattr(self, n)]
        defaults = HubConfig.__dataclass_fields__
        names += [n for n in CAP_SETTINGS if getattr(self, n) != defaults[n].default]
        values = {n: getattr(self, n) for n in names}
        return {n: list(v) if isinstance(v, tuple) else v for n, v in values.items()}

    def document(self) -> dict[str, Any]:
        """The whole of hub.toml as data: ``[hub]`` and any ``[policy.*]`` tables."""
        tables = self.policy.tables()
        return {"hub": self.settings(), **({"policy": tables} if tables else {})}

    def to_toml(self) -> str:
        """hub.toml's text, written by ``tomli_w`` (every string escaped, never spliced)."""
        import tomli_w

        return tomli_w.dumps(self.document())


def hub_dir_from_env(explicit: str | Path | None = None) -> Path:
    """The hub directory: the argument, else ``$PASSERELLE_HUB``, else ./passerelle-hub."""
    return Path(explicit or os.environ.get("PASSERELLE_HUB") or DEFAULT_HUB_DIR)


def read_settings(path: Path) -> dict[str, Any]:
    """The ``[hub]`` settings of a TOML file, checked (``hub.toml`` or an ``init --config``)."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    section = data.get("hub")
    if not isinstance(section, dict):
        raise ConfigError(f"{path} has no [hub] section")
    allowed = set(HubConfig.__dataclass_fields__) - {"directory", "policy"}
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(f"{path}: unknown setting {sorted(unknown)[0]!r} in [hub]")
    unknown_tables = sorted(set(data) - {"hub", "policy"})
    if unknown_tables:
        raise ConfigError(
            f"{path}: unknown section [{unknown_tables[0]}]; use [hub] and [policy.*]"
        )
    from passerelle.hub.config_file import check_text_settings

    check_text_settings(section, str(path))  # strings, one line each, before any other check
    if "encrypt" in section:
        chosen = section["encrypt"]
        if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
            raise ConfigError(f"{path}: encrypt must be a list of classifications")
        for c in chosen:
            check_classification(c, f"classification in {path} encrypt")
        section = {**section, "encrypt": tuple(chosen)}
    if "policy" in data:
        section = {**section, "policy": PlacementPolicy.parse(data["policy"], str(path))}
    if section.get("custody", "file") not in ("file", "pkcs11"):
        raise ConfigError(f'{path}: custody must be "file" or "pkcs11"')
    if "ingest_sources" in section:
        sources = section["ingest_sources"]
        if not isinstance(sources, list) or not all(isinstance(u, str) for u in sources):
            raise ConfigError(f"{path}: ingest_sources must be a list of URL prefixes")
        section = {**section, "ingest_sources": tuple(sources)}
    if "destinations" in section:
        places = section["destinations"]
        if not isinstance(places, list) or not all(isinstance(u, str) and u for u in places):
            raise ConfigError(f"{path}: destinations must be a list of URL prefixes")
        section = {**section, "destinations": tuple(places)}
    for name in (
        "checkpoint_every",
        "checkpoint_minutes",
        "checkpoint_min_seconds",
        "witness_retain_days",
    ):
        value = section.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{path}: {name} must be a whole number, 0 or more")
    retention = section.get("result_retention_days", 1)
    if isinstance(retention, bool) or not isinstance(retention, int) or retention < 1:
        raise ConfigError(
            f"{path}: result_retention_days must be a whole number of days, 1 or more"
        )
    from passerelle.research.caps import QueryCaps

    QueryCaps.from_settings(section, str(path))  # the query_max_* caps are checked here
    _check_catalog_settings(section, str(path))
    return section


def _check_catalog_settings(section: dict[str, Any], where: str) -> None:
    """The DCAT-AP catalog's settings (one-line strings by now): URL, country and e-mail."""
    from passerelle.errors import UsageError
    from passerelle.hub.dcat import check_catalog_url, check_country, check_email

    try:
        if section.get("catalog_url"):
            check_catalog_url(section["catalog_url"])
        check_country(section.get("catalog_country", ""))
        if section.get("hdab_email"):
            check_email(section["hdab_email"])
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_config(directory: Path) -> HubConfig:
    path = directory / CONFIG_NAME
    if not path.exists():
        raise ConfigError(
            f"no hub at {directory} ({CONFIG_NAME} missing): run `passerelle init` "
            "or point --hub / PASSERELLE_HUB at an existing hub"
        )
    section = read_settings(path)
    try:
        return HubConfig(directory=directory.resolve(), **section)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


@dataclass
class Hub:
    """Everything a hub service needs, passed explicitly (no globals)."""

    config: HubConfig
    db: HubDatabase
    keys: KeyStore
    clock: Callable[[], datetime] = field(default=utcnow)
    _stores: dict[str, Store] = field(default_factory=dict)
    _checkpoint_state: Any = None  # checkpoints.CheckpointState, loaded on first use
    _checkpoint_known: Any = None  # checkpoint_listing._Known, what its signer has listed
    _witness: Any = None  # witness.Witness, or False when the hub has none
    _scan_cache: ScanCache | None = None
    _sandbox_pool: ChildPool | None = None
    _custody: KeyCustody | None = None
    _classifier: Classifier | None = None
    _encrypting_views: list[Any] = field(default_factory=list)  # EncryptingStore, as opened
    _replica_noter: Any = None  # replica_outbox.OutboxNoter, shared by every live store

    @classmethod
    def open(cls, directory: str | Path | None = None) -> Hub:
        config = load_config(hub_dir_from_env(directory))
        return cls.from_config(config)

    @classmethod
    def from_config(cls, config: HubConfig) -> Hub:
        keys: KeyStore
        if config.keys == "env":
            keys = EnvKeyStore()
        elif config.keys.startswith("wrapped:"):  # wrapped by the custody's KEK, opened on use
            from passerelle.keys.wrapped_secrets import WrappedKeyStore, wrapped_path

            path = (config.directory / str(wrapped_path(config.keys))).resolve()
            hub = cls(config, HubDatabase(config.resolved_database()), EnvKeyStore())
            hub.keys = WrappedKeyStore(path, hub.custody)
            return hub
        else:
            keys = FileKeyStore((config.directory / config.keys).resolve())
        return cls(config, HubDatabase(config.resolved_database()), keys)

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction; afterwards, when it appended to the audit log, a signed
        checkpoint if one is due (``append_event`` notes the seq it wrote)."""
        from passerelle.hub.checkpoints import APPENDED_SEQ, checkpoint_if_due

        opened: list[Session] = []
        try:
            with self.db.transaction() as session:
                opened.append(session)
                yield session
        finally:
            appended = opened[0].info.get(APPENDED_SEQ) if opened else None
            if appended is not None:
                checkpoint_if_due(self, appended)

    def replica_noter(self) -> OutboxNoter:
        """What notes each write to the hub's store for its replicas (one per hub)."""
        if self._replica_noter is None:
            from passerelle.live.replica_outbox import OutboxNoter

            self._replica_noter = OutboxNoter(self)
        noter: OutboxNoter = self._replica_noter
        return noter

    def store(self, which: str = "store") -> Store:
        """The hub's data store (``store``, routed by any live move) or ``checkpoints``."""
        if which not in self._stores:
            if which == "checkpoints" and self.config.checkpoints == "store":
                return self.store("store")
            if which == "store":
                self._stores[which] = self._classified("")
            else:
                self._stores[which] = self.open_url(
                    self.config.resolve_url(getattr(self.config, which))
                )
        return self._stores[which]

    def store_at(self, prefix: str, *, classification: str | None = None) -> Store:
        """The hub's data store seen from ``prefix`` (keys relative to it), live-routed, and
        encrypted where its classification is in hub.toml ``encrypt``.

        ``prefix`` is checked like a key (``storage.keys``): it cannot climb out.
        ``classification`` is what a writer is about to register there (an ingest before
        its catalog entry exists); otherwise each key's folder and the catalog decide."""
        from passerelle.storage.keys import check_prefix

        root = check_prefix(prefix, what="store prefix")
        if classification is not None:
            check_classification(classification)
        key = f"at:{root}:{classification or ''}"
        if key not in self._stores:
            from passerelle.errors import PasserelleError

            store = self._classified(root, classification)
            with suppress(PasserelleError):  # local folders need creating; buckets exist
                store.create_container()
            self._stores[key] = store
        return self._stores[key]

    def _classified(self, root: str, classification: str | None = None) -> Store:
        """The live store below ``root``, each key through plaintext or ciphertext."""
        from passerelle.live.binding import live_store

        live = live_store(self, root)
        if not self.config.encrypt:
            return live
        from passerelle.hub.classified_store import ClassifiedStore

        encrypted: list[Store] = []

        def encrypting() -> Store:
            if not encrypted:
                from passerelle.storage.encrypting import EncryptingStore

                view = EncryptingStore(
                    live, self.custody(), identity_prefix=root, on_refused=self._refused_key_use()
                )
                encrypted.append(view)
                self._encrypting_views.append(view)
            return encrypted[0]

        if classification is not None:
            fixed = classification in self.config.encrypt
            return ClassifiedStore(live, encrypting, lambda _key: fixed)
        classifier = self.classifier()

        def encrypts(key: str) -> bool | None:
            return classifier.encrypts(f"{root}/{key}" if root else key)

        return ClassifiedStore(
            live,
            encrypting,
            encrypts,
            unclaimed_encrypted=DEFAULT_CLASSIFICATION in self.config.encrypt,
        )

    def _refused_key_use(self) -> Callable[[str, str, str], None] | None:
        try:
            from passerelle.hub.key_admin import refused_key_use_auditor
        except ImportError:
            return None
        auditor: Callable[[str, str, str], None] = refused_key_use_auditor(self)
        return auditor

    def classifier(self) -> Classifier:
        """Which classification each key of the hub's store holds (folder and catalog)."""
        if self._classifier is None:
            from passerelle.hub.placement import Classifier

            self._classifier = Classifier(self)
        return self._classifier

    def custody(self) -> KeyCustody:
        """Who holds this hub's key-encryption keys (``custody`` in hub.toml), opened once."""
        if self._custody is None:
            from passerelle.keys.opening import open_custody

            self._custody = open_custody(self.config)
        return self._custody

    def query_limits(self, request: LimitRequest | None = None) -> QueryLimits:
        """The limits of one research query: ``request`` within the hub's caps (else refused)."""
        from passerelle.research.caps import resolve_limits

        return resolve_limits(self.config.query_caps(), request)

    def sandbox_pool(self) -> ChildPool:
        """A sandbox child started ahead for the next research query (one query each)."""
        if self._sandbox_pool is None:
            from passerelle.research import ChildPool

            self._sandbox_pool = ChildPool(1)
        return self._sandbox_pool

    def scan_cache(self) -> ScanCache:
        """Local copies of granted Parquet kept between queries (``cache/scan``, mode 0700)."""
        if self._scan_cache is None:
            from passerelle.research import ScanCache

            self._scan_cache = ScanCache(self.config.directory / "cache" / "scan")
        return self._scan_cache

    def open_url(self, url: str) -> Store:
        """A store by URL, opened once per hub."""
        key = "url:" + url
        if key not in self._stores:
            from passerelle.storage import open_store

            self._stores[key] = open_store(url)
        return self._stores[key]

    def forget_keys(self) -> None:
        """Drop every data key this hub's encrypting views hold unwrapped in memory (after a
        KEK is destroyed, so no object under it stays readable from a cache; the scan cache
        holds only ciphertext and unwraps through the custody on every query)."""
        for view in self._encrypting_views:
            view.forget_keys()

    def close(self) -> None:
        if self._replica_noter is not None:
            self._replica_noter.flush()  # writes queued for the replicas' outbox
        if self._sandbox_pool is not None:
            self._sandbox_pool.close()
        self.db.dispose()
