"""The README's first command: the live-move story, with zero failed researcher queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.demo import run_live_demo
from tests.backends import new_store_url
from tests.cli.test_storage_commands import run_cli


def test_demo_tells_the_story(tmp_path: Path) -> None:
    proc = run_cli("demo", "--workdir", str(tmp_path), "--persons", "300")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    text = " ".join(proc.stdout.split())
    assert "0 failures, 0 results different from before the move" in text
    assert "audit chain verified" in text
    assert "zero failed researcher queries" in text


@pytest.mark.azurite
@pytest.mark.ceph
@pytest.mark.slow
def test_demo_between_azurite_and_ceph(tmp_path: Path) -> None:
    source = new_store_url("azurite", tmp_path, "demo-a")
    dest = new_store_url("ceph", tmp_path, "demo-b")
    story = run_live_demo(tmp_path / "demo", source_url=source, destination_url=dest, persons=300)
    assert story.ok, (story.researchers.failures, story.researchers.different)
    assert story.destination_url.startswith("s3://") and story.verified_deep > 0
