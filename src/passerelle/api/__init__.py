"""The hub's HTTP API: FastAPI routes over ``passerelle.hub``, built by ``create_app(hub)``."""

from __future__ import annotations

from passerelle.api.app import create_app

__all__ = ["create_app"]
