"""Stage timing: off unless recording, summed over threads while recording, never two recordings at once."""

from __future__ import annotations

import threading
import time

import pytest

from fashion_desktop.core import stages
from fashion_desktop.core.stages import recording, stage


def busy(seconds: float) -> None:
    """Spend CPU time (not sleep, which thread_time does not count)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_stages_outside_a_recording_are_not_kept():
    with stage("decode"):
        busy(0.001)
    with recording() as totals:
        pass
    assert totals == {}
    assert stages._totals is None


def test_cpu_time_is_summed_per_stage_over_threads_in_run_order():
    def work() -> None:
        with stage("decode"):
            busy(0.02)
        with stage("grabcut"):
            busy(0.01)

    with recording() as totals:
        workers = [threading.Thread(target=work) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with stage("cache write"):
            time.sleep(0.05)  # waiting is no CPU time
    assert list(totals) == ["decode", "grabcut", "cache write"]
    assert totals["decode"].calls == 3 and totals["grabcut"].calls == 3 and totals["cache write"].calls == 1
    assert 0.06 <= totals["decode"].seconds < 0.5
    assert 0.03 <= totals["grabcut"].seconds < totals["decode"].seconds
    assert totals["cache write"].seconds < 0.02


def test_a_stage_that_raises_is_still_counted():
    with recording() as totals:
        with pytest.raises(ValueError), stage("decode"):
            raise ValueError("damaged")
    assert totals["decode"].calls == 1


def test_two_recordings_at_once_are_refused():
    with recording(), pytest.raises(RuntimeError, match="already"):
        with recording():
            pass
