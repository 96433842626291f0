"""Query: warm ``retrieve()`` and ``answer()`` against the model's bare ``encode_query`` (the floor), and the
cold start of a fresh process from ``import qa`` to its first answer.

For each question the calls run back to back, in an order that rotates from one question to the next, so
load from other processes on the shared cores falls on all of them alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from timing import ratio, summary_ms, timed

from qa.retrieval import Engine, clean_question
from qa.script import to_search

# Peak memory is VmHWM, the high-water mark of this process's own pages: a child's ru_maxrss starts from its
# parent's resident size at fork (Linux carries it over exec), and the benchmark process is large.
COLD_START = """
import json, re, resource, sys, time
start = time.perf_counter()
import qa
imported = time.perf_counter()
engine = qa.default_engine()
loaded = time.perf_counter()
answer = qa.answer(sys.argv[1])
done = time.perf_counter()
status = open("/proc/self/status").read()
print(json.dumps({"import_s": imported - start, "load_index_s": loaded - imported,
                  "first_answer_s": done - loaded, "import_to_answer_s": done - start, "found": answer.found,
                  "peak_rss_mib": int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 1024,
                  "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def warm_queries(engine: Engine, questions: list[str], rounds: int, log=print) -> dict:
    """p50/p95 of bare query encoding, ``retrieve()`` and ``answer()`` on the same questions, their
    ratios, and ``retrieve()`` split into its dense and BM25 rankings (the rest is fusion and re-ranking)."""
    settings, embedder = engine.settings, engine.embedder
    queries = [to_search(clean_question(q, settings.max_question_chars)) for q in questions]
    depth = max(settings.candidates, settings.top_k)
    calls = {
        "encode_query": lambda i: embedder.encode_query(queries[i]),
        "retrieve": lambda i: engine.retrieve(questions[i], settings.top_k),
        "answer": lambda i: engine.answer(questions[i], settings.top_k),
        "dense_ranking": lambda i: engine.dense_ranking(queries[i], depth),
        "bm25_ranking": lambda i: engine.bm25_ranking(queries[i], depth),
    }
    for i in range(len(questions)):  # warm-up: model, FAISS, jieba (posseg too)
        for call in calls.values():
            call(i)
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for round_number in range(rounds):
        log(f"query: round {round_number + 1}/{rounds}")
        for i in range(len(questions)):
            shift = (i + round_number) % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(timed(lambda c=calls[name], i=i: c(i))[1])
    figures = {name: summary_ms(values) for name, values in times.items()}
    floor = figures["encode_query"]["p50_ms"]
    paired = {name: round(statistics.median(t / e for t, e in zip(times[name], times["encode_query"],
                                                                      strict=True)), 3)
              for name in ("retrieve", "answer")}
    return {"questions": len(questions), "rounds": rounds, "calls": figures,
            "retrieve_over_encode_p50": ratio(figures["retrieve"]["p50_ms"], floor),
            "answer_over_encode_p50": ratio(figures["answer"]["p50_ms"], floor),
            "paired_median_ratio": paired}


def query_threads(engine: Engine, questions: list[str], rounds: int) -> dict:
    """Bare query encoding with torch's default intra-op threads against one thread, alternated question by
    question (the thread count is restored): how much of the encoding time is waiting on busy cores."""
    settings, embedder = engine.settings, engine.embedder
    queries = [to_search(clean_question(q, settings.max_question_chars)) for q in questions]
    default = torch.get_num_threads()
    times: dict[int, list[float]] = {default: [], 1: []}
    try:
        for _ in range(rounds):
            for query in queries:
                for threads in times:
                    torch.set_num_threads(threads)
                    times[threads].append(timed(lambda q=query: embedder.encode_query(q))[1])
    finally:
        torch.set_num_threads(default)
    return {f"encode_query_{threads}_threads": summary_ms(values) for threads, values in times.items()}


def cold_start(project: Path, index: Path, question: str, repeats: int) -> dict:
    """A fresh interpreter: ``import qa``, load the index, answer once (the model loads on that first
    answer), wall time including interpreter start, and peak memory: the run with the median total of
    ``repeats`` runs, so that its parts add up."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_INDEX": str(index)}
    command = [sys.executable, "-c", COLD_START, question]
    runs = []
    for _ in range(repeats):
        completed, wall = timed(lambda: subprocess.run(command, cwd=project, env=env, capture_output=True,
                                                       text=True, check=True))
        runs.append({**json.loads(completed.stdout.strip().splitlines()[-1]), "wall_s": wall})
    runs.sort(key=lambda r: r["import_to_answer_s"])
    median = runs[len(runs) // 2]
    return {"repeats": repeats, **{key: round(value, 3) for key, value in median.items() if key != "found"},
            "import_to_answer_s_all": [round(r["import_to_answer_s"], 3) for r in runs],
            "found": all(r["found"] for r in runs)}
