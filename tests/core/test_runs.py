"""The run history: recording real training runs, reading, editing and comparing them, and surviving bad files."""

import csv
import json
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace

import pytest

from fashion_desktop.core.callbacks import Callback, SaveCheckpoint
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.engine import Trainer, train
from fashion_desktop.core.metrics import EpochMetrics, Evaluation, FitResult
from fashion_desktop.core.paths import default_data_dir, default_runs_path, resolve_runs_path
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.runs import (
    RecordRun,
    RunStore,
    RunStoreError,
    describe_layers,
    preset_name,
)
from fashion_desktop.core.spec import layer

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=2, batch_size=32, val_size=50, device="cpu")
CUSTOM = SEED.spec.replaced(1, layer("Linear", out_features=64))


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.sqlite3") as store:
        yield store


def test_a_training_run_is_recorded_and_read_back_after_reopening(fashion_root, tmp_path):
    path = tmp_path / "runs.sqlite3"
    with RunStore(path) as store:
        trainer = train(SEED.spec, FAST, fashion_root, [RecordRun(store, tmp_path / "model.safetensors")])
    with RunStore(path) as store:
        (run,) = store.list_runs()
        assert run == store.get_run(run.id)
        assert run.status == "finished" and run.error is None and run.epochs_done == 2
        assert run.spec == SEED.spec and run.config == FAST and run.device == "CPU"
        assert run.test_accuracy == trainer.test.accuracy and run.test_loss == trainer.test.loss
        assert run.model_path == tmp_path / "model.safetensors"
        assert run.started_at <= run.finished_at
        assert run.name == "seed · Adam · 1"
        assert store.epochs(run.id) == [replace(m, val_confusion=None) for m in trainer.history]
        assert run.to_dict()["config"]["lr"] == FAST.lr


def test_a_stopped_run_recorded_from_a_training_thread(fashion_root, store):
    class StopAfterFirstEpoch(Callback):
        def on_epoch_end(self, trainer, metrics):
            trainer.stop()

    # The store is opened on this thread and written from the worker, as the GUI does.
    worker = threading.Thread(
        target=train, args=(SEED.spec, replace(FAST, epochs=3), fashion_root, [RecordRun(store), StopAfterFirstEpoch()])
    )
    worker.start()
    worker.join()
    (run,) = store.list_runs()
    assert run.status == "stopped" and run.epochs_done == 1 and run.test_accuracy is not None


def test_a_failed_run_keeps_its_epochs_and_the_error(fashion_root, store):
    class FailInSecondEpoch(Callback):
        def on_epoch_end(self, trainer, metrics):
            if metrics.epoch == 2:
                raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        train(SEED.spec, replace(FAST, epochs=3), fashion_root, [RecordRun(store), FailInSecondEpoch()])
    (run,) = store.list_runs()
    assert run.status == "failed" and run.error == "RuntimeError: the disk is full"
    assert run.test_accuracy is None and [m.epoch for m in store.epochs(run.id)] == [1, 2]


def test_a_resumed_run_records_the_epochs_it_resumed_from(fashion_root, tmp_path, store):
    model = tmp_path / "model.safetensors"
    train(SEED.spec, replace(FAST, epochs=1), fashion_root, [SaveCheckpoint(model)])
    trainer = Trainer(SEED.spec, FAST, [RecordRun(store, model)], resume_from=Checkpoint.load(model))
    trainer.fit(trainer.load_data(fashion_root))
    (run,) = store.list_runs()
    assert [m.epoch for m in store.epochs(run.id)] == [1, 2] and run.status == "finished"


