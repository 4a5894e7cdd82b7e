from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.errors import ConfigError
from passerelle.storage.config import AZURITE_KEY, load_config


def test_remotes_from_file_and_secret_from_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        """
[defaults]
s3 = "scw"

[remotes.scw]
type = "s3"
endpoint = "https://s3.fr-par.scw.cloud"
region = "fr-par"
access_key_id = "AK"
secret_access_key_env = "SCW_SECRET"
provider = "scaleway"
"""
    )
    config = load_config(cfg, env={"SCW_SECRET": "s3cr3t"})
    remote = config.remote_for("s3", None)
    assert remote.name == "scw" and remote.secret_access_key == "s3cr3t"
    assert remote.redacted()["secret_access_key"] == "***"
    assert not remote.allow_http


def test_env_fallback_for_azure_emulator() -> None:
    config = load_config(None, env={"AZURE_STORAGE_USE_EMULATOR": "true", "HOME": "/nonexistent"})
    remote = config.remote_for("az", None)
    assert remote.account == "devstoreaccount1" and remote.account_key == AZURITE_KEY
    assert remote.allow_http


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[remotes.x]\ntype = 'gcs'\n", "needs type"),
        ("[remotes.x]\ntype = 's3'\nendpont = 'typo'\n", "Unknown setting 'endpont'"),
        ("[remotes.x]\ntype = 's3'\nsecret_access_key_env = 'NOPE'\n", r"\$NOPE, which is not set"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_bad_config_files_say_what_is_wrong(tmp_path: Path, text: str, words: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_config(cfg, env={})


def test_unknown_remote_and_wrong_type(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[remotes.az1]\ntype = 'az'\naccount = 'a'\naccount_key = 'k'\n")
    config = load_config(cfg, env={})
    with pytest.raises(ConfigError, match="No remote named 'nope'"):
        config.remote_for("s3", "nope")
    with pytest.raises(ConfigError, match="is of type 'az', not 's3'"):
        config.remote_for("s3", "az1")


def test_explicit_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(None, env={"PASSERELLE_CONFIG": str(tmp_path / "none.toml")})
