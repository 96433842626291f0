"""The index on disk: its manifest, the checksums of its files, and writing them so that no reader ever sees
half an index. What goes into an index is decided by ``qa.indexing``.

Layout of an index folder::

    manifest.json               model, precision, dimension, settings, per-file hashes, checksums of the
                                files below and of its own content
    documents.<hash>.jsonl      cleaned documents (text, search form, paragraphs, metadata)
    chunks.<hash>.jsonl         chunks with their BM25 tokens, in FAISS row order
    index.<hash>.faiss          FAISS inner-product index over unit vectors (flat or HNSW)
    .lock                       held (``filelock``) while a build writes the folder

``save_index`` writes new data files beside the old ones, then replaces ``manifest.json`` in one atomic
rename: a build killed at any moment leaves the previous manifest pointing at the previous files. Nothing is
pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
from filelock import FileLock

from .precision import resolve_precision
from .reading import hash_file
from .settings import Settings
from .types import Chunk, Document

FORMAT = 2  # the layout of the stored files; what the pipeline puts in them is qa.indexing.PIPELINE_VERSION
MANIFEST = "manifest.json"
DATA_KINDS = ("documents", "chunks", "index")
_DATA_NAME = re.compile(r"(documents|chunks|index)\.[0-9a-f]{16}\.(jsonl|faiss)")  # what ``_write_data`` names


class IndexProblem(Exception):
    """The index is missing, damaged or built for other settings; the message names the fix."""


@dataclass
class StoredIndex:
    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    tokens: list[list[str]]
    faiss_index: faiss.Index

    @property
    def names(self) -> list[str]:
        return self.manifest["names"]


# ------------------------------------------------------------------------------------------------ reading


def load_index(index_dir: Path, settings: Settings | None = None, check_precision: bool = True) -> StoredIndex:
    """Load and verify an index; raises ``IndexProblem`` naming the fix when anything is off. With
    ``check_precision``, an index of another precision than ``settings`` gives is refused or named
    (``_check_precision``)."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if settings is not None and manifest["model"] != settings.model:
        raise IndexProblem(
            f"the index in '{index_dir}' was built with model '{manifest['model']}', but the model setting "
            f"is '{settings.model}': rebuild it with `qa build --index {index_dir}`"
        )
    if settings is not None and check_precision:
        _check_precision(index_dir, manifest, settings)
    files = {kind: index_dir / manifest["stored"][kind]["file"] for kind in DATA_KINDS}
    for kind, path in files.items():
        try:
            intact = hash_file(path) == manifest["stored"][kind]["sha256"]
        except OSError:
            intact = False
        if not intact:
            raise IndexProblem(f"'{path}' is missing or damaged (checksum mismatch): rebuild with "
                               f"`qa build --index {index_dir}`")
    try:
        documents = [_document_from_json(row) for row in _read_jsonl(files["documents"])]
        rows = list(_read_jsonl(files["chunks"]))
        faiss_index = faiss.read_index(str(files["index"]))
        chunks = [Chunk(**{key: row[key] for key in ("source", "title", "paragraph", "start", "end", "text")})
                  for row in rows]
        tokens = [row["tokens"] for row in rows]
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise IndexProblem(f"the index in '{index_dir}' cannot be read ({error}): "
                           "rebuild with `qa build`") from error
    if faiss_index.ntotal != len(rows) or faiss_index.d != manifest["dimension"]:
        raise IndexProblem(f"the index in '{index_dir}' is inconsistent: rebuild with `qa build`")
    if isinstance(faiss_index, faiss.IndexHNSW) and settings is not None:
        faiss_index.hnsw.efSearch = settings.hnsw_ef_search
    return StoredIndex(manifest, {doc.source: doc for doc in documents}, chunks, tokens, faiss_index)


def read_manifest(index_dir: Path) -> dict:
    """The verified manifest of the index in ``index_dir``, or ``IndexProblem`` naming the fix."""
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexProblem(f"no index in '{index_dir}': build it with `qa build --index {index_dir}`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        _check_manifest(manifest)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise IndexProblem(f"'{path}' is damaged ({error}): "
                           f"rebuild with `qa build --index {index_dir}`") from error
    return manifest


def index_precision(manifest: dict) -> str:
    """The precision the index's vectors were computed in: ``bf16`` or ``fp32`` (indexes built before it was
    recorded were all fp32)."""
    return manifest.get("precision", "fp32")


def precision_mismatch(manifest: dict, settings: Settings) -> str | None:
    """What differs when the index's vectors were computed in another precision than the setting gives now
    (questions are encoded in the setting's), or None when they agree."""
    built, now = index_precision(manifest), resolve_precision(settings.precision)
    if built == now:
        return None
    return (f"its vectors were computed in {built}, but questions are encoded in {now} "
            f"(QA_PRECISION={settings.precision})")


