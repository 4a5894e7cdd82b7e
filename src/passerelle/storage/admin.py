"""Calls obstore does not offer: creating buckets (boto3) and containers (Azure SDK)."""

from __future__ import annotations

from typing import Any

from passerelle.storage.config import AZURITE_ACCOUNT, RemoteConfig

__all__ = ["create_azure_container", "create_s3_bucket"]


def create_s3_bucket(remote: RemoteConfig, bucket: str) -> None:
    """Create ``bucket`` (idempotent: a bucket we already own is fine)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=remote.endpoint,
        region_name=remote.region or "us-east-1",
        aws_access_key_id=remote.access_key_id,
        aws_secret_access_key=remote.secret_access_key,
        aws_session_token=remote.session_token,
        config=Config(
            s3={"addressing_style": "path" if remote.path_style else "virtual"},
            connect_timeout=remote.connect_timeout_s,
            retries={"max_attempts": max(1, remote.max_retries), "mode": "standard"},
        ),
    )
    kwargs: dict[str, object] = {"Bucket": bucket}
    region = remote.region or "us-east-1"
    if region != "us-east-1" and remote.endpoint is None:
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)  # type: ignore[arg-type]
    except client.exceptions.BucketAlreadyOwnedByYou:
        return
    except client.exceptions.BucketAlreadyExists:
        return


def _azure_account_url(remote: RemoteConfig) -> str:
    if remote.endpoint:
        return remote.endpoint.rstrip("/")
    if remote.use_emulator:
        return f"http://127.0.0.1:10000/{remote.account or AZURITE_ACCOUNT}"
    return f"https://{remote.account}.blob.core.windows.net"


def create_azure_container(remote: RemoteConfig, container: str) -> None:
    """Create ``container`` (idempotent)."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    credential: Any
    if remote.account_key:
        credential = {"account_name": remote.account, "account_key": remote.account_key}
    else:
        credential = remote.sas_token
    service = BlobServiceClient(
        account_url=_azure_account_url(remote),
        credential=credential,
        connection_timeout=remote.connect_timeout_s,
        retry_total=max(0, remote.max_retries),
    )
    try:
        service.create_container(container)
    except ResourceExistsError:
        return