def test_continuing_a_recorded_run_extends_it(fashion_root, tmp_path, store):
    model, later = tmp_path / "model.safetensors", tmp_path / "later.safetensors"

    class StopAfterFirstEpoch(Callback):
        def on_epoch_end(self, trainer, metrics):
            trainer.stop()

    train(SEED.spec, FAST, fashion_root, [SaveCheckpoint(model), RecordRun(store, model), StopAfterFirstEpoch()])
    (stopped,) = store.list_runs()
    assert stopped.status == "stopped" and stopped.epochs_done == 1
    # Continued into another file, as the GUI does, with one more epoch than planned.
    resumed = Checkpoint.load(model)
    more = replace(FAST, epochs=3)
    trainer = Trainer(SEED.spec, more, [SaveCheckpoint(later), RecordRun(store, later)], resume_from=resumed)
    trainer.fit(trainer.load_data(fashion_root))
    (run,) = store.list_runs()  # the same run, not a second row that repeats epoch 1
    assert run.id == stopped.id and run.name == stopped.name and run.started_at == stopped.started_at
    assert run.status == "finished" and run.config == more and run.epochs_done == 3
    assert run.test_accuracy == trainer.test.accuracy and run.model_path == later
    assert [m.epoch for m in store.epochs(run.id)] == [1, 2, 3]
    assert store.epochs(run.id)[0] == replace(resumed.history[0], val_confusion=None)


def test_continuing_a_model_its_run_has_gone_past_starts_a_new_run(fashion_root, tmp_path, store):
    model = tmp_path / "model.safetensors"
    train(SEED.spec, replace(FAST, epochs=1), fashion_root, [SaveCheckpoint(model), RecordRun(store, model)])
    first = Checkpoint.load(model)
    for _ in range(2):
        # The second time, the run has gone on past epoch 1: continuing it again must not overwrite its epoch 2.
        trainer = Trainer(SEED.spec, FAST, [RecordRun(store)], resume_from=first)
        trainer.fit(trainer.load_data(fashion_root))
    newest, original = store.list_runs()  # the first continuation extended the run, the second made a new one
    assert original.epochs_done == 2 and newest.epochs_done == 2 and newest.name == "seed · Adam · 2"
    assert store.epochs(newest.id)[0] == store.epochs(original.id)[0]  # the model's epoch, recorded again


def test_a_run_knows_the_checkpoints_the_app_made_for_it(store, tmp_path):
    folder = store.checkpoints_folder
    assert folder == tmp_path / "checkpoints"
    folder.mkdir()
    first, second, shared = (folder / f"{name}.safetensors" for name in ("first", "second", "shared"))
    mine = tmp_path / "my-model.safetensors"  # a file the user chose (train --out): never the app's to delete
    for path in (first, second, shared, mine):
        path.write_bytes(b"weights")
    run = store.start_run(SEED.spec, FAST, "CPU", model_path=first)
    store.continue_run(run, FAST, "CPU", model_path=second)  # continued into a new file: both are the run's
    store.finish_run(run, None, "finished", model_path=shared)
    other = store.start_run(SEED.spec, FAST, "CPU", model_path=shared)  # another run points to it: kept
    users = store.start_run(SEED.spec, FAST, "CPU", model_path=mine)
    gone = store.start_run(SEED.spec, FAST, "CPU", model_path=folder / "deleted.safetensors")
    assert store.checkpoint_files([run]) == [first, second]
    assert store.checkpoint_files([run, other]) == [first, second, shared]
    assert store.checkpoint_files([users, gone]) == []
    assert store.checkpoint_files([2**70]) == []


def test_default_names_rename_and_delete(store):
    custom = store.start_run(CUSTOM, FAST, "CPU")
    named = store.start_run(SEED.spec, FAST, "CPU", name="baseline")
    assert store.get_run(custom).name == "custom · Adam · 1"
    assert [run.id for run in store.list_runs()] == [named, custom]  # newest first
    store.rename(custom, "  wider  ")
    assert store.get_run(custom).name == "wider"
    with pytest.raises(RunStoreError, match="empty"):
        store.rename(custom, " ")
    store.add_epoch(named, replace(_epoch(1), val_loss=None, val_accuracy=None))
    store.delete(named)
    assert [run.id for run in store.list_runs()] == [custom] and store.epochs(named) == []
    for action in (lambda: store.get_run(named), lambda: store.delete(named), lambda: store.rename(named, "x")):
        with pytest.raises(RunStoreError, match=f"no run {named}"):
            action()


