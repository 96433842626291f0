#!/usr/bin/env python3
"""Load test: many users asking the app at once, through its ``/ask`` endpoint.

Starts ``python app.py`` as a real process on a free port (or uses ``--url`` and ``--pid`` of one already
running), then:

1. asks every distinct request once, one after the other: the reference answers (and the model warm-up);
2. runs ``--rounds`` rounds in which ``--clients`` threads, each with its own ``gradio_client.Client``,
   send ``--per-client`` requests each, all at once;
3. reports errors, answers that differ from the reference, p50/p95/max latency per round, throughput, and
   the app's resident memory (VmRSS from /proc) after start, after the reference pass and after each round.

It fails (exit code 1) on any error, any answer that differs from the sequential one, or memory that grows
by more than ``--max-growth-mb`` from the end of the first round to the end of the last one (the first round
is where thread pools and allocator arenas settle; with the default 4 rounds, 600 requests are watched).
Memory grows mostly in native allocations, not Python objects: ``MALLOC_ARENA_MAX=2`` in the app's
environment (passed on from this one) keeps it flatter.

    python scripts/loadtest.py                       # 8 clients x 25 requests, 4 rounds: 800 requests
    python scripts/loadtest.py --clients 2 --per-client 3 --rounds 1 --json out.json
    GRADIO_DEFAULT_CONCURRENCY_LIMIT=4 python scripts/loadtest.py   # the app runs 4 requests at a time
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIRST_SOURCE = "001_84905cf744b120d4.txt"
LOGIN_AND_HOST = ("QA_HOST", "QA_USER", "QA_PASSWORD")  # not passed on: the app serves loopback only

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc/<pid>/status (VmRSS, kB)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def running_app(log_path: Path, timeout: float = 300) -> Iterator[tuple[str, int]]:
    """``python app.py`` on a free port: yields (url, pid) once it serves its page; stops it after."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in LOGIN_AND_HOST}
    env.update(QA_PORT=str(port), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    url = f"http://127.0.0.1:{port}/"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not serve {url} within {timeout:.0f} s; see {log_path}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        yield url, process.pid
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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
    return {"requests": clients * per_client, "errors": errors, "mismatches": mismatches, "seconds": seconds,
            "p50": statistics.median(latencies) if latencies else None,
            "p95": percentile(latencies, 0.95) if latencies else None,
            "max": max(latencies, default=None), "per_second": len(latencies) / seconds}


def run_load(url: str, pid: int | None, clients: int = 8, per_client: int = 25, rounds: int = 3,
             limit: int | None = None, log=print) -> dict:
    """The whole test against a running app; returns every figure (see the module docstring)."""
    requests = requests_to_send(limit)
    memory = {"start": rss_mb(pid)} if pid else {}
    client = client_for(url)
    reference, sequential = {}, []
    for request in requests:
        started = time.perf_counter()
        reference[repr(request)] = ask(client, request)
        sequential.append(time.perf_counter() - started)
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
        log(f"round {number + 1}: {clients} clients x {per_client} = {result['requests']} requests in "
            f"{result['seconds']:.1f} s ({result['per_second']:.1f}/s), p50 {result['p50'] * 1000:.0f} ms, "
            f"p95 {result['p95'] * 1000:.0f} ms, max {result['max'] * 1000:.0f} ms, "
            f"{len(result['errors'])} errors, {len(result['mismatches'])} differing answers"
            + (f", RSS {result['rss_mb']:.0f} MB" if pid else ""))
        for line in (result["errors"] + result["mismatches"])[:10]:
            log(f"  {line}")
    return {"clients": clients, "per_client": per_client, "rounds": rounds,
            "distinct_requests": len(requests),
            "sequential_p50": statistics.median(sequential), "sequential_p95": percentile(sequential, 0.95),
            "rounds_detail": results, "memory_mb": memory,
            "requests_total": len(requests) + rounds * clients * per_client,
            "errors": sum(len(r["errors"]) for r in results),
            "mismatches": sum(len(r["mismatches"]) for r in results),
            "concurrency_limit": os.environ.get("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "1 (Gradio default)"),
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
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--log", default=str(PROJECT_ROOT / "test-artifacts" / "loadtest-app.log"),
                        help="the started app's output (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.url:
        figures = run_load(args.url, args.pid, args.clients, args.per_client, args.rounds, args.limit)
    else:
        started = time.perf_counter()
        with running_app(Path(args.log)) as (url, pid):
            print(f"app: {url} (pid {pid}) serving after {time.perf_counter() - started:.0f} s, "
                  f"RSS {rss_mb(pid):.0f} MB")
            figures = run_load(url, pid, args.clients, args.per_client, args.rounds, args.limit)
    problems = verdict(figures, args.max_growth_mb)
    memory = figures["memory_mb"]
    if memory:
        print("memory (RSS, MB): " + ", ".join(f"{name} {value:.0f}" for name, value in memory.items()))
    print(f"{figures['requests_total']} requests, {figures['errors']} errors, {figures['mismatches']} "
          f"differing answers, app concurrency limit {figures['concurrency_limit']}, MALLOC_ARENA_MAX "
          f"{figures['malloc_arena_max']}, load average {' '.join(f'{x:.1f}' for x in figures['load_average'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    print("FAIL: " + "; ".join(problems) if problems else "OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
