"""What a steward writes that the public catalog must not carry (found by the attacker):
a store URL in a column's description went out as written, while the same URL in the
entry's description was replaced."""

from __future__ import annotations

from passerelle import hub as H
from passerelle.hub.catalog_export import export_catalog
from tests.hub.conftest import Cast


def test_a_store_url_in_a_columns_description_stays_out_of_the_public_view(cast: Cast) -> None:
    H.create_dataset(
        cast.hub,
        cast.steward,
        name="stays",
        organization="750712184",
        classification="health-pseudonymized",
        schema=[
            {"name": "age", "type": "INTEGER", "description": "from s3://vault@hdh-raw/aphp/x"},
            {"name": "sex", "type": "VARCHAR", "description": "copied from az://c@raw/y"},
        ],
    )
    for format in ("jsonld", "turtle"):
        public = export_catalog(cast.hub, None, format)  # type: ignore[arg-type]
        assert "age" in public and "a store of the hub" in public
        for secret in ("vault", "hdh-raw", "az://", "raw/y"):
            assert secret not in public, secret
        steward = export_catalog(cast.hub, cast.steward, format)  # type: ignore[arg-type]
        assert "s3://vault@hdh-raw/aphp/x" in steward  # the restricted view keeps it


def test_a_long_description_is_cleaned_in_one_pass() -> None:
    """The store-URL pattern could start at every letter of ``a.a.a...`` and scan the rest
    from each (found by the attacker: 64 kB took 18 s per description, in the public view's
    build that anonymous requests wait on). 1 MB here took over an hour; now a moment. A
    child process runs it, so the old pattern fails the test at the guard instead of
    hanging the suite (the guard is an hour's margin, not a timing)."""
    import subprocess
    import sys

    code = (
        "from passerelle.hub.catalog_export import public_description as p\n"
        "text = 'a.' * 500_000 + ' s3://vault@hdh-raw/k'\n"
        "assert p(text).endswith(' a store of the hub') and 'vault' not in p(text)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
