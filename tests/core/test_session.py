"""One training session, as the command line and the Training tab run it: a plain observer, no Qt."""

from dataclasses import replace

import pytest
import torch

from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.data import normalize
from fashion_desktop.core.engine import train
from fashion_desktop.core.errors import ConfigError, DataError
from fashion_desktop.core.paths import checkpoints_dir, resolve_runs_path
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.runs import RunStore
from fashion_desktop.core.session import TrainingControl, TrainingObserver, TrainingRequest, run_training
from fashion_desktop.core.synthetic import write_fashion_mnist

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=2, batch_size=32, val_size=50, device="cpu")


class Heard(TrainingObserver):
    """Everything a front end hears of a run, in order."""

    def __init__(self):
        self.events = []

    def on_download_progress(self, done, total):
        self.events.append(("download", (done, total)))

    def on_warning(self, message):
        self.events.append(("warning", message))

    def on_fit_start(self, trainer, info):
        self.events.append(("fit_start", info))

    def on_batch_end(self, trainer, metrics):
        self.events.append(("batch", metrics))

    def on_epoch_end(self, trainer, metrics):
        self.events.append(("epoch", metrics))

    def of(self, name):
        return [payload for event, payload in self.events if event == name]


def request(root, config=FAST, **fields):
    return TrainingRequest(SEED.spec, config, root, **fields)


def test_a_run_trains_records_saves_and_classifies_the_test_set(fashion_root):
    heard = Heard()
    outcome = run_training(request(fashion_root), heard)
    assert outcome.error is None and outcome.failure is None and outcome.warnings == ()
    assert [m.epoch for m in heard.of("epoch")] == [1, 2] and len(heard.of("fit_start")) == 1
    assert not outcome.result.stopped and outcome.checkpoint.epoch == 2 and outcome.new_model is outcome.checkpoint
    # The model file of every epoch, in checkpoints/ beside the history, which points at it.
    assert outcome.model_path.parent == checkpoints_dir()
    assert Checkpoint.load(outcome.model_path).test == outcome.result.test
    with RunStore(resolve_runs_path()) as store:
        record = store.get_run(outcome.run_id)
    assert record.status == "finished" and record.model_path == outcome.model_path and record.epochs_done == 2
    # The gallery's predictions agree with the test evaluation, cell by cell.
    predictions, confusion = outcome.test_predictions, outcome.result.test.confusion
    assert all(
        len(predictions.cell(row, column)) == confusion[row][column] for row in range(10) for column in range(10)
    )


def test_a_damaged_history_still_saves_the_model_after_every_epoch(fashion_root, tmp_path, monkeypatch):
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("FASHION_DESKTOP_RUNS", str(damaged))
    heard = Heard()
    outcome = run_training(request(fashion_root), heard)
    (warning,) = heard.of("warning")
    assert warning.startswith("this run is not recorded: ") and "damaged" in warning
    assert outcome.warnings == (warning,) and outcome.run_id is None and outcome.error is None
    assert Checkpoint.load(outcome.model_path).epoch == 2  # the crash protection does not depend on the history


def test_a_run_left_out_of_the_history_saves_its_model_where_it_is_asked(fashion_root, tmp_path):
    path = tmp_path / "m.safetensors"
    outcome = run_training(request(fashion_root, record=False, model_path=path, predict_test_set=False))
    assert outcome.run_id is None and outcome.test_predictions is None and Checkpoint.load(path).epoch == 2
    with RunStore(resolve_runs_path()) as store:
        assert store.list_runs() == []


def test_settings_that_cannot_train_are_refused_before_the_data_is_fetched(tmp_path, monkeypatch):
    monkeypatch.setattr("fashion_desktop.core.data.download", lambda *a, **k: pytest.fail("nothing to download"))
    outcome = run_training(request(tmp_path, replace(FAST, lr=0.0)))
    assert isinstance(outcome.error, ConfigError) and "learning rate must be greater than 0" in outcome.failure.message
    assert outcome.checkpoint is None and outcome.model_path is None


