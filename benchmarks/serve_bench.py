"""Serving: how soon a freshly started app answers, and latency, throughput and memory with many clients at
once (``scripts/loadtest.py``), each against a baseline checkout (the code before a change) measured in the
same run, the two apps alternated.

The apps run as real processes (``tests/app_process.py``) and are asked through ``/ask`` with
``gradio_client``, as users' programs do.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from qa.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from app_process import MODEL_READY, AppProcess, start_app  # noqa: E402

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
START_SECONDS = 1800  # an app that loads everything before it serves, on cores other processes hold
QUESTION = "伊金霍洛镇2022年全年总收入是多少？"


def loadtest_module():
    """``scripts/loadtest.py`` as a module."""
    spec = importlib.util.spec_from_file_location("loadtest", PROJECT_ROOT / "scripts" / "loadtest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkout(commit: str, work: Path) -> Path:
    """The project as it was at ``commit`` (``git archive``), in ``work/checkout-<commit>``. Its app is given
    this project's reader weights (``QA_READER``): the same reader for both, and a commit from before the weights
    were committed has none."""
    folder = work / f"checkout-{commit}"
    if not (folder / "app.py").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit], cwd=PROJECT_ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def first_answer_once(name: str, project: Path) -> dict:
    """Start the app of ``project``, ask one question as soon as it says it is running, stop it."""
    from gradio_client import Client

    app: AppProcess = start_app(ARTIFACTS / f"first-answer-{name}.log", timeout=START_SECONDS, project=project,
                                QA_READER=str(PROJECT_ROOT / "qa" / "weights"))
    try:
        result = Client(app.url, verbose=False, download_files=False).predict(QUESTION, 5, None, api_name="/ask")
        answered = time.monotonic()
        loads_later = MODEL_READY in (project / "app.py").read_text(encoding="utf-8")
        ready = app.wait_for(MODEL_READY, START_SECONDS) if loads_later else app.running
    finally:
        app.stop()
    return {"start_to_running_s": round(app.running - app.started, 3),
            "running_to_answer_s": round(answered - app.running, 3),
            "start_to_answer_s": round(answered - app.started, 3),
            "start_to_model_ready_s": round(ready - app.started, 3), "found": result["found"]}


def first_answer(projects: dict[str, Path], repeats: int, log: Callable[[str], None]) -> dict:
    """``first_answer_once`` for each app, ``repeats`` times, the apps' order alternating (the disk is warm
    after the first start); medians, and every run."""
    runs: dict[str, list[dict]] = {name: [] for name in projects}
    names = list(projects)
    for attempt in range(repeats):
        for name in names[attempt % len(names):] + names[:attempt % len(names)]:
            runs[name].append(first_answer_once(name, projects[name]))
            log(f"serve: first answer, {name} {attempt + 1}/{repeats}: {runs[name][-1]}")
    keys = ("start_to_running_s", "running_to_answer_s", "start_to_answer_s", "start_to_model_ready_s")
    return {name: {**{key: round(statistics.median(run[key] for run in values), 3) for key in keys},
                   "runs": values} for name, values in runs.items()}


def serve_benchmark(baseline: Path | None, counts: list[int], per_round: int, first_answers: int,
                    memory: tuple[int, int], out: Path, log: Callable[[str], None]) -> dict:
    """First answers, the client sweep (chart ``out/loadtest.png``) and the memory run against the current
    app: ``memory`` = (rounds, requests per client) of 8 clients; (0, 0) skips it."""
    loadtest = loadtest_module()
    projects = {"current": PROJECT_ROOT, **({"baseline": baseline} if baseline else {})}
    figures = {"baseline": str(baseline) if baseline else None,
               "first_answer": first_answer(projects, first_answers, log)}
    apps = {}
    try:
        for name, project in projects.items():
            apps[name] = loadtest.ready_app(project, ARTIFACTS / f"loadtest-{name}.log")
        figures["sweep"] = loadtest.sweep(apps, counts, per_round, log=lambda line: log(f"serve: {line}"))
        loadtest.chart(figures["sweep"], out / "loadtest.png")
        rounds, per_client = memory
        if rounds:
            app = apps["current"]
            run = loadtest.run_load(app.url, app.process.pid, clients=8, per_client=per_client, rounds=rounds,
                                    log=lambda line: log(f"serve: memory: {line}"))
            run["problems"] = loadtest.verdict(run, max_growth_mb=50.0)
            figures["memory"] = {key: value for key, value in run.items() if key != "rounds_detail"}
            figures["memory"]["rounds_detail"] = [{key: value for key, value in r.items()
                                                   if key not in ("errors", "mismatches")}
                                                  for r in run["rounds_detail"]]
    finally:
        for app in apps.values():
            app.stop()
    return figures
