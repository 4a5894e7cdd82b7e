"""A remote whose declared provider or region the public endpoint it uses contradicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.errors import ConfigError
from passerelle.providers.catalog import infer_provider
from tests.sovereignty.test_attacks_remotes import _location


@pytest.mark.parametrize(
    "declared",
    [
        # the endpoint is Amazon's (us-east-1), the remote claims a sovereign provider
        'endpoint = "https://s3.us-east-1.amazonaws.com"\nprovider = "scaleway"\nregion = "fr-par"',
        'endpoint = "https://mybucket.s3.us-east-1.amazonaws.com"\nprovider = "ovhcloud"',
        # the provider is right, the region is not the one the endpoint serves
        'endpoint = "https://s3.us-east-1.amazonaws.com"\nprovider = "aws"\nregion = "eu-west-3"',
        'endpoint = "https://s3.nl-ams.scw.cloud"\nregion = "fr-par"',
    ],
)
def test_a_declared_place_the_endpoint_contradicts_is_refused(
    tmp_path: Path, declared: str
) -> None:
    # a public endpoint names its provider and region; a remote saying otherwise is lying
    # (or mistaken): refused in one sentence, never taken at its word by the policy
    try:
        provider, region = _location(tmp_path, declared)
    except ConfigError as exc:
        assert str(exc).count(". ") == 0 and str(exc).endswith(".")
        return
    inferred = infer_provider(declared.split('"')[1])
    assert (provider, region) in {inferred, (None, None), (inferred[0], None)}, (provider, region)


@pytest.mark.parametrize(
    ("declared", "place"),
    [
        ('endpoint = "https://s3.fr-par.scw.cloud"\nprovider = "scaleway"', ("scaleway", "fr-par")),
        ('endpoint = "https://s3.fr-par.scw.cloud"\nregion = "fr-par"', ("scaleway", "fr-par")),
        ('endpoint = "https://s3.amazonaws.com"\nregion = "eu-west-3"', ("aws", "eu-west-3")),
        # a private endpoint says nothing: the operator's declaration stands
        ('endpoint = "http://127.0.0.1:7480"\nprovider = "aws"\nregion = "us-east-1"', ("aws", "us-east-1")),
        ('endpoint = "https://s3.internal.example"\nprovider = "scaleway"', ("scaleway", None)),
    ],
)  # fmt: skip
def test_a_declaration_the_endpoint_agrees_with_or_cannot_tell_stands(
    tmp_path: Path, declared: str, place: tuple[str, str | None]
) -> None:
    assert _location(tmp_path, declared) == place


def test_the_cli_names_the_contradiction_in_one_sentence(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    config = tmp_path / "config.toml"
    config.write_text(
        '[remotes.r]\ntype = "s3"\naccess_key_id = "a"\nsecret_access_key = "b"\n'
        'endpoint = "https://s3.us-east-1.amazonaws.com"\nprovider = "scaleway"\n'
    )
    env = {**os.environ, "PASSERELLE_CONFIG": str(config)}
    done = subprocess.run(
        [sys.executable, "-m", "passerelle", "migrate", "plan", "memory://aaa", "s3://r@bbb",
         "--journal", str(tmp_path / "j.db"), "--policy", "health-pseudonymized"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert "declares provider 'scaleway'" in done.stderr + done.stdout
