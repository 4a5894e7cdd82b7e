"""Attacks on the signed migration certificate by someone holding a copy of it, its manifest,
the hub's database and key files but not the HSM: forge, edit, or crash the verifier."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from passerelle.errors import UsageError
from passerelle.hub.checkpoint_chain import public_key_hex
from tests.migration.test_certificate import (
    HUB_KEY,
    OTHER_HUB_KEY,
    Issued,
    _check,
    _csv,
    _edit_body,
    _issue,
    _migrate,
    _only,
    _rows,
)

__all__ = ["issued"]


@pytest.fixture
def issued(tmp_path: Path) -> Issued:
    dst_url, dst, journal = _migrate(tmp_path, 12)
    cert, manifest = _issue(journal)
    return Issued(cert, manifest, dst_url, dst, journal)


# -- what gets through nothing (evidence) ------------------------------------------------


def test_a_certificate_re_signed_with_a_swapped_key_fails_only_when_pinned(issued: Issued) -> None:
    # the forger edits the root and re-signs with their own key: self-consistent, so only
    # pinning the hub's key (from `audit head`) tells it apart; unpinned, the check says so
    forged = _edit_body(issued.cert, lambda b: b["manifest"].update(bytes=1), OTHER_HUB_KEY)
    unpinned = _check(forged)
    assert not unpinned.pinned
    assert unpinned.certificate.public_key == public_key_hex(OTHER_HUB_KEY)
    _only(_check(forged, public_key=public_key_hex(HUB_KEY)), "not by the pinned key")
    assert _check(issued.cert, public_key=public_key_hex(HUB_KEY).upper()).ok


def test_manifest_edits_a_human_would_not_see(issued: Issued) -> None:
    rows = _rows(issued.manifest)
    key = rows[3][0]
    # a key whose first character decomposes (NFC vs NFD) is another key: rows hash bytes
    accented = [r[:] for r in rows]
    accented[3][0] = unicodedata.normalize("NFD", "é") + key
    assert not _check(issued.cert, _csv(accented)).ok
    # a duplicated row, a swapped pair, a row moved to the end
    duplicated = [*rows[:4], rows[3], *rows[4:]]
    _only(_check(issued.cert, _csv(duplicated)), "each key once")
    swapped = [rows[0], rows[2], rows[1], *rows[3:]]
    assert not _check(issued.cert, _csv(swapped)).ok
    moved = [rows[0], *rows[2:], rows[1]]
    assert not _check(issued.cert, _csv(moved)).ok
    # a size written with leading zeros or a plus sign, a digest in capitals
    zeros = [r[:] for r in rows]
    zeros[2][1] = "+" + zeros[2][1]
    assert not _check(issued.cert, _csv(zeros)).ok
    upper = [r[:] for r in rows]
    upper[2][2] = upper[2][2].upper()
    assert not _check(issued.cert, _csv(upper)).ok
    # a byte-order mark, so the header no longer reads key,size,sha256
    with pytest.raises(UsageError, match="does not start with the header"):
        _check(issued.cert, "\ufeff" + issued.manifest)


def test_a_huge_row_count_or_chunk_size_does_not_pass(issued: Issued) -> None:
    def inflate(body: dict[str, object]) -> None:
        manifest = body["manifest"]
        assert isinstance(manifest, dict)
        manifest["objects"] = 10**18
        manifest["chunk_rows"] = 1 << 62

    _only(_check(_edit_body(issued.cert, inflate, HUB_KEY)), "chunks")
