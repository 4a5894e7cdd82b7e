"""A partner's catalog file that stays under 4 MiB and still costs the hub gigabytes or
minutes (found by the attacker): a short name expanded by a long ``@prefix``, ``@base``
or ``@vocab`` at every use, statements hidden from the count in a named graph or as
repeats, and one big JSON-LD context applied again at every node.

Each limit is lowered where the real one would need a big file; each vector is refused
with one sentence while the file is parsed."""

from __future__ import annotations

import json

import pytest

from passerelle.errors import UsageError
from passerelle.hub import dcat_import
from tests.hub.test_dcat_import import (
    OWN,
    PARTNER,
    _dataset_doc,
    _one_sentence,
    partner_export,
    server,
)

__all__ = ["server"]

LONG = "http://p.example/" + "a" * 20_000 + "/"  # over MAX_IRI: no context may hold it


def _turtle_uses(declaration: str, term: str, uses: int) -> bytes:
    lines = [declaration] + [
        f"{term.format(i=i)} {term.format(i='p')} {term.format(i='o')} ." for i in range(uses)
    ]
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    ("declaration", "term"),
    [
        (f"@prefix x: <{LONG}> .", "x:s{i}"),
        (f"PREFIX x: <{LONG}>", "x:s{i}"),
        (f"@base <{LONG}> .", "<s{i}>"),
        (f"BASE <{LONG}>", "<s{i}>"),
    ],
    ids=["prefix", "sparql_prefix", "base", "sparql_base"],
)
def test_a_long_turtle_prefix_or_base_used_many_times_is_refused_while_parsing(
    monkeypatch: pytest.MonkeyPatch, declaration: str, term: str
) -> None:
    """200 uses of a 20,000-character prefix: 12 million characters from a 28 kB file
    (4 MiB of such uses made terabytes)."""
    monkeypatch.setattr(dcat_import, "MAX_TERM_CHARS", 1_000_000)
    data = _turtle_uses(declaration, term, 200)
    assert len(data) < 30_000
    _one_sentence(data, "characters allowed", "prefixes")


@pytest.mark.parametrize(
    "context",
    [
        {"x": LONG},
        {"@vocab": LONG},
        {"@base": LONG},
        {"t": {"@id": "http://purl.org/dc/terms/title", "@context": {"@vocab": LONG}}},
        {"x": {"@id": LONG, "@prefix": True}},
        {("k" * 600): "http://purl.org/dc/terms/title"},
    ],
    ids=["prefix_term", "vocab", "base", "scoped_vocab", "expanded_term", "long_term"],
)
def test_a_long_text_in_a_json_ld_context_is_refused(context: object) -> None:
    _one_sentence(_dataset_doc(context), "contexts hold", "characters")


def test_a_big_context_applied_at_every_node_is_refused() -> None:
    """rdflib copies the active context at every node that has a context: 40,000 terms
    applied at 30,000 nodes took 50 seconds. The terms of all contexts count together."""
    half = dcat_import.MAX_CONTEXT_TERMS // 2 + 1
    top = {f"t{i}": f"http://t.example/{i}" for i in range(half)}
    node = {f"u{i}": f"http://u.example/{i}" for i in range(half)}
    _one_sentence(_dataset_doc(top, extra={"@context": node}), "contexts hold", "terms", "allowed")
    many = {"@context": top, "@graph": [{"@context": {}, "@id": f"http://s/{i}"} for i in range(3)]}
    dcat_import.parse_graph(json.dumps(many).encode())  # one big context, applied thrice: read