def test_default_names_count_per_preset_and_optimizer(store):
    names = [store.get_run(store.start_run(SEED.spec, FAST, "CPU")).name for _ in range(2)]
    assert names == ["seed · Adam · 1", "seed · Adam · 2"]
    # After the highest counter: a run deleted or renamed leaves no gap to fill, a name typed like ours counts.
    store.start_run(SEED.spec, FAST, "CPU", name="seed · Adam · 7")
    store.start_run(SEED.spec, FAST, "CPU", name="seed · Adam · x")
    assert store.get_run(store.start_run(SEED.spec, FAST, "CPU")).name == "seed · Adam · 8"
    sgd = store.start_run(SEED.spec, replace(FAST, optimizer="SGD"), "CPU")
    assert store.get_run(sgd).name == "seed · SGD · 1"
    assert store.get_run(store.start_run(CUSTOM, FAST, "CPU")).name == "custom · Adam · 1"


def test_csv_export_has_one_row_per_epoch_with_the_run(store, tmp_path):
    first = store.start_run(SEED.spec, FAST, "CPU", name="first", dataset="fashion-mnist")
    second = store.start_run(SEED.spec, FAST, "CPU", name="second, with a comma")
    epochs = {first: [_epoch(1), _epoch(2)], second: [replace(_epoch(1), val_loss=None, val_accuracy=None)]}
    for run_id, metrics in epochs.items():
        for m in metrics:
            store.add_epoch(run_id, m)
    path = store.export_csv([first, second], tmp_path / "out" / "epochs.csv")
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["run_id"], row["run_name"], row["epoch"]) for row in rows] == [
        (str(first), "first", "1"),
        (str(first), "first", "2"),
        (str(second), "second, with a comma", "1"),
    ]
    assert float(rows[1]["train_loss"]) == epochs[first][1].train_loss
    assert float(rows[0]["samples_per_second"]) == epochs[first][0].samples_per_second
    assert rows[2]["val_loss"] == "" and rows[2]["val_accuracy"] == ""
    # Each row carries its run's settings and results, so a spreadsheet can group and compare runs.
    store.finish_run(first, FitResult((), Evaluation(0.35, 0.875, ((1,),)), False, 2), "finished")
    path = store.export_csv([first, second], tmp_path / "out" / "epochs.csv")
    with path.open(newline="") as file:
        first_row, _, second_row = csv.DictReader(file)
    assert {key: first_row[key] for key in ("status", "dataset", "preset", "optimizer", "lr", "batch_size")} == {
        "status": "finished",
        "dataset": "fashion-mnist",
        "preset": "seed",
        "optimizer": "Adam",
        "lr": str(FAST.lr),
        "batch_size": "32",
    }
    assert (first_row["epochs_planned"], first_row["scheduler"], first_row["loss"]) == ("2", "none", FAST.loss)
    assert (first_row["test_accuracy"], first_row["test_loss"], first_row["best_epoch"]) == ("0.875", "0.35", "2")
    assert first_row["layers"].startswith("Flatten") and int(first_row["parameters"]) > 0
    assert (second_row["status"], second_row["test_accuracy"], second_row["dataset"]) == ("running", "", "")
    with pytest.raises(RunStoreError, match="no run 999"):
        store.export_csv([999], tmp_path / "missing.csv")


def test_setting_differences_name_training_settings_and_layers(store):
    sgd = replace(FAST, lr=0.1, optimizer="SGD", optimizer_options={"momentum": 0.9})
    a = store.start_run(SEED.spec, replace(FAST, optimizer_options={"beta1": 0.9}), "CPU")  # the default, spelled out
    b = store.start_run(CUSTOM, sgd, "CPU")
    differences = {key: (x, y) for key, x, y in store.setting_differences(a, b)}
    assert differences["lr"] == (FAST.lr, 0.1)
    assert differences["optimizer"] == ("Adam", "SGD")
    assert differences["optimizer_options.momentum"] == (None, 0.9)
    assert differences["optimizer_options.beta1"] == (0.9, None)
    assert differences["layers"] == (
        "Flatten, Linear(256), ReLU, Dropout(0.25), Linear(128), ReLU, Dropout(0.25), Linear(10), LogSoftmax",
        "Flatten, Linear(64), ReLU, Dropout(0.25), Linear(128), ReLU, Dropout(0.25), Linear(10), LogSoftmax",
    )
    assert differences["parameters"][0] > differences["parameters"][1]
    assert "batch_size" not in differences and "mean" not in differences
    assert store.setting_differences(a, store.start_run(SEED.spec, FAST, "CPU")) == []


