"""The containment attacks through HTTP, on SQLite and PostgreSQL: 422, one sentence, no write.

The library and CLI side is in ``tests/hub/test_containment.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.api.conftest import Api, assert_error
from tests.api.helpers import approved_project, dataset_body, ingest_body, org_body

ATTACKS = [
    "../../outside",  # files outside the hub
    "../workspaces/project-1/extracts/pmsi_stays",  # replace a project's extract
    "../passerelle-hub/audit-checkpoints",  # break the audit checkpoints
    "../hub/audit",
    "pmsi\\stays",
    "pmsi_stays_quarantine",
    "Pmsi",
]


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("hub.db")
    }


def test_crafted_dataset_names_are_refused_and_write_nothing(api: Api, synth_sources: Path) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources))
    pid = approved_project(api)
    api.ok("POST", f"/projects/{pid}/grants", "simon", json={"dataset": "pmsi_stays"})
    api.ok("POST", f"/projects/{pid}/extracts", "stella", json={"dataset": "pmsi_stays"})
    root = api.hub.config.directory.parent
    before = _tree(root)
    for name in ATTACKS:
        error = assert_error(
            api.post("/ingests", "stella", json=ingest_body(synth_sources, dataset=name)),
            422,
            "invalid_request",
        )
        assert "dataset name" in error["message"], error
        error = assert_error(
            api.post("/datasets", "stella", json=dataset_body(name)), 422, "invalid_request"
        )
        assert "dataset name" in error["message"], error
    after = _tree(root)
    assert {path: after.get(path) for path in before} == before  # nothing replaced or removed
    added = set(after) - set(before)
    assert all("checkpoint" in p for p in added), added  # only the hub's own checkpoints
    assert not (root / "outside").exists()
    names = {d["name"] for d in api.ok("GET", "/datasets", "stella")["items"]}
    assert names == {"pmsi_stays", "pmsi_stays_quarantine"}


@pytest.mark.parametrize(
    "url",
    [
        "../../etc/passwd",
        "datasets/x/../../../y",
        "/etc/passwd",
        "workspaces/project-1/queries/result.parquet",  # another project's rows
        "releases/project-1/1/table.csv",
    ],
)
def test_version_files_cannot_climb(api: Api, url: str) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/datasets", "stella", json=dataset_body())
    body = {
        "digest": "d" * 64,
        "schema": [{"name": "x", "type": "VARCHAR"}],
        "row_count": 1,
        "files": [{"url": url, "size": 1, "sha256": "a" * 64}],
    }
    assert_error(
        api.post("/datasets/pmsi_mco/versions", "stella", json=body), 422, "invalid_request"
    )
    assert api.ok("GET", "/datasets/pmsi_mco/versions", "stella")["items"] == []


def test_a_link_in_the_landing_area_is_refused(
    api: Api, synth_sources: Path, tmp_path: Path
) -> None:
    import dataclasses
    import shutil

    landing, secret = tmp_path / "landing", tmp_path / "secret"
    landing.mkdir()
    secret.mkdir()
    shutil.copy(synth_sources / "stays.csv", secret / "stays.csv")
    (landing / "stays.csv").symlink_to(secret / "stays.csv")
    (landing / "dir").symlink_to(secret, target_is_directory=True)
    api.hub.config = dataclasses.replace(api.hub.config, ingest_sources=(f"file://{landing}/",))
    api.ok("POST", "/organizations", "stella", json=org_body())
    for url in (
        f"file://{landing}/stays.csv",
        f"file://{landing}/dir/stays.csv",
        f"file://{landing}/../secret/stays.csv",
    ):
        body = ingest_body(synth_sources, source_url=url)
        error = assert_error(api.post("/ingests", "stella", json=body), 403, "permission_denied")
        assert "ingest_sources" in error["message"]
    assert api.ok("GET", "/datasets", "stella")["items"] == []
