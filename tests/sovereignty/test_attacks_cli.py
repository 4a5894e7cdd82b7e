"""Bad inputs to the new commands, as an admin or auditor would type them: one sentence each,
no traceback, and nothing of the hub's damaged."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.keys.test_keys_cli import _init


def test_key_and_report_commands_refuse_bad_inputs_in_one_sentence(tmp_path: Path) -> None:
    hub, admin = _init(tmp_path)
    env = {"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": admin}
    before = {
        p.name: p.read_bytes() for p in Path(hub).iterdir() if p.is_file() and p.name != "hub.db"
    }
    for key_id in ("", "../../etc/passwd", "kek-x\n", "k" * 5000):
        assert_one_sentence(run_cli("keys", "destroy", key_id, env=env), "is not a key id")
    assert_one_sentence(
        run_cli("keys", "destroy", "kek-20261202-00000000", env=env), "holds no key"
    )
    for name in ("..", "a/b", "/etc/passwd", "a" * 200):
        assert_one_sentence(
            run_cli("keys", "wrap-secrets", "--file", name, env=env), "not a plain file name"
        )
    # the hub's own files as the wrapped file: refused, and none of them overwritten
    for name in ("hub.toml", "keks.json", "hub.db"):
        assert_one_sentence(
            run_cli("keys", "wrap-secrets", "--file", name, env=env),
            "already exists in the hub folder and is not a wrapped key file",
        )
    after = {
        p.name: p.read_bytes() for p in Path(hub).iterdir() if p.is_file() and p.name != "hub.db"
    }
    assert after == before  # the database only gained the audited refusals
    assert run_cli("audit", "verify", env=env).returncode == 0
    folder = tmp_path / "reports"
    folder.mkdir()
    for fmt in ("html", "json"):
        # this got through: IsADirectoryError, after writing reports.partial beside the folder
        proc = run_cli("compliance", "report", "--format", fmt, "--output", str(folder), env=env)
        assert_one_sentence(proc, "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("reports")) == ["reports"]
    assert_one_sentence(
        run_cli("compliance", "report", "--format", "xml", env=env), "use json or html"
    )
    assert_one_sentence(run_cli("compliance", "report", "--dataset", "../x", env=env), "no dataset")
    assert_one_sentence(
        run_cli("catalog", "classify", "nope", "Reference", env=env), "unknown classification"
    )