def test_layer_summaries_and_preset_names():
    cnn = get_preset("small-cnn").spec
    assert describe_layers(cnn).startswith("Conv2d(32, bias=False), BatchNorm, ReLU, MaxPool2d(2), Conv2d(64")
    tweaked = SEED.spec.replaced(1, layer("Linear", out_features=256, bias=True))  # spelled out, still the preset
    assert preset_name(tweaked) == "seed" and preset_name(cnn) == "small-cnn" and preset_name(CUSTOM) is None
    leaky = CUSTOM.replaced(2, layer("LeakyReLU", negative_slope=0.2))
    assert describe_layers(leaky).split(", ")[2] == "LeakyReLU(negative_slope=0.2)"


def test_a_run_left_by_a_crashed_process_becomes_unfinished(tmp_path):
    path = tmp_path / "runs.sqlite3"
    crash = f"""
import os, sys
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.runs import RunStore
from fashion_desktop.core.metrics import EpochMetrics, Evaluation, FitResult
assert "torch" not in sys.modules  # reading the history stays light
preset = get_preset("seed")
store = RunStore({str(path)!r})
run = store.start_run(preset.spec, preset.config, "CPU")
store.add_epoch(run, EpochMetrics(1, 0.5, 0.4, 0.9, 0.003, 1.0, 1000.0))
os._exit(3)  # no finish_run, no close: as if the process were killed
"""
    assert subprocess.run([sys.executable, "-c", crash], timeout=60).returncode == 3
    with RunStore(path) as store:
        live = store.start_run(SEED.spec, FAST, "CPU")  # this process is alive: its run must stay 'running'
    with RunStore(path) as store:
        crashed = store.list_runs()[-1]
        assert crashed.status == "unfinished" and crashed.epochs_done == 1 and crashed.finished_at is None
        assert store.get_run(live).status == "running"
        assert store.mark_unfinished() == 0


@pytest.mark.parametrize("content", [os.urandom(3000), b"SQLite format 3\x00" + bytes(range(256)) * 8])
def test_a_damaged_file_is_a_clear_error_and_can_be_moved_aside(tmp_path, content):
    path = tmp_path / "runs.sqlite3"
    path.write_bytes(content)
    with pytest.raises(RunStoreError, match=r"runs\.sqlite3 is damaged .*move it aside") as caught:
        RunStore(path)
    assert caught.value.path == path
    with RunStore.start_fresh(path) as store:
        assert store.list_runs() == []
    (moved,) = tmp_path.glob("runs.sqlite3.damaged-*")
    assert moved.read_bytes() == content


def test_a_damaged_page_is_found_when_opening(tmp_path):
    path = tmp_path / "runs.sqlite3"
    with RunStore(path) as store:
        for _ in range(3):
            store.start_run(SEED.spec, FAST, "CPU")
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # the second page
    path.write_bytes(bytes(data))
    with pytest.raises(RunStoreError, match="damaged"):
        RunStore(path)


