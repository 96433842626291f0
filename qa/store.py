"""The stored index: building it from a corpus folder and loading it back, verified.

Layout of an index folder::

    manifest.json               model, precision, dimension, settings, per-file hashes, checksums of the
                                files below and of its own content
    documents.<hash>.jsonl      cleaned documents (text, search form, paragraphs, metadata)
    chunks.<hash>.jsonl         chunks with their BM25 tokens, in FAISS row order
    index.<hash>.faiss          FAISS inner-product index over unit vectors (flat or HNSW)

A build writes new data files beside the old ones, then replaces ``manifest.json`` in one atomic
rename: a build killed at any moment leaves the previous manifest pointing at the previous files.
Only files of new or changed documents are embedded again; nothing is pickled.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import jieba
import numpy as np

from .chunking import chunk_document
from .cleaning import clean_text
from .precision import resolve_precision
from .reading import MAX_FILE_CHARS, UnreadableFile, discover, hash_file, read_source
from .script import to_search
from .settings import Settings
from .terms import Segmenter, learn_place_names
from .types import Chunk, Document

FORMAT = 2  # the layout of the stored files; what the pipeline puts in them is PIPELINE_VERSION
# Versions of the pipeline's output. Bump ``text`` when reading, cleaning or chunking would give other documents
# or chunks (every document is embedded again), ``tokens`` when tokenising would give other BM25 tokens (only
# re-tokenised). A change of code that leaves the output alone (a comment, a refactoring) keeps the index;
# tests/test_pipeline_version.py fails when the output over the seeds changes without a bump.
PIPELINE_VERSION = {"text": 4, "tokens": 2}
MANIFEST = "manifest.json"
_DATA_PREFIXES = ("documents.", "chunks.", "index.")
_DATA_NAME = re.compile(r"(documents|chunks|index)\.[0-9a-f]{16}\.(jsonl|faiss)")  # what ``_write`` names
Log = Callable[[str], None]


class IndexProblem(Exception):
    """The index is missing, damaged or built for other settings; the message names the fix."""


class EmptyCorpus(Exception):
    """The corpus folder holds no readable document."""


@dataclass
class BuildReport:
    index_dir: Path
    files: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False

    def summary(self) -> str:
        state = "up to date" if self.up_to_date else f"{self.embedded} embedded, {self.reused} reused"
        lines = [f"{self.files} files, {self.chunks} chunks ({state}), {len(self.skipped)} skipped, "
                 f"{self.seconds:.1f} s -> {self.index_dir}"]
        lines += [f"  skipped {source}: {reason}" for source, reason in self.skipped]
        lines += [f"  warning {source}: {message}" for source, message in self.warnings]
        return "\n".join(lines)


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


def passage_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: its document title in front of its text, in search form."""
    return to_search(f"{chunk.title}\n{chunk.text}")


def index_type_for(n_chunks: int, settings: Settings) -> str:
    """``flat`` (exact) below ``hnsw_threshold`` chunks when the setting is ``auto``, else ``hnsw``."""
    if settings.index_type in ("flat", "hnsw"):
        return settings.index_type
    return "flat" if n_chunks < settings.hnsw_threshold else "hnsw"


def make_faiss_index(vectors: np.ndarray, kind: str, settings: Settings) -> faiss.Index:
    dimension = vectors.shape[1]
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 2 * settings.hnsw_m
        index.hnsw.efSearch = settings.hnsw_ef_search
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def corpus_hashes(corpus_dir: Path) -> dict[str, str]:
    """``source -> sha256`` of every supported file that can be read."""
    files, _ = discover(corpus_dir)
    hashes = {}
    for path in files:
        try:
            hashes[path.relative_to(corpus_dir).as_posix()] = hash_file(path)
        except OSError:
            continue
    return hashes


def pipeline_version() -> dict[str, str]:
    """What the index records of the pipeline that made it: the output versions (jieba's own version is part
    of the tokens'). An index made by another version is stale: ``text`` re-embeds, ``tokens`` re-tokenises."""
    return {"text": str(PIPELINE_VERSION["text"]), "tokens": f"{PIPELINE_VERSION['tokens']}+jieba{jieba.__version__}"}


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


def stale_reason(manifest: dict, corpus_dir: Path, settings: Settings) -> str | None:
    """Why an index no longer matches the corpus, the settings and the code, or None when it does."""
    if manifest.get("model") != settings.model:
        return f"it was built with model '{manifest.get('model')}', the setting is '{settings.model}'"
    if mismatch := precision_mismatch(manifest, settings):
        return mismatch
    if manifest.get("chunking") != settings.chunking():
        return "the chunk settings changed"
    if manifest.get("pipeline") != pipeline_version():
        return "the reading, cleaning, chunking or tokenising output changed since it was built (pipeline version)"
    recorded = {source: entry["sha256"] for source, entry in manifest["files"].items()}
    recorded |= {entry["source"]: entry["sha256"] for entry in manifest.get("skipped", [])
                 if entry.get("sha256")}
    current = corpus_hashes(corpus_dir)
    if current != recorded:
        changed = sorted(set(current.items()) ^ set(recorded.items()))
        return f"{len({source for source, _ in changed})} corpus file(s) were added, changed or removed"
    return None


