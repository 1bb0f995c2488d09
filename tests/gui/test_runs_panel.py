"""The run history panel on a store filled by hand: the table, overlaid curves, differences, edits and damage."""

import csv
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox

from fashion_desktop.core.metrics import EpochMetrics, Evaluation, FitResult
from fashion_desktop.core.paths import checkpoints_dir, resolve_runs_path
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.runs import RunStore
from fashion_desktop.gui.runs_panel import (
    BEST_VAL,
    COLUMNS,
    EPOCHS,
    NAME,
    NETWORK,
    OPTIMIZER,
    STATUS,
    TEST,
    RunsPanel,
)
from fashion_desktop.gui.runs_panel.panel import DeleteAnswer

SHOTS = Path(__file__).resolve().parents[2] / "shots"
SEED, D2L, CNN = get_preset("seed"), get_preset("d2l-mlp"), get_preset("small-cnn")
# Three runs that differ in the optimizer and the learning rate (and, for the CNN, the network).
RUNS = (
    ("seed, Adam 3e-3", SEED.spec, replace(SEED.config, epochs=4), 0.80),
    ("seed, SGD 0.05", SEED.spec, replace(SEED.config, epochs=4, optimizer="SGD", lr=0.05), 0.76),
    ("small CNN, AdamW 1e-3", CNN.spec, replace(CNN.config, epochs=4, lr=1e-3), 0.86),
)


def epochs_of(count, start_accuracy, lr):
    """Made-up curves: the loss falls and the accuracy climbs a little each epoch, the better run lower and higher."""
    floor = 1.2 - start_accuracy
    return [
        EpochMetrics(
            epoch,
            floor + 0.5 / epoch,
            floor + 0.45 / epoch + 0.05,
            min(0.99, start_accuracy + 0.02 * epoch),
            lr,
            2.0,
            5000.0,
        )
        for epoch in range(1, count + 1)
    ]


def record(store, name, spec, config, start_accuracy, epochs=None, status="finished", test_accuracy=0.85):
    run_id = store.start_run(spec, config, "CPU", name=name)
    history = epochs_of(config.epochs if epochs is None else epochs, start_accuracy, config.lr)
    for metrics in history:
        store.add_epoch(run_id, metrics)
    if status != "running":
        test = Evaluation(0.4, test_accuracy, ((0,),)) if status == "finished" else None
        store.finish_run(run_id, FitResult(tuple(history), test, status == "stopped", None), status)
    return run_id


@pytest.fixture
def run_ids():
    """Three finished runs in the test's history, oldest first."""
    with RunStore(resolve_runs_path()) as store:
        return [record(store, *run) for run in RUNS]


@pytest.fixture
def panel(qtbot):
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.resize(880, 420)
    return widget


def cell(panel, row, column):
    return panel.proxy.index(row, column).data()


def column_texts(panel, column):
    return [cell(panel, row, column) for row in range(panel.proxy.rowCount())]


def test_the_table_lists_the_runs_newest_first(panel, run_ids):
    assert panel.store is None  # opened lazily
    panel.refresh()
    assert panel.store is not None
    assert column_texts(panel, NAME) == [name for name, *_ in reversed(RUNS)]
    newest = [cell(panel, 0, column) for column in (STATUS, NETWORK, OPTIMIZER, EPOCHS, BEST_VAL, TEST)]
    assert newest == ["finished", "small-cnn", "AdamW, lr 0.001", "4/4", "94.00%", "85.00%"]
    assert cell(panel, 1, OPTIMIZER) == "SGD, lr 0.05" and cell(panel, 1, NETWORK) == "seed"


def test_sorting_by_a_column_uses_its_values_not_its_text(panel, run_ids):
    panel.refresh()
    panel.view.sortByColumn(BEST_VAL, Qt.SortOrder.AscendingOrder)
    assert column_texts(panel, BEST_VAL) == ["84.00%", "88.00%", "94.00%"]
    panel.view.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
    assert column_texts(panel, NAME) == sorted(name for name, *_ in RUNS)