def test_another_programs_database_is_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
    db.close()
    with pytest.raises(RunStoreError, match=r"notes\.db is an SQLite database of another program"):
        RunStore(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    db.close()


def test_a_history_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "runs.sqlite3"
    RunStore(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(RunStoreError, match="newer Fashion Desktop"):
        RunStore(path)


def test_the_history_file_location(monkeypatch, tmp_path):
    assert default_runs_path() == default_data_dir().parent / "runs.sqlite3"
    monkeypatch.setenv("FASHION_DESKTOP_RUNS", str(tmp_path / "env.sqlite3"))
    assert resolve_runs_path() == tmp_path / "env.sqlite3"
    assert resolve_runs_path(tmp_path / "cli.sqlite3") == tmp_path / "cli.sqlite3"


def _epoch(number):
    return EpochMetrics(number, 1.0 / number, 0.9 / number, 0.5 + number / 10, 0.003, 1.25, 12345.678)


def test_a_history_that_cannot_be_written_does_not_stop_training(fashion_root, tmp_path):
    from dataclasses import replace

    from fashion_desktop.core.engine import train
    from fashion_desktop.core.presets import get_preset
    from fashion_desktop.core.runs import RecordRun, RunStore

    store = RunStore(tmp_path / "runs.sqlite3")
    store.close()  # every write now fails
    recorder = RecordRun(store)
    preset = get_preset("seed")
    trainer = train(preset.spec, replace(preset.config, epochs=1, val_size=50, device="cpu"), fashion_root, [recorder])
    assert trainer.test is not None and trainer.epoch == 1
    assert recorder.error and "training goes on" in recorder.error


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("spec", "{not json"),
        ("config", '{"lr": 0.1, "colour": "red"}'),
        ("spec", '{"layers": ["Flatten"]}'),
        ("started_at", "yesterday"),
    ],
)
def test_a_row_that_cannot_be_read_is_named_in_the_error(store, column, value):
    good = store.start_run(SEED.spec, FAST, "CPU", name="good")
    bad = store.start_run(SEED.spec, FAST, "CPU", name="bad one")
    with store._transaction() as db:
        db.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (value, bad))
    for read in (store.list_runs, lambda: store.get_run(bad)):
        with pytest.raises(RunStoreError, match=rf"run {bad} \('bad one'\) in the run history .* is damaged"):
            read()
    assert store.get_run(good).name == "good"


# -- the `runs` command --


def _cli(capsys, *args):
    from fashion_desktop.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def history(tmp_path):
    """A run history with two runs of two epochs each: 1 (seed, Adam) and 2 (the same, but SGD with lr 0.1)."""
    path = tmp_path / "history.sqlite3"
    with RunStore(path) as store:
        for name, config in (("adam", FAST), ("sgd", replace(FAST, lr=0.1, optimizer="SGD"))):
            run_id = store.start_run(SEED.spec, config, "CPU", name=name)
            for number in (1, 2):
                store.add_epoch(run_id, _epoch(number))
    return path


def test_runs_command_lists_all_or_only_the_runs_named(capsys, history):
    code, out, _ = _cli(capsys, "runs", "--history", history)
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [["2", "sgd"], ["1", "adam"]]
    assert "epochs 2/2" in out
    code, out, _ = _cli(capsys, "runs", "1", "--history", history)
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [["1", "adam"]]
    code, out, _ = _cli(capsys, "runs", "--json", "--history", history)
    runs = json.loads(out)["runs"]
    assert code == 0 and [run["name"] for run in runs] == ["sgd", "adam"] and runs[0]["config"]["lr"] == 0.1
    code, out, _ = _cli(capsys, "runs", "2", "--json", "--history", history)
    assert [run["id"] for run in json.loads(out)["runs"]] == [2]
    code, _, err = _cli(capsys, "runs", "7", "--history", history)
    assert code == 2 and "there is no run 7" in err and "Traceback" not in err


def test_runs_command_writes_csv(capsys, history, tmp_path):
    out_file = tmp_path / "epochs.csv"
    code, out, _ = _cli(capsys, "runs", "--csv", out_file, "--history", history)
    with out_file.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert code == 0 and out.strip() == f"wrote {out_file}"
    assert [(row["run_id"], row["epoch"]) for row in rows] == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]
    code, _, _ = _cli(capsys, "runs", "2", "--csv", out_file, "--history", history)
    with out_file.open(newline="") as file:
        assert {row["run_name"] for row in csv.DictReader(file)} == {"sgd"}


@pytest.mark.parametrize("target", ["/proc/runs.csv", "{tmp}/a-file/runs.csv"])
def test_runs_command_csv_that_cannot_be_written(capsys, history, tmp_path, target):
    (tmp_path / "a-file").write_text("a file, not a folder")
    target = target.format(tmp=tmp_path)
    code, _, err = _cli(capsys, "runs", "--csv", target, "--history", history)
    assert code == 2 and f"cannot write {target}: " in err and "Traceback" not in err


