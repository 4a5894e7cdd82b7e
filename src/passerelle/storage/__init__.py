"""One storage layer over Azure Blob, any S3, local folders and memory.

Open a store from a URL and use the :class:`Store` contract::

    store = open_store("s3://scaleway@hdh-prod/extracts")
    for info in store.list("2026/"):
        ...
"""

from passerelle.storage.base import ObjectReader, PutData, Store, StoreWrapper
from passerelle.storage.config import RemoteConfig, StorageConfig, load_config
from passerelle.storage.faults import FaultInjectingStore, FaultPlan, parse_fault_plan
from passerelle.storage.model import Capabilities, Listing, ObjectInfo, PartLimits, PutResult
from passerelle.storage.multipart import choose_part_size, part_count
from passerelle.storage.opener import open_store, resolve_remote
from passerelle.storage.retry import RetryPolicy, backoff_delay, call_with_retries
from passerelle.storage.urls import StoreURL, parse_store_url, split_object_url, validate_key

__all__ = [
    "Capabilities",
    "FaultInjectingStore",
    "FaultPlan",
    "Listing",
    "ObjectInfo",
    "ObjectReader",
    "PartLimits",
    "PutData",
    "PutResult",
    "RemoteConfig",
    "RetryPolicy",
    "StorageConfig",
    "Store",
    "StoreURL",
    "StoreWrapper",
    "backoff_delay",
    "call_with_retries",
    "choose_part_size",
    "load_config",
    "open_store",
    "parse_fault_plan",
    "parse_store_url",
    "part_count",
    "resolve_remote",
    "split_object_url",
    "validate_key",
]
