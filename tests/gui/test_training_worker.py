"""The training worker on a real QThread, wired as the design guide says, training on the tiny synthetic data."""

import math
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QObject, Slot

from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.engine import train
from fashion_desktop.core.metrics import BatchMetrics
from fashion_desktop.core.paths import new_checkpoint_path, resolve_runs_path
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.runs import RunStore
from fashion_desktop.core.session import TrainingRequest, describe_error
from fashion_desktop.gui.training_worker import DataWorker, DownloadOutcome, TrainingWorker, start_in_thread

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=2, batch_size=32, val_size=50, device="cpu")
BATCHES = math.ceil(250 / 32)  # 300 synthetic training images less 50 for validation


def worker_for(config=FAST, root=None, **request):
    """A TrainingWorker for a request of the seed network, its model saved where the test's run history is."""
    return TrainingWorker(TrainingRequest(SEED.spec, config, root, model_path=new_checkpoint_path(), **request))


class Recorder(QObject):
    """Runs a worker on its own thread and records what it reports, in order, on the GUI thread."""

    def __init__(self, worker: TrainingWorker) -> None:
        super().__init__()
        self.worker, self.request, self.events, self.done = worker, worker.request, [], False
        self.outcome = None
        worker.fit_started.connect(self.on_fit_started)
        worker.batches_finished.connect(self.on_batches_finished)
        worker.epoch_finished.connect(self.on_epoch_finished)
        worker.warned.connect(self.on_warned)
        worker.finished.connect(self.on_finished)
        self.thread = start_in_thread(worker, self.on_thread_finished)

    def of(self, name):
        return [payload for event, payload in self.events if event == name]

    def names(self):
        return [event for event, _ in self.events]

    @Slot(object)
    def on_fit_started(self, info):
        self.events.append(("fit_started", info))

    @Slot(object)
    def on_batches_finished(self, batches):
        self.events.append(("batches_finished", batches))

    @Slot(object)
    def on_epoch_finished(self, metrics):
        self.events.append(("epoch_finished", metrics))

    @Slot(str)
    def on_warned(self, message):
        self.events.append(("warned", message))

    @Slot(object)
    def on_finished(self, outcome):
        self.events.append(("finished", outcome))
        self.outcome = outcome

    @Slot()
    def on_thread_finished(self):
        self.thread.wait()
        # The outcome came before the thread ended: whoever reacts to the end needs nothing from the worker,
        # which Qt deletes now.
        assert self.outcome is not None
        self.done = True


@pytest.fixture
def start(qtbot):
    """Start workers on their threads; a test that fails half-way still stops them and waits for the threads."""
    recorders = []

    def start(worker):
        recorders.append(Recorder(worker))
        return recorders[-1]

    yield start
    for recorder in recorders:
        if not recorder.done:
            recorder.worker.stop()
        qtbot.waitUntil(lambda: recorder.done, timeout=10_000)  # noqa: B023 - called at once, in this iteration


@pytest.fixture
def run(qtbot, start):
    """Run a worker to the end and return its Recorder."""

    def run(worker):
        recorder = start(worker)
        qtbot.waitUntil(lambda: recorder.done, timeout=30_000)
        return recorder

    return run


def test_trains_and_reports_every_batch_once_then_finishes(run, fashion_root):
    recorder = run(worker_for(root=fashion_root))
    names = recorder.names()
    assert names[0] == "fit_started" and names[-1] == "finished" and names.count("finished") == 1
    epochs = recorder.of("epoch_finished")
    assert [m.epoch for m in epochs] == [1, 2]
    chunks = recorder.of("batches_finished")
    batches = [b for chunk in chunks for b in chunk]
    assert all(isinstance(chunk, tuple) and chunk for chunk in chunks)
    assert all(isinstance(b, BatchMetrics) for b in batches)
    assert [(b.epoch, b.batch) for b in batches] == [(e, i) for e in (1, 2) for i in range(1, BATCHES + 1)]
    # Each epoch's batches reach the GUI before that epoch's metrics.
    before_epoch_end = recorder.events[: names.index("epoch_finished")]
    assert sum(len(p) for event, p in before_epoch_end if event == "batches_finished") == BATCHES
    outcome = recorder.outcome
    assert outcome.failure is None and outcome.warnings == () and outcome.run_id is not None
    assert not outcome.result.stopped and sum(map(sum, outcome.result.test.confusion)) == 100
    assert isinstance(outcome.checkpoint, Checkpoint) and outcome.checkpoint.epoch == 2
    assert outcome.new_model is outcome.checkpoint


def test_missing_data_fails_with_the_data_error_and_still_finishes(run, tmp_path):
    recorder = run(worker_for(root=tmp_path / "nowhere", allow_download=False))
    assert recorder.names() == ["finished"]
    failure = recorder.outcome.failure
    assert failure.error_type == "DataError" and "Fashion-MNIST not found" in failure.message
    assert recorder.outcome.checkpoint is None and recorder.outcome.new_model is None


