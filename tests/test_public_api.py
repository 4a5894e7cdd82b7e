"""The public API is what ``__all__`` says, and every command and setting is documented."""

from __future__ import annotations

import importlib
import re
from dataclasses import fields
from pathlib import Path

import pytest
import typer

from passerelle.cli.app import build_app
from passerelle.storage.config import RemoteConfig

PACKAGES = [
    "passerelle",
    "passerelle.storage",
    "passerelle.providers",
    "passerelle.migration",
    "passerelle.errors",
    "passerelle.demo",
    "passerelle.research",
    "passerelle.research.disclosure",
    "passerelle.hub",
    "passerelle.api",
    "passerelle.live",
    "passerelle.workspace",
    "passerelle.ingest",
    "passerelle.synth",
]
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", PACKAGES)
def test_exported_names_match_all(name: str) -> None:
    module = importlib.import_module(name)
    public = {n for n in vars(module) if not n.startswith("_")} - {"annotations"}
    exported = set(module.__all__)
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing objects: {missing}"
    modules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert public - modules - exported == set(), f"{name} exposes names not in __all__"


def _command_paths(group: object, prefix: str = "") -> list[str]:
    paths = []
    for name, cmd in getattr(group, "commands").items():  # noqa: B009
        path = f"{prefix} {name}".strip()
        if getattr(cmd, "commands", None):
            paths.extend(_command_paths(cmd, path))
        else:
            paths.append(path)
    return paths


def test_every_cli_command_is_documented() -> None:
    root = typer.main.get_command(build_app())
    text = (DOCS / "cli.md").read_text()
    missing = [p for p in _command_paths(root) if f"passerelle {p}" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def test_every_remote_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [
        f.name
        for f in fields(RemoteConfig)
        if f.name != "name" and not re.search(rf"`{f.name}`", text)
    ]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_every_cli_command_prints_its_help() -> None:
    """A help text is rendered as Rich markup: a stray ``[/x]`` would crash ``--help``."""
    from typer.testing import CliRunner

    app = build_app()
    runner = CliRunner()
    broken = {}
    for path in ["", *_command_paths(typer.main.get_command(app))]:
        result = runner.invoke(app, [*path.split(), "--help"], env={"COLUMNS": "120"})
        if result.exit_code != 0 or "Usage" not in result.output:
            broken[path or "passerelle"] = repr(result.exception) or result.output[-200:]
    assert not broken, f"--help fails for: {broken}"