def _check_precision(index_dir: Path, manifest: dict, settings: Settings) -> None:
    """An index of another precision than the setting: refused when the precision was set explicitly (bf16 or
    fp32), named on stderr when it is ``auto`` (the vectors agree to a cosine of about 0.999 or better)."""
    mismatch = precision_mismatch(manifest, settings)
    if mismatch is None:
        return
    fix = f"rebuild it with `qa build --index {index_dir}`"
    if settings.precision != "auto":
        raise IndexProblem(f"the index in '{index_dir}': {mismatch}: {fix}, or set QA_PRECISION="
                           f"{index_precision(manifest)}")
    print(f"qa: note: the index in '{index_dir}': {mismatch}; {fix} to match", file=sys.stderr)


def _check_manifest(manifest) -> None:
    """ValueError unless ``manifest`` has the shape ``save_index`` writes; its data files must be plain names
    in the index folder, as ``_write_data`` names them (a manifest never points elsewhere on the disk)."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError("unknown format")
    if "checksum" not in manifest:
        raise ValueError("no checksum: written by an older version")
    if manifest["checksum"] != _manifest_checksum(manifest):
        raise ValueError("checksum mismatch, it was altered")
    if not isinstance(manifest.get("model"), str) or not isinstance(manifest.get("dimension"), int):
        raise ValueError("no model or dimension")
    if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("names"), list):
        raise ValueError("no file list")
    stored = manifest.get("stored")
    for kind in DATA_KINDS:
        entry = stored.get(kind) if isinstance(stored, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not _DATA_NAME.fullmatch(str(entry.get("file"))) or not entry["file"].startswith(kind):
            raise ValueError(f"no valid entry for the {kind} file")


def _manifest_checksum(manifest: dict) -> str:
    """sha256 of the manifest's content without its own checksum."""
    body = {key: value for key, value in manifest.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------------ writing


def build_lock(index_dir: Path) -> FileLock:
    """The lock a build holds on ``index_dir`` (across processes): ``with build_lock(folder): ...``."""
    return FileLock(Path(index_dir) / ".lock")


def remove_leftovers(index_dir: Path) -> None:
    """Staging folders and manifest drafts of builds that were killed (call it under the build lock, so no
    other build is writing them)."""
    for path in index_dir.iterdir():
        if path.name.startswith(".build-") and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(f".{MANIFEST}."):
            path.unlink(missing_ok=True)


def save_index(index_dir: Path, manifest: dict, documents: list[Document], chunks: list[Chunk],
               tokens: list[list[str]], faiss_index: faiss.Index) -> dict:
    """Write the data files, then ``manifest`` with their names and checksums (``stored``) and its own
    ``checksum``, in one atomic rename; the data files no manifest names any more are removed. Returns the
    manifest as written. Call it under ``build_lock``."""
    manifest = {**manifest, "stored": _write_data(index_dir, documents, chunks, tokens, faiss_index)}
    manifest["checksum"] = _manifest_checksum(manifest)
    _replace_manifest(index_dir, manifest)
    _remove_unreferenced(index_dir, manifest)
    return manifest


def _write_data(index_dir: Path, documents: list[Document], chunks: list[Chunk], tokens: list[list[str]],
                faiss_index: faiss.Index) -> dict:
    """Write the data files under content-hash names; returns their manifest entries."""
    staging = index_dir / f".build-{os.getpid()}"
    staging.mkdir(exist_ok=True)
    payloads = {
        "documents": ("jsonl", _jsonl(_document_to_json(doc) for doc in documents)),
        "chunks": ("jsonl", _jsonl({**asdict(chunk), "tokens": toks}
                                   for chunk, toks in zip(chunks, tokens, strict=True))),
        "index": ("faiss", faiss.serialize_index(faiss_index).tobytes()),
    }
    stored = {}
    for kind, (extension, data) in payloads.items():
        digest = hashlib.sha256(data).hexdigest()
        name = f"{kind}.{digest[:16]}.{extension}"
        _write_synced(staging / name, data)
        os.replace(staging / name, index_dir / name)
        stored[kind] = {"file": name, "sha256": digest}
    staging.rmdir()
    return stored


def _replace_manifest(index_dir: Path, manifest: dict) -> None:
    temporary = index_dir / f".{MANIFEST}.{os.getpid()}"
    _write_synced(temporary, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    os.replace(temporary, index_dir / MANIFEST)
    directory = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _remove_unreferenced(index_dir: Path, manifest: dict) -> None:
    referenced = {entry["file"] for entry in manifest["stored"].values()}
    for path in index_dir.iterdir():
        if path.name.startswith(tuple(f"{kind}." for kind in DATA_KINDS)) and path.name not in referenced:
            path.unlink(missing_ok=True)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


# ------------------------------------------------------------------------------------------------ rows


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _document_to_json(document: Document) -> dict:
    return asdict(document)


def _document_from_json(row: dict) -> Document:
    row["paragraphs"] = [tuple(pair) for pair in row["paragraphs"]]
    return Document(**row)