def test_two_runs_overlay_their_curves_and_list_the_settings_that_differ(panel, run_ids):
    panel.refresh()
    assert panel.diff_panel.isHidden() and not panel.curves.accuracy_curves
    panel.select_runs(run_ids[:2])
    curves = panel.curves
    assert len(curves.val_loss_curves) == len(curves.train_loss_curves) == len(curves.accuracy_curves) == 2
    assert len(curves.accuracy_plot.listDataItems()) == 2 and len(curves.loss_plot.listDataItems()) == 4
    assert sorted(curves.legend_names) == sorted(name for name, *_ in RUNS[:2])
    x, y = curves.accuracy_curves[0].getData()  # in table order: the newer run first
    assert list(x) == [1, 2, 3, 4] and list(y) == pytest.approx([78, 80, 82, 84])
    pens = {curve.opts["pen"].color().name() for curve in curves.val_loss_curves}
    assert len(pens) == 2  # each run its own colour

    assert not panel.diff_panel.isHidden()
    table = panel.diff_panel.table
    rows = {
        table.item(row, 0).text(): (table.item(row, 1).text(), table.item(row, 2).text())
        for row in range(table.rowCount())
    }
    assert rows["lr"] == ("0.05", "0.003") and rows["optimizer"] == ("SGD", "Adam")
    assert "layers" not in rows  # the same network
    assert [table.horizontalHeaderItem(c).text() for c in (1, 2)] == ["seed, SGD 0.05", "seed, Adam 3e-3"]


def test_three_runs_overlay_three_curves_and_hide_the_differences(panel, run_ids):
    panel.refresh()
    panel.select_runs(run_ids[:2])
    colors = {
        panel.curves.legend_names[i]: curve.opts["pen"].color().name()
        for i, curve in enumerate(panel.curves.val_loss_curves)
    }
    panel.select_runs(run_ids)
    assert len(panel.curves.val_loss_curves) == len(panel.curves.accuracy_curves) == 3
    now = {
        panel.curves.legend_names[i]: curve.opts["pen"].color().name()
        for i, curve in enumerate(panel.curves.val_loss_curves)
    }
    assert {name: now[name] for name in colors} == colors  # a run keeps its colour as others join
    assert len(set(now.values())) == 3
    assert len(panel.curves.legend_names) == 3
    assert panel.diff_panel.isHidden()
    assert "two runs" in panel.hint_label.text()
    panel.select_runs(run_ids[:1])
    assert len(panel.curves.accuracy_curves) == 1 and panel.diff_panel.isHidden()
    panel.select_runs([])
    assert not panel.curves.accuracy_curves and not panel.curves.legend_names


def test_refresh_keeps_the_selection_and_shows_new_runs(panel, run_ids):
    panel.refresh()
    panel.select_runs(run_ids[:2])
    with RunStore(resolve_runs_path()) as store:
        newer = record(store, "a fourth run", SEED.spec, SEED.config, 0.7, epochs=2, status="stopped")
    panel.refresh_button.click()
    assert panel.proxy.rowCount() == 4 and cell(panel, 0, NAME) == "a fourth run"
    assert cell(panel, 0, STATUS) == "stopped" and cell(panel, 0, EPOCHS) == "2/10" and cell(panel, 0, TEST) == "–"
    assert sorted(panel.selected_run_ids()) == run_ids[:2] and newer not in panel.selected_run_ids()
    assert len(panel.curves.accuracy_curves) == 2


def test_renaming_in_the_editor_is_kept_in_the_store(qtbot, panel, run_ids):
    panel.show()  # showing opens the history too
    qtbot.waitExposed(panel)
    assert panel.proxy.rowCount() == 3
    panel.select_runs([run_ids[0]])
    panel.rename_button.click()
    editor = panel.view.viewport().findChild(QLineEdit)
    assert editor is not None and editor.text() == "seed, Adam 3e-3"
    editor.setText("  baseline  ")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits in a queued call
    qtbot.waitUntil(lambda: panel.store.get_run(run_ids[0]).name == "baseline")
    assert "baseline" in column_texts(panel, NAME)
    with RunStore(resolve_runs_path()) as other:  # written to the file, not only to the panel's copy
        assert other.get_run(run_ids[0]).name == "baseline"


def test_renaming_through_the_model_refuses_an_empty_name(qtbot, panel, run_ids):
    panel.refresh()
    panel.select_runs(run_ids[1:3])
    row = column_texts(panel, NAME).index("seed, SGD 0.05")
    with qtbot.waitSignal(panel.status_message) as message:
        assert panel.proxy.setData(panel.proxy.index(row, NAME), "momentum 0.9")
    assert "momentum 0.9" in message.args[0]
    assert panel.store.get_run(run_ids[1]).name == "momentum 0.9"
    assert "momentum 0.9" in panel.curves.legend_names  # the legend follows the name
    assert not panel.proxy.setData(panel.proxy.index(row, NAME), "   ")
    assert panel.store.get_run(run_ids[1]).name == "momentum 0.9"
    assert "cannot be empty" in panel.message_label.text() and not panel.message_label.isHidden()


