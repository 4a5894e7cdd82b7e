"""Moving objects between stores with per-object cryptographic proof."""

from passerelle.migration.copy import CopyResult, hash_object, stream_copy

__all__ = ["CopyResult", "hash_object", "stream_copy"]
