"""Scale: exact (flat) and HNSW FAISS search over synthetic corpora of 10k and 100k chunk vectors.

Random unit vectors in 384 dimensions have no neighbourhood structure, which makes HNSW look worse than it
is on real embeddings. The synthetic vectors are instead fitted to the real chunk vectors of the build
benchmark (seeds/ and CMRC 2018 paragraphs, multilingual-e5-small):

* topic centres ~ N(mean, Σ) with Σ the real vectors' covariance (shrunk 10 % towards its trace, so it has
  full rank), which keeps e5's anisotropy (pairwise cosine ~0.8-0.9) and its spectrum;
* each topic has ``TOPIC_SIZE`` chunks ~ N(centre, τ²Σ), normalised; τ is the value whose nearest-neighbour
  cosine, at the real corpus's size, matches the real one.

Queries are real: encoded CMRC 2018 questions (``query:`` prompt), as the app would search them. Each is
searched alone (batch of 1, as ``Engine.dense_ranking`` does) for ``settings.candidates`` neighbours;
recall@10 compares HNSW's first 10 with the exact first 10.
"""

from __future__ import annotations

import gc

import faiss
import numpy as np
from machine import current_rss_mib
from timing import ratio, summary_ms, timed

from qa.indexing import index_type_for, make_faiss_index
from qa.settings import Settings

