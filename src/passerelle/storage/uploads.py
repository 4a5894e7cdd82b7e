"""Resumable multipart uploads through the cloud SDKs (obstore does not expose parts).

S3: CreateMultipartUpload / UploadPart / ListParts / CompleteMultipartUpload /
AbortMultipartUpload with boto3 (which signs each part's payload over plain
HTTP, so the server refuses bytes damaged on the way).  Azure:
staged blocks (Put Block / Get Block List / Put Block List) whose ids carry the
upload id, metadata and content type set at commit.  Every SDK exception passes
through the store's ``call`` so callers see passerelle errors only.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from passerelle.errors import ObjectNotFoundError, ServiceError
from passerelle.storage.model import PutResult, UploadedPart

__all__ = ["AzureUpload", "S3Upload", "capture_payload_hash"]

T = TypeVar("T")
Call = Callable[[str, str | None, Callable[[], T]], T]

_signed = threading.local()
_HEX64 = re.compile(r"[0-9a-f]{64}")


def capture_payload_hash(client: Any) -> None:
    """Keep the SHA-256 botocore signs an UploadPart with (it hashes the body over HTTP)."""

    def before_send(request: Any, **_: Any) -> None:
        value = request.headers.get("X-Amz-Content-SHA256")
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        _signed.value = value if value and _HEX64.fullmatch(value) else None

    client.meta.events.register("before-send.s3.UploadPart", before_send)


class S3Upload:
    """One S3 multipart upload, created here or found again by its id."""

    def __init__(
        self,
        admin: Any,
        key: str,
        path: str,
        upload_id: str,
        call: Call[Any],
        *,
        storage_class: str | None = None,
    ) -> None:
        self._admin = admin
        self._key = key
        self._path = path
        self._upload_id = upload_id
        self._call = call
        self._storage_class = storage_class

    @classmethod
    def start(
        cls,
        admin: Any,
        key: str,
        path: str,
        call: Call[Any],
        *,
        content_type: str | None,
        metadata: Mapping[str, str],
        storage_class: str | None,
    ) -> S3Upload:
        kwargs: dict[str, Any] = {"Bucket": admin.bucket, "Key": path, "Metadata": dict(metadata)}
        if content_type:
            kwargs["ContentType"] = content_type
        if storage_class:
            kwargs["StorageClass"] = storage_class
        created = call("write", key, lambda: admin.client.create_multipart_upload(**kwargs))
        return cls(admin, key, path, created["UploadId"], call, storage_class=storage_class)

    @property
    def key(self) -> str:
        return self._key

    @property
    def upload_id(self) -> str:
        return self._upload_id

    def _ids(self) -> dict[str, Any]:
        return {"Bucket": self._admin.bucket, "Key": self._path, "UploadId": self._upload_id}

    def parts(self) -> list[UploadedPart]:
        client = self._admin.client
        found: list[UploadedPart] = []
        kwargs: dict[str, Any] = self._ids()
        while True:
            page = self._call("list", self._key, lambda: client.list_parts(**kwargs))
            for p in page.get("Parts", []):
                found.append(UploadedPart(int(p["PartNumber"]), int(p["Size"]), p["ETag"]))
            if not page.get("IsTruncated"):
                return found
            kwargs["PartNumberMarker"] = page["NextPartNumberMarker"]

    def upload_part(
        self, number: int, data: bytes | bytearray, *, sha256: str | None = None
    ) -> UploadedPart:
        client = self._admin.client

        def send() -> Any:
            _signed.value = None
            return client.upload_part(
                Body=data, ContentLength=len(data), PartNumber=number, **self._ids()
            )

        result = self._call("write", self._key, send)
        signed = getattr(_signed, "value", None)
        if sha256 is not None and signed is not None and signed != sha256:
            raise ServiceError(f"Part {number} of {self._key} was signed with another digest.")
        return UploadedPart(number, len(data), result["ETag"], sha256 or signed)

    def complete(
        self,
        parts: Sequence[UploadedPart],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> PutResult:
        client = self._admin.client
        ordered = sorted(parts, key=lambda p: p.number)
        body = {"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in ordered]}
        done = self._call(
            "write",
            self._key,
            lambda: client.complete_multipart_upload(MultipartUpload=body, **self._ids()),
        )
        etag = done.get("ETag")
        size = sum(p.size for p in ordered)
        if metadata is not None:  # S3 fixes metadata at creation: rewrite it in place once
            extra: dict[str, Any] = {"Metadata": dict(metadata), "MetadataDirective": "REPLACE"}
            if content_type:
                extra["ContentType"] = content_type
            if self._storage_class:
                extra["StorageClass"] = self._storage_class
            source = {"Bucket": self._admin.bucket, "Key": self._path}
            if size <= 5 * 1024**3:
                copied = self._call(
                    "write",
                    self._key,
                    lambda: client.copy_object(
                        CopySource=source, Bucket=self._admin.bucket, Key=self._path, **extra
                    ),
                )
                etag = copied["CopyObjectResult"]["ETag"]
            else:
                self._call(
                    "write",
                    self._key,
                    lambda: client.copy(source, self._admin.bucket, self._path, ExtraArgs=extra),
                )
                etag = self._call(
                    "read",
                    self._key,
                    lambda: client.head_object(Bucket=self._admin.bucket, Key=self._path),
                )["ETag"]
        return PutResult(key=self._key, size=size, etag=_quoted(etag), parts=len(ordered))

    def abort(self) -> None:
        client = self._admin.client
        try:
            self._call("abort", self._key, lambda: client.abort_multipart_upload(**self._ids()))
        except ObjectNotFoundError:
            return


def _quoted(etag: str | None) -> str | None:
    """ETags as obstore reports them (quoted), whatever the server's copy reply did."""
    if not etag or etag.startswith(('"', "W/")):
        return etag
    return f'"{etag}"'


