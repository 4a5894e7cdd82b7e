"""The hub's metadata database: SQLite (embedded default) or PostgreSQL.

``HubDatabase(url)`` builds the engine, ``upgrade()`` applies the Alembic
migrations, and ``transaction()`` yields a session whose transaction holds the
write lock for its whole length, so an action and its audit event commit
together and two writers can never fork the audit chain:

- SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (WAL mode, busy timeout);
- PostgreSQL: the audit append takes a transaction-level advisory lock
  (``lock_audit``), and the table's unique ``prev_hash`` refuses a fork anyway.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from passerelle.errors import ConfigError, ConflictError, EndpointUnreachableError, UsageError

if TYPE_CHECKING:
    from sqlalchemy import TextClause
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

__all__ = ["HubDatabase", "chunked"]

_AUDIT_LOCK_ID = 0x7061_7373  # "pass"


class HubDatabase:
    """One hub database, built from its SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError
        from sqlalchemy.orm import sessionmaker

        self.url = url
        try:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"timeout": 60})
                event.listen(engine, "connect", _sqlite_on_connect)
                event.listen(engine, "begin", _sqlite_begin_immediate)
            elif url.startswith("postgresql"):
                engine = create_engine(url, pool_size=20, max_overflow=40)
                _ping_when_idle(engine)
            else:
                raise ConfigError(
                    f"unsupported hub database {url!r}: use sqlite:///PATH or "
                    "postgresql+psycopg://USER@HOST:PORT/DB"
                )
        except ArgumentError as exc:
            raise ConfigError(f"cannot parse the hub database URL {url!r}: {exc}") from exc
        self.engine: Engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Closed when garbage-collected or at exit (before the CLI skips native teardown):
        # SQLite checkpoints its WAL into hub.db and removes -wal/-shm on the last close.
        weakref.finalize(self, engine.dispose)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self, revision: str = "head") -> None:
        """Create or migrate the schema to ``revision`` (the newest by default)."""
        from alembic import command

        with self._connect() as connection:
            config = self._alembic_config(connection)
            command.upgrade(config, revision)
            connection.commit()

    def downgrade(self, revision: str) -> None:
        """Take the schema back to ``revision`` (tests of ``passerelle upgrade`` use it)."""
        from alembic import command

        with self._connect() as connection:
            config = self._alembic_config(connection)
            command.downgrade(config, revision)
            connection.commit()

    @staticmethod
    def _alembic_config(connection: Any) -> Any:
        from alembic.config import Config

        config = Config()
        location = resources.files("passerelle.hub") / "migrations"
        config.set_main_option("script_location", str(location))
        config.attributes["connection"] = connection
        return config

    def revision(self) -> str | None:
        """The schema's Alembic revision, or None for an empty database."""
        from alembic.runtime.migration import MigrationContext

        with self._connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one write transaction: committed on success, rolled back on error."""
        with self._sessions() as session:
            try:
                with session.begin():
                    yield session
            except _db_errors() as exc:
                raise _translate(exc, self.url) from exc
            except _integrity_errors() as exc:
                raise ConflictError(
                    "the change clashes with data written at the same time; retry it"
                ) from exc
            except _data_errors() as exc:
                raise UsageError(
                    "a value is too long or holds characters the database refuses; shorten "
                    "or clean it"
                ) from exc

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session that never waits for writers (SQLite WAL snapshot)."""
        from sqlalchemy.orm import Session

        with self._connect() as connection:
            reader = connection.execution_options(passerelle_read_only=True)
            with Session(bind=reader) as session, session.begin():
                yield session

    @contextmanager
    def read_one(self) -> Iterator[Session]:
        """A session for one read statement. On PostgreSQL it runs outside a transaction
        (autocommit: the statement is its own snapshot, without the BEGIN and COMMIT round
        trips that every request's token check paid); elsewhere it is :meth:`read`."""
        from sqlalchemy.orm import Session

        if self.dialect != "postgresql":
            with self.read() as session:
                yield session
            return
        with self._connect() as connection:
            single = connection.execution_options(isolation_level="AUTOCOMMIT")
            with Session(bind=single) as session:
                yield session

    def lock_audit(self, session: Session) -> None:
        """Serialize audit appends and checkpoint signing: PostgreSQL's advisory lock, or
        SQLite's write lock, taken now (``BEGIN IMMEDIATE`` runs when the session first
        connects, so a caller's work before its first query is under the lock too)."""
        if self.dialect == "postgresql":
            session.connection().execute(_advisory_lock(), {"id": _AUDIT_LOCK_ID})
        else:
            session.connection()

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except _db_errors() as exc:
            raise _translate(exc, self.url) from exc


@cache
def _advisory_lock() -> TextClause:
    from sqlalchemy import text

    return text("SELECT pg_advisory_xact_lock(:id)")


IDLE_PING_SECONDS = 5.0
"""A pooled PostgreSQL connection unused this long is pinged before it is handed out."""
_RETURNED = "passerelle_returned"


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection on checkout when it sat idle over ``IDLE_PING_SECONDS``
    (SQLAlchemy's ``pool_pre_ping`` pinged on every checkout: a round trip, twice a
    request, where the connection had served a request milliseconds before). A dead one
    invalidates the pool, as ``pool_pre_ping`` did, and the checkout reconnects; one that
    died in the last seconds fails its request with the database's 503 sentence, and the
    pool is invalidated then."""
    import time

    from sqlalchemy import event
    from sqlalchemy.exc import InvalidatePoolError

    @event.listens_for(engine, "checkin")
    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_RETURNED)
        if last is None or time.monotonic() - last < IDLE_PING_SECONDS:
            return  # just connected, or in use moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise InvalidatePoolError("the pooled connection is dead") from exc


def chunked(ids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    """``ids`` in slices small enough for one ``IN (...)`` on every database (pure)."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    read_only = connection.get_execution_options().get("passerelle_read_only")
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _db_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return (OperationalError, PoolTimeout)


def _data_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DataError

    return (DataError,)


def _integrity_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import IntegrityError

    return (IntegrityError,)


def _translate(exc: BaseException, url: str) -> Exception:
    text = str(exc).lower()
    safe = url.split("@")[-1]
    if "could not connect" in text or "connection refused" in text or "connection failed" in text:
        return EndpointUnreachableError(
            f"cannot reach the hub database at {safe}: start it or fix `database` in hub.toml"
        )
    if "unable to open database file" in text:
        return ConfigError(f"cannot open the hub database at {safe}: check the path exists")
    return EndpointUnreachableError(f"the hub database at {safe} failed: {exc}")
