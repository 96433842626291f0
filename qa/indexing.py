"""Building the index of a corpus folder: what is read, chunked and embedded, and what an earlier build can
give again.

The plan of a build: when the stored index (``qa.storage``) still matches the corpus, the settings and the
pipeline (``stale_reason``), nothing is done; otherwise every file is read and chunked again, the vectors of
documents whose file is unchanged are taken from the previous index, and only new or changed documents are
embedded. The previous index is not reused at all when the text pipeline, the chunk settings, the precision or
the model's dimension changed. The result is written by ``qa.storage.save_index``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import jieba
import numpy as np

from .chunking import chunk_document
from .cleaning import clean_text
from .precision import resolve_precision
from .reading import UnreadableFile, discover, hash_file, read_source
from .script import to_search
from .settings import Settings
from .storage import (
    FORMAT,
    MANIFEST,
    IndexProblem,
    StoredIndex,
    build_lock,
    index_precision,
    load_index,
    precision_mismatch,
    remove_leftovers,
    save_index,
)
from .terms import Segmenter, learn_place_names
from .types import Chunk, Document

# Versions of the pipeline's output. Bump ``text`` when reading, cleaning or chunking would give other documents
# or chunks (every document is embedded again), ``tokens`` when tokenising would give other BM25 tokens (only
# re-tokenised). A change of code that leaves the output alone (a comment, a refactoring) keeps the index;
# tests/test_pipeline_version.py fails when the output over the seeds changes without a bump.
PIPELINE_VERSION = {"text": 6, "tokens": 2}
Log = Callable[[str], None]


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


def passage_text(chunk: Chunk) -> str:
    """What is embedded and tokenised for a chunk: its document title in front of its text, in search form."""
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


def stale_reason(manifest: dict, corpus_dir: Path, settings: Settings) -> str | None:
    """Why an index no longer matches the corpus, the settings and the code, or None when it does."""
    if manifest.get("model") != settings.model:
        return f"it was built with model '{manifest.get('model')}', the setting is '{settings.model}'"
    # Under "auto" an index of the other precision is used as it is and named at load (``load_index``): the
    # vectors agree to a cosine of 0.9999 and rank alike, so the committed bf16 index is not rebuilt on a CPU
    # without native bf16. A precision set explicitly must match.
    if settings.precision != "auto" and (mismatch := precision_mismatch(manifest, settings)):
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
    with build_lock(index_dir):
        remove_leftovers(index_dir)
        previous = _previous_index(index_dir, settings, log, embedder)
        if previous and stale_reason(previous.manifest, corpus_dir, settings) is None:
            report.files, report.chunks = len(previous.documents), len(previous.chunks)
            report.skipped = [(e["source"], e["reason"]) for e in previous.manifest.get("skipped", [])]
            report.up_to_date, report.seconds = True, time.perf_counter() - started
            return report
        documents, skipped = _read_corpus(corpus_dir, report, settings.max_file_chars)
        if not documents:
            raise EmptyCorpus(f"no readable document in '{corpus_dir}'" + _skipped_note(report))
        chunks, vectors = _chunks_and_vectors(documents, previous, settings, embedder, progress, report, log)
        names = learn_place_names([doc.search for doc in documents])
        segmenter = Segmenter(names)
        tokens = [segmenter.tokens(passage_text(chunk)) for chunk in chunks]
        kind = index_type_for(len(chunks), settings)
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
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        save_index(index_dir, manifest, documents, chunks, tokens, make_faiss_index(vectors, kind, settings))
    report.files, report.chunks = len(documents), len(chunks)
    report.seconds = time.perf_counter() - started
    return report


def _previous_index(index_dir: Path, settings: Settings, log: Log, embedder=None) -> StoredIndex | None:
    """The stored index whose vectors this build may reuse, or None (with the reason logged)."""
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


def _read_corpus(corpus_dir: Path, report: BuildReport, max_chars: int) -> tuple[list[Document], list[dict]]:
    """The cleaned documents of the corpus, and the manifest entries of the files skipped (with the reason)."""
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


def _chunks_and_vectors(documents: list[Document], previous: StoredIndex | None, settings: Settings, embedder,
                        progress: bool, report: BuildReport, log: Log) -> tuple[list[Chunk], np.ndarray]:
    """Chunks of every document; vectors reused for unchanged documents, computed for the rest."""
    reusable = _reusable(previous)
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


def _reusable(previous: StoredIndex | None) -> dict[str, tuple[str, list[Chunk], np.ndarray]]:
    """``source -> (sha256 of its file, its chunks, their vectors)`` of the previous index."""
    if previous is None:
        return {}
    rows_by_source: dict[str, list[int]] = {}
    for row, chunk in enumerate(previous.chunks):
        rows_by_source.setdefault(chunk.source, []).append(row)
    old_vectors = previous.faiss_index.reconstruct_n(0, previous.faiss_index.ntotal)
    reusable = {}
    for source, rows in rows_by_source.items():
        old = previous.documents.get(source)
        reusable[source] = (old.sha256 if old else "", [previous.chunks[r] for r in rows], old_vectors[rows])
    return reusable
