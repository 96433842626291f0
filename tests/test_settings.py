"""qa.settings: every value is checked when the settings are made, a bad one is one line naming the variable and
what it takes (exit status 2 from ``qa`` and the app), the table documents every setting, and the engine reads
its weights from its settings."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qa.settings
from qa.cli import main
from qa.retrieval import Engine
from qa.settings import PROJECT_ROOT, Settings, SettingsError
from qa.storage import load_index

pytest_plugins = ["app_process"]

QUESTION = "伊金霍洛镇2022年全年总收入是多少？"
BAD_ENVIRONMENT = [  # (variable, value, what the message says it takes)
    ("QA_PORT", "abc", "a whole number from 1 to 65535"),
    ("QA_PORT", "0", "a whole number from 1 to 65535"),
    ("QA_PORT", "70000", "a whole number from 1 to 65535"),
    ("QA_INDEX_TYPE", "hnws", "one of auto, flat, hnsw"),
    ("QA_PRECISION", "fp8", "one of auto, bf16, fp32"),
    ("QA_CONCURRENCY", "0", "a whole number of at least 1"),
    ("QA_CONCURRENCY", "two", "a whole number of at least 1"),
]
BAD_COMMANDS = [  # the cases of the issue, as typed
    ({"QA_PORT": "abc"}, ["search", "x"]),
    ({"QA_INDEX_TYPE": "hnws"}, ["build"]),
    ({"QA_PRECISION": "fp8"}, ["ask", "x"]),
    ({"QA_CONCURRENCY": "0"}, ["search", "x"]),
]


def table_rows() -> dict[str, dict[str, str]]:
    """The rows of the table at the top of qa/settings.py: ``setting -> {column: cell}``."""
    lines = [line for line in qa.settings.__doc__.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]
    return {row["setting"]: row for row in rows}


@pytest.mark.parametrize(("variable", "value", "takes"), BAD_ENVIRONMENT)
def test_a_bad_environment_value_is_one_line_naming_the_variable(monkeypatch, variable, value, takes) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        Settings()
    assert str(refused.value) == f"{variable}={value} is not accepted: it takes {takes}"


@pytest.mark.parametrize(("environment", "argv"), BAD_COMMANDS)
def test_the_command_line_exits_2_with_one_line(monkeypatch, capsys, tmp_path, environment, argv) -> None:
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert main([*argv, "--index", str(tmp_path / "index")]) == 2
    out, err = capsys.readouterr()
    variable, value = next(iter(environment.items()))
    assert out == "" and err.startswith(f"qa: {variable}={value} is not accepted: it takes ")
    assert err.count("\n") == 1
    assert not (tmp_path / "index").exists()  # nothing was built


def test_qa_as_a_process_exits_2_without_a_traceback() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "HF_HUB_OFFLINE": "1", "QA_PORT": "abc"}
    done = subprocess.run([sys.executable, "-m", "qa", "search", "x"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "qa: QA_PORT=abc is not accepted: it takes a whole number from 1 to 65535\n"


def test_the_app_exits_2_without_a_traceback(run_app) -> None:
    done = run_app(QA_CONCURRENCY="0")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip() == "app: QA_CONCURRENCY=0 is not accepted: it takes a whole number of at least 1"


@pytest.mark.parametrize(("changes", "message"), [
    ({"port": 0}, "QA_PORT=0 is not accepted: it takes a whole number from 1 to 65535"),
    ({"top_k": 2.5}, "top_k=2.5 is not accepted: it takes a whole number of at least 1"),
    ({"reader_passages": True}, "reader_passages=True is not accepted: it takes a whole number of at least 1"),
    ({"bm25_b": 1.5}, "bm25_b=1.5 is not accepted: it takes a number from 0 to 1"),
    ({"phrase_weight": float("nan")}, "phrase_weight=nan is not accepted: it takes a number of at least 0"),
    ({"rerank_rrf_weight": -0.1}, "rerank_rrf_weight=-0.1 is not accepted: it takes a number of at least 0"),
    ({"max_answer_tokens": 0}, "max_answer_tokens=0 is not accepted: it takes a whole number of at least 1"),
    ({"model": " "}, "QA_MODEL=  is not accepted: it takes a non-empty text"),
    ({"corpus_dir": "seeds"}, "QA_CORPUS=seeds is not accepted: it takes a path"),
    ({"chunk_max_chars": 100},
     "chunk_max_chars=100 is not accepted: it takes a whole number of at least chunk_min_chars (150)"),
])
def test_values_given_in_code_are_checked_too(changes, message) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings().with_(**changes)
    assert str(refused.value) == message


def test_good_environment_values_are_read(monkeypatch) -> None:
    monkeypatch.setenv("QA_PORT", " 8080 ")
    monkeypatch.setenv("QA_CONCURRENCY", "3")
    monkeypatch.setenv("QA_INDEX_TYPE", "hnsw")
    monkeypatch.setenv("QA_PRECISION", "fp32")
    monkeypatch.setenv("QA_MODEL_CACHE", "~/models")
    monkeypatch.setenv("QA_HOST", "")  # empty: unset
    settings = Settings()
    assert (settings.port, settings.concurrency, settings.index_type, settings.precision) == (8080, 3, "hnsw", "fp32")
    assert settings.model_cache == Path.home() / "models" and settings.host == "127.0.0.1"
    assert settings.with_(answer_threshold=2, max_answer_tokens=30).answer_threshold == 2  # optional: a number


def test_the_table_documents_every_setting_its_variable_and_default() -> None:
    rows = table_rows()
    settings = Settings()
    assert list(rows) == [item.name for item in dataclasses.fields(Settings)]
    for item in dataclasses.fields(Settings):
        row = rows[item.name]
        assert row["environment"] == (item.metadata["env"] or ""), item.name
        value = getattr(settings, item.name)
        if isinstance(value, int | float) and not row["environment"]:
            assert row["default"] == str(value), item.name


class ConstantEmbedder:
    """Stands in for the model: every question is the same unit vector (the dense ranking is arbitrary but
    fixed), so the test needs no model."""

    dimension, precision = 384, "fp32"

    def encode_query(self, text: str) -> np.ndarray:
        vector = np.ones(self.dimension, dtype=np.float32)
        return vector / np.linalg.norm(vector)


def test_the_engine_reads_its_weights_from_its_settings(settings) -> None:
    stored = load_index(settings.index_dir, settings, check_precision=False)
    depth = settings.rerank_depth

    def scores(**changes) -> dict[tuple[str, int], float]:
        engine = Engine(stored, settings.with_(**changes), ConstantEmbedder())
        return {(hit.source, hit.start): hit.score for hit in engine.retrieve(QUESTION, k=depth)}

    plain = scores()
    fused = scores(rerank_rrf_weight=settings.rerank_rrf_weight + 1)  # + 1 × RRF / top RRF: in (0, 1]
    assert set(plain) == set(fused) and len(plain) == depth
    raised = [round(fused[key] - plain[key], 4) for key in plain]
    assert all(0 < step <= 1 for step in raised) and max(raised) == 1
    assert scores(phrase_weight=0) != plain
    engine = Engine(stored, settings.with_(bm25_k1=0.9, bm25_b=0.4), ConstantEmbedder())
    assert (engine.bm25.k1, engine.bm25.b) == (0.9, 0.4)


@pytest.mark.slow
def test_the_reader_takes_the_threshold_and_answer_length_settings(settings, embedder) -> None:
    stored = load_index(settings.index_dir, settings, check_precision=False)
    calibrated = Engine(stored, settings, embedder).reader
    changed = Engine(stored, settings.with_(answer_threshold=1.5, max_answer_tokens=7), embedder).reader
    assert (changed.threshold, changed.max_answer_tokens) == (1.5, 7)
    assert calibrated.threshold == calibrated.manifest["calibration"]["threshold"]
    assert calibrated.max_answer_tokens == calibrated.manifest["max_answer_tokens"]
