"""The audit checkpoints against names the parsers did not expect.

Played by the holder of the database file and the hub store's credentials (who
can plant files among the checkpoints), and by whoever holds the witness bucket's
credentials (the hub's own): file names made of Unicode digits that
``str.isdigit`` accepts, some of which ``int`` then refuses (superscripts) and
some of which it reads as a number (Arabic-Indic digits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from passerelle import hub as H
from passerelle.hub.audit import verify_audit, write_checkpoint
from passerelle.hub.witness import ObjectLockWitness, _number_of
from tests.hub.conftest import Cast
from tests.hub.test_audit_checkpoint_store import FOLDER, put
from tests.hub.test_audit_tamper import activity

SUPERSCRIPT = "\u00b2" * 12  # '²': isdigit() but not int()
ARABIC_INDIC = "\u0660" * 11 + "\u0661"  # '٠٠٠٠٠٠٠٠٠٠٠١': isdigit() and int() == 1


@pytest.mark.parametrize("stem", [SUPERSCRIPT, ARABIC_INDIC], ids=["superscript", "arabic"])
def test_a_planted_unicode_digit_name_is_named_and_breaks_no_write(cast: Cast, stem: str) -> None:
    """A superscript name used to crash every later write (checkpointing runs after each
    one) with a traceback; an Arabic-Indic one passed for checkpoint 1 and was never
    named as planted."""
    cast.hub.config = dataclasses.replace(cast.hub.config, checkpoint_every=1)
    activity(cast, 1)
    cp = write_checkpoint(cast.hub)
    assert cp is not None and verify_audit(cast.hub).ok
    put(cast, f"{FOLDER}{stem}.json", cp.to_json().encode())
    report = verify_audit(cast.hub)
    assert not report.ok and "damaged or planted" in report.problem and stem in report.problem
    H.create_user(cast.hub, cast.admin, "mallory", "researcher")  # the action still works
    cast.hub.store("checkpoints").delete(f"{FOLDER}{stem}.json")
    assert verify_audit(cast.hub).ok


def test_witness_numbers_are_ascii_digits_only() -> None:
    assert _number_of("hub/audit-checkpoints/000000000007.json") == 7
    for key in (f"h/{SUPERSCRIPT}.json", f"h/{ARABIC_INDIC}.json", "h/7.json.bak", "h/.json"):
        assert _number_of(key) is None


@pytest.fixture
def witness() -> Iterator[ObjectLockWitness]:
    """A witness in a fresh Object Lock bucket on the real Ceph RGW."""
    from tests.backends import unique_name
    from tests.hub.test_audit_witness import NOW, ceph_admin

    bucket = unique_name("witness")
    admin = ceph_admin(bucket)
    admin.create_locked_bucket()
    yield ObjectLockWitness(admin, "hub/audit-checkpoints/", 1, lambda: NOW, f"s3://ceph@{bucket}")


def test_a_planted_unicode_name_in_the_witness_bucket_breaks_nothing(
    witness: ObjectLockWitness,
) -> None:
    from tests.hub.test_audit_witness import checkpoints

    locked = witness
    cps = checkpoints(2)
    for cp in cps:
        locked.record(cp)
    for stem in (SUPERSCRIPT, ARABIC_INDIC):
        locked.admin.client.put_object(
            Bucket=locked.admin.bucket,
            Key=f"hub/audit-checkpoints/{stem}.json",
            Body=cps[0].to_json().encode(),
        )
    assert locked.numbers() == [1, 2]
    assert locked.get(2) == cps[1]