def test_delete_asks_first_and_a_refusal_keeps_the_run(panel, run_ids):
    panel.refresh()
    questions = []
    panel.confirm_delete = lambda names, files: questions.append(list(names)) or DeleteAnswer.CANCEL
    panel.select_runs([run_ids[1]])
    panel.delete_button.click()
    assert questions == [["seed, SGD 0.05"]]
    assert panel.proxy.rowCount() == 3 and len(panel.store.list_runs()) == 3

    panel.confirm_delete = lambda names, files: questions.append(list(names)) or DeleteAnswer.KEEP_FILES
    panel.select_runs(run_ids[1:])
    panel.delete_button.click()
    assert questions[1] == ["small CNN, AdamW 1e-3", "seed, SGD 0.05"]
    assert [run.id for run in panel.store.list_runs()] == [run_ids[0]]
    assert column_texts(panel, NAME) == ["seed, Adam 3e-3"] and panel.selected_run_ids() == []
    assert not panel.curves.accuracy_curves


def test_deleting_runs_offers_to_delete_the_checkpoints_the_app_saved_for_them(panel, monkeypatch, tmp_path):
    folder = checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    first, continued, shared = (folder / f"{name}.safetensors" for name in ("first", "continued", "shared"))
    saved_elsewhere = tmp_path / "my-model.safetensors"  # a model the user chose where to save (train --out)
    for path, size in ((first, 1_500_000), (continued, 2_000_000), (shared, 10), (saved_elsewhere, 10)):
        path.write_bytes(bytes(size))
    with RunStore(resolve_runs_path()) as store:
        run = store.start_run(SEED.spec, SEED.config, "CPU", name="continued once", model_path=first)
        store.continue_run(run, SEED.config, "CPU", model_path=continued)  # its second file
        store.finish_run(run, None, "finished", model_path=shared)
        keeper = store.start_run(SEED.spec, SEED.config, "CPU", name="keeper", model_path=shared)
        users = store.start_run(SEED.spec, SEED.config, "CPU", name="user's file", model_path=saved_elsewhere)
        for finished in (keeper, users):
            store.finish_run(finished, None, "stopped")
    questions, answers = [], []

    def question(parent, title, text, buttons, default):
        questions.append((text, buttons))
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    panel.refresh()
    panel.select_runs([run])
    answers.append(QMessageBox.StandardButton.Cancel)
    panel.delete_button.click()
    text, buttons = questions[-1]
    assert "2 files (3.5 MB)" in text and buttons & QMessageBox.StandardButton.Cancel
    assert panel.proxy.rowCount() == 3 and first.exists()  # cancelled: nothing deleted

    answers.append(QMessageBox.StandardButton.Yes)
    panel.delete_button.click()
    assert [r.id for r in panel.store.list_runs()] == [users, keeper]
    assert not first.exists() and not continued.exists()
    assert shared.exists()  # another run still points to it

    # The user's own file is never offered: the question is the plain one, and the file stays.
    panel.select_runs([users])
    answers.append(QMessageBox.StandardButton.Yes)
    panel.delete_action.trigger()
    assert "checkpoints" not in questions[-1][0] and saved_elsewhere.exists()
    # No keeps the files: the last run pointing to the shared file goes, the file stays.
    panel.select_runs([keeper])
    answers.append(QMessageBox.StandardButton.No)
    panel.delete_button.click()
    assert "1 file (0.0 MB)" in questions[-1][0]
    assert panel.store.list_runs() == [] and shared.exists()


def test_a_run_still_training_is_not_deleted(panel, run_ids):
    with RunStore(resolve_runs_path()) as store:
        running = record(store, "training now", SEED.spec, SEED.config, 0.7, epochs=1, status="running")
    panel.refresh()
    assert cell(panel, 0, STATUS) == "running"  # this process is alive, so the run is not unfinished
    panel.confirm_delete = lambda names, files: pytest.fail("asked to delete a running run")
    panel.select_runs([running])
    panel.delete_button.click()
    assert "still training" in panel.message_label.text()
    assert panel.store.get_run(running).status == "running"