def test_stop_from_the_gui_thread_ends_within_a_batch_and_keeps_the_model(qtbot, start, fashion_root):
    worker = worker_for(replace(FAST, epochs=10_000), fashion_root)
    ended: list[float] = []  # when each batch ended, stamped on the training thread
    report = worker._observer.on_batch_end
    worker._observer.on_batch_end = lambda trainer, metrics: (ended.append(time.monotonic()), report(trainer, metrics))
    recorder = start(worker)
    qtbot.waitUntil(lambda: bool(recorder.of("batches_finished")), timeout=30_000)
    asked = time.monotonic()
    worker.stop()
    qtbot.waitUntil(lambda: recorder.done, timeout=5_000)
    assert time.monotonic() - asked < 5
    # Only the batch under way when stop() was called may finish; the signals of earlier ones may still arrive.
    assert sum(stamp > asked for stamp in ended) <= 1
    reported = [b for chunk in recorder.of("batches_finished") for b in chunk]
    assert len(reported) == len(ended)  # every batch that ended was reported, none twice
    assert recorder.names()[-1] == "finished"
    assert recorder.outcome.result.stopped and recorder.outcome.checkpoint is not None


def test_stop_before_the_trainer_exists_ends_without_training(run, fashion_root):
    worker = worker_for(root=fashion_root)
    worker.stop()
    recorder = run(worker)
    assert recorder.names() == ["finished"]
    outcome = recorder.outcome
    assert outcome.checkpoint is None and outcome.result is None and outcome.failure is None
    assert outcome.test_predictions is None and outcome.run_id is None


def test_a_diverging_loss_fails_with_advice_about_the_learning_rate(run, fashion_root):
    config = replace(FAST, optimizer="SGD", lr=100.0, optimizer_options={"momentum": 0.9})
    recorder = run(worker_for(config, fashion_root))
    failure = recorder.outcome.failure
    assert failure.error_type == "TrainingDiverged" and "learning rate 100 is probably too high" in failure.message
    assert recorder.outcome.new_model is None  # it failed in its first epoch: nothing better than before
    with RunStore(resolve_runs_path()) as store:
        assert store.get_run(recorder.outcome.run_id).status == "failed"


def test_out_of_memory_is_reported_with_the_device_and_advice(run, fashion_root, monkeypatch):
    def fit(self, data):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr("fashion_desktop.core.engine.Trainer.fit", fit)
    recorder = run(worker_for(root=fashion_root))
    assert recorder.outcome.failure.message == "out of memory on cpu: lower the batch size"


def test_the_run_is_recorded_in_the_history_with_each_epoch(run, fashion_root):
    recorder = run(worker_for(root=fashion_root))
    run_id = recorder.outcome.run_id
    with RunStore(resolve_runs_path()) as store:
        record = store.get_run(run_id)
        assert record.status == "finished" and record.epochs_done == 2 and record.config == FAST
        assert [m.train_loss for m in store.epochs(run_id)] == [m.train_loss for m in recorder.of("epoch_finished")]
    assert not recorder.of("warned")


def test_the_model_is_saved_after_every_epoch_to_the_file_the_history_records(qtbot, start, fashion_root, tmp_path):
    recorder = start(worker_for(replace(FAST, epochs=10_000), fashion_root))
    model_path = recorder.request.model_path
    qtbot.waitUntil(lambda: len(recorder.of("epoch_finished")) >= 1, timeout=30_000)
    qtbot.waitUntil(model_path.is_file, timeout=10_000)  # written just after the epoch is reported
    # As after a crash: the file holds the last finished epoch, with what Continue needs.
    saved = Checkpoint.load(model_path)
    assert saved.epoch >= 1 and saved.optimizer_state is not None and saved.config.epochs == 10_000
    recorder.worker.stop()
    qtbot.waitUntil(lambda: recorder.done, timeout=10_000)
    assert model_path.parent == tmp_path / "checkpoints"  # beside the test's run history, not the user's
    assert recorder.outcome.model_path == model_path
    with RunStore(resolve_runs_path()) as store:
        assert store.get_run(recorder.outcome.run_id).model_path == model_path
    assert Checkpoint.load(model_path).test is not None  # saved again at the end, with the test results


def test_a_model_file_that_cannot_be_written_is_reported_and_training_goes_on(run, fashion_root, monkeypatch):
    def refuse(self, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Checkpoint, "save", refuse)
    recorder = run(worker_for(root=fashion_root))
    (message,) = recorder.of("warned")
    assert "could not be saved after each epoch" in message and "Permission denied" in message
    assert recorder.outcome.warnings == (message,) and recorder.outcome.failure is None
    assert recorder.outcome.result is not None


