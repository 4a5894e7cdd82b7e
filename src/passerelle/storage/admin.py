"""Calls obstore does not offer, through the cloud SDKs (boto3, azure-storage-blob).

Creating buckets and containers, rewriting an object's metadata in place,
listing with storage tiers, resumable multipart uploads (:mod:`.uploads`) and
aborting multipart uploads left by a crash.
Each class builds its SDK client once (they are thread-safe) and lazily.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from passerelle.errors import PreconditionFailedError
from passerelle.storage.config import AZURITE_ACCOUNT, RemoteConfig
from passerelle.storage.uploads import AzureUpload, S3Upload, capture_payload_hash

__all__ = ["AzureAdmin", "S3Admin"]


class S3Admin:
    """Bucket-level and metadata calls on one S3 bucket."""

    def __init__(self, remote: RemoteConfig, bucket: str, prefix: str = "") -> None:
        self.remote = remote
        self.bucket = bucket
        self.prefix = prefix
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                remote = self.remote
                self._client = boto3.client(
                    "s3",
                    endpoint_url=remote.endpoint,
                    region_name=remote.region or "us-east-1",
                    aws_access_key_id=remote.access_key_id,
                    aws_secret_access_key=remote.secret_access_key,
                    aws_session_token=remote.session_token,
                    config=Config(
                        s3={"addressing_style": "path" if remote.path_style else "virtual"},
                        connect_timeout=remote.connect_timeout_s,
                        read_timeout=remote.request_timeout_s,  # as obstore: copies can be long
                        retries={"max_attempts": max(1, remote.max_retries), "mode": "standard"},
                        max_pool_connections=32,
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required",
                    ),
                )
                capture_payload_hash(self._client)
                _send_legacy_copy_condition(self._client)
            return self._client

    def start_upload(
        self,
        key: str,
        path: str,
        call: Callable[..., Any],
        *,
        content_type: str | None,
        metadata: Mapping[str, str],
        storage_class: str | None,
    ) -> S3Upload:
        return S3Upload.start(
            self,
            key,
            path,
            call,
            content_type=content_type,
            metadata=metadata,
            storage_class=storage_class,
        )

    def resume_upload(
        self,
        key: str,
        path: str,
        upload_id: str,
        call: Callable[..., Any],
        *,
        storage_class: str | None = None,
    ) -> S3Upload:
        return S3Upload(self, key, path, upload_id, call, storage_class=storage_class)

    def create_container(self) -> None:
        """Create the bucket (idempotent: a bucket we already own is fine)."""
        client = self.client
        kwargs: dict[str, object] = {"Bucket": self.bucket}
        region = self.remote.region or "us-east-1"
        if region != "us-east-1" and self.remote.endpoint is None:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            client.create_bucket(**kwargs)
        except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            return

    def create_locked_bucket(self) -> None:
        """Create the bucket with S3 Object Lock enabled (and so versioning); idempotent."""
        client = self.client
        kwargs: dict[str, object] = {"Bucket": self.bucket, "ObjectLockEnabledForBucket": True}
        region = self.remote.region or "us-east-1"
        if region != "us-east-1" and self.remote.endpoint is None:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            client.create_bucket(**kwargs)
        except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            return

    def update_metadata(
        self,
        path: str,
        metadata: Mapping[str, str],
        content_type: str | None,
        storage_class: str | None = None,
        *,
        size: int | None = None,
        if_match: str | None = None,
    ) -> None:
        """Replace the object's user metadata with a server-side copy onto itself.

        Objects up to 5 GiB take one CopyObject; larger ones a multipart copy.  With
        ``if_match`` only that version of the source is copied (every part of it), else
        :class:`PreconditionFailedError`.
        """
        extra: dict[str, Any] = {"Metadata": dict(metadata), "MetadataDirective": "REPLACE"}
        if content_type:
            extra["ContentType"] = content_type
        if storage_class:
            extra["StorageClass"] = storage_class
        if if_match is not None:
            extra["CopySourceIfMatch"] = if_match
        source = {"Bucket": self.bucket, "Key": path}
        client = self.client
        try:
            if size is not None and size <= 5 * 1024**3:
                client.copy_object(CopySource=source, Bucket=self.bucket, Key=path, **extra)
            else:
                client.copy(source, self.bucket, path, ExtraArgs=extra)
        except client.exceptions.ClientError as exc:
            if if_match is not None and _status(exc) == 412:
                raise PreconditionFailedError(f"{path} no longer has the etag {if_match}") from exc
            raise

    def list_uploads(self, prefix: str) -> Iterator[tuple[str, str, datetime | None]]:
        """(path, upload id, initiated) of every incomplete multipart upload under ``prefix``."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if prefix:
            kwargs["Prefix"] = prefix
        while True:
            page = self.client.list_multipart_uploads(**kwargs)
            for upload in page.get("Uploads", []):
                yield upload["Key"], upload["UploadId"], upload.get("Initiated")
            if not page.get("IsTruncated"):
                return
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker")

    def abort_uploads(self, path: str, older_than: datetime | None, keep: str | None = None) -> int:
        """Abort incomplete multipart uploads of exactly ``path`` but ``keep``; return how many."""
        client = self.client
        aborted = 0
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": path}
        while True:
            page = client.list_multipart_uploads(**kwargs)
            for upload in page.get("Uploads", []):
                if upload["Key"] != path or upload["UploadId"] == keep:
                    continue
                if older_than is not None and upload["Initiated"] >= older_than:
                    continue
                client.abort_multipart_upload(
                    Bucket=self.bucket, Key=path, UploadId=upload["UploadId"]
                )
                aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker")