def test_statements_in_a_named_graph_or_repeated_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count was the default graph's size once the file was parsed: a named graph's
    statements and repeated ones (each building its terms again) were not counted."""
    monkeypatch.setattr(dcat_import, "MAX_TRIPLES", 50)
    hidden = [{"@id": f"http://h.example/{i}", "http://h.example/p": f"v{i}"} for i in range(60)]
    _one_sentence(
        _dataset_doc(
            {}, extra={"http://purl.org/dc/terms/x": {"@id": "http://g", "@graph": hidden}}
        ),
        "triples allowed",
    )
    repeated = b"<http://a/s> <http://a/p> <http://a/o> .\n" * 60
    _one_sentence(repeated, "triples allowed")


def test_an_export_of_this_hub_is_far_below_the_character_budget() -> None:
    """The budget is not a guess that a real catalog meets by luck: the hub's own export
    makes under four characters of terms per byte, the budget allows sixteen."""
    for format in ("jsonld", "turtle"):
        data = partner_export(format)
        graph = dcat_import.parse_graph(data)
        chars = sum(len(term) for triple in graph for term in triple)
        assert chars < 4 * len(data) and dcat_import.MAX_TERM_CHARS >= 16 * dcat_import.MAX_BYTES


@pytest.mark.parametrize(
    "claimed",
    [
        "https://hub.example.eu:443/dcat/datasets/claims",  # the default port
        "http://hub.example.eu:80/dcat/datasets/claims",
        "https://hub.example.eu./dcat/datasets/claims",  # a host's trailing dot
        "https://hub.example.eu/%64cat/datasets/claims",  # a percent-encoded letter
        "https://hub.example.eu//dcat/datasets/claims",
        "https://hub.example.eu/./dcat/datasets/claims",
        "https://hub.example.eu/x/../dcat/datasets/claims",
        "https://partner@hub.example.eu/dcat/datasets/claims",  # a user part
        "https://hub.example.eu@partner.example.eu/datasets/claims",  # reads as this hub
    ],
)
def test_this_hubs_iris_written_another_way_are_refused(claimed: str) -> None:
    """The IRI is compared as a browser resolves it (found by the attacker: a port, a
    trailing dot or a user part let a partner's entry claim one of this hub's IRIs)."""
    text = partner_export("turtle").decode()
    text = text.replace("<https://partner.example.eu/datasets/claims>", f"<{claimed}>")
    with pytest.raises(UsageError) as refused:
        dcat_import.read_catalog(text.encode(), own_base="https://hub.example.eu/dcat/")
    assert "this hub's own" in str(refused.value) or "without a user part" in str(refused.value)


def test_a_landing_page_with_a_user_part_is_not_kept_as_a_link() -> None:
    text = partner_export("turtle").decode()
    page = "<https://partner.example.eu/portal/catalog/claims>"
    text = text.replace(page, "<https://hub.example.eu@evil.example/claims>", 1)
    catalog = dcat_import.read_catalog(text.encode(), own_base="https://hub.example.eu/")
    assert {d.identifier: d.landing_page for d in catalog.datasets}["claims"] == ""
    sibling = "https://hub.example.eu/dcatalog/datasets/claims"  # not under /dcat/
    kept = partner_export("turtle").decode().replace(f"{PARTNER}datasets/claims", sibling)
    read = dcat_import.read_catalog(kept.encode(), own_base="https://hub.example.eu/dcat/")
    assert sibling in {d.iri for d in read.datasets}


@pytest.mark.parametrize("vector", ["alias_of_context", "alias_in_a_node", "type_scoped_context"])
def test_no_context_is_fetched_through_an_alias_or_a_type(
    server: tuple[str, list[str]], vector: str
) -> None:
    """An alias of ``@context`` (JSON-LD forbids one, rdflib ignores it) and a context
    scoped to a type (rdflib fetches it when the type is used): none reaches the server."""
    url, hits = server
    typed = {"http://purl.org/dc/terms/x": {"@type": "T", "@id": "http://x.example/z"}}
    documents = {
        "alias_of_context": json.loads(_dataset_doc({"ctx": "@context"})) | {"ctx": f"{url}/a"},
        "alias_in_a_node": json.loads(_dataset_doc({"ctx": "@context"}, extra={"ctx": f"{url}/b"})),
        "type_scoped_context": json.loads(
            _dataset_doc({"T": {"@id": "http://x.example/T", "@context": f"{url}/c"}}, extra=typed)
        ),
    }
    try:
        dcat_import.read_catalog(json.dumps(documents[vector]).encode(), own_base=OWN)
    except UsageError as refused:
        assert "fetches nothing" in str(refused)
    assert hits == []


def test_a_turtle_file_full_of_escapes_is_refused_before_rdflib_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rdflib's Turtle parser takes time growing with the square of a literal's escapes
    (found by the attacker: 1.2 million ``\\\\`` in one literal, a 3.6 MB file, took 65 s);
    the count is bounded before it parses, and JSON-LD (decoded by ``json``) is the way out."""
    monkeypatch.setattr(dcat_import, "MAX_ESCAPES", 100)
    escaped = '<http://a.example/s> <http://a.example/p> "' + "a\\\\" * 101 + '" .'
    _one_sentence(escaped.encode(), "escapes", "JSON-LD")
    quoted = partner_export("turtle").decode().replace("Hospital stays", 'say \\"x\\" ' * 40)
    assert quoted.count("\\") <= 200  # a partner's quotes: read while under the bound
    monkeypatch.setattr(dcat_import, "MAX_ESCAPES", 200)
    assert dcat_import.read_catalog(quoted.encode(), own_base=OWN).datasets
