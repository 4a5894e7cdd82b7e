"""`passerelle keys ...` as an operator types it, against a SoftHSM2 token: one sentence
for every mistake, never a traceback."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from passerelle.hub import Hub
from passerelle.storage.encrypting import EncryptingStore
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.keys.conftest import Token
from tests.keys.hubs import PIN_VAR, audit_events


def _init(tmp_path: Path, *extra: str, encrypt: bool = True) -> tuple[str, str]:
    config = tmp_path / "init.toml"
    config.write_text('[hub]\nencrypt = ["health-pseudonymized"]\n' if encrypt else "[hub]\n")
    hub = str(tmp_path / "hub")
    proc = run_cli(
        "init",
        "--hub",
        hub,
        "--config",
        str(config),
        "--name",
        f"c-{uuid.uuid4().hex[:10]}",
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    return hub, proc.stdout.strip().splitlines()[-1]


def _envelopes(hub: str, count: int) -> None:
    from passerelle.hub.key_rotation import raw_store

    h = Hub.open(hub)
    store = EncryptingStore(raw_store(h), h.custody())
    for i in range(count):
        store.put(f"datasets/cohort/part-{i}.parquet", bytes([i]) * 70_000)
    h.close()


def test_the_key_commands_on_an_hsm(tmp_path: Path, token: Token) -> None:
    hub, admin = _init(
        tmp_path,
        "--custody",
        "pkcs11",
        "--pkcs11-module",
        token.module,
        "--pkcs11-token",
        token.label,
        "--pkcs11-pin-env",
        PIN_VAR,
    )
    env = {"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": admin}

    def ok(*args: str, **more: str) -> str:
        proc = run_cli(*args, env={**env, **more})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def fails(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env={**env, **more})

    assert 'custody = "pkcs11"' in Path(hub, "hub.toml").read_text()
    for bad, words in (
        (("--custody", "vault"), 'custody must be "file" or "pkcs11"'),
        (
            (
                "--custody",
                "pkcs11",
                "--pkcs11-module",
                token.module,
                "--pkcs11-token",
                "nope",
                "--pkcs11-pin-env",
                PIN_VAR,
            ),
            "has no token labelled 'nope'",
        ),
        (
            (
                "--custody",
                "pkcs11",
                "--pkcs11-module",
                token.module,
                "--pkcs11-token",
                token.label,
                "--pkcs11-pin-env",
                "NO_SUCH_PIN_VARIABLE",
            ),
            "$NO_SUCH_PIN_VARIABLE",
        ),
    ):
        elsewhere = tmp_path / f"bad-{uuid.uuid4().hex[:6]}"
        assert_one_sentence(run_cli("init", "--hub", str(elsewhere), *bad), *words)
        assert not (elsewhere / "hub.toml").exists()
    [first] = json.loads(ok("keys", "list", "--json"))
    assert (first["custody"], first["state"]) == ("pkcs11", "current")
    _envelopes(hub, 3)
    status = json.loads(ok("keys", "status", "--json"))
    assert status["current"] == first["key_id"]
    assert {k["key_id"]: k["objects"] for k in status["keys"]} == {first["key_id"]: 3}

    assert_one_sentence(fails("keys", "destroy", first["key_id"]), "current key-encryption key")
    second = json.loads(ok("keys", "create", "--json"))["key_id"]
    assert_one_sentence(
        fails("keys", "destroy", first["key_id"]), "still protects 3 object(s)", "--crypto-erase"
    )
    out = ok("keys", "rotate")
    assert "3 re-wrapped" in out and "0 failed" in out
    rotated = json.loads(ok("keys", "list", "--json"))[-1]["key_id"]
    assert rotated not in (first["key_id"], second)
    assert "no object of the hub's store needed it" in ok("keys", "destroy", first["key_id"])
    states = {k["key_id"]: k["state"] for k in json.loads(ok("keys", "list", "--json"))}
    assert states == {first["key_id"]: "destroyed", second: "retired", rotated: "current"}

    # crypto-erase on purpose: a fresh object under `rotated`, a new key, then destroy
    _envelopes(hub, 1)
    ok("keys", "create")
    assert_one_sentence(fails("keys", "destroy", rotated), "still protects 3 object(s)")
    erased = ok("keys", "destroy", rotated, "--crypto-erase")
    assert "3 object(s) under it are now unreadable" in erased

    # mistakes, each one sentence
    assert_one_sentence(fails("keys", "destroy", "KEK/../x"), "is not a key id")
    assert_one_sentence(fails("keys", "destroy", "kek-20200101-00000000"), "holds no key")
    assert_one_sentence(fails("keys", "list", **{PIN_VAR: "wrong-pin"}), "refused the PIN")
    assert_one_sentence(fails("keys", "list", **{PIN_VAR: ""}), "user PIN is not set")
    ok("users", "add", "aud", "--roles", "auditor")
    auditor = ok("tokens", "create", "--user", "aud").strip()
    assert json.loads(ok("keys", "list", "--json", PASSERELLE_TOKEN=auditor))
    for args in (("keys", "create"), ("keys", "rotate"), ("keys", "destroy", second)):
        assert_one_sentence(fails(*args, PASSERELLE_TOKEN=auditor), "permission denied")
    h = Hub.open(hub)
    destroys = [e["decision"] for e in audit_events(h, "keys.destroy")]
    assert destroys == ["denied", "denied", "allowed", "denied", "allowed", "denied", "denied"]
    assert audit_events(h, "keys.destroy")[-2]["target"] == "key:KEK/../x"
    h.close()


def test_wrap_secrets_from_the_cli(tmp_path: Path) -> None:
    hub, admin = _init(tmp_path, encrypt=False)
    env = {"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": admin}
    assert json.loads(run_cli("keys", "list", "--json", env=env).stdout) == []
    proc = run_cli("keys", "wrap-secrets", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "audit, project, pseudonym wrapped under kek-" in " ".join(proc.stdout.split())
    assert not Path(hub, "keys.json").exists()
    assert 'keys = "wrapped:keys.wrapped.json"' in Path(hub, "hub.toml").read_text()
    assert run_cli("audit", "verify", env=env).returncode == 0
    assert_one_sentence(run_cli("keys", "wrap-secrets", env=env), "already wrapped")
    Path(hub, "keks.json").unlink()  # the KEK file lost: the hub's secrets are gone with it
    assert_one_sentence(run_cli("keys", "list", env=env), "no key-encryption key")