def test_export_writes_the_selected_runs_epochs(tmp_path, panel, run_ids):
    panel.refresh()
    panel.select_runs([run_ids[0], run_ids[2]])
    target = tmp_path / "out" / "epochs"
    target.parent.mkdir()
    suggested = []
    panel.choose_export_path = lambda default: suggested.append(default) or str(target)
    panel.export_button.click()
    assert suggested and suggested[0].endswith(".csv")
    with open(target.with_suffix(".csv"), newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 8
    assert {row["run_name"] for row in rows} == {"seed, Adam 3e-3", "small CNN, AdamW 1e-3"}
    assert {int(row["run_id"]) for row in rows} == {run_ids[0], run_ids[2]}
    first = next(row for row in rows if int(row["run_id"]) == run_ids[0] and row["epoch"] == "2")
    assert float(first["val_accuracy"]) == pytest.approx(0.84) and float(first["lr"]) == pytest.approx(3e-3)

    panel.choose_export_path = lambda default: ""  # cancelled: nothing written, nothing said
    panel.export_button.click()
    assert panel.message_label.isHidden()


def test_a_damaged_history_is_reported_in_the_panel_and_can_be_replaced(qtbot, panel):
    path = resolve_runs_path()
    garbage = bytes(range(256)) * 16
    path.write_bytes(garbage)
    with qtbot.waitSignal(panel.status_message):
        panel.refresh()
    assert panel.pages.currentIndex() == 1 and panel.store is None
    assert "runs.sqlite3" in panel.error_label.text() and "damaged" in panel.error_label.text()
    panel.retry_button.click()  # still damaged: still the message, no dialog, no crash
    assert panel.pages.currentIndex() == 1

    panel.start_fresh_button.click()
    (moved,) = path.parent.glob("runs.sqlite3.damaged-*")
    assert moved.read_bytes() == garbage
    assert panel.pages.currentIndex() == 0 and panel.store is not None
    assert moved.name in panel.message_label.text()
    record(panel.store, "after the damage", SEED.spec, SEED.config, 0.7, epochs=2)
    panel.refresh()
    assert column_texts(panel, NAME) == ["after the damage"]


def test_a_run_left_by_a_crashed_process_shows_as_unfinished(panel, run_ids):
    path = resolve_runs_path()
    with RunStore(path) as store:
        crashed = record(store, "crashed", D2L.spec, D2L.config, 0.6, epochs=2, status="running")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with sqlite3.connect(path) as db:  # as if that process had trained the run and died
        db.execute("UPDATE runs SET pid = ? WHERE id = ?", (int(ended.stdout), crashed))
    db.close()
    panel.refresh()
    row = column_texts(panel, NAME).index("crashed")
    assert cell(panel, row, STATUS) == "unfinished" and cell(panel, row, EPOCHS) == "2/10"
    assert "ended mid-run" in panel.proxy.index(row, STATUS).data(Qt.ItemDataRole.ToolTipRole)


def test_the_panel_reads_and_compares_runs_without_loading_torch(run_ids):
    # In a fresh process: this one has torch loaded already. The window paints before torch has loaded.
    script = f"""
import sys
from PySide6.QtWidgets import QApplication
from fashion_desktop.gui.runs_panel import RunsPanel
app = QApplication([])
panel = RunsPanel()
panel.refresh()
panel.select_runs({run_ids[:2]!r})
panel.grab()
assert panel.diff_panel.table.rowCount() and len(panel.curves.accuracy_curves) == 2
assert "torch" not in sys.modules, "the runs panel imported torch"
del panel  # before the application: Python's exit may otherwise free them in the wrong order and crash
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_screenshots(qtbot, panel, run_ids):
    SHOTS.mkdir(exist_ok=True)
    panel.show()
    qtbot.waitExposed(panel)
    panel.select_runs(run_ids[:2])
    qtbot.wait(50)
    panel.grab().save(str(SHOTS / "runs-panel.png"))
    panel.select_runs(run_ids)
    qtbot.wait(50)
    panel.grab().save(str(SHOTS / "runs-panel-three.png"))
    panel.close()  # lets go of the file, which is then damaged
    resolve_runs_path().write_bytes(b"\x00garbage" * 100)
    damaged = RunsPanel()
    qtbot.addWidget(damaged)
    damaged.resize(880, 420)
    damaged.show()
    qtbot.waitExposed(damaged)
    assert damaged.pages.currentIndex() == 1
    damaged.grab().save(str(SHOTS / "runs-panel-damaged.png"))


def test_open_model_offers_only_a_run_whose_model_file_exists(qtbot, panel, tmp_path):
    kept, gone = tmp_path / "kept.safetensors", tmp_path / "gone.safetensors"
    kept.write_bytes(b"a model")  # the panel only checks that the file is there; opening it is the window's job
    with RunStore(resolve_runs_path()) as store:
        with_file = store.start_run(SEED.spec, SEED.config, "CPU", name="with file", model_path=kept)
        without_file = store.start_run(SEED.spec, SEED.config, "CPU", name="file gone", model_path=gone)
        never = store.start_run(SEED.spec, SEED.config, "CPU", name="no file")
    panel.refresh()
    for run_id in (without_file, never):
        panel.select_runs([run_id])
        assert not panel.open_button.isEnabled() and not panel.open_action.isEnabled()
    panel.select_runs([with_file, never])
    assert not panel.open_button.isEnabled()  # one run at a time
    panel.select_runs([with_file])
    assert panel.open_button.isEnabled() and panel.open_action.isEnabled()
    with qtbot.waitSignal(panel.open_model_requested) as requested:
        panel.open_action.trigger()  # the table's context menu
    assert requested.args == [kept]


@pytest.mark.parametrize("width", [470, 640, 1200])
def test_the_table_fits_its_width_with_whole_names_and_the_hint_in_full(qtbot, panel, run_ids, width):
    with RunStore(resolve_runs_path()) as store:
        record(store, None, CNN.spec, replace(CNN.config, epochs=4, optimizer="RMSprop"), 0.8)  # a default name
    panel.resize(width, 420)
    panel.show()
    qtbot.waitExposed(panel)
    panel.select_runs(run_ids[:1])
    view, header = panel.view, panel.view.horizontalHeader()
    qtbot.waitUntil(lambda: header.length() <= view.viewport().width())  # no sideways scrolling
    names = column_texts(panel, NAME)
    assert "small-cnn · RMSprop · 1" in names
    longest = max(map(view.fontMetrics().horizontalAdvance, names))
    assert view.columnWidth(NAME) >= longest + 20  # never elided while it fits
    shown = [column for column in range(len(COLUMNS)) if not view.isColumnHidden(column)]
    if width >= 1200:
        assert shown == list(range(len(COLUMNS)))
    else:
        assert {NAME, STATUS, EPOCHS, TEST} <= set(shown) and NETWORK not in shown
    for column in shown:  # each column's text fits it
        texts = column_texts(panel, column)
        assert max(map(view.fontMetrics().horizontalAdvance, texts)) < view.columnWidth(column)
    # What a hidden column says is in the name's tooltip.
    tip = panel.proxy.index(0, NAME).data(Qt.ItemDataRole.ToolTipRole)
    assert "started" in tip and "lr" in tip and "epochs" in tip
    hint = panel.hint_label
    assert hint.text() and hint.isVisible() and hint.width() >= min(hint.sizeHint().width(), width - 20)
    assert hint.height() >= hint.heightForWidth(hint.width())  # wrapped, not cut


def test_a_runs_recorded_activity_opens_in_a_window_of_its_own(qtbot, panel, run_ids):
    import torch

    from fashion_desktop.core.activity import ActivitySnapshot, measure_layers
    from fashion_desktop.core.builder import build_model

    model = build_model(SEED.spec)
    with RunStore(resolve_runs_path()) as store:
        for epoch in (1, 2, 3):
            layers = measure_layers(model, torch.randn(4, 1, 28, 28))
            store.add_activity(run_ids[0], ActivitySnapshot(epoch, 5, 5, layers))
    panel.refresh()
    panel.select_runs([run_ids[1]])  # recorded no activity
    assert not panel.inside_button.isEnabled() and not panel.inside_action.isEnabled()
    panel.select_runs(run_ids[:2])
    assert not panel.inside_button.isEnabled()  # one run at a time
    panel.select_runs([run_ids[0]])
    assert panel.inside_button.isEnabled()
    qtbot.mouseClick(panel.inside_button, Qt.MouseButton.LeftButton)
    window = panel.inside_window
    assert window is not None and window.isVisible() and window.windowTitle().endswith("seed, Adam 3e-3")
    assert [s.epoch for s in window.panel.snapshots] == [1, 2, 3] and "3 recorded epochs" in window.panel.note.text()
    assert {"fc1", "fc2", "fc3"} <= {name for plot, name in window.panel._curves if plot == "std"}
    panel.close()
    assert not window.isVisible()
