"""Speed, scale and quality benchmarks of the qa package: ``python benchmarks/run.py`` (see README.md).

Phases (all by default; ``--phases`` picks some, the others keep their figures from the last run):

* ``build``  — seeds/ and the CMRC 2018 trial paragraphs: build throughput against raw encoding, rebuilds;
* ``query``  — warm retrieve()/answer() against bare query encoding on seeds/, cold start, peak memory;
* ``scale``  — flat vs HNSW FAISS search on synthetic 10k/100k-chunk corpora, recall@10;
* ``eval``   — ``qa eval`` on the development questions and on the whole CMRC 2018 trial set;
* ``precision`` — the embedder and the reader in bf16 against fp32: build throughput, encode_query and
  reader latency, vector agreement, hit@1/hit@5 on the development questions and the CMRC trial;
* ``serve``  — the app as a process: first answer after start, latency/throughput at 1-16 clients and
  memory under load, against ``--baseline-commit``'s app in the same run.

Writes ``benchmarks/results/benchmarks.json`` (every figure), ``benchmarks.md`` and ``benchmarks.png``,
``loadtest.png`` (serve), and the ``qa eval`` reports as ``eval_<name>.json`` / ``.txt``. Work indexes live in
``--work`` (reused by later runs, since builds are incremental).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from build_bench import build_benchmark  # noqa: E402
from machine import describe_machine, load_average, peak_rss_mib  # noqa: E402
from precision_bench import PRECISIONS, corpus_precision, encode_query_latency, reader_latency  # noqa: E402
from query_bench import cold_start, query_threads, warm_queries  # noqa: E402
from report import chart, markdown  # noqa: E402
from scale_bench import scale_benchmark  # noqa: E402
from serve_bench import checkout, serve_benchmark  # noqa: E402

from qa.cli import parser as qa_parser  # noqa: E402
from qa.evaluation import read_questions, read_squad, run_cli, write_corpus  # noqa: E402
from qa.indexing import build  # noqa: E402
from qa.model import Embedder  # noqa: E402
from qa.retrieval import clean_question, load  # noqa: E402
from qa.script import to_search  # noqa: E402
from qa.settings import CMRC_TRIAL, PROJECT_ROOT, Settings  # noqa: E402
from qa.storage import load_index  # noqa: E402

HERE = Path(__file__).resolve().parent
CMRC = CMRC_TRIAL  # read where it lies (QA_SHARED), never copied into the project
DEV = PROJECT_ROOT / "tests" / "data" / "seeds_dev_qa.jsonl"
SEEDS = PROJECT_ROOT / "seeds"
PUBLIC_SETS = {"cmrc2018_trial"}
PHASES = ("build", "query", "scale", "eval", "precision", "serve")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--phases", nargs="*", choices=PHASES, default=list(PHASES),
                     help="phases to run (none: only rewrite the Markdown and chart from benchmarks.json)")
    cli.add_argument("--repeats", type=int, default=3, help="full builds per corpus (default: %(default)s)")
    cli.add_argument("--rounds", type=int, default=5, help="passes over the questions (default: %(default)s)")
    cli.add_argument("--cold-starts", type=int, default=3, help="fresh processes (default: %(default)s)")
    cli.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="synthetic corpus sizes")
    cli.add_argument("--scale-queries", type=int, default=200, help="CMRC questions searched per index")
    cli.add_argument("--threads", type=int, help="torch intra-op threads of this process (default: torch's own; "
                     "1 on cores that other processes keep busy, where a team of threads waits for its slowest)")
    cli.add_argument("--baseline-commit", help="serve: the commit whose app is the baseline (e.g. the one "
                     "before a change); without it only the current app is measured")
    cli.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8, 16],
                     help="serve: numbers of clients of the sweep (default: %(default)s)")
    cli.add_argument("--per-round", type=int, default=96, help="serve: requests per sweep round (%(default)s)")
    cli.add_argument("--first-answers", type=int, default=3, help="serve: fresh starts per app (%(default)s)")
    cli.add_argument("--memory", type=int, nargs=2, default=[4, 25], metavar=("ROUNDS", "PER_CLIENT"),
                     help="serve: rounds of 8 clients x PER_CLIENT requests watched for memory growth "
                     "(default: %(default)s; 0 0 skips it)")
    cli.add_argument("--work", type=Path, default=HERE / ".work", help="work folder (default: %(default)s)")
    cli.add_argument("--out", type=Path, default=HERE / "results",
                     help="results folder (default: %(default)s)")
    return cli.parse_args(argv)


def corpora(work: Path) -> dict[str, tuple[Path, Path]]:
    """``name -> (corpus folder, work index folder)``; the CMRC paragraphs are written as the eval does."""
    cmrc_corpus = work / "cmrc2018_trial-corpus"
    write_corpus(read_squad(CMRC)[0], cmrc_corpus)
    return {"seeds": (SEEDS, work / "seeds-index"),
            "cmrc2018_trial": (cmrc_corpus, work / "cmrc2018_trial-index")}


def ensure_index(settings: Settings, corpus: Path, index: Path, embedder) -> None:
    """The work index of ``corpus``, built or brought up to date."""
    build(settings, corpus, index, embedder=embedder, progress=False, log=log)


def query_phase(args: argparse.Namespace, settings: Settings, seeds: tuple[Path, Path], embedder) -> dict:
    ensure_index(settings, *seeds, embedder)
    engine = load(seeds[1], settings, embedder)
    questions = [case.question for case in read_questions(DEV)]
    warm = warm_queries(engine, questions, args.rounds, log=log)
    log("query: torch threads")
    threads = query_threads(engine, questions, args.rounds)
    log("query: cold starts")
    cold = cold_start(PROJECT_ROOT, seeds[1], questions[0], args.cold_starts)
    return {"warm": warm, "threads": threads, "cold_start": cold, "peak_rss_mib": round(peak_rss_mib(), 1)}


def scale_phase(args: argparse.Namespace, settings: Settings, work: dict[str, tuple[Path, Path]],
                embedder) -> dict:
    real = []
    for corpus, index in work.values():
        ensure_index(settings, corpus, index, embedder)
        stored = load_index(index, settings)
        real.append(stored.faiss_index.reconstruct_n(0, stored.faiss_index.ntotal))
    questions = [case.question for case in read_squad(CMRC)[1][: args.scale_queries]]
    queries = embedder.encode_queries(questions)
    return scale_benchmark(np.vstack(real), queries, tuple(args.sizes), settings, log=log)


def eval_phase(settings: Settings, work: dict[str, tuple[Path, Path]], embedder, out: Path) -> dict:
    """``qa eval`` on the dev questions (seeds work index) and the whole CMRC trial (its work index)."""
    runs = {"seeds_dev": ["--questions", str(DEV), "--index", str(work["seeds"][1])],
            "cmrc2018_trial": ["--squad", str(CMRC), "--index", str(work["cmrc2018_trial"][1])]}
    reports = {}
    ensure_index(settings, *work["seeds"], embedder)  # the CMRC run brings its own index up to date
    for name, options in runs.items():
        json_path = out / f"eval_{name}.json"
        args = qa_parser().parse_args(["eval", *options, "--json", str(json_path)])
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = run_cli(args, settings.with_(index_dir=Path(args.index)), embedder=embedder)
        if code:
            raise RuntimeError(f"qa eval {' '.join(options)} failed with exit code {code}")
        (out / f"eval_{name}.txt").write_text(printed.getvalue(), encoding="utf-8")
        log(f"eval: {name}\n{printed.getvalue()}")
        report = json.loads(json_path.read_text(encoding="utf-8"))
        reports[name] = {key: value for key, value in report.items() if key != "questions"}
        if name in PUBLIC_SETS:  # public data stays outside: no CMRC questions or answers in the project
            json_path.write_text(json.dumps(reports[name], indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return reports


def precision_phase(args: argparse.Namespace, settings: Settings, work: dict[str, tuple[Path, Path]],
                    embedder) -> dict:
    """bf16 against fp32: both corpora (their own work indexes per precision), then query and reader latency
    on the development questions."""
    embedders = {p: embedder if p == embedder.precision else
                 Embedder(settings.model, settings.model_cache, settings.batch_size, precision=p) for p in PRECISIONS}
    cases = {"seeds": read_questions(DEV), "cmrc2018_trial": read_squad(CMRC)[1]}
    figures = {name: corpus_precision(name, corpus, cases[name], args.work / f"precision-{name}", settings,
                                      embedders, args.repeats, log)
               for name, (corpus, _) in work.items()}
    questions = [case.question for case in cases["seeds"]]
    log("precision: encode_query")
    figures["encode_query"] = encode_query_latency(
        embedders, [to_search(clean_question(q, settings.max_question_chars)) for q in questions], args.rounds)
    log("precision: reader")
    engine = load(args.work / "precision-seeds" / "bf16-index", settings.with_(precision="bf16"), embedders["bf16"])
    figures["reader"] = reader_latency(engine, settings, embedders, questions, args.rounds)
    return figures


def serve_phase(args: argparse.Namespace) -> dict:
    baseline = checkout(args.baseline_commit, args.work) if args.baseline_commit else None
    figures = serve_benchmark(baseline, args.clients, args.per_round, args.first_answers, tuple(args.memory),
                              args.out, log)
    figures["baseline_commit"] = args.baseline_commit
    return figures


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    previous = args.out / "benchmarks.json"
    results = json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() else {}
    if not args.phases:
        write_results(results, args.out)
        return 0
    settings = Settings()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    results["machine"] = describe_machine()
    embedder = Embedder(settings.model, settings.model_cache, settings.batch_size)
    work = corpora(args.work)
    phases = {
        "build": lambda: {name: build_benchmark(name, corpus, index, settings, embedder, args.repeats,
                                                log=log)
                          for name, (corpus, index) in work.items()},
        "query": lambda: query_phase(args, settings, work["seeds"], embedder),
        "scale": lambda: scale_phase(args, settings, work, embedder),
        "eval": lambda: eval_phase(settings, work, embedder, args.out),
        "precision": lambda: precision_phase(args, settings, work, embedder),
        "serve": lambda: serve_phase(args),
    }
    for phase in args.phases:
        results[phase] = phases[phase]()
        results.setdefault("load_average_after", {})[phase] = load_average()
        results["machine"]["load_average_at_end"] = load_average()
        write_results(results, args.out)
    return 0


def write_results(results: dict, out: Path) -> None:
    """``benchmarks.json``, ``benchmarks.md`` and ``benchmarks.png`` (after every phase, so a long run that is
    stopped keeps what it measured)."""
    (out / "benchmarks.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n",
                                         encoding="utf-8")
    (out / "benchmarks.md").write_text(markdown(results), encoding="utf-8")
    chart(results, out / "benchmarks.png")
    log(f"wrote {out}/benchmarks.json, benchmarks.md, benchmarks.png")


if __name__ == "__main__":
    sys.exit(main())
