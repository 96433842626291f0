#!/usr/bin/env python3
"""Load test: many users asking the app at once, through its ``/ask`` endpoint.

Starts ``python app.py`` as a real process on a free port (``tests/app_process.py``; or uses ``--url`` and
``--pid`` of one already running) and waits until it has loaded its model and example questions, then:

1. asks every distinct request once, one after the other: the reference answers (and the warm-up);
2. runs ``--rounds`` rounds in which ``--clients`` threads, each with its own ``gradio_client.Client``,
   send ``--per-client`` requests each, all at once;
3. reports errors, answers that differ from the reference, p50/p95/max latency per round, throughput, and
   the app's resident memory (VmRSS from /proc) after start, after the reference pass and after each round.

It fails (exit code 1) on any error, any answer that differs from the sequential one, or memory that grows
by more than ``--max-growth-mb`` from the end of the first round to the end of the last one (the first round
is where thread pools and allocator arenas settle; with the default 4 rounds, 600 requests are watched).

``--sweep`` measures latency and throughput against the number of clients instead (one round of
``--per-round`` requests at each count), and with ``--baseline`` does the same, alternated count by count,
for another checkout's app (e.g. the code before a change: ``git archive <commit> | tar -x -C /tmp/qa-then``),
so that both see the same load from other processes; it writes the figures (``--json``) and a chart
(``--chart``: p50/p95 latency and throughput against clients).

    python scripts/loadtest.py                       # 8 clients x 25 requests, 4 rounds: 800 requests
    python scripts/loadtest.py --clients 2 --per-client 3 --rounds 1 --json out.json
    QA_CONCURRENCY=4 python scripts/loadtest.py      # the app answers 4 questions at once
    python scripts/loadtest.py --sweep 1 2 4 8 16 --baseline /tmp/qa-then --json sweep.json --chart sweep.png
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from app_process import EXAMPLES_READY, AppProcess, start_app  # noqa: E402

FIRST_SOURCE = "001_84905cf744b120d4.txt"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
READY_SECONDS = 1800  # the model and the example questions, on cores other processes may be holding

# (question, k, sources): real questions, odd ones, and the other parameters varied.
ODD_REQUESTS = [
    ("", 5, None),
    ("   ", 5, None),
    ("？？？！！！", 5, None),
    ("伊金霍洛镇2022年全年总收入是多少？" * 300, 5, None),
    ("伊金霍洛镇\x00\x07全年总收入是多少？😀", 3, None),
    ("<script>alert(1)</script>", 5, None),
    ("'; DROP TABLE documents; --", 5, None),
    ("What was the total income of Ejin Horo town in 2022?", 5, None),
    ("伊金霍洛镇2022年全年总收入是多少？", 1, [FIRST_SOURCE]),
    ("伊金霍洛镇2022年全年总收入是多少？", 10, None),
]


def requests_to_send(limit: int | None = None) -> list[tuple[str, int, list[str] | None]]:
    """The dev questions (k=5, every file) and the odd requests above; with ``limit``, that many of them,
    spread over the list."""
    with open(PROJECT_ROOT / "tests" / "data" / "seeds_dev_qa.jsonl", encoding="utf-8") as handle:
        questions = [json.loads(line)["question"] for line in handle if line.strip()]
    requests = [(question, 5, None) for question in questions] + ODD_REQUESTS
    if limit and limit < len(requests):
        requests = [requests[i * len(requests) // limit] for i in range(limit)]
    return requests


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc/<pid>/status (VmRSS, kB)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def ready_app(project: Path, log: Path) -> AppProcess:
    """``python app.py`` of ``project``, serving, its model and example questions loaded (an app that loads
    them in the background says so in its output; an older one loads them before it serves)."""
    # the same reader for both apps (a checkout from before the weights were committed has none)
    reader = os.environ.get("QA_READER", str(PROJECT_ROOT / "qa" / "weights"))
    app = start_app(log, timeout=READY_SECONDS, project=project, QA_READER=reader)
    if EXAMPLES_READY in (project / "app.py").read_text(encoding="utf-8"):
        app.wait_for(EXAMPLES_READY, timeout=READY_SECONDS)
    return app


def client_for(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def ask(client, request) -> dict:
    question, k, sources = request
    return client.predict(question, k, sources, api_name="/ask")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def reference_pass(url: str, requests) -> tuple[dict, list[float]]:
    """Every distinct request once, one after the other: ``(answers by repr(request), seconds each)``."""
    client = client_for(url)
    reference, seconds = {}, []
    for request in requests:
        started = time.perf_counter()
        reference[repr(request)] = ask(client, request)
        seconds.append(time.perf_counter() - started)
    return reference, seconds


def one_round(url: str, requests, reference: dict, clients: int, per_client: int, offset: int) -> dict:
    """``clients`` threads with a client each, ``per_client`` requests each, started together."""
    latencies: list[float] = []
    errors: list[str] = []
    mismatches: list[str] = []
    lock = threading.Lock()
    connected = [client_for(url) for _ in range(clients)]  # connecting is not part of the latency
    barrier = threading.Barrier(clients)

    def user(number: int) -> None:
        client = connected[number]
        barrier.wait()
        for i in range(per_client):
            request = requests[(offset + number * 7 + i) % len(requests)]  # each user in its own order
            started = time.perf_counter()
            try:
                result = ask(client, request)
            except Exception as error:  # every failure is counted and shown
                with lock:
                    errors.append(f"{request[0][:30]!r}: {type(error).__name__}: {error}")
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if result != reference[repr(request)]:
                    mismatches.append(f"{request[0][:30]!r}: {result.get('answer')!r} != "
                                      f"{reference[repr(request)].get('answer')!r}")

    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {"clients": clients, "requests": clients * per_client, "errors": errors, "mismatches": mismatches,
            "seconds": seconds, "p50": statistics.median(latencies) if latencies else None,
            "p95": percentile(latencies, 0.95) if latencies else None,
            "max": max(latencies, default=None), "per_second": len(latencies) / seconds}


def describe_round(result: dict) -> str:
    return (f"{result['clients']} clients, {result['requests']} requests in {result['seconds']:.1f} s "
            f"({result['per_second']:.2f}/s), p50 {result['p50'] * 1000:.0f} ms, p95 {result['p95'] * 1000:.0f} "
            f"ms, max {result['max'] * 1000:.0f} ms, {len(result['errors'])} errors, {len(result['mismatches'])} "
            "differing answers" + (f", RSS {result['rss_mb']:.0f} MB" if "rss_mb" in result else ""))


def run_load(url: str, pid: int | None, clients: int = 8, per_client: int = 25, rounds: int = 3,
             limit: int | None = None, log=print) -> dict:
    """The whole test against a running app; returns every figure (see the module docstring)."""
    requests = requests_to_send(limit)
    memory = {"start": rss_mb(pid)} if pid else {}
    reference, sequential = reference_pass(url, requests)
    if pid:
        memory["after reference"] = rss_mb(pid)
    log(f"reference: {len(requests)} requests one at a time, p50 {statistics.median(sequential) * 1000:.0f} "
        f"ms, p95 {percentile(sequential, 0.95) * 1000:.0f} ms"
        + (f", RSS {memory['after reference']:.0f} MB" if pid else ""))
    results = []
    for number in range(rounds):
        offset = number * clients * per_client
        result = one_round(url, requests, reference, clients, per_client, offset)
        if pid:
            result["rss_mb"] = memory[f"after round {number + 1}"] = rss_mb(pid)
        results.append(result)
        log(f"round {number + 1}: {describe_round(result)}")
        for line in (result["errors"] + result["mismatches"])[:10]:
            log(f"  {line}")
    return {"clients": clients, "per_client": per_client, "rounds": rounds,
            "distinct_requests": len(requests),
            "sequential_p50": statistics.median(sequential), "sequential_p95": percentile(sequential, 0.95),
            "rounds_detail": results, "memory_mb": memory,
            "requests_total": len(requests) + rounds * clients * per_client,
            "errors": sum(len(r["errors"]) for r in results),
            "mismatches": sum(len(r["mismatches"]) for r in results),
            "concurrency": os.environ.get("QA_CONCURRENCY", "the app's default (its cores)"),
            "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX", "glibc default"),
            "load_average": os.getloadavg()}


def verdict(figures: dict, max_growth_mb: float) -> list[str]:
    """What failed, if anything."""
    problems = []
    if figures["errors"]:
        problems.append(f"{figures['errors']} errors")
    if figures["mismatches"]:
        problems.append(f"{figures['mismatches']} answers differ from the sequential ones")
    memory = figures["memory_mb"]
    if memory and figures["rounds"] >= 2:
        growth = memory[f"after round {figures['rounds']}"] - memory["after round 1"]
        figures["growth_mb"] = growth
        if growth > max_growth_mb:
            problems.append(f"memory grew by {growth:.0f} MB after round 1 (limit {max_growth_mb:.0f} MB)")
    return problems


# ---------------------------------------------------------------------------------------------- sweep


def sweep(apps: dict[str, AppProcess], counts: list[int], per_round: int, log=print) -> dict:
    """For each number of clients, one round of ``per_round`` requests against each app, the apps' order
    alternating from one count to the next; each app's answers are checked against its own sequential
    ones."""
    requests = requests_to_send()
    figures: dict[str, dict] = {}
    for name, app in apps.items():
        reference, sequential = reference_pass(app.url, requests)
        figures[name] = {"reference": reference, "sequential_p50": statistics.median(sequential),
                         "sequential_p95": percentile(sequential, 0.95), "rounds": [],
                         "rss_mb": {"after reference": rss_mb(app.process.pid)}}
        log(f"{name}: reference pass, p50 {figures[name]['sequential_p50'] * 1000:.0f} ms")
    names = list(apps)
    for turn, clients in enumerate(counts):
        for name in names[turn % len(names):] + names[:turn % len(names)]:
            per_client = max(1, per_round // clients)
            result = one_round(apps[name].url, requests, figures[name]["reference"], clients, per_client,
                               offset=turn * per_round)
            result["rss_mb"] = figures[name]["rss_mb"][f"after {clients} clients"] = rss_mb(apps[name].process.pid)
            figures[name]["rounds"].append(result)
            log(f"{name}: {describe_round(result)}")
    for entry in figures.values():
        del entry["reference"]
    return {"apps": figures, "counts": counts, "per_round": per_round, "distinct_requests": len(requests),
            "errors": sum(len(r["errors"]) for e in figures.values() for r in e["rounds"]),
            "mismatches": sum(len(r["mismatches"]) for e in figures.values() for r in e["rounds"]),
            "ratios": sweep_ratios(figures), "load_average": os.getloadavg(),
            "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX", "glibc default")}


def sweep_ratios(figures: dict[str, dict]) -> dict:
    """Each app's p50 at every count over its own p50 at one client; and, with a baseline, the current app's
    throughput and p50 over the baseline's at every count."""
    ratios: dict[str, dict] = {}
    for name, entry in figures.items():
        rounds = {r["clients"]: r for r in entry["rounds"]}
        single = rounds.get(1)
        if single and single["p50"]:
            ratios[f"{name}: p50 / its 1-client p50"] = {c: round(r["p50"] / single["p50"], 3)
                                                         for c, r in rounds.items()}
    if {"current", "baseline"} <= set(figures):
        now = {r["clients"]: r for r in figures["current"]["rounds"]}
        then = {r["clients"]: r for r in figures["baseline"]["rounds"]}
        ratios["throughput: current / baseline"] = {c: round(now[c]["per_second"] / then[c]["per_second"], 3)
                                                    for c in now if c in then}
        ratios["p50: current / baseline"] = {c: round(now[c]["p50"] / then[c]["p50"], 3) for c in now if c in then}
    return ratios


