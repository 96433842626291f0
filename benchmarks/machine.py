"""The machine and software a benchmark ran on, and the process-memory readings it reports."""

from __future__ import annotations

import os
import platform
import resource
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("torch", "faiss-cpu", "sentence-transformers", "transformers", "numpy", "jieba")


def _first_value(path: Path, key: str) -> str:
    """The value of the first ``key: value`` line of a /proc file, or "" when there is none."""
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return ""


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages (other processes on shared cores skew every timing)."""
    return [round(value, 2) for value in os.getloadavg()]


def describe_machine() -> dict:
    """CPU model, cores, RAM, OS, Python, package versions and thread counts."""
    import faiss
    import torch

    memory_kb = _first_value(Path("/proc/meminfo"), "MemTotal").split()[0] or "0"
    cpuinfo = Path("/proc/cpuinfo")
    flags = _first_value(cpuinfo, "flags").split()
    return {
        "cpu": _first_value(cpuinfo, "model name") or platform.processor(),
        "cpu_family_model": f"family {_first_value(cpuinfo, 'cpu family')}, model {_first_value(cpuinfo, 'model')}",
        "cpu_virtualised": "hypervisor" in flags,
        "avx512": "avx512f" in flags,
        "cores": len(os.sched_getaffinity(0)),
        "ram_gib": round(int(memory_kb) / 2**20, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {name: _package_version(name) for name in PACKAGES},
        "torch_threads": torch.get_num_threads(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "load_average_at_start": load_average(),
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (``ru_maxrss``, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """This process's resident memory now, in MiB (``VmRSS``)."""
    return int(_first_value(Path("/proc/self/status"), "VmRSS").split()[0] or 0) / 1024
