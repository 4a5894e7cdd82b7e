"""Provider profiles: where a cloud is, whose law reaches it, what it certifies and costs.

Profiles are data: TOML files shipped in ``passerelle/providers/profiles`` plus any
``*.toml`` in the folders listed in ``$PASSERELLE_PROVIDERS_PATH`` (``:``-separated)
or ``~/.config/passerelle/providers``.  A user file with the same ``name`` as a
shipped one replaces it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from passerelle.errors import ConfigError, UnknownProviderError
from passerelle.storage.model import PartLimits

__all__ = [
    "Prices",
    "ProviderProfile",
    "Region",
    "infer_provider",
    "load_profiles",
    "profile_named",
]


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    location: str
    country: str
    eea: bool
    certifications: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prices:
    currency: str
    egress_per_gb: float = 0.0
    egress_free_gb_per_month: float = 0.0
    ingress_per_gb: float = 0.0
    write_per_1000: float = 0.0
    read_per_1000: float = 0.0
    list_per_1000: float = 0.0
    storage_per_gb_month: float = 0.0


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """Everything passerelle knows about one provider, as published."""

    name: str
    display_name: str
    kind: str
    legal_home: str
    legal_home_in_eu: bool
    non_eu_law_exposure: tuple[str, ...]
    certifications: tuple[str, ...]
    secnumcloud: bool
    limits: PartLimits
    prices: Prices
    regions: Mapping[str, Region]
    requests_per_second: int | None = None
    throttling: str = ""
    storage_classes: Mapping[str, str] = field(default_factory=dict)
    endpoint_template: str = ""
    notes: str = ""
    sources: tuple[str, ...] = ()
    origin: str = ""

    def region(self, name: str | None) -> Region | None:
        if name is None:
            return None
        return self.regions.get(name)


def _profile_from_toml(data: Mapping[str, Any], origin: str) -> ProviderProfile:
    try:
        limits = PartLimits(**{str(k): int(v) for k, v in data.get("limits", {}).items()})  # type: ignore[arg-type]
        prices = Prices(**data.get("prices", {"currency": "EUR"}))
        regions = {
            name: Region(
                name=name,
                location=str(r.get("location", "")),
                country=str(r.get("country", "")),
                eea=bool(r.get("eea", False)),
                certifications=tuple(r.get("certifications", ())),
            )
            for name, r in data.get("regions", {}).items()
        }
        hints = data.get("rate_hints", {})
        return ProviderProfile(
            name=str(data["name"]),
            display_name=str(data.get("display_name", data["name"])),
            kind=str(data.get("kind", "s3")),
            legal_home=str(data.get("legal_home", "")),
            legal_home_in_eu=bool(data.get("legal_home_in_eu", False)),
            non_eu_law_exposure=tuple(data.get("non_eu_law_exposure", ())),
            certifications=tuple(data.get("certifications", ())),
            secnumcloud=bool(data.get("secnumcloud", False)),
            limits=limits,
            prices=prices,
            regions=regions,
            requests_per_second=hints.get("requests_per_second"),
            throttling=str(hints.get("throttling", "")),
            storage_classes=dict(data.get("storage_classes", {})),
            endpoint_template=str(data.get("endpoint_template", "")),
            notes=str(data.get("notes", "")),
            sources=tuple(data.get("sources", ())),
            origin=origin,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"The provider profile {origin} is invalid ({exc}); fix it.") from exc


def _user_dirs(env: Mapping[str, str]) -> list[Path]:
    dirs = [Path(p) for p in env.get("PASSERELLE_PROVIDERS_PATH", "").split(":") if p]
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    dirs.append(Path(base) / "passerelle" / "providers")
    return dirs


def _read(text: str, origin: str) -> ProviderProfile:
    try:
        return _profile_from_toml(tomllib.loads(text), origin)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The provider profile {origin} is not valid TOML ({exc}).") from exc


@cache
def _shipped_profiles() -> dict[str, ProviderProfile]:
    """The profiles shipped in the package (parsed once per process)."""
    profiles: dict[str, ProviderProfile] = {}
    shipped = resources.files("passerelle.providers") / "profiles"
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            profile = _read(entry.read_text(encoding="utf-8"), f"(built-in) {entry.name}")
            profiles[profile.name] = profile
    return profiles


def load_profiles(
    env: Mapping[str, str] | None = None, extra_files: Iterable[Path] = ()
) -> dict[str, ProviderProfile]:
    """All provider profiles by name: shipped ones, then user ones overriding them."""
    env = os.environ if env is None else env
    profiles = dict(_shipped_profiles())
    user_files: list[Path] = []
    for folder in _user_dirs(env):
        if folder.is_dir():
            user_files.extend(sorted(folder.glob("*.toml")))
    for file in [*user_files, *extra_files]:
        profile = _read(file.read_text(encoding="utf-8"), str(file))
        profiles[profile.name] = profile
    return profiles


def profile_named(
    name: str, profiles: Mapping[str, ProviderProfile] | None = None
) -> ProviderProfile:
    """The profile called ``name`` or :class:`UnknownProviderError` listing the known ones."""
    profiles = load_profiles() if profiles is None else profiles
    try:
        return profiles[name]
    except KeyError:
        known = ", ".join(sorted(profiles))
        raise UnknownProviderError(
            f"No provider profile named {name!r}; known profiles: {known}."
        ) from None


_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_HOST_HINTS = (
    (".scw.cloud", "scaleway"),
    (".blob.core.windows.net", "azure"),
    (".amazonaws.com", "aws"),
    (".cloud.ovh.net", "ovhcloud"),
    (".ovh.net", "ovhcloud"),
)


def infer_provider(endpoint: str | None) -> tuple[str | None, str | None]:
    """Guess (provider, region) from a public endpoint URL; (None, None) if unknown."""
    if not endpoint:
        return None, None
    from urllib.parse import urlsplit

    try:  # the host a client connects to: never a query, fragment or user name that ends alike
        host = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}").hostname or ""
    except ValueError:
        return None, None
    if not _HOST.fullmatch(host):
        return None, None
    for suffix, name in _HOST_HINTS:
        if host.endswith(suffix):
            labels = host[: -len(suffix)].split(".")
            region = None
            if name == "scaleway" and len(labels) >= 2:
                region = labels[-1]
            elif name in ("aws", "ovhcloud") and len(labels) >= 2:
                region = (
                    labels[-1] if name == "aws" else labels[1] if len(labels) > 2 else labels[-1]
                )
            return name, region
    return None, None
