"""``GET /catalog.jsonld|.ttl`` (public without a token, the rules' view with one),
``POST /catalog/imports`` and ``GET /catalog/remote`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from rdflib import Graph, URIRef

from passerelle.hub.dcat_import import MAX_BYTES
from tests.api.conftest import Api, assert_error
from tests.api.helpers import catalog, dataset_body, org_body
from tests.hub.test_dcat_import import MIXED, partner_export

DATASET = URIRef("http://www.w3.org/ns/dcat#dataset")


def _listed(text: str, format: str = "json-ld") -> set[str]:
    graph = Graph().parse(data=text, format=format)
    return {str(o).rsplit("/", 1)[-1] for o in graph.objects(predicate=DATASET)}


def _hub_with_a_hidden_entry(api: Api) -> None:
    catalog(api)  # CHU-LYON's discoverable pmsi_mco
    hidden = dataset_body("secret_mco", discoverable=False, locations=["s3://vault@hdh-raw/x"])
    api.ok("POST", "/datasets", "stella", json=hidden)


def test_the_public_catalog_needs_no_token_and_shows_only_discoverable_entries(
    api: Api,
) -> None:
    _hub_with_a_hidden_entry(api)
    response = api.get("/catalog.jsonld", None)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    assert response.headers["vary"] == "Authorization"
    document = json.loads(response.text)
    assert isinstance(document["@context"], dict)  # inline, never a URL to fetch
    assert _listed(response.text) == {"pmsi_mco"}
    for secret in ("secret_mco", "vault", "hdh-raw", "health-pseudonymized", "stella"):
        assert secret not in response.text
    turtle = api.get("/catalog.ttl", None)
    assert turtle.headers["content-type"].startswith("text/turtle")
    assert _listed(turtle.text, "turtle") == {"pmsi_mco"}


def test_a_signed_in_catalog_is_the_rules_view(api: Api) -> None:
    _hub_with_a_hidden_entry(api)
    stella = api.get("/catalog.jsonld", "stella")
    assert stella.headers["cache-control"] == "no-store"
    assert _listed(stella.text) == {"pmsi_mco", "secret_mco"}
    assert _listed(api.get("/catalog.jsonld", "rita").text) == {"pmsi_mco"}
    public = api.get("/catalog.jsonld", "stella", params={"public": "true"})
    assert _listed(public.text) == {"pmsi_mco"}
    assert _listed(api.get("/catalog.ttl", "aude").text, "turtle") == set()


def test_a_wrong_token_is_refused_not_answered_with_the_public_view(api: Api) -> None:
    _hub_with_a_hidden_entry(api)
    response = api.client.get("/catalog.jsonld", headers={"Authorization": "Bearer pst_nope"})
    assert_error(response, 401, "unauthenticated")


def test_a_steward_imports_a_partner_catalog_that_researchers_find(api: Api) -> None:
    body = partner_export("turtle")
    refused = api.call("POST", "/catalog/imports", "rita", params={"source": "lyon"}, content=body)
    assert_error(refused, 403, "permission_denied")
    done = api.call("POST", "/catalog/imports", "stella", params={"source": "lyon"}, content=body)
    assert done.status_code == 201, done.text
    assert done.json()["imported"] == 2
    found = api.ok("GET", "/catalog/remote", "rita", params={"q": "CLAIMS"})
    assert [d["identifier"] for d in found["items"]] == ["claims"]
    assert found["items"][0]["remote"] is True
    assert_error(api.get("/catalog/remote", "aude"), 403, "permission_denied")
    assert_error(api.get("/catalog/remote", None), 401, "unauthenticated")
    assert _listed(api.get("/catalog.jsonld", "stella").text) == set()  # never re-exported


def test_an_import_says_which_members_it_left_out_and_why(api: Api) -> None:
    params = {"source": "gr"}
    done = api.call("POST", "/catalog/imports", "stella", params=params, content=MIXED)
    assert done.status_code == 201, done.text
    body = done.json()
    assert (body["imported"], len(body["skipped"])) == (2, 3)
    assert {
        "member": "https://data.partner.eu/d/untitled",
        "reason": ("it has no dct:title, which every DCAT dataset needs"),
    } in body["skipped"]


def test_a_bad_or_oversized_partner_file_is_one_sentence(api: Api) -> None:
    params = {"source": "lyon"}
    remote = b'{"@context": ["http://127.0.0.1:9/ctx"], "@id": "https://p.eu/c"}'
    bad = api.call("POST", "/catalog/imports", "stella", params=params, content=remote)
    assert "fetches nothing" in assert_error(bad, 422, "invalid_request")["message"]
    big = b" " * (MAX_BYTES + 1)
    large = api.call("POST", "/catalog/imports", "stella", params=params, content=big)
    assert "allowed" in assert_error(large, 422, "invalid_request")["message"]
    name = api.call("POST", "/catalog/imports", "stella", params={"source": "A/B"}, content=b"{}")
    assert_error(name, 422, "invalid_request")
    assert api.ok("GET", "/catalog/remote", "stella")["total"] == 0


def test_the_period_a_dataset_covers_is_set_checked_and_published(api: Api) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    body = dataset_body(covers="2019-01-01/2023-12-31")
    made = api.ok("POST", "/datasets", "stella", json=body)
    assert (made["covers_from"], made["covers_until"]) == ("2019-01-01", "2023-12-31")
    assert "2019-01-01" in api.get("/catalog.ttl", None).text
    for bad in ("2023-12-31/2019-01-01", "2019-02-30/", "2019", "1/2/3"):
        refused = api.call("PATCH", "/datasets/pmsi_mco", "stella", json={"covers": bad})
        assert "START/END" in assert_error(refused, 422, "invalid_request")["message"]
    refused = api.call("PATCH", "/datasets/pmsi_mco", "stella", json={"covers": "x\n" * 30})
    assert_error(refused, 422, "invalid_request")
    open_ended = api.ok("PATCH", "/datasets/pmsi_mco", "stella", json={"covers": "2019-01-01/"})
    assert (open_ended["covers_from"], open_ended["covers_until"]) == ("2019-01-01", None)
    kept = api.ok("PATCH", "/datasets/pmsi_mco", "stella", json={"description": "stays"})
    assert kept["covers_from"] == "2019-01-01"
    denied = api.call("PATCH", "/datasets/pmsi_mco", "rita", json={"covers": "unknown"})
    assert denied.status_code in (403, 404)
    cleared = api.ok("PATCH", "/datasets/pmsi_mco", "stella", json={"covers": "unknown"})
    assert cleared["covers_from"] is None
