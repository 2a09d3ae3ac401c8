"""What every benchmark shares: a result row, median timing, the machine, snapshot samples."""

from __future__ import annotations

import gzip
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PYTHON = sys.executable


@dataclass
class Row:
    """One figure of ``docs/benchmarks.md``: a measured path, its baseline and their ratio."""

    section: str
    what: str
    value: float | None
    unit: str
    runs: list[float] = field(default_factory=list)
    baseline: str = ""
    baseline_value: float | None = None
    higher_is_better: bool = True
    note: str = ""
    ratio_text: str = ""  # replaces the computed ratio where "x better" is not the point

    @property
    def ratio(self) -> float | None:
        """How many times better than the baseline (throughput: a/b; seconds: b/a)."""
        if not self.value or not self.baseline_value:
            return None
        if self.higher_is_better:
            return self.value / self.baseline_value
        return self.baseline_value / self.value


def pending(section: str, what: str, why: str) -> Row:
    """A row for a figure that cannot be measured yet."""
    return Row(section, what, None, "", note=why)


def repeat(fn: Callable[[], float | None], reps: int) -> list[float]:
    """Call ``fn`` ``reps`` times; each call returns its own measured seconds (or None: timed here)."""
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        got = fn()
        out.append(got if got is not None else time.perf_counter() - t)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def snapshot_path() -> Path | None:
    """The shared snapshot (``LITMINE_SNAPSHOT`` overrides), or None when it is absent."""
    env = os.environ.get("LITMINE_SNAPSHOT")
    path = Path(env) if env else REPO.parent / "shared" / "data" / "arxiv-snapshot.jsonl.gz"
    return path if path.is_file() else None


def sample_snapshot(n: int, stride: int = 53, offset: int = 0) -> list[dict]:
    """``n`` records with a title and abstract, every ``stride``-th line (deterministic)."""
    path = snapshot_path()
    if path is None:
        return []
    out: list[dict] = []
    with gzip.open(path, "rt") as f:
        for i, line in enumerate(f):
            if i % stride != offset % stride:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("title") and rec.get("abstract"):
                out.append(rec)
                if len(out) >= n:
                    break
    return out


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
                return ", ".join(f for f in wanted if f in flags) or "none of avx2/avx512/vnni"
    except OSError:  # pragma: no cover
        pass
    return "unknown"


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    import duckdb
    import numpy

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 0
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):  # pragma: no cover
        pass
    versions = {"duckdb": duckdb.__version__, "numpy": numpy.__version__}
    for mod in ("onnxruntime", "torch", "sentence_transformers"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = "absent"
    return {
        "cpu": f"{_cpu_model()} ({cores} cores usable; SIMD: {_cpu_flags()})",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (``VmHWM``).

    Not ``getrusage``: on Linux its ``ru_maxrss`` survives ``exec`` and so starts at the
    parent's peak, which would charge the benchmark runner's memory to the child.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # pragma: no cover - not Linux

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
