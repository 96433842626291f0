"""Precision: the embedder (and the reader) in bf16 against fp32, measured in the same run.

* build: full builds of a corpus in each precision, alternated (the precision that goes first alternates);
  chunks/s and the ratio of the paired builds;
* agreement: the cosine between the bf16 and the fp32 vector of every chunk and of every question;
* quality: hit@1 / hit@5 of the fused (hybrid) and the dense retrieval, each precision querying the index it
  built;
* encode_query: every question encoded in both precisions back to back, the order alternating;
* reader: ``Reader.read`` of each development question's top passages in both precisions, alternated, and
  whether the two give the same answer span.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
from timing import ratio, summary_ms, timed

from qa.evaluation import Case, first_hit_rank, hit_rate
from qa.indexing import build
from qa.retrieval import Engine, clean_question, load
from qa.script import to_search
from qa.settings import Settings
from qa.storage import load_index

PRECISIONS = ("fp32", "bf16")
MODES = ("hybrid", "dense")


def order(n: int) -> tuple[str, ...]:
    """The precisions in the order to run them the ``n``-th time: fp32 first when ``n`` is even."""
    return PRECISIONS if n % 2 == 0 else PRECISIONS[::-1]


def build_precisions(corpus: Path, work: Path, settings: Settings, embedders: dict, repeats: int,
                     log: Callable[[str], None]) -> dict:
    """Full builds of ``corpus`` in each precision, alternated; leaves ``work/<precision>-index`` built."""
    seconds: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    chunks = 0
    for attempt in range(repeats):
        for precision in order(attempt):
            log(f"precision: build {corpus.name} in {precision}, {attempt + 1}/{repeats}")
            index = work / f"{precision}-index"
            shutil.rmtree(index, ignore_errors=True)
            report = build(settings, corpus, index, embedder=embedders[precision], progress=False,
                           log=lambda _: None)
            seconds[precision].append(report.seconds)
            chunks = report.chunks
    median = {p: statistics.median(values) for p, values in seconds.items()}
    paired = statistics.median(f / b for f, b in zip(seconds["fp32"], seconds["bf16"], strict=True))
    return {"chunks": chunks, "repeats": repeats,
            **{f"{p}_build_s": round(median[p], 3) for p in PRECISIONS},
            **{f"{p}_chunks_per_s": round(chunks / median[p], 2) for p in PRECISIONS},
            **{f"{p}_build_s_all": [round(s, 3) for s in seconds[p]] for p in PRECISIONS},
            "bf16_over_fp32_throughput": ratio(median["fp32"], median["bf16"]),
            "paired_median_ratio": round(paired, 3)}


def cosine_summary(a: np.ndarray, b: np.ndarray) -> dict:
    """The distribution of the row-wise cosines of two sets of unit vectors."""
    cosines = np.sum(a * b, axis=1)
    quantiles = {f"p{q}": round(float(np.percentile(cosines, q)), 6) for q in (1, 5, 50)}
    return {"n": len(cosines), "min": round(float(cosines.min()), 6), **quantiles,
            "mean": round(float(cosines.mean()), 6), "below_0.999": int((cosines < 0.999).sum())}


def stored_vectors(index: Path, settings: Settings, precision: str) -> tuple[list, np.ndarray]:
    stored = load_index(index, settings.with_(precision=precision))
    return stored.chunks, stored.faiss_index.reconstruct_n(0, stored.faiss_index.ntotal)


def retrieval_quality(engine: Engine, cases: list[Case]) -> dict:
    """hit@1 and hit@5 of the fused and the dense retrieval over the answerable ``cases``."""
    answerable = [case for case in cases if case.source]
    figures = {}
    for mode in MODES:
        ranks = [first_hit_rank(engine.retrieve(case.question, 5, mode=mode), case) for case in answerable]
        figures[mode] = {"hit@1": round(hit_rate(ranks, 1), 4), "hit@5": round(hit_rate(ranks, 5), 4)}
    return {"questions": len(answerable), **figures}


def corpus_precision(name: str, corpus: Path, cases: list[Case], work: Path, settings: Settings, embedders: dict,
                     repeats: int, log: Callable[[str], None]) -> dict:
    """Build, agreement and quality figures of one corpus and its questions."""
    figures = {"build": build_precisions(corpus, work, settings, embedders, repeats, log)}
    (chunks, fp32), (same_chunks, bf16) = (stored_vectors(work / f"{p}-index", settings, p) for p in PRECISIONS)
    if chunks != same_chunks:
        raise RuntimeError(f"{name}: the two builds chunked the corpus differently")
    questions = [to_search(clean_question(case.question, settings.max_question_chars)) for case in cases]
    figures["cosine_chunks"] = cosine_summary(fp32, bf16)
    figures["cosine_questions"] = cosine_summary(*(embedders[p].encode_queries(questions) for p in PRECISIONS))
    quality = {}
    for precision in PRECISIONS:
        log(f"precision: {name} retrieval quality in {precision}")
        engine = load(work / f"{precision}-index", settings.with_(precision=precision), embedders[precision])
        quality[precision] = retrieval_quality(engine, cases)
    figures["quality"] = quality
    figures["quality_delta"] = {mode: {k: round(quality["bf16"][mode][k] - quality["fp32"][mode][k], 4)
                                       for k in ("hit@1", "hit@5")} for mode in MODES}
    return figures


def encode_query_latency(embedders: dict, questions: list[str], rounds: int) -> dict:
    """Bare ``encode_query`` in both precisions, back to back for each question, the order alternating."""
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for question in questions[:3]:  # warm-up
        for embedder in embedders.values():
            embedder.encode_query(question)
    for round_number in range(rounds):
        for i, question in enumerate(questions):
            for precision in order(round_number + i):
                times[precision].append(timed(lambda p=precision, q=question: embedders[p].encode_query(q))[1])
    figures = {p: summary_ms(times[p]) for p in PRECISIONS}
    paired = statistics.median(b / f for f, b in zip(times["fp32"], times["bf16"], strict=True))
    return {"questions": len(questions), "rounds": rounds, **figures,
            "bf16_over_fp32_p50": ratio(figures["bf16"]["p50_ms"], figures["fp32"]["p50_ms"]),
            "paired_median_ratio": round(paired, 3)}


def reader_latency(engine: Engine, settings: Settings, embedders: dict, questions: list[str], rounds: int) -> dict:
    """``Reader.read`` of each question's top ``reader_passages`` fused passages in both precisions,
    alternated; and how often the two precisions pick the same best span."""
    from qa.reader import Reader

    readers = {p: Reader.load(settings.reader_dir, precision=p, share=embedders[p])
               for p in PRECISIONS}
    cases = []
    for question in questions:
        hits = engine.retrieve(question, settings.reader_passages)
        passages = [engine.documents[hit.source].search[hit.start:hit.end] for hit in hits]
        cases.append((to_search(clean_question(question, settings.max_question_chars)), passages))
    spans = {p: [readers[p].read(q, passages)[:1] for q, passages in cases] for p in PRECISIONS}  # warm-up too
    same = sum((a[0].passage, a[0].start, a[0].end) == (b[0].passage, b[0].start, b[0].end) if a and b else a == b
               for a, b in zip(spans["fp32"], spans["bf16"], strict=True))
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for round_number in range(rounds):
        for i, (question, passages) in enumerate(cases):
            for precision in order(round_number + i):
                times[precision].append(timed(lambda p=precision, q=question, ps=passages:
                                              readers[p].read(q, ps))[1])
    figures = {p: summary_ms(times[p]) for p in PRECISIONS}
    paired = statistics.median(b / f for f, b in zip(times["fp32"], times["bf16"], strict=True))
    windows = [len(readers["bf16"].windows(q, passages).input_ids) for q, passages in cases]
    return {"questions": len(cases), "rounds": rounds, "passages": settings.reader_passages,
            "windows_mean": round(sum(windows) / len(windows), 2), **figures,
            "bf16_over_fp32_p50": ratio(figures["bf16"]["p50_ms"], figures["fp32"]["p50_ms"]),
            "paired_median_ratio": round(paired, 3), "same_best_span": same, "reader": str(settings.reader_dir)}
