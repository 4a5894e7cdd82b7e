from __future__ import annotations

from pathlib import Path

from passerelle.demo import run_storage_tour
from tests.cli.test_storage_commands import run_cli


def test_demo_tells_the_story(tmp_path: Path) -> None:
    proc = run_cli("demo", "--workdir", str(tmp_path), "--objects", "30")
    assert proc.returncode == 0, proc.stderr
    assert "30/30 objects match" in " ".join(proc.stdout.split())
    assert "proof complete" in proc.stdout


def test_tour_verifies_every_object(tmp_path: Path) -> None:
    result = run_storage_tour(tmp_path, objects=5)
    assert result.ok and result.verified == 5