TOPIC_SIZE = 10  # chunks per topic, about a short document's worth
SHRINK = 0.1
TAUS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2)
EF_SWEEP = (50, 64, 96, 128, 192, 256, 384, 512, 768)  # FAISS searches with max(efSearch, k), k = 50


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def fitted_gaussian(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, Cholesky factor of the shrunk covariance)`` of the real vectors."""
    mean = real.mean(axis=0)
    covariance = np.cov(real, rowvar=False)
    dimension = covariance.shape[0]
    shrunk = (1 - SHRINK) * covariance + SHRINK * np.trace(covariance) / dimension * np.eye(dimension)
    return mean, np.linalg.cholesky(shrunk)


def clustered_vectors(n: int, mean: np.ndarray, factor: np.ndarray, tau: float,
                      rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors in topics of ``TOPIC_SIZE`` drawn from the fitted Gaussian (see module doc)."""
    dimension = len(mean)
    topics = -(-n // TOPIC_SIZE)
    centres = mean + rng.standard_normal((topics, dimension)) @ factor.T
    points = np.repeat(centres, TOPIC_SIZE, axis=0)[:n]
    points += tau * (rng.standard_normal((n, dimension)) @ factor.T)
    return unit_rows(points)


def neighbour_cosine(vectors: np.ndarray) -> float:
    """Mean cosine of each vector to its nearest other vector."""
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    return float(similarity.max(axis=1).mean())


def pairwise_cosine(vectors: np.ndarray) -> float:
    """Mean cosine over distinct pairs."""
    similarity = vectors @ vectors.T
    n = len(vectors)
    return float((similarity.sum() - np.trace(similarity)) / (n * (n - 1)))


def fit_tau(real: np.ndarray, mean: np.ndarray, factor: np.ndarray, seed: int) -> dict:
    """The τ whose synthetic corpus of the real corpus's size has the real nearest-neighbour cosine."""
    target = neighbour_cosine(real)
    trials = {tau: neighbour_cosine(clustered_vectors(len(real), mean, factor, tau,
                                                      np.random.default_rng(seed)))
              for tau in TAUS}
    tau = min(trials, key=lambda t: abs(trials[t] - target))
    sample = clustered_vectors(len(real), mean, factor, tau, np.random.default_rng(seed))
    return {"tau": tau, "real_vectors": len(real), "real_neighbour_cosine": round(target, 4),
            "synthetic_neighbour_cosine": round(trials[tau], 4),
            "real_pairwise_cosine": round(pairwise_cosine(real), 4),
            "synthetic_pairwise_cosine": round(pairwise_cosine(sample), 4)}


def search_times(index: faiss.Index, queries: np.ndarray, depth: int) -> tuple[list[float], np.ndarray]:
    """Seconds per single-query search, and the ids found (one row per query)."""
    seconds, found = [], []
    for query in queries:
        (_, ids), elapsed = timed(lambda q=query: index.search(q.reshape(1, -1), depth))
        seconds.append(elapsed)
        found.append(ids[0])
    return seconds, np.array(found)


def recall_at(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Mean share of the exact top ``k`` that the approximate top ``k`` holds."""
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(found, exact, strict=True)]))


def measure_index(kind: str, vectors: np.ndarray, queries: np.ndarray, settings: Settings) -> tuple[dict,
                                                                                                   np.ndarray]:
    """Build one index of ``kind``; its build time, size, memory and single-query search timings."""
    gc.collect()
    before = current_rss_mib()
    index, seconds = timed(lambda: make_faiss_index(vectors, kind, settings))
    grown = current_rss_mib() - before
    index.search(queries[:5], settings.candidates)  # warm-up
    times, found = search_times(index, queries, settings.candidates)
    figures = {"build_s": round(seconds, 2),
               "index_mib": round(faiss.serialize_index(index).nbytes / 2**20, 1),
               "rss_growth_mib": round(grown, 1), "search": summary_ms(times)}
    if kind == "hnsw":
        figures["ef_search"] = index.hnsw.efSearch
        figures["ef_sweep"] = ef_sweep(index, queries, settings)
    return figures, found


def ef_sweep(index: faiss.Index, queries: np.ndarray, settings: Settings) -> list[dict]:
    """Search timings and found ids for each efSearch of ``EF_SWEEP`` (the setting is restored)."""
    chosen, rows = index.hnsw.efSearch, []
    for ef in EF_SWEEP:
        index.hnsw.efSearch = ef
        times, found = search_times(index, queries, settings.candidates)
        rows.append({"ef_search": index.hnsw.efSearch, "search": summary_ms(times), "found": found})
    index.hnsw.efSearch = chosen
    return rows


def scale_benchmark(real: np.ndarray, queries: np.ndarray, sizes: tuple[int, ...], settings: Settings,
                    seed: int = 0, log=print) -> dict:
    """Flat vs HNSW at each corpus size: sizes, memory, search p50/p95, recall@10 and the auto choice."""
    mean, factor = fitted_gaussian(real.astype(np.float64))
    fit = fit_tau(real, mean, factor, seed)
    log(f"scale: synthetic vectors fitted to {len(real)} real ones: {fit}")
    results = {"fit": fit, "queries": len(queries), "depth": settings.candidates, "hnsw_m": settings.hnsw_m,
               "ef_construction": 2 * settings.hnsw_m, "sizes": {}}
    for n in sizes:
        vectors = clustered_vectors(n, mean, factor, fit["tau"], np.random.default_rng(seed + n))
        log(f"scale: {n} vectors: exact search")
        flat, exact = measure_index("flat", vectors, queries, settings)
        log(f"scale: {n} vectors: HNSW (M={settings.hnsw_m}, efSearch={settings.hnsw_ef_search})")
        hnsw, found = measure_index("hnsw", vectors, queries, settings)
        hnsw["recall@10"] = round(recall_at(found, exact, 10), 4)
        hnsw["recall@50"] = round(recall_at(found, exact, settings.candidates), 4)
        for row in hnsw["ef_sweep"]:
            row["recall@10"] = round(recall_at(row.pop("found"), exact, 10), 4)
        results["sizes"][str(n)] = {
            "vectors_mib": round(vectors.nbytes / 2**20, 1), "auto_index_type": index_type_for(n, settings),
            "flat": flat, "hnsw": hnsw,
            "hnsw_over_flat_p50": ratio(hnsw["search"]["p50_ms"], flat["search"]["p50_ms"]),
        }
        del vectors
    return results
