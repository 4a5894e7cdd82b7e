"""Content-Disposition: one header line, one safe ASCII name and its exact RFC 5987 twin.

Today every download's name is made of a number and a fixed word (``query-7.csv``,
``audit.jsonl``, ``release-3.csv``); ``attachment()`` still takes any name, so a later
route passing a dataset or project title cannot split the header or add a parameter.
The pure helper gets hostile names; the real app's downloads carry its header.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.api.downloads import attachment
from tests.api.conftest import SQLITE_ONLY, Api
from tests.api.helpers import published_project

HEADER = re.compile(
    r'^attachment; filename="(?P<ascii>[ !#$&-.0-:<-\[\]-~]+)"; '
    r"filename\*=UTF-8''(?P<exact>[A-Za-z0-9!#$&+\-.^_`|~%]*)$"
)
"""The whole value: printable ASCII without ``"``, ``\\``, ``%``, ``/`` or ``;`` in the name."""

HOSTILE_NAMES = [
    'a"; filename="evil.exe',
    "a\r\nSet-Cookie: session=stolen",
    "a\nX-Injected: 1",
    'a\\"; x=y',
    "résultats été.csv",
    "日本語.csv",
    "\U0001f600.csv",
    "../../etc/passwd",
    "a%22b%0d%0a.csv",
    "\x00\x1b[2J\x7f",
    '";',
    "",
    "   ",
    "a;b=c,d",
    "\u202egpj.exe",
]


def _checked(name: str) -> str:
    value = attachment(name)
    match = HEADER.match(value)
    assert match, value
    assert unquote(match["exact"], errors="strict") == name  # the exact name, recoverable
    assert value.count(";") == 2  # even a naive parser sees no added parameter
    return match["ascii"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_stays_one_safe_header(name: str) -> None:
    fallback = _checked(name)
    assert "/" not in fallback and '"' not in fallback and "\\" not in fallback


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_name_gives_a_header_that_reads_back_as_it(name: str) -> None:
    _checked(name)


def _one_disposition(response: object, expected: str) -> None:
    raw = [v for k, v in response.headers.raw if k.lower() == b"content-disposition"]  # type: ignore[attr-defined]
    assert raw == [attachment(expected).encode("ascii")]
    assert b"\r" not in raw[0] and b"\n" not in raw[0]
    _checked(expected)


@SQLITE_ONLY
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_the_audit_export_names_its_file_through_the_helper(api: Api, fmt: str) -> None:
    response = api.get("/audit/export", "aude", params={"format": fmt})
    assert response.status_code == 200, response.text
    _one_disposition(response, f"audit.{fmt}")
    for hostile in (f'{fmt}"; filename="x.exe', f"{fmt}\r\nX-Injected: 1", f"{fmt}%0d%0a"):
        refused = api.get("/audit/export", "aude", params={"format": hostile})
        assert refused.status_code == 422  # the name's only free part is a fixed choice
        assert "content-disposition" not in refused.headers
        assert "x-injected" not in refused.headers


@SQLITE_ONLY
def test_a_query_result_download_names_its_file_through_the_helper(
    api: Api, synth_sources: Path
) -> None:
    pid = published_project(api, synth_sources)
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": "SELECT 42 AS n"})
    qid = run["query"]["id"]
    for fmt in ("csv", "parquet"):
        response = api.get(f"/queries/{qid}/result", "rita", params={"format": fmt})
        assert response.status_code == 200, response.text
        _one_disposition(response, f"query-{qid}.{fmt}")
