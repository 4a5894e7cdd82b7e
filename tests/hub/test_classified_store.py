"""Which folder a key of the hub's store lies in (pure), and the store that routes by it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import TamperedDataError
from passerelle.hub.classified_store import ClassifiedStore, Folder, folder_of, folder_of_object
from passerelle.keys.file_custody import FileCustody
from passerelle.sovereignty.envelope import is_envelope
from passerelle.storage import open_store
from passerelle.storage.encrypting import EncryptingStore
from tests.backends import unique_name


@pytest.mark.parametrize(
    ("key", "folder"),
    [
        ("datasets/pmsi/v1/stays/part-00000.parquet", Folder("datasets", "pmsi", prefix="datasets/pmsi")),
        ("datasets/pmsi/", Folder("datasets", "pmsi", prefix="datasets/pmsi")),
        ("quarantine/pmsi/v1/x", Folder("quarantine", "pmsi", prefix="quarantine/pmsi")),
        (
            "workspaces/project-3/extracts/pmsi/stays/p.parquet",
            Folder("extract", "pmsi", prefix="workspaces/project-3/extracts/pmsi"),
        ),
        ("workspaces/project-3/queries/q-1.parquet", Folder("fixed", classification="health-pseudonymized")),
        ("releases/project-3/pending/release-1.parquet", Folder("fixed", classification="health-pseudonymized")),
        ("releases/project-3/release-1.csv", Folder("fixed", classification="health-aggregate")),
        ("hdh/audit-checkpoints/000001.json", Folder("fixed", classification="reference")),
        ("hdh/audit/checkpoints/000000000001.json", Folder("fixed", classification="reference")),
        ("hdh/audit/checkpoints/", Folder("fixed", classification="reference")),
        ("archive/x.bin", Folder("fixed", classification="health-pseudonymized")),
        ("", None),
        ("datasets/", None),
        ("workspaces/project-3/", None),
        ("workspaces/project-3/extracts/", None),
        ("releases/", None),
    ],
)  # fmt: skip
def test_folder_of(key: str, folder: Folder | None) -> None:
    assert folder_of(key, "hdh") == folder


@pytest.mark.parametrize(
    "key",
    [
        "workspaces/Project-1/result.parquet",
        "workspaces/project-1/extracts",
        "workspaces/x.parquet",
        "releases/x.parquet",
        "releases/project-1",
        "hdh/audit/other.json",
        "hdh/x",
        "datasets/",
    ],
)
def test_an_object_no_folder_claims_has_the_default_classification(key: str) -> None:
    assert folder_of_object(key, "hdh") == Folder("fixed", classification="health-pseudonymized")


@given(
    st.lists(
        st.sampled_from(
            ["datasets", "pmsi", "hdh", "audit", "checkpoints", "releases", "project-1", "x", ""]
        )
    )
)
def test_every_object_key_has_a_folder(parts: list[str]) -> None:
    folder = folder_of_object("/".join(parts), "hdh")
    assert folder.kind != "fixed" or folder.classification


def test_an_unclaimed_object_goes_through_the_encrypting_view(tmp_path: Path) -> None:
    custody = FileCustody(tmp_path / "keks.json")
    custody.create_key()
    raw = open_store(f"memory://{unique_name('cls')}")
    encrypted = EncryptingStore(raw, custody)

    def encrypts(key: str) -> bool | None:
        folder = folder_of(key, "hdh")
        return None if folder is None else folder.kind == "datasets"

    store = ClassifiedStore(raw, lambda: encrypted, encrypts)
    for key in ("workspaces/x.parquet", "releases/project-1"):
        store.put(key, b"rows " * 50)
        assert is_envelope(raw.get(key).read()), key
        assert store.get(key).read() == b"rows " * 50
    sizes = {i.key: i.size for i in store.list("")}
    assert sizes == {"workspaces/x.parquet": 250, "releases/project-1": 250}
    assert {i.key: i.size for i in store.list_dir("workspaces/").objects} == {
        "workspaces/x.parquet": 250
    }
    plain = ClassifiedStore(raw, lambda: encrypted, encrypts, unclaimed_encrypted=False)
    plain.put("workspaces/y.parquet", b"aggregate")
    assert raw.get("workspaces/y.parquet").read() == b"aggregate"


@given(st.lists(st.sampled_from(["datasets", "pmsi", "v1", "workspaces", "project-1", "x", ""])))
def test_a_key_inside_a_folder_is_in_the_folder_of_its_prefix(parts: list[str]) -> None:
    key = "/".join(parts)
    folder = folder_of(key, "hdh")
    if folder is not None and folder.prefix:
        assert folder_of(folder.prefix + "/deeper/k", "hdh") == folder


def test_routing_by_folder_keeps_each_folder_in_its_form(tmp_path: Path) -> None:
    custody = FileCustody(tmp_path / "keks.json")
    custody.create_key()
    raw = open_store(f"memory://{unique_name('cls')}")
    encrypted = EncryptingStore(raw, custody)

    def encrypts(key: str) -> bool | None:
        folder = folder_of(key, "hdh")
        return None if folder is None else folder.kind == "datasets"

    store = ClassifiedStore(raw, lambda: encrypted, encrypts)
    store.put("datasets/a/v1/t/p.parquet", b"secret rows " * 100)
    store.put("hdh/audit-checkpoints/1.json", b"{}")
    assert is_envelope(raw.get("datasets/a/v1/t/p.parquet").read())
    assert raw.get("hdh/audit-checkpoints/1.json").read() == b"{}"
    sizes = {i.key: i.size for i in store.list("")}  # mixed listing: plaintext sizes
    assert sizes == {"datasets/a/v1/t/p.parquet": 1200, "hdh/audit-checkpoints/1.json": 2}
    assert store.get("datasets/a/v1/t/p.parquet", start=7, end=11).read() == b"rows"
    assert store.encrypting_view("datasets/a/") is encrypted
    assert store.encrypting_view("hdh/audit-checkpoints/") is None
    raw.put("datasets/a/v1/t/swapped.parquet", b"plaintext put around the hub")
    with pytest.raises(TamperedDataError):
        store.get("datasets/a/v1/t/swapped.parquet").read()