def chart(figures: dict, path: Path) -> None:
    """p50 and p95 latency (left) and throughput (right) against the number of clients, one line per app."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(12, 4.8))
    for (name, entry), color in zip(figures["apps"].items(), ("tab:blue", "tab:orange"), strict=False):
        rounds = entry["rounds"]
        clients = [r["clients"] for r in rounds]
        latency.plot(clients, [r["p50"] * 1000 for r in rounds], marker="o", color=color, label=f"{name} p50")
        latency.plot(clients, [r["p95"] * 1000 for r in rounds], marker="^", linestyle="--", color=color,
                     label=f"{name} p95")
        throughput.plot(clients, [r["per_second"] for r in rounds], marker="o", color=color, label=name)
    for axis in (latency, throughput):
        axis.set_xscale("log", base=2)
        axis.set_xticks(figures["counts"], [str(c) for c in figures["counts"]])
        axis.set_xlabel("clients asking at once")
        axis.legend(fontsize=8)
    latency.set(title="Latency per request (/ask)", ylabel="ms")
    throughput.set(title="Throughput", ylabel="answers / s")
    figure.suptitle(f"{figures['per_round']} requests per round; load average at the end "
                    f"{' '.join(f'{x:.1f}' for x in figures['load_average'])}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_sweep(args: argparse.Namespace) -> int:
    projects = {"current": PROJECT_ROOT}
    if args.baseline:
        projects["baseline"] = Path(args.baseline).resolve()
    apps: dict[str, AppProcess] = {}
    try:
        for name, project in projects.items():
            apps[name] = ready_app(project, ARTIFACTS / f"loadtest-{name}.log")
            print(f"{name}: {apps[name].url} (pid {apps[name].process.pid}) from {project}")
        figures = sweep(apps, args.sweep, args.per_round)
    finally:
        for app in apps.values():
            app.stop()
    for name, values in figures["ratios"].items():
        print(f"{name}: " + ", ".join(f"{c} clients {v:.2f}×" for c, v in values.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.chart:
        chart(figures, Path(args.chart))
    problems = [f"{figures['errors']} errors"] * bool(figures["errors"]) + \
               [f"{figures['mismatches']} differing answers"] * bool(figures["mismatches"])
    print("FAIL: " + "; ".join(problems) if problems else "OK")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--per-client", type=int, default=25, help="requests per client, per round (25)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds (default 4: 800 requests)")
    parser.add_argument("--limit", type=int, help="use only N distinct requests")
    parser.add_argument("--url", help="an app already running (default: start python app.py)")
    parser.add_argument("--pid", type=int, help="that app's process id, for its memory")
    parser.add_argument("--max-growth-mb", type=float, default=50.0,
                        help="memory growth allowed after round 1 (default 50)")
    parser.add_argument("--sweep", type=int, nargs="+", metavar="CLIENTS",
                        help="latency and throughput at these numbers of clients, one round each")
    parser.add_argument("--per-round", type=int, default=96, help="requests per sweep round (default 96)")
    parser.add_argument("--baseline", help="with --sweep: another checkout whose app is measured alternately")
    parser.add_argument("--chart", help="with --sweep: write the chart (PNG) here")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--log", default=str(ARTIFACTS / "loadtest-app.log"),
                        help="the started app's output (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.sweep:
        return run_sweep(args)
    if args.url:
        figures = run_load(args.url, args.pid, args.clients, args.per_client, args.rounds, args.limit)
    else:
        app = ready_app(PROJECT_ROOT, Path(args.log))
        try:
            print(f"app: {app.url} (pid {app.process.pid}) ready after {time.monotonic() - app.started:.0f} s, "
                  f"RSS {rss_mb(app.process.pid):.0f} MB")
            figures = run_load(app.url, app.process.pid, args.clients, args.per_client, args.rounds, args.limit)
        finally:
            app.stop()
    problems = verdict(figures, args.max_growth_mb)
    memory = figures["memory_mb"]
    if memory:
        print("memory (RSS, MB): " + ", ".join(f"{name} {value:.0f}" for name, value in memory.items()))
    print(f"{figures['requests_total']} requests, {figures['errors']} errors, {figures['mismatches']} "
          f"differing answers, app concurrency {figures['concurrency']}, MALLOC_ARENA_MAX "
          f"{figures['malloc_arena_max']}, load average {' '.join(f'{x:.1f}' for x in figures['load_average'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    print("FAIL: " + "; ".join(problems) if problems else "OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