def test_runs_command_compares_two_runs(capsys, history):
    code, out, _ = _cli(capsys, "runs", "--compare", 1, 2, "--history", history)
    settings = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert code == 0 and settings["lr"] == [str(FAST.lr), "0.1"] and settings["optimizer"] == ["Adam", "SGD"]
    code, out, _ = _cli(capsys, "runs", "--compare", 1, 2, "--json", "--history", history)
    differences = {d["setting"]: (d["a"], d["b"]) for d in json.loads(out)["differences"]}
    assert differences["optimizer"] == ("Adam", "SGD")
    code, out, _ = _cli(capsys, "runs", "--compare", 1, 1, "--history", history)
    assert code == 0 and out.strip() == "runs 1 and 1 have the same settings"
    code, out, _ = _cli(capsys, "runs", "--compare", 1, 1, "--json", "--history", history)
    assert json.loads(out) == {"differences": []}


def test_runs_command_on_a_damaged_history(capsys, tmp_path, history):
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(os.urandom(3000))
    code, out, err = _cli(capsys, "runs", "--history", damaged)
    assert code == 2 and out == "" and "is damaged" in err and "move it aside" in err and "Traceback" not in err
    with RunStore(history) as store, store._transaction() as db:
        db.execute("UPDATE runs SET spec = '{oops' WHERE id = 2")
    code, out, err = _cli(capsys, "runs", "--history", history)
    assert code == 2 and "run 2 ('sgd')" in err and "is damaged" in err and "Traceback" not in err


# -- hostile histories and faults --


def test_ids_beyond_sqlite_integers_are_no_run_not_an_overflow(capsys, history):
    for args in (["9223372036854775808"], ["--compare", "1", "99999999999999999999"]):
        code, _, err = _cli(capsys, "runs", *args, "--history", history)
        assert code == 2 and "there is no run" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("config", json.dumps({**FAST.to_dict(), "optimizer": "Teleport"}), "unknown optimizer"),
        (
            "spec",
            json.dumps(
                {**SEED.spec.to_dict(), "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": "abc"}]}
            ),
            "out_features",
        ),
        ("config", "[" * 10_000 + "]" * 10_000, "nests"),
        ("config", "1" * 5000, "not valid JSON"),
    ],
)
def test_a_damaged_row_is_a_clear_error_in_compare_too(capsys, history, column, value, words):
    with RunStore(history) as store, store._transaction() as db:
        db.execute(f"UPDATE runs SET {column} = ? WHERE id = 2", (value,))
    code, _, err = _cli(capsys, "runs", "--compare", "1", "2", "--history", history)
    assert code == 2 and "run 2 ('sgd')" in err and words in err and "Traceback" not in err


def test_runs_with_a_missing_history_folder_creates_nothing(capsys, tmp_path):
    code, _, err = _cli(capsys, "runs", "--history", tmp_path / "missing" / "dir" / "x")
    assert code == 2 and "does not exist" in err and not (tmp_path / "missing").exists()


class _FakeTrainer:
    """What RecordRun reads from a trainer, without training: the recorder is what is tested."""

    spec, config, history, data_settings = SEED.spec, FAST, (), {"dataset": "fashion-mnist"}


def _fit_info():
    from fashion_desktop.core.metrics import FitInfo

    return FitInfo(epochs=4, start_epoch=0, batches_per_epoch=1, train_size=1, val_size=1, device="cpu")


