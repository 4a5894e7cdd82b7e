"""``passerelle ingest --classification`` below what the schema requires, as a user types
it: one sentence, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.synth import synthesize
from tests.cli.test_storage_commands import assert_one_sentence, run_cli


@pytest.fixture(scope="module")
def stays(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=30, seed=6, defect_rate=0.0, fhir_fraction=0.0)
    return out / "stays.csv"


def test_ingest_below_the_floor_from_the_command_line(tmp_path: Path, stays: Path) -> None:
    hub = str(tmp_path / "hub")
    init = run_cli("init", "--hub", hub)
    assert init.returncode == 0, init.stderr
    env = {"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": init.stdout.strip().splitlines()[-1]}
    assert run_cli("users", "add", "sam", "--roles", "steward", env=env).returncode == 0
    steward = {**env, "PASSERELLE_TOKEN": run_cli("tokens", "create", "--user", "sam", env=env)
               .stdout.strip()}  # fmt: skip
    org = run_cli("orgs", "add", "750712184", "--name", "AP-HP", "--kind", "hospital", env=steward)
    assert org.returncode == 0, org.stderr
    args = ("ingest", f"file://{stays}", "--org", "750712184", "--dataset", "pmsi_stays")
    args += ("--schema", "pmsi_stays")
    refused = run_cli(*args, "--classification", "reference", env=steward)
    assert_one_sentence(
        refused,
        "pmsi_stays holds row-level pseudonyms (column person_id): classify it "
        "health-pseudonymized or stricter.",
    )
    assert not list((Path(hub) / "data").glob("datasets/pmsi_stays/**/*.parquet"))
    ok = run_cli(*args, env=steward)  # the default meets the floor
    assert ok.returncode == 0, ok.stderr
    down = run_cli("catalog", "classify", "pmsi_stays", "health-aggregate", env=steward)
    assert_one_sentence(down, "pmsi_stays holds row-level pseudonyms", "health-pseudonymized")