def test_a_stop_during_the_download_abandons_it_without_a_failure(tmp_path, monkeypatch):
    control = TrainingControl()

    def download(root, progress=None):
        for done in range(1, 1001):
            progress(done, 1000)
        return write_fashion_mnist(root)

    class StopAtTenPercent(Heard):
        def on_download_progress(self, done, total):
            super().on_download_progress(done, total)
            if done == 100:
                control.stop()  # as the GUI thread's Stop button does

    monkeypatch.setattr("fashion_desktop.core.data.download", download)
    heard = StopAtTenPercent()
    outcome = run_training(request(tmp_path), heard, control)
    assert len(heard.of("download")) == 100 and not heard.of("fit_start")
    assert outcome.error is None and outcome.result is None and outcome.checkpoint is None
    assert not (tmp_path / "FashionMNIST").exists()


def test_a_stop_mid_run_keeps_the_model_and_a_pause_before_training_holds_it(fashion_root):
    import threading
    import time

    control = TrainingControl()
    control.pause()  # before the trainer exists: it must start paused

    class StopAfterFirstEpoch(Heard):
        def on_epoch_end(self, trainer, metrics):
            super().on_epoch_end(trainer, metrics)
            control.stop()

        def on_batch_end(self, trainer, metrics):
            super().on_batch_end(trainer, metrics)
            batch_times.append(time.monotonic())

    heard, batch_times, resumed_at = StopAfterFirstEpoch(), [], []
    resumer = threading.Timer(0.3, lambda: (resumed_at.append(time.monotonic()), control.resume()))
    resumer.start()  # the GUI thread lets it go on a little later
    outcome = run_training(request(fashion_root, replace(FAST, epochs=10)), heard, control)
    resumer.join()
    assert batch_times[0] >= resumed_at[0]  # no batch trained while paused
    assert outcome.result.stopped and outcome.checkpoint.epoch == 1 and len(heard.of("epoch")) == 1


def test_a_failure_comes_back_with_the_model_so_far_and_the_history_says_so(fashion_root):
    diverging = replace(FAST, optimizer="SGD", lr=100.0, optimizer_options={"momentum": 0.9})
    outcome = run_training(request(fashion_root, diverging))
    assert outcome.failure.error_type == "TrainingDiverged" and "probably too high" in outcome.failure.message
    assert outcome.checkpoint is not None and outcome.new_model is None  # no epoch finished: nothing new
    with RunStore(resolve_runs_path()) as store:
        assert store.get_run(outcome.run_id).status == "failed"


def test_missing_data_is_a_data_error(tmp_path):
    outcome = run_training(request(tmp_path / "nowhere", allow_download=False))
    assert isinstance(outcome.error, DataError) and outcome.checkpoint is None


def test_continuing_leaves_the_callers_checkpoint_as_it_was(fashion_root):
    first = run_training(request(fashion_root, replace(FAST, epochs=1)))
    before = {key: value.clone() for key, value in first.checkpoint.optimizer_state["state"][0].items()}
    outcome = run_training(request(fashion_root, resume_from=first.checkpoint))
    assert outcome.request.start_epoch == 1 and outcome.checkpoint.epoch == 2 and outcome.new_model is not None
    after = first.checkpoint.optimizer_state["state"][0]
    assert all(torch.equal(before[key], after[key]) for key in before)
    straight = train(SEED.spec, FAST, fashion_root).model.state_dict()
    assert all(torch.equal(straight[k], outcome.checkpoint.weights[k]) for k in straight)


def test_a_model_file_that_must_be_saved_ends_the_run_when_it_cannot_be(fashion_root, tmp_path, monkeypatch):
    def refuse(self, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Checkpoint, "save", refuse)
    outcome = run_training(request(fashion_root, model_path=tmp_path / "m.safetensors", must_save_model=True))
    assert isinstance(outcome.error, PermissionError)
    relaxed = run_training(request(fashion_root, model_path=tmp_path / "m.safetensors"))
    assert relaxed.error is None and "could not be saved after each epoch" in relaxed.warnings[0]


def test_normalize_is_the_models_input_for_uint8_and_float_pixels():
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8)
    expected = torch.tensor([(0 / 255 - 0.5) / 0.5, (51 / 255 - 0.5) / 0.5, 1.0])
    assert torch.allclose(normalize(pixels, 0.5, 0.5), expected)
    as_float = pixels.float().requires_grad_(True)
    assert torch.allclose(normalize(as_float, 0.5, 0.5), expected)
    assert as_float.detach().tolist() == [0.0, 51.0, 255.0]  # the input is left as it was
