"""A small hub store holding two projects' datasets as Parquet (in memory, or a folder)."""

from __future__ import annotations

import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.research import TableSource
from passerelle.storage import Store, open_store

STAYS = pa.table(
    {
        "person_id": [f"P{i % 40:03d}" for i in range(120)],
        "departement": ["75", "13", "69"] * 40,
        "age_group": [(i // 3) % 4 * 20 for i in range(120)],
        "los_days": [i % 9 for i in range(120)],
    }
)
SECRET = pa.table({"person_id": ["P000"], "diagnosis": ["the other project's row"]})


def put_parquet(store: Store, key: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=50)
    store.put(key, buffer.getvalue())


@pytest.fixture
def hub_store() -> Store:
    store = open_store(f"memory://research-{uuid.uuid4().hex[:12]}/hub")
    put_parquet(store, "datasets/stays/v1/part-0.parquet", STAYS.slice(0, 60))
    put_parquet(store, "datasets/stays/v1/part-1.parquet", STAYS.slice(60))
    put_parquet(store, "datasets/secret/v1/part-0.parquet", SECRET)
    return store


@pytest.fixture
def granted(hub_store: Store) -> dict[str, TableSource]:
    """Project A's grants: the stays dataset only (``secret`` belongs to project B)."""
    return {"stays": TableSource(hub_store, "datasets/stays/v1")}
