"""Timing helpers shared by the benchmarks: one call timed, and a list of timings summarised."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from qa.evaluation import percentile

T = TypeVar("T")


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """``(result, seconds)`` of one call."""
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of timings given in seconds, in milliseconds, with the count."""
    ms = [value * 1000 for value in seconds]
    return {"p50_ms": round(percentile(ms, 50), 3), "p95_ms": round(percentile(ms, 95), 3),
            "mean_ms": round(sum(ms) / len(ms), 3) if ms else 0.0, "n": len(ms)}


def ratio(a: float, b: float) -> float:
    """``a / b`` rounded to 3 decimals (0.0 when ``b`` is 0)."""
    return round(a / b, 3) if b else 0.0
