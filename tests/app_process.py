"""``python app.py`` as a real subprocess: process helpers shared by the app and browser tests and by
``scripts/loadtest.py``, and a pytest plugin (``pytest_plugins = ["app_process"]`` in a test module gives it
these fixtures).

* ``app_server``: the app, started once per test run on a free port, stopped at its end;
* ``run_app``: runs ``python app.py`` with some environment changes to its end (start-up refusals);
* ``held_app``: another app whose model cannot load until the test lets it (``held_model``);
* ``library_app``: another app over a copy of the seeds and their index, for uploads and removals.

The page is served before the model is loaded (``ModelLoader`` in app.py); ``AppProcess.wait_for`` waits for
a line of the app's output, such as ``MODEL_READY``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 180  # the index loads before the app serves; the model loads after
MODEL_SECONDS = 600  # the model, on cores other processes may be holding
LOGIN_AND_HOST = ("QA_USER", "QA_PASSWORD", "QA_HOST")
RUNNING = "Running on local URL"  # Gradio's line once the server listens
MODEL_READY = "app: model ready"
EXAMPLES_READY = "example questions ready"


@dataclass
class AppProcess:
    """A running app: its URL, process, the file its output goes to, when it was started and when it said it
    was running (``time.monotonic()``)."""

    url: str
    process: subprocess.Popen
    log: Path
    started: float
    running: float = 0.0

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tracebacks(self) -> str:
        """The output from its first traceback on, or "": an assertion message that shows it whole."""
        output = self.output()
        return output[output.find("Traceback"):] if "Traceback" in output else ""

    def wait_for(self, text: str, timeout: float = START_SECONDS) -> float:
        """Wait until ``text`` is in the app's output; returns the ``time.monotonic()`` it was first seen
        (checked every 20 ms). RuntimeError when the app exits or the time is up first."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not print {text!r} within {timeout:.0f} s:\n{self.output()[-3000:]}")
            time.sleep(0.02)
        return time.monotonic()

    def wait_for_model(self, timeout: float = START_SECONDS) -> float:
        """Wait until the app says its model is loaded (``MODEL_READY``)."""
        return self.wait_for(MODEL_READY, timeout)

    def stop(self) -> None:
        """Stop the app (by its own process id) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_env(**changes: str) -> dict[str, str]:
    """The environment for ``python app.py``: this one, offline, without login, plus ``changes``."""
    env = {key: value for key, value in os.environ.items() if key not in LOGIN_AND_HOST}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    env.update(changes)
    return env


def app_command(project: Path = PROJECT_ROOT) -> list[str]:
    """``python <project>/app.py``: a checkout's own app runs on its own ``qa`` package (the script's folder
    comes first on ``sys.path``)."""
    return [sys.executable, str(project / "app.py")]


def run_to_end(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python app.py`` to its end; output and errors as text."""
    return subprocess.run(app_command(), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def start_app(log: Path, timeout: float = START_SECONDS, project: Path = PROJECT_ROOT,
              **env_changes: str) -> AppProcess:
    """Start ``python app.py`` of ``project`` on a free port (with ``env_changes``) and wait until it says it is
    running and serves its page."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as handle:
        started = time.monotonic()
        process = subprocess.Popen(app_command(project), cwd=project, env=app_env(QA_PORT=str(port), **env_changes),
                                   stdout=handle, stderr=subprocess.STDOUT)
    app = AppProcess(url, process, log, started)
    try:
        app.running = app.wait_for(RUNNING, timeout)
    except RuntimeError:
        app.stop()
        raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{app.output()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return app
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    app.stop()
    raise RuntimeError(f"app.py did not serve {url} within {timeout:.0f} s:\n{app.output()[-3000:]}")


@contextmanager
def held_model(cache: Path, name: str = "multilingual-e5-small") -> Iterator[Callable[[], None]]:
    """Hold the lock ``qa.model.build_e5_small`` takes beside ``cache/name``: an app whose QA_MODEL_CACHE is
    the empty folder ``cache`` waits to build and load its model until ``release()`` is called (or the block
    ends)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield lambda: fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def held_app(tmp_path_factory) -> Iterator[tuple[AppProcess, Callable[[], None]]]:
    """``(app, release)``: an app serving with its model held back (``held_model``, in a new model cache that
    it builds once released)."""
    cache = tmp_path_factory.mktemp("model-cache")
    with held_model(cache) as release:
        app = start_app(PROJECT_ROOT / "test-artifacts" / "app-held.log", QA_MODEL_CACHE=str(cache))
        try:
            yield app, release
        finally:
            app.stop()


@pytest.fixture(scope="module")
def library_app(tmp_path_factory) -> Iterator[tuple[AppProcess, Path]]:
    """``(app, corpus folder)``: an app over its own copy of the seeds and their index (QA_CORPUS, QA_INDEX), so
    that uploads and removals never touch the committed ones; its model loaded."""
    work = tmp_path_factory.mktemp("library-app")
    corpus, index = work / "corpus", work / "index"
    shutil.copytree(PROJECT_ROOT / "seeds", corpus)
    shutil.copytree(PROJECT_ROOT / "embeddings", index, ignore=shutil.ignore_patterns(".*"))
    app = start_app(PROJECT_ROOT / "test-artifacts" / "app-library.log", QA_CORPUS=str(corpus), QA_INDEX=str(index))
    try:
        app.wait_for_model(MODEL_SECONDS)
        yield app, corpus
    finally:
        app.stop()


@pytest.fixture(scope="session")
def app_server() -> Iterator[AppProcess]:
    """The app, started once for the whole test run and stopped at its end."""
    app = start_app(PROJECT_ROOT / "test-artifacts" / "app.log")
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def run_app() -> Callable[..., subprocess.CompletedProcess]:
    """``run_app(QA_HOST="0.0.0.0")``: ``python app.py`` on a free port with these environment changes, run to
    its end (it must refuse to start)."""
    return lambda **changes: run_to_end(app_env(QA_PORT=str(free_port()), **changes))
