"""Nothing from the Internet: /docs and every page use the hub's own files, under a strict
Content-Security-Policy, and the vendored files are the npm registry's."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from passerelle.portal.assets import static_dir, vendor_manifest
from passerelle.portal.headers import PAGE_CSP
from tests.api.conftest import Api

_URL = re.compile(r"""(?:src|href)="([^"]+)\"""")


def _references(text: str) -> list[str]:
    return _URL.findall(text)


def test_docs_render_from_the_hubs_own_files(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    refs = _references(page.text)
    assert refs and all(r.startswith("/static/") for r in refs), refs
    for ref in refs:
        asset = api.client.get(ref)
        assert asset.status_code == 200 and asset.content, ref
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert api.client.get("/openapi.json").status_code == 200
    assert api.client.get("/redoc").status_code == 404  # ReDoc came from a CDN: gone


def test_pages_carry_a_strict_policy_and_no_outside_reference(api: Api, browser: Any) -> None:
    client = browser("rita")
    for url in ("/signin", "/portal/", "/portal/catalog", "/portal/projects"):
        page = client.get(url)
        assert page.headers["content-security-policy"] == PAGE_CSP
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in page.text and " style=" not in page.text
        for ref in _references(page.text):
            assert ref.startswith(("/", "#")), (url, ref)
            assert not ref.startswith("//"), (url, ref)


def test_no_template_or_script_names_another_origin() -> None:
    root = static_dir().parent
    for path in [*root.glob("templates/*.html"), *(static_dir() / "portal").glob("*")]:
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path


def test_vendored_files_are_the_ones_recorded_from_the_registry() -> None:
    manifest = vendor_manifest()
    assert manifest, "nothing vendored"
    for package, entry in manifest.items():
        assert entry["integrity"].startswith("sha512-")
        for name, digest in entry["files"].items():
            data = (static_dir() / "vendor" / package / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, (package, name)
