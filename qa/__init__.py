"""Offline extractive question answering over Chinese documents, with exact citations.

>>> from qa import retrieve, answer                      # doctest: +SKIP
>>> retrieve("伊金霍洛镇2022年全年总收入是多少？", k=5)[0].source   # doctest: +SKIP
'001_84905cf744b120d4.txt'
>>> answer("伊金霍洛镇2022年全年总收入是多少？").text          # doctest: +SKIP
'1.99亿元'
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from .conversation import Turn
from .indexing import EmptyCorpus, build, stale_reason
from .retrieval import Engine, load
from .settings import Settings, SettingsError
from .storage import IndexProblem, read_manifest
from .types import Answer, Chunk, Document, Hit

__all__ = ["Answer", "Chunk", "Document", "EmptyCorpus", "Engine", "Hit", "IndexProblem", "Settings", "SettingsError",
           "Turn", "answer", "build", "default_engine", "load", "retrieve"]

_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The engine over the default index (``Settings().index_dir`` over ``Settings().corpus_dir``),
    loaded once; a missing or stale index is rebuilt first, with a message saying so."""
    global _default
    with _default_lock:
        if _default is None:
            settings = Settings()
            try:
                reason = stale_reason(read_manifest(settings.index_dir), settings.corpus_dir, settings)
            except IndexProblem as problem:
                reason = str(problem)
            embedder = None
            if reason:
                from .model import Embedder

                print(f"qa: rebuilding the index in {settings.index_dir}: {reason}", file=sys.stderr)
                embedder = Embedder(settings.model, settings.model_cache, settings.batch_size,
                                    precision=settings.precision)
                report = build(settings, embedder=embedder, progress=False,
                               log=lambda message: print(f"qa: {message}", file=sys.stderr))
                print(f"qa: {report.summary()}", file=sys.stderr)
            _default = load(settings.index_dir, settings, embedder)
        return _default


def retrieve(question: str, k: int = 5, sources: list[str] | None = None) -> list[Hit]:
    """The ``k`` best passages for ``question`` from the default index."""
    return default_engine().retrieve(question, k, sources)


def answer(question: str, k: int = 5, sources: list[str] | None = None,
           history: Sequence[Turn | Answer | dict] = ()) -> Answer:
    """The extracted answer to ``question`` from the default index; ``history`` holds the conversation's
    earlier turns (their ``Answer``s), so a follow-up such as "那2021年呢？" keeps its subject."""
    return default_engine().answer(question, k, sources, history)
