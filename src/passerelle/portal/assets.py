"""The portal's static files: its own stylesheet and scripts, and the vendored assets.

``static/vendor/manifest.json`` records each vendored file's package, version,
the npm registry's integrity of its tarball and the file's SHA-256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["STATIC_PREFIX", "mount", "static_dir", "vendor_manifest"]

STATIC_PREFIX = "/static"


def static_dir() -> Path:
    """The folder of the portal's static files, inside the installed package."""
    return Path(__file__).resolve().parent / "static"


def vendor_manifest() -> dict[str, Any]:
    """What was vendored from the npm registry (see ``scripts/vendor_assets.py``)."""
    data: dict[str, Any] = json.loads((static_dir() / "vendor" / "manifest.json").read_text())
    return data


def mount(app: FastAPI) -> None:
    from fastapi.staticfiles import StaticFiles

    app.mount(STATIC_PREFIX, StaticFiles(directory=static_dir()), name="static")
