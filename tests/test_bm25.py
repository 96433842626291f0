"""qa.bm25 against a hand computation of the Okapi BM25 formula (Lucene's IDF)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import qa.bm25
from qa.bm25 import BM25
from qa.storage import load_index
from qa.terms import Segmenter

DOCUMENTS = [
    ["乡村", "振兴", "乡村", "旅游"],
    ["党建", "引领", "乡村", "振兴", "发展", "党建"],
    ["生态", "保护"],
    ["乡村", "乡村", "乡村"],
]


def by_hand(documents: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    n = len(documents)
    avgdl = sum(len(d) for d in documents) / n
    scores = []
    for document in documents:
        score = 0.0
        for term in set(query):
            df = sum(term in d for d in documents)
            tf = document.count(term)
            if not tf:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(document) / avgdl))
        scores.append(score)
    return scores


@pytest.mark.parametrize("query", [["乡村"], ["乡村", "振兴"], ["党建", "生态", "旅游"], ["未知"], []])
def test_scores_match_the_formula(query) -> None:
    index = BM25.from_tokens(DOCUMENTS)
    assert np.allclose(index.scores(query), by_hand(DOCUMENTS, query), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (2.0, 0.0), (0.5, 1.0)])
def test_parameters(k1, b) -> None:
    index = BM25.from_tokens(DOCUMENTS, k1=k1, b=b)
    query = ["乡村", "振兴", "党建"]
    assert np.allclose(index.scores(query), by_hand(DOCUMENTS, query, k1, b), rtol=1e-5)


def test_idf_by_hand() -> None:
    index = BM25.from_tokens(DOCUMENTS)
    assert index.idf["乡村"] == pytest.approx(math.log(1 + 1.5 / 3.5))  # in 3 of 4 documents
    assert index.idf["生态"] == pytest.approx(math.log(1 + 3.5 / 1.5))  # in 1 of 4
    assert set(index.idf) == {t for d in DOCUMENTS for t in d}
    assert list(index.lengths) == [4, 6, 2, 3]


def test_a_repeated_query_term_counts_once_and_term_frequency_saturates() -> None:
    index = BM25.from_tokens(DOCUMENTS)
    assert np.array_equal(index.scores(["乡村", "乡村"]), index.scores(["乡村"]))
    scores = index.scores(["乡村"])
    assert scores[2] == 0.0 and scores[3] > scores[0] > 0  # tf 3 beats tf 2 …
    assert scores[3] < 1.5 * scores[0]  # … but far less than in proportion


def test_empty_index() -> None:
    assert BM25.from_tokens([]).scores(["乡村"]).shape == (0,)
    assert np.array_equal(BM25.from_tokens([[]]).scores(["乡村"]), [0.0])


def test_over_the_committed_index(settings) -> None:
    """On the real chunks' tokens, the chunk with the exact figures ranks first for its key words."""
    stored = load_index(settings.index_dir)
    index = BM25.from_tokens(stored.tokens)
    scores = index.scores(Segmenter(stored.names).tokens("伊金霍洛镇 全年总收入 固定资产投资"))
    best = stored.chunks[int(np.argmax(scores))]
    assert best.source == "001_84905cf744b120d4.txt" and "全年总收入1.99亿元" in best.text


def test_module_examples() -> None:
    assert doctest.testmod(qa.bm25).failed == 0


def test_against_bm25s_on_the_real_chunks(settings) -> None:
    """Comparison against a reference implementation: bm25s's "lucene" method has the same IDF and omits the
    constant factor (k1 + 1), so over the committed index's real tokens every score must be (k1 + 1) times its."""
    bm25s = pytest.importorskip("bm25s", reason="bm25s (a test dependency) is not installed")
    stored = load_index(settings.index_dir)
    ours = BM25.from_tokens(stored.tokens)
    reference = bm25s.BM25(method="lucene", idf_method="lucene", k1=ours.k1, b=ours.b)
    reference.index(stored.tokens, show_progress=False)
    segmenter = Segmenter(stored.names)
    for question in ("伊金霍洛镇全年总收入是多少？", "宋家镇引进本土人才回乡投资项目多少个？", "党建引领乡村振兴",
                     "阿拉善高新区"):
        query = [token for token in dict.fromkeys(segmenter.tokens(question)) if token in ours.idf]
        expected = (ours.k1 + 1) * reference.get_scores(query)
        assert np.allclose(ours.scores(query), expected, rtol=1e-4, atol=1e-5), question
