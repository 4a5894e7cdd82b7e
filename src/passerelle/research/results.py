"""Write a query result as Parquet into a workspace prefix, through the storage layer."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from passerelle.errors import UsageError
from passerelle.storage.urls import validate_key

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from passerelle.storage.base import Store
    from passerelle.storage.model import PutResult

__all__ = ["write_result"]

_RESULT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def write_result(table: pa.Table, store: Store, workspace: str, name: str) -> PutResult:
    """Write ``table`` as ``<workspace>/<name>.parquet`` in ``store`` and return the put result.

    ``workspace`` is the prefix the caller owns (e.g. ``projects/P/workspace``);
    ``name`` is one plain file name (letters, digits, ``_ . -``), never a path, so a
    result cannot land outside the workspace.
    """
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    prefix = workspace.strip("/")
    if not prefix or ".." in prefix.split("/"):
        raise UsageError(f"{workspace!r} is not a workspace prefix; give the project's prefix.")
    if not _RESULT_NAME.match(name) or ".." in name:
        raise UsageError(
            f"{name!r} is not a result name; use letters, digits, '_', '.' or '-', no '/'."
        )
    key = f"{prefix}/{name if name.endswith('.parquet') else name + '.parquet'}"
    validate_key(key)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return store.put(
        key,
        buffer.getvalue(),
        content_type="application/vnd.apache.parquet",
    )
