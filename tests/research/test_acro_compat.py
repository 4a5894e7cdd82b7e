"""Same tables, same verdicts: passerelle flags the cells ACRO (SACRO's engine) flags.

The synthetic data has one row per person, so ACRO's record-level dominance
and passerelle's person-level dominance look at the same contributions.
Passerelle's side runs for real: Parquet in a store, the sandbox, the
generated aggregate query, then the check.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.research import TableSource, run_sandboxed
from passerelle.research.disclosure import (
    DisclosurePolicy,
    check_release,
    frequency_query,
    magnitude_query,
)
from passerelle.storage import open_store

NO_SECONDARY = DisclosurePolicy(secondary_suppression=False)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def synthetic_people(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 700
    frame = pd.DataFrame(
        {
            "person_id": [f"P{i:05d}" for i in range(n)],
            "departement": rng.choice(["13", "33", "69", "75"], n, p=[0.45, 0.04, 0.16, 0.35]),
            "age_group": rng.choice(["00-17", "18-64", "65+"], n, p=[0.2, 0.5, 0.3]),
            "cost": rng.gamma(2.0, 150.0, n).round(2),
        }
    )
    frame = frame[~((frame.departement == "33") & (frame.age_group == "65+"))]  # a zero cell
    one = frame.index[(frame.departement == "75") & (frame.age_group == "00-17")][0]
    frame.loc[one, "cost"] = 250_000.0  # one person dominates the cell
    pair = frame.index[(frame.departement == "13") & (frame.age_group == "65+")][:2]
    frame.loc[pair, "cost"] = 200_000.0  # two persons dominate the cell
    return frame.reset_index(drop=True)


@pytest.fixture
def acro(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from acro import ACRO

    monkeypatch.chdir(tmp_path)  # ACRO may write its outputs in the working directory
    checker = ACRO(suppress=False)
    for name in ("acro", "acro.record"):
        logging.getLogger(name).setLevel(logging.ERROR)
    yield checker


def acro_flags(acro: Any, table: pd.DataFrame) -> dict[str, set[tuple[str, str]]]:
    """Cells ACRO's last output flags, per check, as (departement, age_group) labels."""
    record = list(acro.results.results.values())[-1]
    flags: dict[str, set[tuple[str, str]]] = {}
    for check, cells in record.sdc["cells"].items():
        flags[check] = {(str(table.index[r]), str(table.columns[c])) for r, c in cells}
    return flags


def passerelle_run(frame: pd.DataFrame, sql_and_spec: tuple[str, Any]) -> Any:
    store = open_store(f"memory://acro-{uuid.uuid4().hex[:12]}/hub")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    store.put("datasets/people/v1/part-0.parquet", buffer.getvalue())
    sql, spec = sql_and_spec
    outcome = run_sandboxed(sql, {"people": TableSource(store, "datasets/people/v1")})
    return check_release(outcome.result, spec, NO_SECONDARY), outcome


def flagged(check: Any, *rules: str) -> set[tuple[str, str]]:
    return {
        (f.cell["departement"], f.cell["age_group"])
        for f in check.findings
        if f.rule in rules and f.cell is not None
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_frequency_tables_flag_the_same_cells(acro: Any, seed: int) -> None:
    frame = synthetic_people(seed)
    table = acro.crosstab(frame.departement, frame.age_group)
    theirs = acro_flags(acro, table)
    check, outcome = passerelle_run(
        frame, frequency_query("people", ["departement", "age_group"], "person_id")
    )
    present = {(r["departement"], r["age_group"]) for r in outcome.result.to_pylist()}
    grid = {(str(d), str(a)) for d in table.index for a in table.columns}
    ours = flagged(check, "threshold", "zero") | (grid - present)  # absent rows are zeros
    acro_cells = theirs["MinimumThresholdCheck"] | theirs.get("PresenceOfZeroCheck", set())
    assert ours == acro_cells
    assert ("33", "65+") in ours  # the empty cell
    assert check.status == "review"
    assert any(f.rule == "implicit-zero" for f in check.findings)


@pytest.mark.parametrize("aggfunc", ["mean", "sum"])
@pytest.mark.parametrize("seed", [1, 2])
def test_magnitude_tables_flag_the_same_cells(acro: Any, aggfunc: str, seed: int) -> None:
    frame = synthetic_people(seed)
    table = acro.crosstab(frame.departement, frame.age_group, values=frame.cost, aggfunc=aggfunc)
    theirs = acro_flags(acro, table)
    check, outcome = passerelle_run(
        frame,
        magnitude_query("people", ["departement", "age_group"], "cost", "person_id", [aggfunc]),
    )
    present = {(r["departement"], r["age_group"]) for r in outcome.result.to_pylist()}
    assert flagged(check, "threshold") == theirs["MinimumThresholdCheck"] & present
    assert flagged(check, "dominance") == theirs["NKCheck"]
    assert flagged(check, "p-ratio") == theirs["PPercentCheck"]
    assert {("75", "00-17"), ("13", "65+")} <= flagged(check, "dominance")
    # the statistic itself agrees with ACRO's table
    for row in outcome.result.to_pylist():
        expected = table.loc[row["departement"], row["age_group"]]
        assert row[f"cost_{aggfunc}"] == pytest.approx(expected)