def _send_legacy_copy_condition(client: Any) -> None:
    """Repeat ``x-amz-copy-source-if-match`` as ``x-amz-copy-if-match`` on copies.

    Ceph RGW reads only the older name and silently copies whatever version is there
    when given the standard one; S3 and SeaweedFS read the standard name.
    """

    def add(params: dict[str, Any], **_: Any) -> None:
        headers = params.get("headers", {})
        condition = headers.get("x-amz-copy-source-if-match")
        if condition is not None:
            headers["x-amz-copy-if-match"] = condition

    for operation in ("CopyObject", "UploadPartCopy"):
        client.meta.events.register(f"before-call.s3.{operation}", add)


def _status(exc: Any) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


_AZURE_TIER_FOR = {
    "STANDARD": "Hot",
    "STANDARD_IA": "Cool",
    "ONEZONE_IA": "Cool",
    "GLACIER": "Archive",
}


class AzureAdmin:
    """Container-level and metadata calls on one Azure container."""

    def __init__(self, remote: RemoteConfig, container: str) -> None:
        self.remote = remote
        self.container = container
        self._service: Any = None
        self._lock = threading.Lock()

    def _account_url(self) -> str:
        remote = self.remote
        if remote.endpoint:
            return remote.endpoint.rstrip("/")
        if remote.use_emulator:
            return f"http://127.0.0.1:10000/{remote.account or AZURITE_ACCOUNT}"
        return f"https://{remote.account}.blob.core.windows.net"

    @property
    def service(self) -> Any:
        with self._lock:
            if self._service is None:
                from azure.storage.blob import BlobServiceClient

                remote = self.remote
                credential: Any = (
                    {"account_name": remote.account, "account_key": remote.account_key}
                    if remote.account_key
                    else remote.sas_token
                )
                self._service = BlobServiceClient(
                    account_url=self._account_url(),
                    credential=credential,
                    connection_timeout=remote.connect_timeout_s,
                    retry_total=max(0, remote.max_retries),
                )
            return self._service

    def start_upload(
        self,
        key: str,
        path: str,
        call: Callable[..., Any],
        *,
        content_type: str | None,
        metadata: Mapping[str, str],
        storage_class: str | None,
    ) -> AzureUpload:
        return AzureUpload.start(
            self,
            key,
            path,
            call,
            content_type=content_type,
            metadata=metadata,
            storage_class=storage_class,
        )

    def resume_upload(
        self,
        key: str,
        path: str,
        upload_id: str,
        call: Callable[..., Any],
        *,
        storage_class: str | None = None,
    ) -> AzureUpload:
        return AzureUpload(self, key, path, upload_id, call, storage_class=storage_class)

    def create_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.service.create_container(self.container)
        except ResourceExistsError:
            return

    def update_metadata(
        self,
        path: str,
        metadata: Mapping[str, str],
        content_type: str | None,
        storage_class: str | None = None,
        *,
        size: int | None = None,
        if_match: str | None = None,
    ) -> None:
        """Set Blob Metadata (content type, a blob property, is left as it is); with
        ``if_match``, sent with If-Match (:class:`PreconditionFailedError` when stale)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        blob = self.service.get_blob_client(self.container, path)
        condition: dict[str, Any] = {}
        if if_match is not None:
            condition = {"etag": if_match, "match_condition": MatchConditions.IfNotModified}
        try:
            blob.set_blob_metadata(dict(metadata), **condition)
        except ResourceModifiedError as exc:
            raise PreconditionFailedError(f"{path} no longer has the etag {if_match}") from exc
        tier = _AZURE_TIER_FOR.get((storage_class or "").upper())
        if tier:
            blob.set_standard_blob_tier(tier)

    def set_tier(self, path: str, tier: str) -> None:
        self.service.get_blob_client(self.container, path).set_standard_blob_tier(tier)

    def list_details(self, prefix: str | None) -> Iterator[dict[str, Any]]:
        """Every blob below ``prefix`` with its access tier, content type and metadata."""
        from passerelle.storage.azure_list import list_blobs

        return list_blobs(self.service.get_container_client(self.container), prefix)
