"""qa.storage: an index on disk. A saved index loads back as it was; only JSON and FAISS files (no pickle), each
under its checksum; a damaged, altered or missing file is refused naming the fix; a new save removes the files
no manifest names; the build lock holds across processes. No model is needed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa.reading import hash_file
from qa.storage import (
    FORMAT,
    MANIFEST,
    IndexProblem,
    _manifest_checksum,
    build_lock,
    load_index,
    read_manifest,
    remove_leftovers,
    save_index,
)
from qa.types import Chunk, Document

TEXT = "伊金霍洛镇全年总收入1.99亿元。乡村振兴稳步推进。"
TRY_LOCK = """
import sys
from filelock import FileLock, Timeout
try:
    with FileLock(sys.argv[1], timeout=0.2):
        sys.exit(0)
except Timeout:
    sys.exit(3)
"""


def tiny(seed: int = 0) -> tuple[dict, list[Document], list[Chunk], list[list[str]], faiss.Index]:
    """``(manifest, documents, chunks, tokens, faiss index)`` of one two-chunk document."""
    document = Document("a.txt", "报告", TEXT, TEXT, [(0, 16), (16, len(TEXT))], {"date": "2023"}, "0" * 64)
    chunks = [Chunk("a.txt", "报告", 1, 0, 16, TEXT[:16]), Chunk("a.txt", "报告", 2, 16, len(TEXT), TEXT[16:])]
    tokens = [["伊金霍洛镇", "总收入"], ["乡村", "振兴"]]
    vectors = np.random.default_rng(seed).normal(size=(2, 4)).astype(np.float32)
    index = faiss.IndexFlatIP(4)
    index.add(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    manifest = {"format": FORMAT, "model": "m", "dimension": 4, "names": ["伊金霍洛镇"],
                "files": {"a.txt": {"sha256": document.sha256, "title": "报告", "chunks": 2}}}
    return manifest, [document], chunks, tokens, index


@pytest.fixture
def committed_copy(settings, tmp_path) -> Path:
    """A copy of the committed index."""
    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir, ignore=shutil.ignore_patterns(".*"))
    return index_dir


def test_a_saved_index_loads_back_as_it_was(tmp_path) -> None:
    manifest, documents, chunks, tokens, index = tiny()
    written = save_index(tmp_path, manifest, documents, chunks, tokens, index)
    assert read_manifest(tmp_path) == written and written["checksum"] == _manifest_checksum(written)
    stored = load_index(tmp_path)
    assert stored.documents == {"a.txt": documents[0]} and stored.chunks == chunks and stored.tokens == tokens
    assert stored.names == ["伊金霍洛镇"]
    assert np.array_equal(stored.faiss_index.reconstruct_n(0, 2), index.reconstruct_n(0, 2))


def test_a_new_save_replaces_the_files_no_manifest_names(tmp_path) -> None:
    first = save_index(tmp_path, *tiny(seed=0))
    second = save_index(tmp_path, *tiny(seed=1))
    assert first["stored"]["index"] != second["stored"]["index"]  # other vectors, another file
    files = {path.name for path in tmp_path.iterdir()}
    assert files == {MANIFEST, *(entry["file"] for entry in second["stored"].values())}


def test_only_json_and_faiss_files_no_pickle(committed_copy) -> None:
    manifest = read_manifest(committed_copy)
    files = {path.name for path in committed_copy.iterdir()}
    assert files == {MANIFEST, *(entry["file"] for entry in manifest["stored"].values())}
    for name in files:
        data = (committed_copy / name).read_bytes()
        assert not data.startswith(b"\x80")  # the pickle protocol 2+ opcode
        if name.endswith(".json"):
            assert isinstance(json.loads(data), dict)
        elif name.endswith(".jsonl"):
            assert all(isinstance(json.loads(line), dict) for line in data.decode("utf-8").splitlines())
        else:
            assert isinstance(faiss.read_index(str(committed_copy / name)), faiss.Index)


def test_every_stored_file_has_its_checksum_in_the_manifest(committed_copy) -> None:
    manifest = read_manifest(committed_copy)
    assert set(manifest["stored"]) == {"documents", "chunks", "index"}
    for entry in manifest["stored"].values():
        assert hash_file(committed_copy / entry["file"]) == entry["sha256"]
        assert entry["sha256"].startswith(entry["file"].split(".")[1])  # named by its content


def test_a_damaged_file_or_a_missing_manifest_is_refused(committed_copy) -> None:
    chunks_file = committed_copy / read_manifest(committed_copy)["stored"]["chunks"]["file"]
    chunks_file.write_bytes(chunks_file.read_bytes().replace("镇".encode(), "鎮".encode(), 1))
    with pytest.raises(IndexProblem, match="damaged .*qa build --index"):
        load_index(committed_copy)
    (committed_copy / MANIFEST).unlink()
    with pytest.raises(IndexProblem, match="no index .*build it with `qa build --index"):
        load_index(committed_copy)


@pytest.mark.parametrize(("change", "reason"), [
    (lambda manifest: manifest.update(model="other"), "checksum mismatch, it was altered"),
    (lambda manifest: manifest.pop("checksum"), "no checksum"),
    (lambda manifest: manifest.update(format=FORMAT + 1), "unknown format"),
])
def test_an_altered_manifest_is_refused(committed_copy, change, reason) -> None:
    path = committed_copy / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexProblem, match=reason):
        read_manifest(committed_copy)


def test_a_manifest_never_points_outside_its_folder(committed_copy) -> None:
    path = committed_copy / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["stored"]["index"]["file"] = "../index.0123456789abcdef.faiss"
    manifest["checksum"] = _manifest_checksum(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexProblem, match="no valid entry for the index file"):
        read_manifest(committed_copy)


def test_leftovers_of_killed_builds_are_removed(committed_copy) -> None:
    before = {path.name for path in committed_copy.iterdir()}
    (committed_copy / ".build-12345").mkdir()
    (committed_copy / ".build-12345" / "chunks.0123456789abcdef.jsonl").write_text("{}\n")
    (committed_copy / f".{MANIFEST}.12345").write_text("{")
    remove_leftovers(committed_copy)
    assert {path.name for path in committed_copy.iterdir()} == before
    load_index(committed_copy)


def test_the_build_lock_holds_across_processes(tmp_path) -> None:
    def other_process() -> int:
        command = [sys.executable, "-c", TRY_LOCK, str(tmp_path / ".lock")]
        return subprocess.run(command, timeout=60, check=False).returncode

    with build_lock(tmp_path):
        assert other_process() == 3  # it times out waiting
    assert other_process() == 0
