"""Hybrid retrieval: dense (FAISS) and BM25 (jieba tokens) rankings fused by reciprocal rank fusion,
then the fused top is re-ranked by how much of the question's key words each passage holds.

RRF(d) = Σ_r 1 / (k + rank_r(d)), k = ``rrf_k``, over each ranking's top ``candidates``
(Cormack, Clarke & Büttcher 2009); the fused top ``rerank_depth`` are re-ranked by
score(d) = coverage(d) + ``phrase_weight`` · phrase(d) + ``rerank_rrf_weight`` · RRF(d) / max RRF, where
coverage (``qa.terms.coverage``) is the mean of the passage's and its best sentence's share of the
question's IDF-weighted key words, and phrase the share of the question's adjacent word pairs that
stand side by side in the passage. Every weight is a setting (``qa.settings``).

>>> engine = load("embeddings")                                  # doctest: +SKIP
>>> engine.retrieve("伊金霍洛镇2022年全年总收入是多少？", k=1)[0].source   # doctest: +SKIP
'001_84905cf744b120d4.txt'
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from .bm25 import BM25
from .chunking import sentence_spans
from .conversation import Turn
from .lexicon import SPOKEN_ENDINGS, SPOKEN_WORDS
from .script import to_search
from .settings import Settings
from .storage import IndexProblem, StoredIndex, load_index
from .terms import Segmenter, adjacent_pairs, coverage, key_terms, phrase_coverage, term_weights
from .types import Answer, Chunk, Hit

_QUESTION_END = " ?？!！。."
# control and invisible characters, and lone surrogates (valid in JSON, but no tokenizer can encode them)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ud800-\udfff]")


def clean_question(question: str, max_chars: int) -> str:
    """The question as searched: control characters removed, whitespace folded, at most ``max_chars``."""
    return " ".join(_CONTROL.sub(" ", str(question or "")).split())[:max_chars]


def written_form(question: str, segmenter: Segmenter) -> str:
    """``question`` in written Chinese, which the reader was trained on: spoken question words become written ones
    (``lexicon.SPOKEN_WORDS``), and the modal particles at its end go (``lexicon.SPOKEN_ENDINGS``: 啊, 吧, 来着; a
    one-character particle only when jieba reads it as a word, so not the 吧 of 酒吧).

    >>> written_form("伊金霍洛镇信访工作去年评了个啥称号来着？", Segmenter())
    '伊金霍洛镇信访工作去年评了个什么称号？'
    """
    body = question.rstrip(_QUESTION_END)
    end = question[len(body):]
    while words := segmenter.words(body):
        ending = next((ending for ending in SPOKEN_ENDINGS
                       if body.endswith(ending) and (len(ending) > 1 or words[-1] == ending)), "")
        if not ending:
            break
        body = body[:-len(ending)]
    for spoken, written in SPOKEN_WORDS:
        body = body.replace(spoken, written)
    return body + end


def rrf(rankings: list[list[int]], k: int) -> dict[int, float]:
    """Reciprocal rank fusion of several rankings of item ids (best first)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


