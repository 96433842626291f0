"""Build: chunks per second of ``qa.indexing.build`` against the model's raw encoding of the same passages,
and the time of a rebuild with nothing changed.

Raw encoding and full builds alternate (raw, build, raw, build, ...) so that load from other processes on
the shared cores falls on both alike; the figures are medians over the repeats. The first build of the run
is reported apart: it also loads jieba's dictionary, once per process.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import numpy as np
from timing import ratio, timed

from qa.indexing import build, passage_text
from qa.settings import Settings
from qa.storage import load_index


class TimedEmbedder:
    """Wraps an embedder and adds up the seconds spent in ``encode_documents`` (the model's share of a
    build)."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.dimension = embedder.dimension
        self.seconds = 0.0

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors, seconds = timed(lambda: self.embedder.encode_documents(texts, progress=progress))
        self.seconds += seconds
        return vectors


def quiet_ratio(raw: list[float], builds: list[dict]) -> float:
    """Build throughput over model throughput as on a quiet machine: the fastest encoding of the texts seen
    in the run (raw or inside a build) against that plus the median time a build spends outside the model.
    Load from other processes slows the model far more than the rest, so this is the conservative figure."""
    floor = min(raw + [b["model_seconds"] for b in builds])
    outside = statistics.median(b["seconds"] - b["model_seconds"] for b in builds)
    return floor / (floor + outside)


def full_build(settings: Settings, corpus: Path, index: Path, embedder) -> dict:
    """One build from nothing: total seconds, the model's seconds inside it, chunks."""
    shutil.rmtree(index, ignore_errors=True)
    timed_embedder = TimedEmbedder(embedder)
    report = build(settings, corpus, index, embedder=timed_embedder, progress=False, log=lambda _: None)
    return {"seconds": report.seconds, "model_seconds": timed_embedder.seconds, "chunks": report.chunks,
            "files": report.files}


def build_benchmark(name: str, corpus: Path, index: Path, settings: Settings, embedder, repeats: int,
                    log=print) -> dict:
    """Pipeline vs raw throughput on one corpus, then rebuilds with nothing changed; ``index`` is left
    built."""
    log(f"build: {name}: first build")
    first = full_build(settings, corpus, index, embedder)
    texts = [passage_text(chunk) for chunk in load_index(index, settings).chunks]
    raw, builds = [], []
    for attempt in range(repeats):
        log(f"build: {name}: raw encoding and full build, {attempt + 1}/{repeats}")
        raw.append(timed(lambda: embedder.encode_documents(texts))[1])
        builds.append(full_build(settings, corpus, index, embedder))
    unchanged = []
    for _ in range(5):
        report, seconds = timed(lambda: build(settings, corpus, index, embedder=embedder, progress=False,
                                              log=lambda _: None))
        if not report.up_to_date:
            raise RuntimeError(f"{name}: a rebuild with nothing changed did work: {report.summary()}")
        unchanged.append(seconds)
    chunks = first["chunks"]
    raw_s = statistics.median(raw)
    build_s = statistics.median(b["seconds"] for b in builds)
    model_s = statistics.median(b["model_seconds"] for b in builds)
    return {
        "corpus": name, "files": first["files"], "chunks": chunks, "repeats": repeats,
        "passage_chars_mean": round(sum(map(len, texts)) / len(texts), 1),
        "raw_encode_s": round(raw_s, 3), "raw_chunks_per_s": round(chunks / raw_s, 2),
        "build_s": round(build_s, 3), "build_chunks_per_s": round(chunks / build_s, 2),
        "build_model_s": round(model_s, 3), "build_overhead_s": round(build_s - model_s, 3),
        "throughput_ratio": ratio(raw_s, build_s),
        "first_build_s": round(first["seconds"], 3),
        "first_build_chunks_per_s": round(chunks / first["seconds"], 2),
        "raw_encode_s_all": [round(s, 3) for s in raw],
        "build_s_all": [round(b["seconds"], 3) for b in builds],
        "build_model_s_all": [round(b["model_seconds"], 3) for b in builds],
        "quiet_ratio": round(quiet_ratio(raw, builds), 3),
        "rebuild_unchanged_s": round(statistics.median(unchanged), 3),
        "rebuild_unchanged_s_max": round(max(unchanged), 3),
    }
