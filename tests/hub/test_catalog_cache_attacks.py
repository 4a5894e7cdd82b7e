"""The anonymous catalog's cache against a signed-in user who makes it rebuild (found by
the attacker): it was kept under the audit log's head, and every signed-in read is an
audit event, so one cheap request (a dataset list, 24 ms) made the next anonymous one
build and serialize the whole catalog again (1.8 s for 300 entries), holding the build
lock that other anonymous requests, and the request threads they sit in, wait on."""

from __future__ import annotations

import pytest
from rdflib import Graph

from passerelle import hub as H
from passerelle.errors import NotFoundError
from passerelle.hub.catalog_export import PublicCatalog, export_catalog
from tests.hub.conftest import Cast
from tests.hub.test_dcat import _catalog, _datasets


def test_events_that_change_nothing_shown_cost_no_build(cast: Cast) -> None:
    _catalog(cast)
    public = PublicCatalog()
    first = public.text(cast.hub, "jsonld")
    for _ in range(5):  # reads, refusals and exports: each an audit event, none a change
        H.list_datasets(cast.hub, cast.alice)
        with pytest.raises(NotFoundError):
            H.get_dataset(cast.hub, cast.bob, "hidden_claims")
        export_catalog(cast.hub, cast.steward, "turtle")
        assert public.text(cast.hub, "jsonld") == first
    assert public.builds == 1

    H.update_dataset(cast.hub, cast.steward, "open_stays", description="Stays, 2019-2024")
    changed = public.text(cast.hub, "jsonld")
    assert "Stays, 2019-2024" in changed and public.builds == 2
    H.list_datasets(cast.hub, cast.alice)
    assert public.text(cast.hub, "jsonld") == changed and public.builds == 2


def test_a_signed_in_public_request_never_feeds_the_anonymous_cache(cast: Cast) -> None:
    """``?public=true`` with a token is exported as its holder, never through the cache:
    the cache's text stays the anonymous view and what a steward sees is not in it."""
    _catalog(cast)
    public = PublicCatalog()
    anonymous = public.text(cast.hub, "turtle")
    restricted = export_catalog(cast.hub, cast.steward, "turtle")
    as_public = export_catalog(cast.hub, cast.steward, "turtle", public=True)
    assert _datasets(Graph().parse(data=restricted, format="turtle")) > {"open_stays"}
    assert _datasets(Graph().parse(data=as_public, format="turtle")) == {"open_stays"}
    assert public.text(cast.hub, "turtle") == anonymous and public.builds == 1