class Engine:
    """Retrieval and answering over one stored index. The model loads on first use."""

    def __init__(self, stored: StoredIndex, settings: Settings, embedder=None) -> None:
        if embedder is not None:
            _check_dimension(stored, settings, embedder)
        self.stored = stored
        self.settings = settings
        self.segmenter = Segmenter(stored.names)
        self.bm25 = BM25.from_tokens(stored.tokens, settings.bm25_k1, settings.bm25_b)
        self._embedder = embedder
        self._reader = None
        self._lock = threading.Lock()
        self._mentioned: dict[str, bool] = {}

    @property
    def documents(self):
        return self.stored.documents

    @functools.cached_property
    def figure_units(self) -> frozenset[str]:
        """The characters these documents use as units of figures (``qa.answering.figure_units``)."""
        from .answering import figure_units

        return figure_units((document.search for document in self.documents.values()), self.settings.unit_share)

    def mentioned(self, mark: str) -> bool:
        """Whether some document mentions ``mark`` (``qa.answering.mentions``), remembered per mark: a place no
        document names is otherwise looked for in every document at every question."""
        if mark not in self._mentioned:
            from .answering import mentions

            self._mentioned[mark] = any(mentions(document, [mark]) for document in self.documents.values())
        return self._mentioned[mark]

    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from .model import Embedder

                settings = self.settings
                self._embedder = Embedder(settings.model, settings.model_cache, settings.batch_size,
                                          precision=settings.precision)
            _check_dimension(self.stored, self.settings, self._embedder)
            return self._embedder

    @property
    def reader(self):
        """The trained span reader, loaded on first use; it shares the embedder's word-embedding matrix and tokenizer
        when both are the builtin model. The settings ``answer_threshold`` and ``max_answer_tokens``, when set,
        replace the calibrated threshold and the answer length of its manifest."""
        embedder = self.embedder
        with self._lock:
            if self._reader is None:
                from .reader import Reader, read_manifest

                settings = self.settings
                same_base = read_manifest(settings.reader_dir).get("base_model") == settings.model
                reader = Reader.load(settings.reader_dir, precision=settings.precision,
                                     share=embedder if same_base else None)
                if settings.answer_threshold is not None:
                    reader.threshold = settings.answer_threshold
                if settings.max_answer_tokens is not None:
                    reader.max_answer_tokens = settings.max_answer_tokens
                self._reader = reader
            return self._reader

    def dense_ranking(self, query: str, depth: int, allowed: np.ndarray | None = None) -> list[int]:
        """Chunk ids by cosine similarity to the question (search form)."""
        vector = self.embedder.encode_query(query).reshape(1, -1).astype(np.float32)
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed)) if allowed is not None else None
        index = self.stored.faiss_index
        _, ids = index.search(vector, min(depth, index.ntotal), params=params)
        return [int(i) for i in ids[0] if i >= 0]

    def bm25_ranking(self, query: str, depth: int, allowed: np.ndarray | None = None) -> list[int]:
        """Chunk ids by BM25 score over jieba tokens; chunks sharing no token are left out."""
        scores = self.bm25.scores(self.segmenter.tokens(query))
        if allowed is not None:
            mask = np.zeros_like(scores, dtype=bool)
            mask[allowed] = True
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores, kind="stable")[:depth]
        return [int(i) for i in top if scores[i] > 0]

    def retrieve(self, question: str, k: int | None = None, sources: list[str] | None = None,
                 mode: str = "hybrid") -> list[Hit]:
        """The ``k`` best chunks for ``question``; ``sources`` limits the search to those files;
        ``mode`` is ``hybrid`` (default), ``dense`` or ``bm25`` (the baselines)."""
        k = max(1, int(k or self.settings.top_k))
        query = to_search(written_form(clean_question(question, self.settings.max_question_chars), self.segmenter))
        if not query.strip() or not self.stored.chunks:
            return []
        allowed = self._allowed(sources)
        if allowed is not None and not len(allowed):
            return []
        depth = max(self.settings.candidates, k)
        rankings = []
        if mode in ("hybrid", "dense"):
            rankings.append(self.dense_ranking(query, depth, allowed))
        if mode in ("hybrid", "bm25"):
            rankings.append(self.bm25_ranking(query, depth, allowed))
        fused = sorted(rrf(rankings, self.settings.rrf_k).items(), key=lambda item: -item[1])
        if mode == "hybrid":
            fused = self._rerank(query, fused[: max(k, self.settings.rerank_depth)])
        return [self._hit(i, score) for i, score in fused[:k]]

    def _rerank(self, query: str, fused: list[tuple[int, float]]) -> list[tuple[int, float]]:
        if not fused:
            return fused
        terms = key_terms(self.segmenter.words(query))
        weights = term_weights(terms, self.bm25.idf)
        pairs = adjacent_pairs(terms, query)
        top, settings = fused[0][1], self.settings
        scored = [(i, self._coverage(i, terms, weights)
                   + settings.phrase_weight * phrase_coverage(pairs, self._search_text(i))
                   + settings.rerank_rrf_weight * score / top) for i, score in fused]
        return sorted(scored, key=lambda item: -item[1])

    def _search_text(self, i: int) -> str:
        chunk = self.stored.chunks[i]
        return self.documents[chunk.source].search[chunk.start:chunk.end]

    def _coverage(self, i: int, terms: list[str], weights: dict[str, float]) -> float:
        chunk = self.stored.chunks[i]
        document = self.documents[chunk.source]
        title = document.search_title
        passage = coverage(terms, document.search[chunk.start:chunk.end] + title, weights)
        sentence = max((coverage(terms, document.search[a:b] + title, weights)
                        for a, b in sentence_spans(document.text, chunk.start, chunk.end)), default=0.0)
        return (passage + sentence) / 2

    def answer(self, question: str, k: int | None = None, sources: list[str] | None = None,
               history: Sequence[Turn | Answer | dict] = ()) -> Answer:
        """An extracted answer with ``k`` citations; the reader reads the top ``settings.reader_passages``
        (see ``qa.answering``). ``history`` holds the earlier turns of a conversation, oldest first (their
        ``Answer``s, ``Turn``s or ``{"question", "source"}`` dicts): a follow-up that leaves out its subject
        takes it, and the document it was answered from, from them (``qa.conversation``); a spoken question is then
        read in written form (``written_form``)."""
        from .answering import read_answer
        from .byline import byline_answer
        from .conversation import understand

        k = max(1, int(k or self.settings.top_k))
        question = clean_question(question, self.settings.max_question_chars)
        understood = understand(question, [as_turn(turn) for turn in history], self.segmenter, self.titles())
        if sources is None and understood.sources is not None:
            sources = understood.sources
        asked = written_form(understood.question, self.segmenter)
        hits = self.retrieve(asked, max(k, self.settings.reader_passages), sources)
        read = hits[: self.settings.reader_passages]
        result = byline_answer(asked, read, self) or read_answer(asked, read, self)
        result.question = question
        result.understood = understood.question if understood.rewritten() else ""
        result.citations = self.per_paragraph(result.citations or hits)[:k] if hits else []
        return result

    def per_paragraph(self, hits: list[Hit]) -> list[Hit]:
        """One citation per paragraph, in the order of first appearance: hits that start in the same
        paragraph of the same document are merged into one that covers them all (best score kept)."""
        merged: dict[tuple[str, int], Hit] = {}
        for hit in hits:
            key = (hit.source, hit.paragraph)
            if key not in merged:
                merged[key] = hit
                continue
            first = merged[key]
            start, end = min(first.start, hit.start), max(first.end, hit.end)
            text = self.documents[hit.source].text[start:end]
            chunk = Chunk(hit.source, hit.title, hit.paragraph, start, end, text)
            merged[key] = Hit(chunk, max(first.score, hit.score))
        return list(merged.values())

    def titles(self) -> dict[str, str]:
        """``source -> title`` for every document in the index."""
        return {source: doc.title for source, doc in sorted(self.documents.items())}

    def _allowed(self, sources: list[str] | None) -> np.ndarray | None:
        if sources is None:
            return None
        wanted = {sources} if isinstance(sources, str) else {str(source) for source in sources}  # names only
        rows = [i for i, chunk in enumerate(self.stored.chunks) if chunk.source in wanted]
        return np.array(rows, dtype=np.int64)

    def _hit(self, i: int, score: float) -> Hit:
        return Hit(self.stored.chunks[i], round(float(score), 6))


def as_turn(turn: Turn | Answer | dict) -> Turn:
    """An earlier exchange as a ``Turn``: an ``Answer`` gives its question as understood and, when it was
    answered, its source; a dict gives ``question`` and ``source``."""
    if isinstance(turn, Turn):
        return turn
    if isinstance(turn, Answer):
        return Turn(turn.understood or turn.question, turn.source if turn.found else None)
    return Turn(str(turn.get("question") or ""), turn.get("source") or None)


def _check_dimension(stored: StoredIndex, settings: Settings, embedder) -> None:
    if embedder.dimension != stored.manifest["dimension"]:
        raise IndexProblem(
            f"the index has {stored.manifest['dimension']}-dimensional vectors but model "
            f"'{settings.model}' gives {embedder.dimension}: delete the index folder and rebuild it with "
            "`qa build`"
        )


def load(index_dir: str | Path | None = None, settings: Settings | None = None, embedder=None) -> Engine:
    """An ``Engine`` over the index in ``index_dir`` (default: the settings' index folder)."""
    settings = settings or Settings()
    return Engine(load_index(Path(index_dir or settings.index_dir), settings), settings, embedder)