def build(
    settings: Settings,
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    embedder=None,
    progress: bool = True,
    log: Log = print,
) -> BuildReport:
    """Build or update the index of ``corpus_dir`` in ``index_dir``; returns what was done.

    The vectors are computed in the precision of ``embedder`` (``Embedder.precision``) or, without one, of
    ``settings.precision``; an index of another precision is embedded again in full.

    Example::

        report = build(Settings(), Path("seeds"), Path("embeddings"))
        print(report.summary())
    """
    started = time.perf_counter()
    if getattr(embedder, "precision", None):
        settings = settings.with_(precision=embedder.precision)
    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    index_dir = Path(index_dir or settings.index_dir)
    if not corpus_dir.is_dir():
        raise EmptyCorpus(f"corpus folder '{corpus_dir}' does not exist")
    index_dir.mkdir(parents=True, exist_ok=True)
    report = BuildReport(index_dir)
    with _build_lock(index_dir):
        _remove_leftovers(index_dir)
        previous = _previous_index(index_dir, settings, log, embedder)
        if previous and stale_reason(previous.manifest, corpus_dir, settings) is None:
            report.files, report.chunks = len(previous.documents), len(previous.chunks)
            report.skipped = [(e["source"], e["reason"]) for e in previous.manifest.get("skipped", [])]
            report.up_to_date, report.seconds = True, time.perf_counter() - started
            return report
        documents, skipped = _read_corpus(corpus_dir, report, max_file_chars(settings))
        if not documents:
            raise EmptyCorpus(f"no readable document in '{corpus_dir}'" + _skipped_note(report))
        chunks, vectors = _chunks_and_vectors(documents, previous, settings, embedder, progress, report, log)
        names = learn_place_names([doc.search for doc in documents])
        segmenter = Segmenter(names)
        tokens = [segmenter.tokens(to_search(f"{chunk.title}\n{chunk.text}")) for chunk in chunks]
        kind = index_type_for(len(chunks), settings)
        stored = _write(index_dir, documents, chunks, tokens, make_faiss_index(vectors, kind, settings))
        manifest = {
            "format": FORMAT,
            "model": settings.model,
            "precision": resolve_precision(settings.precision),
            "dimension": int(vectors.shape[1]),
            "chunking": settings.chunking(),
            "pipeline": pipeline_version(),
            "index_type": kind,
            "names": names,
            "files": {doc.source: {"sha256": doc.sha256, "title": doc.title,
                                   "chunks": sum(c.source == doc.source for c in chunks)}
                      for doc in documents},
            "skipped": skipped,
            "stored": stored,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        manifest["checksum"] = _manifest_checksum(manifest)
        _replace_manifest(index_dir, manifest)
        _remove_unreferenced(index_dir, manifest)
    report.files, report.chunks = len(documents), len(chunks)
    report.seconds = time.perf_counter() - started
    return report


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
    files = {kind: index_dir / manifest["stored"][kind]["file"] for kind in ("documents", "chunks", "index")}
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


def read_manifest(index_dir: Path) -> dict:
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


def _check_manifest(manifest) -> None:
    """ValueError unless ``manifest`` has the shape ``build`` writes; its data files must be plain names
    in the index folder, as ``_write`` names them (a manifest never points elsewhere on the disk)."""
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
    for kind in ("documents", "chunks", "index"):
        entry = stored.get(kind) if isinstance(stored, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not _DATA_NAME.fullmatch(str(entry.get("file"))) or not entry["file"].startswith(kind):
            raise ValueError(f"no valid entry for the {kind} file")


def _manifest_checksum(manifest: dict) -> str:
    """sha256 of the manifest's content without its own checksum."""
    body = {key: value for key, value in manifest.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def _previous_index(index_dir: Path, settings: Settings, log: Log, embedder=None) -> StoredIndex | None:
    if not (index_dir / MANIFEST).exists():
        return None
    try:
        previous = load_index(index_dir, settings, check_precision=False)  # a mismatch is checked below
    except IndexProblem as problem:
        log(f"previous index not reused: {problem}")
        return None
    if (previous.manifest.get("pipeline") or {}).get("text") != pipeline_version()["text"]:
        log("the reading, cleaning or chunking output changed (pipeline version): every document is embedded again")
        return None
    if previous.manifest.get("chunking") != settings.chunking():
        log("chunk settings changed: every document is embedded again")
        return None
    if precision_mismatch(previous.manifest, settings):
        log(f"the index was embedded in {index_precision(previous.manifest)}, this build computes "
            f"{resolve_precision(settings.precision)}: every document is embedded again")
        return None
    if embedder is not None and embedder.dimension != previous.faiss_index.d:
        log(f"previous index not reused: its vectors have {previous.faiss_index.d} dimensions, "
            f"the model gives {embedder.dimension}")
        return None
    return previous


def max_file_chars(settings: Settings) -> int:
    """The most characters indexed per file (``Settings.max_file_chars``; ``MAX_FILE_CHARS`` before it)."""
    return getattr(settings, "max_file_chars", MAX_FILE_CHARS)


def _read_corpus(corpus_dir: Path, report: BuildReport, max_chars: int | None = None
                 ) -> tuple[list[Document], list[dict]]:
    files, unsupported = discover(corpus_dir)
    skipped = [{"source": source, "reason": reason} for source, reason in unsupported]
    documents = []
    for path in files:
        source = path.relative_to(corpus_dir).as_posix()
        try:
            source_file = read_source(path, corpus_dir, max_chars)
        except UnreadableFile as problem:
            entry = {"source": source, "reason": str(problem)}
            with suppress(OSError):
                entry["sha256"] = hash_file(path)
            skipped.append(entry)
            continue
        report.warnings += [(source, warning) for warning in source_file.warnings]
        document = clean_text(source, source_file.text, source_file.sha256, path.suffix.lower())
        if not document.text.strip():
            skipped.append({"source": source, "reason": "no text left after cleaning",
                            "sha256": source_file.sha256})
            continue
        documents.append(document)
    report.skipped = [(entry["source"], entry["reason"]) for entry in skipped]
    return documents, skipped


def _skipped_note(report: BuildReport) -> str:
    return f" ({len(report.skipped)} file(s) skipped)" if report.skipped else ""


def _chunks_and_vectors(documents, previous, settings, embedder, progress, report, log):
    """Chunks of every document; vectors reused for unchanged documents, computed for the rest."""
    reusable: dict[str, tuple[list[Chunk], np.ndarray]] = {}
    if previous is not None:
        rows_by_source: dict[str, list[int]] = {}
        for row, chunk in enumerate(previous.chunks):
            rows_by_source.setdefault(chunk.source, []).append(row)
        old_vectors = previous.faiss_index.reconstruct_n(0, previous.faiss_index.ntotal)
        for source, rows in rows_by_source.items():
            old = previous.documents.get(source)
            reusable[source] = (old.sha256 if old else "", [previous.chunks[r] for r in rows],
                                old_vectors[rows])
    chunks: list[Chunk] = []
    parts: list[np.ndarray | None] = []
    fresh: list[Chunk] = []
    for document in documents:
        sha, old_chunks, old_vectors = reusable.get(document.source, ("", [], None))
        if sha == document.sha256 and old_vectors is not None:
            chunks += old_chunks
            parts.append(old_vectors)
            report.reused += len(old_chunks)
        else:
            new_chunks = chunk_document(document, settings.chunk_min_chars, settings.chunk_max_chars)
            chunks += new_chunks
            fresh += new_chunks
            parts.append(None)
    fresh_vectors = np.zeros((0, 0), dtype=np.float32)
    if fresh:
        if embedder is None:
            from .model import Embedder

            embedder = Embedder(settings.model, settings.model_cache, settings.batch_size,
                                precision=settings.precision)
        log(f"embedding {len(fresh)} chunks with {settings.model} ({resolve_precision(settings.precision)})")
        fresh_vectors = embedder.encode_documents([passage_text(c) for c in fresh], progress=progress)
        report.embedded = len(fresh)
    vectors, taken = [], 0
    for document, part in zip(documents, parts, strict=True):
        if part is None:
            n = sum(c.source == document.source for c in fresh)
            part = fresh_vectors[taken:taken + n]
            taken += n
        vectors.append(part)
    return chunks, np.vstack(vectors).astype(np.float32)


def _write(index_dir, documents, chunks, tokens, faiss_index) -> dict:
    """Write the data files under content-hash names; returns their manifest entries."""
    staging = index_dir / f".build-{os.getpid()}"
    staging.mkdir(exist_ok=True)
    payloads = {
        "documents": ("jsonl", _jsonl(_document_to_json(doc) for doc in documents)),
        "chunks": ("jsonl", _jsonl({**asdict(chunk), "tokens": toks} for chunk, toks in zip(chunks, tokens,
                                                                                           strict=True))),
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


def _remove_leftovers(index_dir: Path) -> None:
    """Staging folders and manifest drafts of builds that were killed (called under the build lock,
    so no other build is writing them)."""
    for path in index_dir.iterdir():
        if path.name.startswith(".build-") and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(f".{MANIFEST}."):
            path.unlink(missing_ok=True)


def _remove_unreferenced(index_dir: Path, manifest: dict) -> None:
    referenced = {entry["file"] for entry in manifest["stored"].values()}
    for path in index_dir.iterdir():
        if path.name.startswith(_DATA_PREFIXES) and path.name not in referenced:
            path.unlink(missing_ok=True)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
