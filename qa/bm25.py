"""Okapi BM25 over token lists, as pure numpy.

score(D, Q) = Σ_{t ∈ Q} IDF(t) · tf(t, D) · (k1 + 1) / (tf(t, D) + k1 · (1 − b + b · |D| / avgdl))
IDF(t) = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))          (Robertson & Zaragoza 2009; Lucene's variant)

>>> index = BM25.from_tokens([["乡村", "振兴"], ["党建", "引领"], ["乡村", "旅游"]])
>>> [round(float(s), 3) for s in index.scores(["乡村", "振兴"])]
[1.451, 0.0, 0.47]
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass
class BM25:
    postings: dict[str, tuple[np.ndarray, np.ndarray]]  # term -> (document ids, term frequencies)
    lengths: np.ndarray
    idf: dict[str, float]
    k1: float = 1.5
    b: float = 0.75

    @classmethod
    def from_tokens(cls, documents: list[list[str]], k1: float = 1.5, b: float = 0.75) -> BM25:
        ids: dict[str, list[int]] = {}
        freqs: dict[str, list[int]] = {}
        for doc_id, tokens in enumerate(documents):
            for term, tf in Counter(tokens).items():
                ids.setdefault(term, []).append(doc_id)
                freqs.setdefault(term, []).append(tf)
        n_docs = len(documents)
        postings = {term: (np.array(ids[term]), np.array(freqs[term], dtype=np.float32)) for term in ids}
        idf = {term: math.log(1 + (n_docs - len(ids[term]) + 0.5) / (len(ids[term]) + 0.5)) for term in ids}
        lengths = np.array([len(tokens) for tokens in documents], dtype=np.float32)
        return cls(postings, lengths, idf, k1, b)

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens (a repeated query term counts once)."""
        scores = np.zeros(len(self.lengths), dtype=np.float32)
        if not len(self.lengths):
            return scores
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(float(self.lengths.mean()), 1.0))
        for term in dict.fromkeys(query):
            if term not in self.postings:
                continue
            doc_ids, tf = self.postings[term]
            scores[doc_ids] += self.idf[term] * tf * (self.k1 + 1) / (tf + norm[doc_ids])
        return scores