def test_a_lock_mid_run_is_retried_and_the_rest_recorded_when_it_clears(tmp_path, monkeypatch):
    from fashion_desktop.core.metrics import FitResult

    path = tmp_path / "runs.sqlite3"
    store = RunStore(path)
    store._db.execute("PRAGMA busy_timeout = 20")  # SQLite's own wait, 10 s in the app, kept short here
    monkeypatch.setattr(RecordRun, "RETRY_DELAYS", (0.01, 0.01))
    recorder = RecordRun(store, name="locked")
    trainer = _FakeTrainer()
    recorder.on_fit_start(trainer, _fit_info())
    recorder.on_epoch_end(trainer, _epoch(1))
    other = sqlite3.connect(path)
    other.execute("BEGIN EXCLUSIVE")  # another program holds the lock for two epochs
    recorder.on_epoch_end(trainer, _epoch(2))
    recorder.on_epoch_end(trainer, _epoch(3))
    assert recorder.error and "locked" in recorder.error
    other.rollback()
    other.close()
    recorder.on_epoch_end(trainer, _epoch(4))
    recorder.on_fit_end(trainer, FitResult((), None, False, None))
    assert recorder.error is None
    run = store.get_run(recorder.run_id)
    assert run.status == "finished" and [m.epoch for m in store.epochs(run.id)] == [1, 2, 3, 4]
    store.close()


def test_deleting_the_history_mid_run_is_reported(tmp_path):
    path = tmp_path / "runs.sqlite3"
    store = RunStore(path)
    recorder = RecordRun(store)
    recorder.on_fit_start(_FakeTrainer(), _fit_info())
    for companion in tmp_path.glob("runs.sqlite3*"):
        companion.unlink()
    recorder.on_epoch_end(_FakeTrainer(), _epoch(1))
    assert recorder.error and "deleted or replaced" in recorder.error
    store.close()


def test_names_and_paths_that_are_not_utf8_are_recorded(store, tmp_path):
    odd = os.fsdecode(b"caf\xe9")  # a Latin-1 file name on a UTF-8 system
    run_id = store.start_run(SEED.spec, FAST, "CPU", name=odd, model_path=tmp_path / f"{odd}.safetensors")
    run = store.get_run(run_id)
    assert run.name == "caf\\udce9" and "caf" in str(run.model_path)


def test_a_run_stopped_before_its_first_epoch_leaves_no_checkpoint(fashion_root, tmp_path):
    class StopAtOnce(Callback):
        def on_fit_start(self, trainer, info):
            trainer.stop()

    model = tmp_path / "never.safetensors"
    train(SEED.spec, FAST, fashion_root, [StopAtOnce(), SaveCheckpoint(model)])
    assert not model.exists()


@pytest.mark.slow
def test_train_resume_goes_on_in_the_run_it_came_from(capsys, fashion_root, tmp_path):
    out = tmp_path / "m.safetensors"
    common = ("--data", fashion_root, "--val-size", 50, "--batch-size", 64)
    assert _cli(capsys, "train", "--epochs", 1, "--out", out, *common)[0] == 0
    assert _cli(capsys, "train", "--resume", out, "--epochs", 3, "--data", fashion_root)[0] == 0
    with RunStore(resolve_runs_path()) as store:
        (run,) = store.list_runs()
        assert run.status == "finished" and run.epochs_done == 3 and run.config.epochs == 3
        assert run.test_accuracy == Checkpoint.load(out).test.accuracy and run.dataset == "fashion-mnist"
        assert [m.epoch for m in store.epochs(run.id)] == [1, 2, 3] and run.name == "seed · Adam · 1"


def test_an_older_history_gains_the_dataset_column_and_the_model_files_table(tmp_path):
    path = tmp_path / "runs.sqlite3"
    model = tmp_path / "checkpoints" / "old.safetensors"
    model.parent.mkdir()
    model.write_bytes(b"weights")
    with RunStore(path) as store:
        old = store.start_run(SEED.spec, FAST, "CPU", model_path=model)
    with sqlite3.connect(path) as db:  # as a file of the version before them
        db.execute("DROP TABLE run_models")
        db.execute("ALTER TABLE runs DROP COLUMN dataset")
    db.close()
    with RunStore(path) as store:
        assert store.get_run(old).dataset is None
        assert store.checkpoint_files([old]) == [model]  # an older run's one file is still known, by model_path
        new = store.start_run(SEED.spec, FAST, "CPU", dataset="kmnist")
        assert store.get_run(new).dataset == "kmnist"
