"""Custodies under test: the key file, and a real PKCS#11 token (SoftHSM2).

The token comes from ``scripts/servers/softhsm.sh`` (run by ``scripts/test.sh``), which
exports ``SOFTHSM2_CONF`` and ``PASSERELLE_TEST_PKCS11_*``; without them the PKCS#11
tests are skipped locally and fail when ``PASSERELLE_REQUIRE_SERVERS=1`` (as in CI).
Each test gets its own namespace on the shared token, so keys never leak between tests.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from passerelle.keys import FileCustody, KeyCustody

MODULE_VAR = "PASSERELLE_TEST_PKCS11_MODULE"


@dataclass(frozen=True)
class Token:
    module: str
    label: str
    pin: str


def require_pkcs11() -> Token:
    """The test token, or skip (locally) / fail (CI) with the reason."""
    module = os.environ.get(MODULE_VAR)
    if module and os.environ.get("SOFTHSM2_CONF"):
        return Token(
            module,
            os.environ.get("PASSERELLE_TEST_PKCS11_TOKEN", "passerelle"),
            os.environ["PASSERELLE_TEST_PKCS11_PIN"],
        )
    message = (
        f"no PKCS#11 token ({MODULE_VAR} unset); start one with "
        "`bash scripts/servers/softhsm.sh start DIR` and source DIR/softhsm.env"
    )
    if os.environ.get("PASSERELLE_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def namespace(stem: str = "t") -> str:
    return f"{stem}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def token() -> Token:
    return require_pkcs11()


def make_custody(kind: str, tmp_path: Path) -> KeyCustody:
    if kind == "file":
        return FileCustody(tmp_path / "keks.json")
    from passerelle.keys.pkcs11_custody import Pkcs11Custody

    t = require_pkcs11()
    return Pkcs11Custody(t.module, t.label, t.pin, namespace=namespace())


@pytest.fixture(params=["file", "pkcs11"], ids=["keyfile", "pkcs11"])
def custody(request: pytest.FixtureRequest, tmp_path: Path) -> KeyCustody:
    """A fresh, empty custody of each kind in turn."""
    return make_custody(str(request.param), tmp_path)
