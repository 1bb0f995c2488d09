"""CPU time per stage of a photo's import (decode, working copy, GrabCut...), summed over threads, for benchmarks.

Recording is off unless a benchmark turns it on with :func:`recording`; a stage then costs two clock reads. CPU
time (``time.thread_time``) rather than wall time, because the machines this runs on are shared: wall time
measures the neighbours as much as the code. Only the recording process's threads are counted, so a benchmark
that wants the split runs the import on threads, not processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_lock = threading.Lock()


@dataclass
class StageTime:
    """The CPU time spent in one stage, summed over threads, and how many times it ran."""

    seconds: float = 0.0
    calls: int = 0


_totals: dict[str, StageTime] | None = None  # while recording


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the CPU time the calling thread spends inside the block towards ``name``; stages must not nest."""
    if _totals is None:
        yield
        return
    started = time.thread_time()
    try:
        yield
    finally:
        spent = time.thread_time() - started
        with _lock:
            if _totals is not None:
                total = _totals.setdefault(name, StageTime())
                total.seconds += spent
                total.calls += 1


@contextmanager
def recording() -> Iterator[dict[str, StageTime]]:
    """Record every stage while the block runs; the dictionary it gives fills in, by stage name, in run order."""
    global _totals
    totals: dict[str, StageTime] = {}
    with _lock:
        if _totals is not None:
            raise RuntimeError("stage times are already being recorded")
        _totals = totals
    try:
        yield totals
    finally:
        with _lock:
            _totals = None
