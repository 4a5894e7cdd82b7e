"""hub.toml written with hostile values: every string comes back as itself, and nothing else.

A hub name, store URL or path is chosen by whoever runs ``passerelle init`` (or edits a
``--config`` file); a quote, backslash, newline or ``[policy.x]`` inside one must never
end its string, add a setting or open a table. Each hostile string goes through every
text setting at once; the file is parsed back with ``tomllib`` (the same keys, the same
values) and read with ``read_settings`` (equal, or refused in one sentence when it holds
a control character).
"""

from __future__ import annotations

import itertools
import random
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.errors import ConfigError
from passerelle.hub.hub import HubConfig, read_settings
from passerelle.hub.key_setup import _point_keys_at
from passerelle.sovereignty.policy import ClassRule, PlacementPolicy

PIECES = (
    '"',
    "\\",
    "\\n",
    '\\"',
    "'",
    '"""',
    "'''",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\u0085",
    "\u2028",
    "#",
    " # comment",
    "=",
    ' = "',
    "[",
    "]",
    "]]",
    "[policy.reference]",
    "[[hub]]",
    "[hub]",
    "\n[policy.reference]\nrequire = []\n",
    'x"\ncustody = "file',
    '"\nkeys = "env',
    "{a = 1}",
    ",",
    "a.b",
    "${HOME}",
    "%s%n",
    "é",
    "日本語",
    "\U0001f600",
    "\u202e",
    "\ufeff",
    " ",
    "file://",
)
"""What TOML (and the shells, terminals and logs around it) give a meaning."""


def _one_line(text: str) -> bool:
    import unicodedata

    return not any(unicodedata.category(c) in ("Cc", "Cs") or c in "\u2028\u2029" for c in text)


def hostile_strings() -> list[str]:
    """Several hundred strings: each piece, each pair, and random triples (fixed seed)."""
    pairs = [a + b for a, b in itertools.product(PIECES, repeat=2)]
    rng = random.Random(20261207)
    triples = ["".join(rng.choice(PIECES) for _ in range(3)) for _ in range(150)]
    chosen = list(dict.fromkeys(list(PIECES) + rng.sample(pairs, 250) + triples))
    assert len(chosen) >= 300 and sum(not _one_line(s) for s in chosen) >= 100
    return chosen


HOSTILE = hostile_strings()
FREE_TEXT = (  # text settings read_settings takes as they are (no enum, URL or e-mail check)
    "name",
    "database",
    "store",
    "checkpoints",
    "keys",
    "witness",
    "kek_file",
    "pkcs11_module",
    "pkcs11_token",
    "pkcs11_pin_env",
    "hdab_name",
)


def _config(tmp_path: Path, value: str, **extra: Any) -> HubConfig:
    texts = dict.fromkeys(FREE_TEXT, value)
    return HubConfig(
        directory=tmp_path,
        custody="pkcs11",  # so the pkcs11_* settings are written too
        ingest_sources=(value, "az://landing@drop/"),
        destinations=("file:///mnt/replica/", value),
        **texts,
        **extra,
    )


def _parsed(config: HubConfig) -> dict[str, Any]:
    return tomllib.loads(config.to_toml())


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_every_text_setting_parses_back_as_itself_and_adds_nothing(
    tmp_path: Path, value: str
) -> None:
    catalog = {"catalog_url": value, "catalog_country": value, "hdab_email": value}
    config = _config(tmp_path, value, encrypt=(value,), **catalog)
    safe = _config(tmp_path, "plain", encrypt=("plain",), **dict.fromkeys(catalog, "plain"))
    data = _parsed(config)
    assert set(data) == {"hub"}  # no [policy.*] or other table appeared
    assert list(data["hub"]) == list(tomllib.loads(safe.to_toml())["hub"])  # no extra key
    for name in (*FREE_TEXT, *catalog):
        assert data["hub"][name] == value, name
    assert data["hub"]["ingest_sources"] == [value, "az://landing@drop/"]
    assert data["hub"]["destinations"] == ["file:///mnt/replica/", value]
    assert data["hub"]["encrypt"] == [value]
    custody = _parsed(replace(config, custody=value))
    assert custody["hub"]["custody"] == value and set(custody) == {"hub"}


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_read_settings_gives_each_value_back_or_refuses_it_in_one_sentence(
    tmp_path: Path, value: str
) -> None:
    config = _config(tmp_path, value)
    path = tmp_path / "hub.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    if not _one_line(value):
        with pytest.raises(ConfigError, match="one line of text") as refused:
            read_settings(path)
        assert "\n" not in str(refused.value)
        return
    section = read_settings(path)
    assert set(section) == set(_parsed(_config(tmp_path, "plain"))["hub"])
    for name in FREE_TEXT:
        assert section[name] == value, name
    assert section["ingest_sources"] == (value, "az://landing@drop/")
    assert section["destinations"] == ("file:///mnt/replica/", value)
    assert HubConfig(directory=tmp_path, **section) == config


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_round_trips_through_the_writer(value: str) -> None:
    config = HubConfig(directory=Path("/hub"), name=value, store=value, hdab_name=value)
    data = tomllib.loads(config.to_toml())
    assert set(data) == {"hub"}
    assert data["hub"]["name"] == data["hub"]["store"] == data["hub"].get("hdab_name", "") == value