def test_a_damaged_run_history_is_reported_and_training_goes_on_with_its_crash_protection(
    run, fashion_root, tmp_path, monkeypatch
):
    damaged = tmp_path / "runs.sqlite3"
    damaged.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("FASHION_DESKTOP_RUNS", str(damaged))
    recorder = run(worker_for(root=fashion_root))
    (message,) = recorder.of("warned")
    assert "this run is not recorded" in message and "damaged" in message
    outcome = recorder.outcome
    assert outcome.result is not None and outcome.run_id is None and outcome.warnings == (message,)
    assert damaged.read_bytes() == b"not a database" * 100  # left as it was, for the Runs page to offer a fix
    # The model is saved after every epoch all the same: a crash would lose nothing.
    assert Checkpoint.load(outcome.model_path).epoch == 2


def test_the_test_set_is_classified_once_for_the_mistakes_gallery(run, fashion_root):
    recorder = run(worker_for(root=fashion_root))
    predictions = recorder.outcome.test_predictions
    assert predictions.probabilities.shape == (100, 10) and predictions.images.shape == (100, 28, 28)
    confusion = recorder.outcome.result.test.confusion
    for true_class in range(10):
        for predicted_class in range(10):
            assert len(predictions.cell(true_class, predicted_class)) == confusion[true_class][predicted_class]


def test_a_stopped_runs_checkpoint_continues_from_its_last_finished_epoch(qtbot, start, fashion_root):
    recorder = start(worker_for(replace(FAST, epochs=10_000), fashion_root))
    qtbot.waitUntil(lambda: len(recorder.of("epoch_finished")) >= 1, timeout=30_000)
    recorder.worker.stop()
    qtbot.waitUntil(lambda: recorder.done, timeout=10_000)
    checkpoint = recorder.outcome.checkpoint
    epochs = len(recorder.of("epoch_finished"))
    assert checkpoint.epoch == epochs and checkpoint.optimizer_state is not None
    # The weights at the end of that epoch, whatever the model went on to (part of the next epoch, the best epoch's).
    expected = train(SEED.spec, replace(FAST, epochs=epochs, keep_best=False), fashion_root).model.state_dict()
    start_from = checkpoint.resume_weights if checkpoint.resume_weights is not None else checkpoint.weights
    assert all(torch.equal(expected[k], start_from[k]) for k in expected)


def test_a_download_reports_its_end_once_with_where_the_data_is(qtbot, fashion_root):
    outcomes = []
    worker = DataWorker(fashion_root)
    worker.finished.connect(outcomes.append)
    done = []
    thread = start_in_thread(worker, lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)
    thread.wait()
    (outcome,) = outcomes
    assert outcome == DownloadOutcome(fashion_root, downloaded=False)  # it was there already


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"),
            "out of memory on cuda:0: lower the batch size",
        ),
        (RuntimeError("MPS backend out of memory"), "out of memory on cuda:0: lower the batch size"),
        (ValueError("odd"), "ValueError: odd"),
    ],
)
def test_describe_error(error, message):
    assert describe_error(error, "cuda:0") == message


DEADLOCK_SCRIPT = """
from PySide6.QtCore import QObject, QStringListModel, Signal, Slot
from PySide6.QtWidgets import QApplication, QListView

from fashion_desktop.gui.training_worker import start_in_thread

app = QApplication([])
views = [QListView() for _ in range(20)]
models = [QStringListModel(["a"]) for _ in range(40)]


class Worker(QObject):
    finished = Signal()

    @Slot()
    def run(self):
        self.finished.emit()


for round_ in range(150):
    ended = []
    worker = Worker()
    thread = start_in_thread(worker, lambda: ended.append(True))
    while not thread.isFinished():  # the GUI thread inside Qt calls that disconnect, holding the GIL
        for index, view in enumerate(views):
            view.setModel(models[(index + round_) % 40])
            view.setModel(models[(index + round_ + 1) % 40])
    thread.wait()
    app.processEvents()
    assert ended
    worker = thread = None
print("150 workers ended")
"""


@pytest.mark.slow
def test_workers_end_while_the_gui_thread_is_busy_in_qt_without_a_deadlock(tmp_path):
    """150 workers end while the GUI thread changes item views' models (each change disconnects signals).

    When a worker was left to deleteLater on its own thread, its destructor waited for the GIL holding a Qt lock
    that the GUI thread, holding the GIL, waited for in setModel: this script hung on its first rounds every time,
    and the test suite hung once the same way. It runs in a child process so that a hang fails the test.
    """
    script = tmp_path / "workers.py"
    script.write_text(DEADLOCK_SCRIPT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    try:
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the workers deadlocked with the GUI thread (no end after 120 s)")
    assert done.returncode == 0, done.stderr
    assert "150 workers ended" in done.stdout
