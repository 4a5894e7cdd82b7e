"""An operator's remote whose provider or region lies, is missing, or hides in the endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.providers.catalog import infer_provider
from passerelle.sovereignty.policy import NATIONAL_POLICY, decide_placement
from passerelle.storage.config import load_config
from passerelle.storage.opener import store_location


def _location(tmp_path: Path, table: str) -> tuple[str | None, str | None]:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[remotes.r]\ntype = "s3"\naccess_key_id = "a"\nsecret_access_key = "b"\n{table}\n'
    )
    return store_location("s3://r@bucket", load_config(config, env={}))


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://s3.evil.example#.s3.fr-par.scw.cloud",  # the fragment ended like Scaleway's
        "https://s3.evil.example?.s3.fr-par.scw.cloud",  # so did the query
        "https://s3.evil.example\\.s3.fr-par.scw.cloud",
        "https://s3.evil.example/.s3.fr-par.scw.cloud",
        "https://s3.fr-par.scw.cloud.evil.example",
        "https://s3.fr-par.scw.cloud@evil.example",
    ],
)
def test_an_endpoint_is_known_by_the_host_it_connects_to(endpoint: str) -> None:
    assert infer_provider(endpoint) == (None, None)


def test_a_real_endpoint_is_still_recognised() -> None:
    assert infer_provider("https://S3.FR-PAR.SCW.CLOUD") == ("scaleway", "fr-par")
    assert infer_provider("https://user@s3.fr-par.scw.cloud:443/x") == ("scaleway", "fr-par")


def test_a_remote_without_provider_or_region_is_unproven(tmp_path: Path) -> None:
    url = "s3://r@bucket"
    config = tmp_path / "config.toml"
    config.write_text(
        '[remotes.r]\ntype = "s3"\nendpoint = "http://127.0.0.1:9"\n'
        'access_key_id = "a"\nsecret_access_key = "b"\n'
    )
    assert store_location(url, load_config(config, env={})) == (None, None)
    # no profile proves nothing: health data refused in plaintext, aggregates refused outright
    for classification in ("health-pseudonymized", "health-aggregate"):
        decision = decide_placement(NATIONAL_POLICY, classification, None, None, False)
        assert not decision.allowed and "no provider profile" in decision.message