@pytest.mark.parametrize("value", HOSTILE[::7], ids=range(len(HOSTILE[::7])))
def test_policy_tables_parse_back_as_themselves(value: str) -> None:
    policy = PlacementPolicy(((value, ClassRule((value, "eea"), True)),))
    data = tomllib.loads(policy.to_toml())
    assert data == {"policy": {value: {"require": [value, "eea"], "ciphertext_elsewhere": True}}}
    whole = tomllib.loads(HubConfig(directory=Path("/hub"), policy=policy).to_toml())
    assert set(whole) == {"hub", "policy"} and set(whole["policy"]) == {value}


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("name", 3),
        ("store", 1.5),
        ("database", True),
        ("checkpoints", ["store"]),
        ("keys", {"file": "keys.json"}),
        ("witness", 7),
        ("custody", 1),
        ("pkcs11_token", 2),
    ],
)
def test_a_number_where_text_is_wanted_is_one_sentence_naming_the_setting(
    tmp_path: Path, setting: str, value: object
) -> None:
    import tomli_w

    path = tmp_path / "hub.toml"
    path.write_text(tomli_w.dumps({"hub": {setting: value}}))
    with pytest.raises(ConfigError, match=f"{setting} must be one line of text in quotes, not"):
        read_settings(path)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\n", "\r", "\x1b", "\x7f", "\x9b", "\u2028"])
@pytest.mark.parametrize("setting", ["name", "store", "kek_file", "pkcs11_module", "witness"])
def test_control_characters_in_names_urls_and_paths_are_refused(
    tmp_path: Path, setting: str, char: str
) -> None:
    import tomli_w

    path = tmp_path / "hub.toml"
    path.write_text(tomli_w.dumps({"hub": {setting: f"file://data{char}x"}}))
    with pytest.raises(ConfigError, match=f"{setting} must be one line of text, without control"):
        read_settings(path)


@pytest.mark.parametrize("setting", ["ingest_sources", "destinations"])
def test_control_characters_in_listed_urls_are_refused(tmp_path: Path, setting: str) -> None:
    import tomli_w

    path = tmp_path / "hub.toml"
    path.write_text(tomli_w.dumps({"hub": {setting: ["file:///ok/", "file:///a\x00b/"]}}))
    with pytest.raises(ConfigError, match=f"each item of {setting} must be one line"):
        read_settings(path)


@pytest.mark.parametrize("value", [v for v in HOSTILE if _one_line(v)][::5])
def test_wrap_secrets_points_keys_at_a_hostile_file_exactly(tmp_path: Path, value: str) -> None:
    config = HubConfig(directory=tmp_path, name="hdh", ingest_sources=("az://a@b/",))
    path = tmp_path / "hub.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    _point_keys_at(path, "wrapped:" + value)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == {"hub": {**_parsed(config)["hub"], "keys": "wrapped:" + value}}
    assert read_settings(path)["keys"] == "wrapped:" + value
    assert not path.with_name("hub.toml.tmp").exists()


@pytest.mark.parametrize(
    "value",
    ['k"\n[policy.reference]\nrequire = ["hds"]', 'k"\ncustody = "pkcs11', "k\x00", "k\r"],
)
def test_wrap_secrets_refuses_a_file_name_that_would_not_stay_one_line(
    tmp_path: Path, value: str
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(HubConfig(directory=tmp_path).to_toml(), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="one line of text"):
        _point_keys_at(path, "wrapped:" + value)
    assert path.read_bytes() == before
    assert not path.with_name("hub.toml.tmp").exists()


def test_wrap_secrets_finds_the_hub_table_not_a_comment_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        "# keys below; see the [hub] table\n[policy.reference]\nrequire = []\n\n"
        '[hub]\nname = "hdh"\nkeys = "keys.json"\n'
    )
    _point_keys_at(path, "wrapped:keys.wrapped.json")
    data = tomllib.loads(path.read_text())
    assert data["hub"] == {"name": "hdh", "keys": "wrapped:keys.wrapped.json"}
    assert data["policy"] == {"reference": {"require": []}}
