"""The PKCS#11 custody against a real token (SoftHSM2): what stays inside the HSM,
and the one-sentence answers to a wrong PIN, a missing token or a missing module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from passerelle.errors import AuthenticationError, ConfigError, KeyUnavailableError
from passerelle.keys import KekState
from passerelle.keys.pkcs11_custody import Pkcs11Custody
from tests.keys.conftest import Token, namespace

CONTEXT = b"object identity"


def _independent(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh process (its own C_Initialize and login)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
        stdin=subprocess.DEVNULL,
    )


def test_keks_are_non_extractable_read_with_python_pkcs11_directly(token: Token) -> None:
    ns = namespace()
    custody = Pkcs11Custody(token.module, token.label, token.pin, namespace=ns)
    key_id = custody.create_key()
    probe = _independent(f"""
        import json, pkcs11
        from pkcs11 import Attribute, ObjectClass
        from pkcs11.exceptions import AttributeSensitive
        lib = pkcs11.lib({token.module!r})
        session = lib.get_token(token_label={token.label!r}).open(user_pin={token.pin!r})
        [key] = list(session.get_objects({{
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.LABEL: "passerelle/{ns}/{key_id}",
        }}))
        out = {{a: bool(key[getattr(Attribute, a)]) for a in (
            "SENSITIVE", "EXTRACTABLE", "ALWAYS_SENSITIVE", "NEVER_EXTRACTABLE", "TOKEN",
            "PRIVATE", "LOCAL", "WRAP", "UNWRAP", "ENCRYPT", "DECRYPT", "MODIFIABLE")}}
        out["VALUE_LEN"] = int(key[Attribute.VALUE_LEN])
        try:
            key[Attribute.VALUE]
            out["value"] = "READ"
        except AttributeSensitive:
            out["value"] = "refused"
        try:
            key[Attribute.EXTRACTABLE] = True
            out["made_extractable"] = True
        except pkcs11.PKCS11Error:
            out["made_extractable"] = False
        print(json.dumps(out))
        session.close()
    """)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["value"] == "refused"  # CKA_VALUE cannot be read
    assert seen["made_extractable"] is False
    assert seen["SENSITIVE"] and seen["ALWAYS_SENSITIVE"]
    assert not seen["EXTRACTABLE"] and seen["NEVER_EXTRACTABLE"]
    assert seen["TOKEN"] and seen["PRIVATE"] and seen["LOCAL"]  # generated inside the token
    assert seen["ENCRYPT"] and seen["DECRYPT"] and not seen["WRAP"] and not seen["UNWRAP"]
    assert seen["VALUE_LEN"] == 32


def test_keys_and_their_states_survive_in_the_token(token: Token) -> None:
    ns = namespace()
    custody = Pkcs11Custody(token.module, token.label, token.pin, namespace=ns)
    old = custody.create_key()
    wrapped = custody.wrap(old, b"k" * 32, CONTEXT)
    custody.create_key()
    seen = _independent(f"""
        from passerelle.keys.pkcs11_custody import Pkcs11Custody
        c = Pkcs11Custody({token.module!r}, {token.label!r}, {token.pin!r}, namespace={ns!r})
        assert c.unwrap({old!r}, {wrapped!r}, {CONTEXT!r}) == b"k" * 32
        c.destroy_key({old!r})
        print([(k.key_id, k.state.value) for k in c.keys()])
    """)
    assert seen.returncode == 0, seen.stderr
    # the destruction in the other process is seen here at once
    with pytest.raises(KeyUnavailableError, match="crypto-erased"):
        custody.unwrap(old, wrapped, CONTEXT)
    assert [k.state for k in list(custody.keys())] == [KekState.DESTROYED, KekState.CURRENT]


def test_namespaces_keep_hubs_apart_on_one_token(token: Token) -> None:
    a = Pkcs11Custody(token.module, token.label, token.pin, namespace=namespace("a"))
    b = Pkcs11Custody(token.module, token.label, token.pin, namespace=namespace("b"))
    key_id = a.create_key()
    assert b.keys() == []
    with pytest.raises(KeyUnavailableError):
        b.unwrap(key_id, a.wrap(key_id, b"k" * 32, CONTEXT), CONTEXT)
    with pytest.raises(KeyUnavailableError):
        b.destroy_key(key_id)


def test_a_wrong_pin_is_one_sentence(token: Token) -> None:
    wrong = _independent(f"""
        from passerelle.errors import PasserelleError
        from passerelle.keys.pkcs11_custody import Pkcs11Custody
        try:
            Pkcs11Custody({token.module!r}, {token.label!r}, "not-the-pin")
        except PasserelleError as exc:
            print(type(exc).__name__, exc)
    """)
    assert wrong.returncode == 0, wrong.stderr
    assert wrong.stdout.startswith("AuthenticationError the HSM token"), wrong.stdout
    assert "refused the PIN" in wrong.stdout and "Traceback" not in wrong.stderr
    Pkcs11Custody(token.module, token.label, token.pin, namespace=namespace())  # logged in
    with pytest.raises(AuthenticationError, match="not the one this process logged in with"):
        Pkcs11Custody(token.module, token.label, token.pin + "x", namespace=namespace())


def test_a_missing_token_module_or_setting_is_one_sentence(token: Token, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no token labelled 'nope'"):
        Pkcs11Custody(token.module, "nope", token.pin)
    with pytest.raises(ConfigError, match="does not exist"):
        Pkcs11Custody(str(tmp_path / "libnothing.so"), token.label, token.pin)
    not_a_module = tmp_path / "notamodule.so"
    not_a_module.write_bytes(b"\x7fELF but not really")
    with pytest.raises(ConfigError, match="cannot be loaded as a PKCS#11 module"):
        Pkcs11Custody(str(not_a_module), token.label, token.pin)
    with pytest.raises(ConfigError, match="pkcs11_module is not set"):
        Pkcs11Custody("", token.label, token.pin)
    with pytest.raises(ConfigError, match="cannot name this hub's keys"):
        Pkcs11Custody(token.module, token.label, token.pin, namespace="../other hub")


def test_the_registry_refuses_a_damaged_entry(token: Token) -> None:
    ns = namespace()
    custody = Pkcs11Custody(token.module, token.label, token.pin, namespace=ns)
    custody.create_key()
    planted = _independent(f"""
        import pkcs11
        from pkcs11 import Attribute, ObjectClass
        lib = pkcs11.lib({token.module!r})
        s = lib.get_token(token_label={token.label!r}).open(rw=True, user_pin={token.pin!r})
        s.create_object({{Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: True,
            Attribute.PRIVATE: True, Attribute.APPLICATION: "passerelle-kek/{ns}",
            Attribute.LABEL: "junk", Attribute.VALUE: b"not json"}})
        s.close()
    """)
    assert planted.returncode == 0, planted.stderr
    with pytest.raises(ConfigError, match="damaged key registry entry"):
        custody.keys()
