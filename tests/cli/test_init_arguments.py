"""``passerelle init`` with arguments hub.toml cannot hold: refused in one sentence, nothing written.

Run as a real process with bytes in argv, as a non-UTF-8 terminal or script gives
them: Python decodes such a byte to a surrogate escape, which no UTF-8 file can hold.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest


def _init(tmp_path: Path, *args: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSERELLE_")}
    command = [sys.executable.encode(), b"-m", b"passerelle", b"init", *args]
    return subprocess.run(command, capture_output=True, env=env, cwd=tmp_path, timeout=120)


def _refused(done: subprocess.CompletedProcess[bytes], expected: str) -> None:
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err, err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        (b"--name", b"\xff"),
        (b"--store", b"file://data\xff"),
        (b"--database", b"sqlite:///hub\xe9.db"),
        (b"--checkpoints", b"file://cp\xc3"),
        (b"--keys", b"keys\x80.json"),
        (b"--kek-file", b"keks\xfe.json"),
        (b"--witness", b"file:///tmp/w\xff"),
        (b"--admin", b"adm\xffin"),
    ],
)
def test_undecodable_bytes_are_refused_before_anything_is_written(
    tmp_path: Path, option: bytes, value: bytes
) -> None:
    hub = tmp_path / "hub"
    done = _init(tmp_path, b"--hub", str(hub).encode(), option, value)
    _refused(done, f"{option.decode()} is not valid UTF-8")
    assert not hub.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_undecodable_hub_folder_is_refused(tmp_path: Path) -> None:
    done = _init(tmp_path, b"--hub", str(tmp_path).encode() + b"/hub\xff")
    _refused(done, "--hub is not valid UTF-8 (byte 0xff)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        (b"--store", b'file://data"\n[policy.reference]\nrequire = ["hds"]'),
        (b"--name", b'x"\ncustody = "file'),
        (b"--witness", b"file:///tmp/w\r\nx"),
        (b"--pkcs11-module", b"/usr/lib/x.so\x1b[2J"),
    ],
)
def test_a_multi_line_setting_is_refused_before_anything_is_written(
    tmp_path: Path, option: bytes, value: bytes
) -> None:
    hub = tmp_path / "hub"
    done = _init(tmp_path, b"--hub", str(hub).encode(), option, value)
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err, err
    assert not hub.exists()


def test_printable_hostile_settings_are_written_as_themselves(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    store = 'file://da"ta\\ #[policy.reference] = "x"'
    done = _init(tmp_path, b"--hub", str(hub).encode(), b"--store", store.encode())
    assert done.returncode == 0, done.stderr.decode()
    data = tomllib.loads((hub / "hub.toml").read_text(encoding="utf-8"))
    assert set(data) == {"hub"}
    assert data["hub"]["store"] == store
    assert (hub / 'da"ta\\ #[policy.reference] = "x"').is_dir()
