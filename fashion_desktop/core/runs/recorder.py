"""Recording a Trainer's run into the run history as it trains."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_desktop.core.callbacks import Callback
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.metrics import EpochMetrics, FitInfo, FitResult
from fashion_desktop.core.runs.records import RunStoreError
from fashion_desktop.core.runs.store import RunStore

if TYPE_CHECKING:
    from fashion_desktop.core.activity import ActivitySnapshot
    from fashion_desktop.core.engine import Trainer


class RecordRun(Callback):
    """Records a Trainer's run in a RunStore: each epoch is committed as it ends, so a crash loses nothing done.

    Recording is best-effort: training never waits long for the history. A write that finds the database locked
    by another process is retried with backoff, then kept and written with the next epoch's (and at the end of
    the run), so a lock that clears loses nothing. Any other failure (a full disk, a deleted history) stops the
    recording; ``error`` says why, and the CLI and the GUI show it.
    """

    RETRY_DELAYS: tuple[float, ...] = (0.05, 0.2, 0.5)  # seconds, on top of SQLite's own busy timeout

    def __init__(self, store: RunStore, model_path: str | Path | None = None, name: str | None = None) -> None:
        self.store, self.model_path, self.name = store, model_path, name
        self.run_id: int | None = None
        self.error: str | None = None
        self._pending: list[Callable[[], object]] = []  # writes not yet committed, in order
        self._stopped = False

    def on_fit_start(self, trainer: Trainer, info: FitInfo) -> None:
        def start() -> None:
            # A continued model goes on in the run it came from, when the history has that run: the one whose
            # epochs are the model's. A model from elsewhere (another history, a file shared) starts a new run.
            self.run_id = self.store.continued_run(trainer.history)
            if self.run_id is not None:
                self.store.continue_run(self.run_id, trainer.config, info.device, self.name, self.model_path)
                return
            dataset = (trainer.data_settings or {}).get("dataset")
            self.run_id = self.store.start_run(
                trainer.spec, trainer.config, info.device, self.name, self.model_path, dataset
            )

        self._record(start)
        # The epochs a continued model had already done: a new run records them, and in the run it came from
        # these writes find the same rows there.
        for metrics in trainer.history:
            self._record(self._epoch_writer(metrics))

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        self._record(self._epoch_writer(metrics))

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        status = "stopped" if result.stopped else "finished"
        self._record(lambda: self.store.finish_run(self._id(), result, status, self.model_path), final=True)

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        if isinstance(error, KeyboardInterrupt):  # Ctrl+C or SIGTERM on the command line: the user stopped it
            self._record(lambda: self.store.finish_run(self._id(), None, "stopped", error="interrupted"), final=True)
            return
        message = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        self._record(lambda: self.store.finish_run(self._id(), None, "failed", error=message), final=True)

    def record_activity(self, snapshot: ActivitySnapshot) -> None:
        """Keep the network's activity at the end of each epoch (the measurements during it are for the plots)."""
        if snapshot.ends_epoch:
            self._record(lambda: self.store.add_activity(self._id(), snapshot))

    def _epoch_writer(self, metrics: EpochMetrics) -> Callable[[], object]:
        return lambda: self.store.add_epoch(self._id(), metrics)

    def _id(self) -> int:
        assert self.run_id is not None  # writes run in order, after the one that starts the run
        return self.run_id

    def _record(self, write: Callable[[], object], final: bool = False) -> None:
        """Queue ``write`` and commit everything queued; ``final``: nothing comes after it, so a lock is a failure."""
        if self._stopped:
            return
        self._pending.append(write)
        delays = self.RETRY_DELAYS
        while self._pending:
            try:
                self._with_retries(self._pending[0], delays)
            except (RunStoreError, sqlite3.Error, OSError) as error:
                if getattr(error, "locked", False) and not final:
                    self.error = f"the run history is locked by another program ({error}); retrying with the next epoch"
                    return
                self._stopped, self._pending = True, []
                self.error = f"the run history could not be written ({error}); training goes on without it"
                return
            self._pending.pop(0)
        if self.error and self.error.startswith("the run history is locked"):
            self.error = None  # the lock cleared and every epoch was written

    @staticmethod
    def _with_retries(write: Callable[[], object], delays: Sequence[float]) -> None:
        for delay in delays:
            try:
                write()
                return
            except RunStoreError as error:
                if not error.locked:
                    raise
            time.sleep(delay)
        write()
