"""The hub's derived checks against the real ACRO on tables generated at random.

Each table comes from a seed hypothesis draws (sizes, category weights, value
scales and a random number of dominant persons all vary); the researcher's
plain aggregate query is re-derived by the hub (``derive``), its evidence SQL
runs in the real sandbox over Parquet in a store, and the cells passerelle
flags must be the cells ACRO flags.  One row per person, so ACRO's record-level
dominance and passerelle's person-level dominance see the same contributions
(the deliberate differences are listed in docs/research.md).
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passerelle.research import TableSource, run_sandboxed
from passerelle.research.disclosure import DisclosurePolicy, check_release
from passerelle.research.disclosure.derive import TableFacts, derive
from passerelle.storage import open_store
from tests.research.test_acro_compat import acro, acro_flags, flagged

__all__ = ["acro"]

NO_SECONDARY = DisclosurePolicy(secondary_suppression=False)
GROUPS = ("departement", "age_group")
FACTS = {
    "people": TableFacts(
        "person_id", frozenset({"person_id", *GROUPS, "cost"}), frozenset({"person_id"})
    )
}

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def random_people(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 600))
    departements = ["13", "33", "69", "75", "2A"][: int(rng.integers(2, 6))]
    ages = ["00-17", "18-64", "65+"][: int(rng.integers(2, 4))]
    frame = pd.DataFrame(
        {
            "person_id": [f"P{seed % 997:03d}{i:05d}" for i in range(n)],
            "departement": rng.choice(departements, n, p=rng.dirichlet(np.ones(len(departements)))),
            "age_group": rng.choice(ages, n, p=rng.dirichlet(np.ones(len(ages)))),
            "cost": (rng.gamma(float(rng.uniform(0.5, 4.0)), 100.0, n) + 1.0).round(2),
        }
    )
    for index in rng.choice(n, int(rng.integers(0, 6)), replace=False):
        frame.loc[index, "cost"] = round(float(rng.uniform(1e4, 1e6)), 2)  # dominant persons
    return frame


def hub_check(frame: pd.DataFrame, sql: str) -> tuple[Any, set[tuple[str, str]]]:
    store = open_store(f"memory://acro-random-{uuid.uuid4().hex[:12]}/hub")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    store.put("datasets/people/v1/part-0.parquet", buffer.getvalue())
    tables = {"people": TableSource(store, "datasets/people/v1")}
    researcher = run_sandboxed(sql, tables).result
    assert researcher is not None
    d = derive(sql, FACTS, researcher.column_names, b"k" * 32)
    assert d.verdict == "derived" and d.sql is not None and d.spec is not None, d.reasons
    hub = run_sandboxed(d.sql, tables).result
    assert hub is not None
    check = check_release(hub.drop_columns(list(d.sketch_columns)), d.spec, NO_SECONDARY)
    present = {(r["departement"], r["age_group"]) for r in hub.to_pylist()}
    return check, present


@given(st.integers(0, 2**32 - 1))
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_frequency_tables_flag_what_acro_flags(acro: Any, seed: int) -> None:
    frame = random_people(seed)
    table = acro.crosstab(frame.departement, frame.age_group)
    theirs = acro_flags(acro, table)
    check, present = hub_check(
        frame,
        "SELECT departement, age_group, count(*) AS n FROM people GROUP BY departement, age_group",
    )
    grid = {(str(d), str(a)) for d in table.index for a in table.columns}
    ours = flagged(check, "threshold", "zero") | (grid - present)  # absent rows are zeros
    assert ours == theirs["MinimumThresholdCheck"] | theirs.get("PresenceOfZeroCheck", set())


@pytest.mark.parametrize(("aggfunc", "sql_function"), [("mean", "avg"), ("sum", "sum")])
@given(seed=st.integers(0, 2**32 - 1))
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_magnitude_tables_flag_what_acro_flags(
    acro: Any, aggfunc: str, sql_function: str, seed: int
) -> None:
    frame = random_people(seed)
    table = acro.crosstab(frame.departement, frame.age_group, values=frame.cost, aggfunc=aggfunc)
    theirs = acro_flags(acro, table)
    check, present = hub_check(
        frame,
        f"SELECT departement, age_group, {sql_function}(cost) AS cost_{aggfunc} FROM people "
        "GROUP BY departement, age_group",
    )
    assert flagged(check, "threshold") == theirs["MinimumThresholdCheck"] & present
    assert flagged(check, "dominance") == theirs["NKCheck"] & present
    assert flagged(check, "p-ratio") == theirs["PPercentCheck"] & present
    for row in check.table.to_pylist():
        if not row["suppressed"]:
            expected = table.loc[row["departement"], row["age_group"]]
            assert row[f"cost_{aggfunc}"] == pytest.approx(expected)
