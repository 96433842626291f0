"""qa.indexing: building an index from a small copy of the corpus with the real model, updating it
incrementally (only new or changed files embedded), one build at a time; and the committed index matching the
seeds and the current code. How the files are stored and verified: tests/test_storage.py."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

import qa.indexing
from qa.chunking import chunk_document
from qa.cleaning import clean_text
from qa.indexing import build, passage_text, stale_reason
from qa.reading import hash_file, read_source
from qa.script import to_search
from qa.settings import PROJECT_ROOT
from qa.storage import IndexProblem, build_lock, load_index, read_manifest
from qa.terms import Segmenter, learn_place_names

SEEDS = PROJECT_ROOT / "seeds"
SMALL = ("003_70f536fde6f55a41.txt", "004_85481d78a7325808.txt")  # the two smallest seeds (19 chunks)
CHUNK_FIELDS = ("source", "title", "paragraph", "start", "end", "text")


class CountingEmbedder:
    """The session model, recording every passage it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.dimension = inner.dimension
        self.precision = inner.precision
        self.passages: list[str] = []

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.passages += texts
        return self.inner.encode_documents(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self.inner.encode_query(text)


def quiet(_: str) -> None:
    pass


def expected_documents(corpus: Path) -> dict:
    documents = {}
    for path in sorted(corpus.iterdir()):
        source = read_source(path, corpus)
        documents[path.name] = clean_text(path.name, source.text, source.sha256, path.suffix)
    return documents


def chunk_rows(chunks) -> list[tuple]:
    return [tuple(getattr(chunk, field) for field in CHUNK_FIELDS) for chunk in chunks]


def assert_index_matches_corpus(index_dir: Path, corpus: Path, settings) -> None:
    """The stored documents, chunks, names and tokens are what the current code makes of the corpus."""
    stored = load_index(index_dir, settings)
    documents = expected_documents(corpus)
    assert stored.documents == documents
    expected_chunks = [chunk for doc in documents.values()
                       for chunk in chunk_document(doc, settings.chunk_min_chars, settings.chunk_max_chars)]
    assert chunk_rows(stored.chunks) == chunk_rows(expected_chunks)
    names = learn_place_names([doc.search for doc in documents.values()])
    assert stored.names == names
    segmenter = Segmenter(names)
    assert stored.tokens == [segmenter.tokens(to_search(f"{c.title}\n{c.text}")) for c in stored.chunks]
    assert stored.faiss_index.ntotal == len(stored.chunks)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("corpus")
    for name in SMALL:
        shutil.copy(SEEDS / name, corpus / name)
    return corpus


@pytest.fixture(scope="module")
def built(settings, embedder, small_corpus, tmp_path_factory):
    """``(index_dir, report, counting embedder)`` of one build of the small corpus."""
    index_dir = tmp_path_factory.mktemp("index")
    counting = CountingEmbedder(embedder)
    report = build(settings, small_corpus, index_dir, embedder=counting, progress=False, log=quiet)
    return index_dir, report, counting


@pytest.mark.slow
def test_build_embeds_every_chunk_once(built, settings) -> None:
    index_dir, report, counting = built
    stored = load_index(index_dir, settings)
    assert report.files == 2 and report.chunks == len(stored.chunks) == report.embedded > 10
    assert report.reused == 0 and not report.up_to_date and not report.skipped and not report.warnings
    assert counting.passages == [passage_text(chunk) for chunk in stored.chunks]


@pytest.mark.slow
def test_built_index_holds_what_the_pipeline_makes(built, small_corpus, settings) -> None:
    assert_index_matches_corpus(built[0], small_corpus, settings)


@pytest.mark.slow
def test_manifest(built, small_corpus, settings, embedder) -> None:
    index_dir = built[0]
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == settings.model and manifest["dimension"] == embedder.dimension == 384
    assert manifest["precision"] == embedder.precision in ("bf16", "fp32")
    assert manifest["chunking"] == settings.chunking()
    assert {name: entry["sha256"] for name, entry in manifest["files"].items()} == {
        name: hash_file(small_corpus / name) for name in SMALL
    }
    stored = load_index(index_dir, settings)
    assert sum(entry["chunks"] for entry in manifest["files"].values()) == len(stored.chunks)
    assert manifest["index_type"] == "flat" and isinstance(stored.faiss_index, faiss.IndexFlatIP)  # < 50k chunks


@pytest.mark.slow
def test_stored_vectors_are_the_model_passages(built, settings, embedder) -> None:
    stored = load_index(built[0], settings)
    vectors = stored.faiss_index.reconstruct_n(0, stored.faiss_index.ntotal)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    fresh = embedder.encode_documents([passage_text(stored.chunks[i]) for i in (0, len(stored.chunks) - 1)])
    # batched otherwise than in the build: bf16 rounds a little differently (padding), fp32 does not
    assert np.allclose(vectors[[0, -1]], fresh, atol=1e-4 if embedder.precision == "fp32" else 2e-3)


@pytest.mark.slow
def test_incremental_rebuild(built, small_corpus, settings, embedder, tmp_path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(small_corpus, corpus)
    shutil.copytree(built[0], index_dir)
    kept, changed = SMALL
    before = load_index(index_dir, settings)

    def rebuild() -> tuple:
        counting = CountingEmbedder(embedder)
        report = build(settings, corpus, index_dir, embedder=counting, progress=False, log=quiet)
        return report, counting, load_index(index_dir, settings)

    # nothing changed: nothing read, nothing embedded
    report, counting, after = rebuild()
    assert report.up_to_date and report.embedded == 0 and not counting.passages
    assert chunk_rows(after.chunks) == chunk_rows(before.chunks)

    # one file changed: only its chunks are embedded, the other file's vectors are reused as they were
    with open(corpus / changed, "a", encoding="utf-8") as handle:
        handle.write("\n宋家鎮新建茶葉加工廠3座，帶動農戶增收。\n")
    report, counting, after = rebuild()
    new_chunks = [c for c in after.chunks if c.source == changed]
    old_kept = [i for i, c in enumerate(before.chunks) if c.source == kept]
    new_kept = [i for i, c in enumerate(after.chunks) if c.source == kept]
    assert not report.up_to_date and report.embedded == len(new_chunks) and report.reused == len(new_kept)
    assert counting.passages == [passage_text(c) for c in new_chunks]
    assert any("茶葉加工廠3座" in c.text for c in new_chunks)
    assert np.array_equal(before.faiss_index.reconstruct_n(0, before.faiss_index.ntotal)[old_kept],
                          after.faiss_index.reconstruct_n(0, after.faiss_index.ntotal)[new_kept])
    assert read_manifest(index_dir)["files"][changed]["sha256"] == hash_file(corpus / changed)
    assert_index_matches_corpus(index_dir, corpus, settings)

    # one file removed: its chunks disappear, nothing is embedded
    (corpus / kept).unlink()
    report, counting, after = rebuild()
    assert report.embedded == 0 and not counting.passages and report.files == 1
    assert {c.source for c in after.chunks} == {changed} and set(after.documents) == {changed}
    assert set(read_manifest(index_dir)["files"]) == {changed}
    assert_index_matches_corpus(index_dir, corpus, settings)
    assert len(list(index_dir.glob("chunks.*"))) == 1  # the replaced data files are gone


class RandomEmbedder:
    """Stands in for the model (no model needed): random unit vectors."""

    dimension, precision = 8, "fp32"

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = np.random.default_rng(0).normal(size=(len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_build_waits_while_another_holds_the_lock(settings, small_corpus, tmp_path, monkeypatch) -> None:
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    entered = threading.Event()
    remove_leftovers = qa.indexing.remove_leftovers  # the first thing a build does under the lock
    monkeypatch.setattr(qa.indexing, "remove_leftovers", lambda folder: (entered.set(), remove_leftovers(folder)))
    worker = threading.Thread(target=build, args=(settings, small_corpus, index_dir),
                              kwargs={"embedder": RandomEmbedder(), "progress": False, "log": quiet})
    with build_lock(index_dir):  # as another build (or process) would hold it
        worker.start()
        assert not entered.wait(1.0)
    assert entered.wait(30)
    worker.join(120)
    assert set(read_manifest(index_dir)["files"]) == set(SMALL)


@pytest.fixture(scope="module")
def other_precision(settings, embedder):
    """The real model in the precision the session embedder does not use (bf16 runs emulated, slower, on a
    CPU without native bf16)."""
    from qa.model import Embedder

    other = "fp32" if embedder.precision == "bf16" else "bf16"
    return Embedder(settings.model, settings.model_cache, settings.batch_size, precision=other)


@pytest.mark.slow
def test_an_index_queried_in_another_precision_names_the_mismatch(built, small_corpus, settings, embedder,
                                                                   other_precision, tmp_path, capsys) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(built[0], index_dir)
    ours, other = embedder.precision, other_precision.precision
    with pytest.raises(IndexProblem) as refused:
        load_index(index_dir, settings.with_(precision=other))
    message = str(refused.value)
    assert f"computed in {ours}" in message and f"encoded in {other}" in message and "qa build" in message
    reason = stale_reason(read_manifest(index_dir), small_corpus, settings.with_(precision=other))
    assert reason and ours in reason and other in reason
    assert load_index(index_dir, settings.with_(precision=ours)).faiss_index.ntotal == built[1].chunks
    capsys.readouterr()
    report = build(settings, small_corpus, index_dir, embedder=CountingEmbedder(other_precision),
                   progress=False, log=quiet)
    assert report.reused == 0 and report.embedded == report.chunks  # every vector made again
    assert read_manifest(index_dir)["precision"] == other
    # under "auto" (which resolves to the session's precision) an index of the other one is not stale: it is
    # loaded as it is, and the mismatch is named on stderr
    auto = settings.with_(precision="auto")
    assert stale_reason(read_manifest(index_dir), small_corpus, auto) is None
    assert load_index(index_dir, auto).faiss_index.ntotal == built[1].chunks
    assert f"computed in {other}" in capsys.readouterr().err


@pytest.mark.slow
def test_bf16_and_fp32_indexes_find_the_same_passages(built, small_corpus, settings, embedder, other_precision,
                                                       tmp_path) -> None:
    """The vectors of the two precisions agree to a cosine of at least 0.999, and the question ranks the same
    passages first."""
    ours = load_index(built[0], settings)
    index_dir = tmp_path / "index"
    build(settings, small_corpus, index_dir, embedder=other_precision, progress=False, log=quiet)
    theirs = load_index(index_dir, settings.with_(precision=other_precision.precision))
    a = ours.faiss_index.reconstruct_n(0, ours.faiss_index.ntotal)
    b = theirs.faiss_index.reconstruct_n(0, theirs.faiss_index.ntotal)
    assert np.sum(a * b, axis=1).min() >= 0.999
    question = "宋家镇引进本土人才回乡投资项目多少个？"
    ranked = [np.argsort(-(vectors @ model.encode_query(question)))[:3].tolist()
              for vectors, model in ((a, embedder), (b, other_precision))]
    assert ranked[0] == ranked[1]


def test_committed_index_is_up_to_date_with_seeds_and_code(settings) -> None:
    """Changing the seeds, cleaning, chunking or tokenising without ``qa build`` fails here."""
    assert stale_reason(read_manifest(settings.index_dir), SEEDS, settings) is None
    assert_index_matches_corpus(settings.index_dir, SEEDS, settings)
