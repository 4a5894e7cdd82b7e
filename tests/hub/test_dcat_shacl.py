"""The demo hub's catalog passes the official DCAT-AP 3.0.1 SHACL shapes (pyshacl).

The shapes are read from ``shared/standards/dcat-ap-3.0.1`` beside the repository when it
is there (the official copies, not the package's), else from the package. Every shape
file: zero ``sh:Violation``; each warning the recommended shapes give is listed in
``docs/interop.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import Graph
from rdflib.namespace import SH

from passerelle.hub.catalog_export import catalog_as_graph
from passerelle.hub.dcat_validation import SHAPE_FILES, validate_graph, vocabulary_graph
from tests.databases import DATABASES, fresh_database

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "src" / "passerelle" / "hub" / "dcat_shapes"
INTEROP = ROOT / "docs" / "interop.md"


def _standards() -> Path | None:
    candidates = [os.environ.get("PASSERELLE_STANDARDS", ""), ROOT.parent / "shared" / "standards"]
    for candidate in candidates:
        folder = Path(candidate) / "dcat-ap-3.0.1" / "html" / "shacl" if candidate else None
        if folder is not None and (folder / "shapes.ttl").exists():
            return folder
    return None


OFFICIAL = _standards()
SHAPES = OFFICIAL or SHIPPED


@pytest.fixture(scope="module", params=DATABASES)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """The demo's hub, small: three sources ingested, a project granted three datasets."""
    from passerelle.demo.build import build_demo_hub

    tmp = tmp_path_factory.mktemp(f"demo-{request.param}")
    with fresh_database(str(request.param), tmp) as url:
        built = build_demo_hub(tmp / "demo", database=url, persons=150, archive_objects=0)
        yield built
        built.hub.close()


def _results(data: Graph, shapes_file: str) -> list[tuple[str, str, str]]:
    """(severity, path, focus) of each top-level result of one official shape file."""
    shapes = Graph().parse(SHAPES / shapes_file, format="turtle")
    _, report, _ = validate(
        data + vocabulary_graph(),
        shacl_graph=shapes,
        allow_warnings=True,
        do_owl_imports=False,
    )
    return sorted(
        (
            str(report.value(r, SH.resultSeverity)).rsplit("#", 1)[-1],
            str(report.value(r, SH.resultPath)),
            str(report.value(r, SH.focusNode)),
        )
        for r in report.objects(predicate=SH.result)
    )


VIEWS = ["public", "rita", "claire"]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("shapes_file", SHAPE_FILES)
def test_the_demo_catalog_has_no_violation(demo: object, view: str, shapes_file: str) -> None:
    actor = None if view == "public" else demo.who[view]  # type: ignore[attr-defined]
    graph = catalog_as_graph(demo.hub, actor)  # type: ignore[attr-defined]
    assert len(set(graph.subjects(predicate=None))) > 20  # a catalog, not an empty graph
    violations = [r for r in _results(graph, shapes_file) if r[0] == "Violation"]
    assert violations == [], violations


def test_without_the_vocabularies_the_range_shapes_would_fail(demo: object) -> None:
    """The check can fail: the same catalog without the vocabulary terms it names gets
    the ``sh:class`` violations a validator that loaded nothing reports."""
    graph = catalog_as_graph(demo.hub, None)  # type: ignore[attr-defined]
    shapes = Graph().parse(SHAPES / "range.ttl", format="turtle")
    conforms, _, text = validate(graph, shacl_graph=shapes, do_owl_imports=False)
    assert not conforms and "LegalResource" in str(text)


def test_every_recommended_warning_is_listed_in_interop_md(demo: object) -> None:
    documented = INTEROP.read_text()
    section = documented[documented.index("## HealthDCAT-AP catalog") :]
    seen = set()
    for view in VIEWS:
        actor = None if view == "public" else demo.who[view]  # type: ignore[attr-defined]
        report = validate_graph(catalog_as_graph(demo.hub, actor))  # type: ignore[attr-defined]
        assert report.conforms, report.violations
        seen |= {(w.shapes, _curie(w.path)) for w in report.warnings}
    assert seen, "the shapes give warnings; the list must not be empty"
    missing = [f"{f} {p}" for f, p in sorted(seen) if not re.search(rf"`{re.escape(p)}`", section)]
    assert not missing, f"warnings missing from docs/interop.md: {missing}"


def _curie(iri: str) -> str:
    for prefix, namespace in (
        ("dcat", "http://www.w3.org/ns/dcat#"),
        ("dct", "http://purl.org/dc/terms/"),
        ("dcatap", "http://data.europa.eu/r5r/"),
        ("foaf", "http://xmlns.com/foaf/0.1/"),
    ):
        if iri.startswith(namespace):
            return f"{prefix}:{iri[len(namespace) :]}"
    return iri


@pytest.mark.skipif(OFFICIAL is None, reason="shared/standards is not beside the repository")
@pytest.mark.parametrize("name", SHAPE_FILES)
def test_the_shipped_shapes_are_the_official_files(name: str) -> None:
    assert OFFICIAL is not None
    assert (SHIPPED / name).read_bytes() == (OFFICIAL / name).read_bytes()
