"""``python app.py`` as a real subprocess: a pytest plugin shared by the app and browser tests
(``pytest_plugins = ["app_process"]`` in a test module gives it these fixtures).

* ``app_server``: the app, started once per test run on a free port, stopped at its end;
* ``run_app``: runs ``python app.py`` with some environment changes to its end (start-up refusals).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 180  # index, model and example questions load before the app serves
LOGIN_AND_HOST = ("QA_USER", "QA_PASSWORD", "QA_HOST")
APP = [sys.executable, str(PROJECT_ROOT / "app.py")]


@dataclass
class AppProcess:
    """A running app: its URL, process and the file its output goes to."""

    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

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


def run_to_end(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python app.py`` to its end; output and errors as text."""
    return subprocess.run(APP, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def start_app(log: Path, timeout: float = START_SECONDS) -> AppProcess:
    """Start ``python app.py`` on a free port and wait until it serves its page."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(APP, cwd=PROJECT_ROOT, env=app_env(QA_PORT=str(port)), stdout=handle,
                                   stderr=subprocess.STDOUT)
    app = AppProcess(url, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{app.output()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return app
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    app.stop()
    raise RuntimeError(f"app.py did not serve {url} within {timeout:.0f} s:\n{app.output()[-3000:]}")


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
