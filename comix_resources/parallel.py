"""Per-page stages on many cores: a process pool that maps a function over a partition's pages.

Per-page engines are CPU-bound Python around native code (OpenCV, onnxruntime) that holds the
GIL between calls, so threads do not scale; processes do. ``parallel_map(fn, items, context)``
sends ``context`` (the engines, configured) to each worker once, calls ``fn(context, item)``
there and returns the results in the order of ``items``, with what the workers cost: CPU
seconds over all of them and the peak resident memory of the largest (each worker keeps one
copy of its models, so memory grows with the worker count and not with the partition).

``COMIX_WORKERS`` sets the default worker count (unset or 0: every core). With one worker, or
one item, everything runs in this process: no start-up cost and nothing to pickle.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

Context = TypeVar("Context")
Item = TypeVar("Item")
Result = TypeVar("Result")

WORKERS_VARIABLE = "COMIX_WORKERS"

_context: Any = None  # the worker's own copy of the caller's context


def default_workers(environ: dict[str, str] | None = None) -> int:
    """``COMIX_WORKERS`` when set to a positive number, else the number of cores."""
    value = (os.environ if environ is None else environ).get(WORKERS_VARIABLE, "").strip()
    if value:
        try:
            workers = int(value)
        except ValueError as error:
            raise ValueError(f"{WORKERS_VARIABLE}={value!r} is not a whole number") from error
        if workers > 0:
            return workers
    return os.cpu_count() or 1


@dataclass(frozen=True)
class MapCost:
    """What a ``parallel_map`` cost: workers used, wall and CPU seconds, peak memory."""

    workers: int
    items: int
    wall_s: float
    cpu_s: float  # user + system seconds of every worker (of this process with one worker)
    peak_rss_mb: float  # the largest worker's peak resident set

    def as_metadata(self) -> dict[str, float | int]:
        return {
            "workers": self.workers,
            "pages": self.items,
            "wall_s": round(self.wall_s, 2),
            "cpu_s": round(self.cpu_s, 2),
            "peak_rss_mb_per_worker": round(self.peak_rss_mb, 1),
        }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _init_worker(context: Any) -> None:
    global _context
    _context = context


def _call(fn: Callable[[Any, Any], Any], item: Any) -> tuple[Any, int, float, float]:
    return fn(_context, item), os.getpid(), _cpu_s(), _peak_rss_mb()


def parallel_map(
    fn: Callable[[Context, Item], Result],
    items: Sequence[Item],
    context: Context,
    workers: int | None = None,
    min_items_per_worker: int = 1,
) -> tuple[list[Result], MapCost]:
    """``[fn(context, item) for item in items]`` on up to ``workers`` processes.

    ``fn`` must be a module-level function and ``context`` picklable. An exception in ``fn``
    is raised here, as it would be in a loop: per-item failures belong in ``fn``'s result.
    A worker costs about two CPU-seconds to start (an interpreter importing the engines), so
    cheap work asks for ``min_items_per_worker`` items per worker, or runs here.
    """
    workers = min(workers or default_workers(), max(1, len(items) // min_items_per_worker))
    started = time.perf_counter()
    if workers == 1:
        cpu = _cpu_s()
        results = [fn(context, item) for item in items]
        return results, MapCost(
            1, len(items), time.perf_counter() - started, _cpu_s() - cpu, _peak_rss_mb()
        )
    # spawn: a fresh interpreter per worker, safe beside the threads Dagster and gRPC start
    # (fork would copy their locks mid-use)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(context,),
    )
    cpu_by_worker: dict[int, float] = {}
    rss_by_worker: dict[int, float] = {}
    results = []
    with pool:
        chunk = max(1, min(8, len(items) // (workers * 4)))
        for result, pid, cpu, rss in pool.map(_call, [fn] * len(items), items, chunksize=chunk):
            results.append(result)
            cpu_by_worker[pid] = cpu
            rss_by_worker[pid] = max(rss, rss_by_worker.get(pid, 0.0))
    return results, MapCost(
        len(cpu_by_worker),
        len(items),
        time.perf_counter() - started,
        sum(cpu_by_worker.values()),
        max(rss_by_worker.values(), default=0.0),
    )
