"""The hub's store encrypted per classification: each key reaches the view its folder asks for.

Which classification a key of the hub's store holds follows from its folder (pure,
:func:`folder_of`): a dataset's files (``datasets/<name>/``, ``quarantine/<name>/``, a
project's ``extracts/<dataset>/``) have their catalog entry's classification; query results
and pending releases are ``health-pseudonymized`` (row-level until disclosure control passed
them); released tables ``health-aggregate``; the audit checkpoints ``reference`` (signed, to
be checked without the hub's keys). A classification listed in hub.toml ``encrypt`` is
written and read through an :class:`~passerelle.storage.encrypting.EncryptingStore` wrapped
OUTSIDE the live store, so dual writes send the same ciphertext to both clouds and a move
copies ciphertext unchanged; an object of an encrypted classification that is not an
envelope is refused on read (a plaintext swapped in is never served as the data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from passerelle.sovereignty.policy import DEFAULT_CLASSIFICATION, RELEASE_CLASSIFICATION
from passerelle.storage.base import (
    ObjectReader,
    PutData,
    ResumableUpload,
    Store,
    StoreWrapper,
    listing_options,
)
from passerelle.storage.envelope_objects import plain_info
from passerelle.storage.keys import check_key, check_prefix
from passerelle.storage.model import Capabilities, Listing, ObjectInfo, PutResult

__all__ = ["ClassifiedStore", "Folder", "folder_of", "folder_of_object"]

_PROJECT = re.compile(r"^project-[0-9]+$")


@dataclass(frozen=True, slots=True)
class Folder:
    """Where a key lies: a dataset's folder (``kind`` datasets, quarantine or extract with the
    catalog ``name`` to look up), or a folder of a fixed ``classification``."""

    kind: str
    name: str = ""
    classification: str = ""
    prefix: str = ""  # the folder's prefix, when the key is inside it


def folder_of(key: str, hub_name: str) -> Folder | None:
    """The folder ``key`` (an object key or a listing prefix) lies in; None when a prefix
    spans several folders (pure)."""
    parts = key.split("/")
    head = parts[0]
    if head in ("datasets", "quarantine") and len(parts) >= 2 and parts[1]:
        return Folder(head, parts[1], prefix=f"{head}/{parts[1]}")
    if head == "workspaces" and len(parts) >= 2 and _PROJECT.fullmatch(parts[1]):
        if len(parts) >= 3 and parts[2] == "extracts":
            if len(parts) >= 4 and parts[3]:
                return Folder("extract", parts[3], prefix="/".join(parts[:4]))
            return None
        if len(parts) >= 3 and parts[2]:
            return Folder("fixed", classification=DEFAULT_CLASSIFICATION)
        return None
    if head == "releases" and len(parts) >= 3 and _PROJECT.fullmatch(parts[1]):
        if parts[2] == "pending":
            return Folder("fixed", classification=DEFAULT_CLASSIFICATION)
        if parts[2]:
            return Folder("fixed", classification=RELEASE_CLASSIFICATION)
        return None
    if head == hub_name and _is_checkpoint_folder(parts[1:]):
        # signed audit checkpoints stay readable without the hub's keys (named, not implied)
        return Folder("fixed", classification="reference")
    if len(parts) == 1 and not key.endswith("/"):
        return Folder("fixed", classification=DEFAULT_CLASSIFICATION) if key else None
    if head in ("datasets", "quarantine", "workspaces", "releases", hub_name) or not head:
        return None
    return Folder("fixed", classification=DEFAULT_CLASSIFICATION)


def _is_checkpoint_folder(rest: list[str]) -> bool:
    """``rest`` (the parts after the hub's name) lies in one of the checkpoint folders:
    ``audit/checkpoints/`` today, ``audit-checkpoints/`` on older hubs."""
    if rest[:1] == ["audit-checkpoints"]:
        return True
    return rest[:2] == ["audit", "checkpoints"]


def folder_of_object(key: str, hub_name: str) -> Folder:
    """The folder an object (never a prefix) lies in; a key no folder claims has the default
    classification, so whatever a writer names is never plaintext by omission (pure)."""
    folder = folder_of(key, hub_name)
    return folder if folder is not None else Folder("fixed", classification=DEFAULT_CLASSIFICATION)


class ClassifiedStore(StoreWrapper):
    """The hub's root store: each key through the plain live store or its encrypting view."""

    def __init__(
        self,
        plain: Store,
        encrypted: Callable[[], Store],
        encrypts: Callable[[str], bool | None],
        *,
        unclaimed_encrypted: bool = True,
    ) -> None:
        # encrypts(key or prefix): True/False for one folder, None when it spans several (a
        # prefix) or when no folder claims it (an object key: then ``unclaimed_encrypted``,
        # whether the default classification is encrypted -- never plaintext by default)
        super().__init__(plain)
        self._encrypted_view = encrypted
        self._encrypts = encrypts
        self._unclaimed_encrypted = unclaimed_encrypted

    @property
    def capabilities(self) -> Capabilities:
        from dataclasses import replace

        return replace(self.inner.capabilities, resumable_upload=False)

    def invalidate(self) -> None:
        invalidate = getattr(self.inner, "invalidate", None)
        if invalidate is not None:
            invalidate()

    def encrypting_view(self, prefix: str) -> Store | None:
        """The encrypting store ``prefix`` is read through, or None when it is plaintext
        (or spans folders of both kinds)."""
        return self._encrypted_view() if self._encrypts(prefix) else None

    def _object_encrypted(self, key: str) -> bool:
        encrypts = self._encrypts(key)
        return self._unclaimed_encrypted if encrypts is None else encrypts

    def _view(self, key: str) -> Store:
        return self._encrypted_view() if self._object_encrypted(check_key(key)) else self.inner

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 1000,
        details: bool = False,
        start_after: str = "",
    ) -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        whole = self._encrypts(prefix)
        if whole is not None:
            view = self._encrypted_view() if whole else self.inner
            return view.list(prefix, **listing_options(page_size, details, start_after))
        return self._mixed(prefix, page_size, details, start_after)

    def _mixed(
        self, prefix: str, page_size: int, details: bool, start_after: str
    ) -> Iterator[ObjectInfo]:
        for info in self.inner.list(prefix, **listing_options(page_size, details, start_after)):
            # an envelope's plaintext size follows from its stored size: no request per object
            yield plain_info(info.key, info) if self._object_encrypted(info.key) else info

    def list_dir(self, prefix: str = "") -> Listing:
        check_prefix(prefix)
        whole = self._encrypts(prefix)
        if whole is not None:
            return (self._encrypted_view() if whole else self.inner).list_dir(prefix)
        listing = self.inner.list_dir(prefix)
        objects = tuple(
            plain_info(i.key, i) if self._object_encrypted(i.key) else i for i in listing.objects
        )
        return Listing(listing.prefixes, objects)

    def head(self, key: str) -> ObjectInfo:
        return self._view(key).head(key)

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> ObjectReader:
        view = self._view(key)
        return view.get(key, start=start, end=end, if_match=if_match, chunk_size=chunk_size)

    def put(
        self,
        key: str,
        data: PutData,
        *,
        size: int | None = None,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        part_size: int | None = None,
    ) -> PutResult:
        return self._view(key).put(
            key, data, size=size, content_type=content_type, metadata=metadata, part_size=part_size
        )

    def delete(self, key: str) -> None:
        self._view(key).delete(key)

    def copy(self, src_key: str, dst_key: str) -> None:
        source, target = self._view(src_key), self._view(dst_key)
        if source is target:
            source.copy(src_key, dst_key)
            return
        info = source.head(src_key)
        target.put(dst_key, iter(source.get(src_key)), size=info.size)

    def update_metadata(
        self,
        key: str,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        storage_class: str | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        return self._view(key).update_metadata(
            key,
            metadata,
            content_type=content_type,
            storage_class=storage_class,
            if_match=if_match,
        )

    def abort_uploads(
        self, key: str, *, older_than: datetime | None = None, keep: str | None = None
    ) -> int:
        return self._view(key).abort_uploads(key, older_than=older_than, keep=keep)

    def start_upload(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> ResumableUpload:
        return self._view(key).start_upload(
            key, content_type=content_type, metadata=metadata, storage_class=storage_class
        )
