"""The trained reader's speed and its bf16/fp32 agreement: ``python benchmarks/reader_bench.py``.

* windows/s of the reader's forward pass at 256 tokens, bf16 autocast against fp32, alternated batch by batch;
* on the development questions: how often the bf16 and the fp32 reader give the same answer (same span or
  both abstaining) over the same retrieved passages, and the largest confidence difference;
* warm ``answer()`` p50/p95 against bare ``encode_query`` of the same questions, run back to back, and the
  process's resident memory after it all;
* batching questions that arrive together: the reader's windows of 8 questions in one forward pass, or sorted by
  length into passes of similar windows, against one pass per question (what serving many users could gain).

Writes ``benchmarks/results/reader.json`` (or ``--out``) and prints a summary. Ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from machine import describe_machine, peak_rss_mib  # noqa: E402
from timing import ratio, summary_ms, timed  # noqa: E402

from qa.answering import most_confident  # noqa: E402
from qa.evaluation import read_questions  # noqa: E402
from qa.precision import autocast, cpu_has_bf16  # noqa: E402
from qa.reader import Reader, pad  # noqa: E402
from qa.retrieval import clean_question, load  # noqa: E402
from qa.script import to_search  # noqa: E402
from qa.settings import PROJECT_ROOT, Settings  # noqa: E402

DEV = PROJECT_ROOT / "tests" / "data" / "seeds_dev_qa.jsonl"
OUT = Path(__file__).resolve().parent / "results" / "reader.json"


def forward_throughput(readers: dict[str, Reader], rounds: int = 6, batch: int = 16, length: int = 256) -> dict:
    """Windows per second of one forward pass over ``batch`` full windows, bf16 and fp32 alternated."""
    ids = torch.randint(1000, 200_000, (batch, length))
    ids, mask = pad(ids.tolist(), readers["fp32"].tokenizer.pad_token_id)
    seconds: dict[str, list[float]] = {"bf16": [], "fp32": []}
    for _ in range(rounds):
        for precision, reader in readers.items():
            with torch.inference_mode(), autocast(precision):
                seconds[precision].append(timed(lambda r=reader: r.model(ids, mask))[1])
    best = {p: batch / min(s) for p, s in seconds.items()}
    return {"windows_per_s": {p: round(v, 1) for p, v in best.items()},
            "bf16_over_fp32": ratio(best["bf16"], best["fp32"])}


def agreement(engine, readers: dict[str, Reader], questions) -> dict:
    """Same answer from the bf16 and the fp32 reader over the same passages, on every question."""
    base = engine.reader
    same, worst = 0, 0.0
    for case in questions:
        question = clean_question(case.question, engine.settings.max_question_chars)
        hits = engine.retrieve(question, engine.settings.reader_passages)
        found = {p: most_confident(r, engine, question, hits) for p, r in readers.items()}
        verdicts = {p: (f[1].passage, f[1].start, f[1].end) if f and f[0] > base.threshold else None
                    for p, f in found.items()}
        same += verdicts["bf16"] == verdicts["fp32"]
        if found["bf16"] and found["fp32"]:
            worst = max(worst, abs(found["bf16"][0] - found["fp32"][0]))
    return {"questions": len(questions), "same_answer": same, "share": round(same / len(questions), 3),
            "max_confidence_difference": round(worst, 3)}


def latency(engine, questions, rounds: int = 3) -> dict:
    """Warm answer() against bare encode_query of the same question, back to back."""
    answer_s, encode_s = [], []
    engine.answer(questions[0].question)  # warm-up: model, reader, jieba
    for _ in range(rounds):
        for case in questions:
            query = to_search(clean_question(case.question, engine.settings.max_question_chars))
            encode_s.append(timed(lambda q=query: engine.embedder.encode_query(q))[1])
            answer_s.append(timed(lambda c=case: engine.answer(c.question))[1])
    answer, encode = summary_ms(answer_s), summary_ms(encode_s)
    return {"answer": answer, "encode_query": encode, "answer_over_encode_p50": ratio(answer["p50_ms"],
                                                                                       encode["p50_ms"])}


def batching(engine, questions, group: int = 8, rounds: int = 3) -> dict:
    """Seconds of the reader's forward passes over ``group`` questions' windows (their top passages), alternated:
    one pass per question (as the app runs them); all windows in one pass (padded to the longest); the windows
    sorted by length into passes as many as one question has (the least padding batching could reach)."""
    reader = engine.reader
    windows = []
    for case in questions[:group]:
        question = to_search(clean_question(case.question, engine.settings.max_question_chars))
        hits = engine.retrieve(question, engine.settings.reader_passages)
        passages = [engine.documents[hit.source].search[hit.start:hit.end] for hit in hits]
        windows.append(reader.windows(question, passages).input_ids)
    flat = sorted((window for batch in windows for window in batch), key=len)
    size = max(1, round(len(flat) / len(windows)))

    def forward(batch) -> None:
        ids, mask = pad(batch, reader.tokenizer.pad_token_id)
        with torch.inference_mode(), autocast(reader.precision):
            reader.model(ids, mask)

    ways = {"one_by_one": windows, "all_in_one": [flat],
            "sorted": [flat[i:i + size] for i in range(0, len(flat), size)]}
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(rounds):
        for way, batches in ways.items():
            seconds[way].append(timed(lambda b=batches: [forward(batch) for batch in b])[1])
    best = {way: min(s) for way, s in seconds.items()}
    return {"questions": len(windows), "windows": len(flat),
            "mean_window_tokens": round(sum(map(len, flat)) / len(flat)), "torch_threads": torch.get_num_threads(),
            "seconds": {way: round(value, 3) for way, value in best.items()},
            "all_in_one_over_one_by_one": ratio(best["all_in_one"], best["one_by_one"]),
            "sorted_over_one_by_one": ratio(best["sorted"], best["one_by_one"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the figures go (default: {OUT})")
    out = parser.parse_args(argv).out
    settings = Settings()
    engine = load(settings.index_dir, settings)
    questions = read_questions(DEV)
    results = {"machine": describe_machine(), "precision": engine.reader.precision,
               "cpu_has_bf16": cpu_has_bf16(), "reader_passages": settings.reader_passages}
    results["latency"] = latency(engine, questions)
    results["batching"] = batching(engine, questions)
    readers = {p: Reader.load(settings.reader_dir, precision=p, share=engine.embedder) for p in ("bf16", "fp32")}
    results["agreement"] = agreement(engine, readers, questions)
    if cpu_has_bf16():
        results["forward"] = forward_throughput(readers)
    results["peak_rss_mib"] = peak_rss_mib()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
