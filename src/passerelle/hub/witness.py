"""Witnesses: write-once copies of the audit checkpoints, out of the database's reach.

One small contract, two implementations, chosen by the ``witness`` URL in
``hub.toml``:

- ``s3://[remote@]bucket[/prefix]``: :class:`ObjectLockWitness`, the real one.
  Each checkpoint is one object put with S3 Object Lock in COMPLIANCE mode and
  a retain-until date, in a bucket created with Object Lock enabled: until that
  date nobody (not the hub, not the bucket's owner) can delete or overwrite the
  locked version. A delete without a version id only adds a delete marker, and
  an overwrite only adds a newer version, so the witness reads every key's
  *first* version and ignores markers.
- ``file:///absolute/folder``: :class:`FolderWitness`, an append-only JSON-lines
  file outside the hub folder, for the demo and small hubs. Whoever can write
  that file can still truncate it: it only raises the bar.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from passerelle.errors import ConfigError, PasserelleError, ServiceError
from passerelle.hub.checkpoint_chain import Checkpoint

if TYPE_CHECKING:
    from passerelle.hub.hub import HubConfig
    from passerelle.storage.admin import S3Admin

__all__ = [
    "FolderWitness",
    "ObjectLockWitness",
    "Witness",
    "open_witness",
    "prepare_witness",
]


class Witness(Protocol):
    """Where checkpoints are kept write-once; ``numbers`` lists all, ``get`` reads one."""

    @property
    def description(self) -> str: ...

    def record(self, checkpoint: Checkpoint) -> None: ...

    def numbers(self) -> list[int]: ...

    def numbers_after(self, after: int) -> list[int]:
        """The numbers above ``after``, listing only those where the witness can."""
        ...

    def get(self, number: int) -> Checkpoint | None: ...


def _name(number: int) -> str:
    return f"{number:012d}.json"


def _number_of(key: str) -> int | None:
    from passerelle.storage.keys import ascii_number

    name = key.rsplit("/", 1)[-1]  # exactly what _name writes: 12 digits, as the store's
    is_checkpoint = name.endswith(".json") and len(name) == len(_name(0))
    return ascii_number(name.removesuffix(".json")) if is_checkpoint else None


def _parse(data: bytes | str, where: str) -> Checkpoint:
    try:
        return Checkpoint.from_json(data)
    except ValueError:
        raise ServiceError(
            f"{where} holds something that is not a checkpoint; the witness was damaged, "
            "compare it with a copy kept elsewhere"
        ) from None


@dataclass
class FolderWitness:
    """One append-only JSON-lines file per hub in a folder outside the hub folder."""

    path: Path

    @property
    def description(self) -> str:
        return f"append-only file {self.path}"

    def record(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (checkpoint.to_json() + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _all(self) -> dict[int, Checkpoint]:
        found: dict[int, Checkpoint] = {}
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return found
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                cp = Checkpoint.from_json(line)
            except ValueError:
                if i == len(lines) - 1:
                    continue  # a write cut short by a crash: the next record follows it
                raise ServiceError(
                    f"line {i + 1} of {self.path} is not a checkpoint; the witness file was "
                    "edited, compare it with a copy kept elsewhere"
                ) from None
            found.setdefault(cp.number, cp)  # write-once: the first record of a number wins
        return found

    def numbers(self) -> list[int]:
        return sorted(self._all())

    def numbers_after(self, after: int) -> list[int]:
        return [n for n in self.numbers() if n > after]  # one local file, read whole

    def get(self, number: int) -> Checkpoint | None:
        return self._all().get(number)


@dataclass
class ObjectLockWitness:
    """Checkpoints as S3 objects locked in COMPLIANCE mode (one object per number)."""

    admin: S3Admin
    prefix: str
    retain_days: int
    clock: Callable[[], datetime]
    url: str
    _checked: bool = False

    @property
    def description(self) -> str:
        return f"S3 Object Lock (compliance, {self.retain_days} days) at {self.url}"

    def _call(self, op: str, key: str | None, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from passerelle.storage.translate import translate

        try:
            return fn(**kwargs)
        except PasserelleError:
            raise
        except Exception as exc:
            raise translate(exc, url=self.url, op=op, key=key) from exc

    def require_object_lock(self) -> None:
        """Refuse a bucket without Object Lock (the witness would not be write-once)."""
        if self._checked:
            return
        client = self.admin.client
        try:
            found = client.get_object_lock_configuration(Bucket=self.admin.bucket)
        except client.exceptions.ClientError as exc:
            if "ObjectLockConfigurationNotFound" not in str(exc):
                raise self._error(exc, "read the Object Lock settings of") from exc
            found = {}
        enabled = found.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise ConfigError(
                f"the witness bucket {self.admin.bucket} has no S3 Object Lock, so its "
                "checkpoints could be deleted; point `witness` at a bucket created with "
                "Object Lock enabled (`passerelle init --witness URL` creates one)"
            )
        self._checked = True

    def _error(self, exc: Exception, op: str) -> PasserelleError:
        from passerelle.storage.translate import translate

        return translate(exc, url=self.url, op=op)

    def record(self, checkpoint: Checkpoint) -> None:
        self.require_object_lock()
        data = checkpoint.to_json().encode()
        key = self.prefix + _name(checkpoint.number)
        self._call(
            "put",
            key,
            self.admin.client.put_object,
            Bucket=self.admin.bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=self.clock() + timedelta(days=self.retain_days),
        )

    def _first_versions(self, *, after: int = 0, only: int = 0) -> dict[int, tuple[str, str]]:
        """Each number's first version (key, version id), of the numbers above ``after``
        or of number ``only``; delete markers are ignored."""
        client = self.admin.client
        kwargs: dict[str, Any] = {
            "Bucket": self.admin.bucket,
            "Prefix": self.prefix + _name(only) if only else self.prefix,
        }
        if after:
            kwargs["KeyMarker"] = self.prefix + _name(after)  # keys after it
        first: dict[int, tuple[str, str, datetime]] = {}
        while True:
            page = self._call("list", None, client.list_object_versions, **kwargs)
            for version in page.get("Versions", []):
                number = _number_of(version["Key"])
                if number is None or number <= after or (only and number != only):
                    continue
                when = version["LastModified"]
                if number not in first or when <= first[number][2]:
                    first[number] = (version["Key"], version["VersionId"], when)
            if not page.get("IsTruncated"):
                break
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")
        return {n: (key, vid) for n, (key, vid, _) in first.items()}

    def numbers(self) -> list[int]:
        return sorted(self._first_versions())

    def numbers_after(self, after: int) -> list[int]:
        return sorted(self._first_versions(after=after))

    def get(self, number: int) -> Checkpoint | None:
        found = self._first_versions(only=number).get(number)
        if found is None:
            return None
        key, version = found
        body = self._call(
            "get",
            key,
            self.admin.client.get_object,
            Bucket=self.admin.bucket,
            Key=key,
            VersionId=version,
        )
        return _parse(body["Body"].read(), f"{self.url}/{key}")


def open_witness(config: HubConfig) -> Witness | None:
    """The witness a hub's ``witness`` setting names, or None when it has none."""
    url = config.witness
    if not url:
        return None
    from passerelle.storage.urls import parse_store_url

    parsed = parse_store_url(url)
    if parsed.scheme == "file":
        folder = Path(parsed.container) / parsed.prefix if parsed.prefix else Path(parsed.container)
        folder = folder.resolve()
        if folder.is_relative_to(config.directory.resolve()):
            raise ConfigError(
                f"witness {url} is inside the hub folder, where whoever holds the database "
                "can also rewrite it; choose a folder outside it"
            )
        return FolderWitness(folder / f"{config.name}.audit-witness.jsonl")
    if parsed.scheme != "s3":
        raise ConfigError(
            f"witness {url!r} is neither s3://bucket (S3 Object Lock) nor file:///folder"
        )
    days = config.witness_retain_days
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ConfigError("witness_retain_days must be a whole number of days, at least 1")
    from passerelle.storage.admin import S3Admin
    from passerelle.storage.config import load_config
    from passerelle.storage.opener import resolve_remote

    remote, _provider, _region = resolve_remote(parsed, load_config())
    prefix = (parsed.prefix + "/" if parsed.prefix else "") + f"{config.name}/"
    return ObjectLockWitness(  # the lock runs on the server's clock: use the real time
        S3Admin(remote, parsed.container), prefix + "audit-checkpoints/", days, _real_now, url
    )


def _real_now() -> datetime:
    return datetime.now(UTC)


def prepare_witness(config: HubConfig) -> Witness | None:
    """Create the witness's place (an Object Lock bucket, a folder) and check it."""
    witness = open_witness(config)
    if isinstance(witness, ObjectLockWitness):
        try:
            witness.admin.create_locked_bucket()
        except PasserelleError:
            raise
        except Exception as exc:
            raise witness._error(exc, "create the Object Lock bucket") from exc
        witness.require_object_lock()
    elif isinstance(witness, FolderWitness):
        witness.path.parent.mkdir(parents=True, exist_ok=True)
    return witness