_AZURE_TIER_FOR = {"STANDARD": "Hot", "STANDARD_IA": "Cool", "ONEZONE_IA": "Cool"}


class AzureUpload:
    """Staged blocks of one blob; the upload id is a prefix of every block id."""

    def __init__(
        self,
        admin: Any,
        key: str,
        path: str,
        upload_id: str,
        call: Call[Any],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> None:
        self._blob = admin.service.get_blob_client(admin.container, path)
        self._key = key
        self._upload_id = upload_id
        self._call = call
        self._content_type = content_type
        self._metadata = dict(metadata or {})
        self._tier = _AZURE_TIER_FOR.get((storage_class or "").upper())

    @classmethod
    def start(
        cls,
        admin: Any,
        key: str,
        path: str,
        call: Call[Any],
        *,
        content_type: str | None,
        metadata: Mapping[str, str],
        storage_class: str | None,
    ) -> AzureUpload:
        return cls(
            admin,
            key,
            path,
            uuid.uuid4().hex[:16],
            call,
            content_type=content_type,
            metadata=metadata,
            storage_class=storage_class,
        )

    @property
    def key(self) -> str:
        return self._key

    @property
    def upload_id(self) -> str:
        return self._upload_id

    def _block_id(self, number: int) -> str:
        return base64.b64encode(f"{self._upload_id}-{number:07d}".encode()).decode()

    def _number(self, block_id: str) -> int | None:
        try:
            text = base64.b64decode(block_id).decode()
        except ValueError:
            return None
        head, _, number = text.rpartition("-")
        return int(number) if head == self._upload_id and number.isdigit() else None

    def parts(self) -> list[UploadedPart]:
        try:
            _committed, uncommitted = self._call(
                "list", self._key, lambda: self._blob.get_block_list("uncommitted")
            )
        except ObjectNotFoundError:
            return []
        found: list[UploadedPart] = []
        for block in uncommitted:
            number = self._number(block.id)
            if number is not None:
                found.append(UploadedPart(number, int(block.size), block.id))
        return sorted(found, key=lambda p: p.number)

    def upload_part(
        self, number: int, data: bytes | bytearray, *, sha256: str | None = None
    ) -> UploadedPart:
        block_id = self._block_id(number)
        self._call(
            "write", self._key, lambda: self._blob.stage_block(block_id, data, length=len(data))
        )
        return UploadedPart(number, len(data), block_id)

    def complete(
        self,
        parts: Sequence[UploadedPart],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> PutResult:
        from azure.storage.blob import BlobBlock, ContentSettings

        ordered = sorted(parts, key=lambda p: p.number)
        kind = content_type or self._content_type
        kwargs: dict[str, Any] = {
            "metadata": dict(metadata if metadata is not None else self._metadata)
        }
        if kind:
            kwargs["content_settings"] = ContentSettings(content_type=kind)
        if self._tier:
            kwargs["standard_blob_tier"] = self._tier
        result = self._call(
            "write",
            self._key,
            lambda: self._blob.commit_block_list(
                [BlobBlock(block_id=p.etag) for p in ordered], **kwargs
            ),
        )
        return PutResult(
            key=self._key,
            size=sum(p.size for p in ordered),
            etag=result.get("etag"),
            parts=len(ordered),
        )

    def abort(self) -> None:
        """Azure has no call to drop uncommitted blocks: they expire (7 days) or are
        discarded by the next write of the blob, and are never visible."""
