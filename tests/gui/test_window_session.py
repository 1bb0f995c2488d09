"""File > New, and the model that comes back after a restart: driven through the menus, as a person does."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.metrics import EpochMetrics, Evaluation
from fashion_desktop.core.presets import PRESETS
from fashion_desktop.gui.main_window import LAST_MODEL_KEY, MainWindow
from fashion_desktop.gui.training.results import NO_RESULTS

SEED = PRESETS["seed"]
CONFUSION = tuple(tuple(90 if row == column else 1 for column in range(10)) for row in range(10))
HISTORY = tuple(EpochMetrics(e, 1 / e, 1.1 / e, 0.8, 0.003, 5.0, 4000.0, CONFUSION) for e in (1, 2, 3))


def trained_model_file(folder, preset_name="d2l-mlp"):
    """A model file with three epochs of curves and test results, as a finished run saves it."""
    preset = PRESETS[preset_name]
    weights = build_model(preset.spec, seed=0).state_dict()
    checkpoint = Checkpoint(preset.spec, weights, preset.config, HISTORY, Evaluation(0.4, 0.9, CONFUSION), epoch=3)
    return checkpoint.save(folder / "model.safetensors")


@pytest.fixture
def messages(monkeypatch) -> list[str]:
    shown: list[str] = []
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, lambda parent, title, text, *args: shown.append(text))
    return shown


def new_window(qtbot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    return window


def open_through_the_menu(window, monkeypatch, path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(path), ""))
    window.open_action.trigger()


def test_new_with_nothing_to_lose_starts_again_without_asking(qtbot, monkeypatch):
    window = new_window(qtbot)
    asked = []
    monkeypatch.setattr(window, "_ask_start_new", lambda: asked.append(True) or False)
    window.new_action.trigger()
    assert not asked  # the seed network, its settings and no results: nothing a question could save
    window.training.set_config(replace(SEED.config, epochs=SEED.config.epochs + 1))
    window.new_action.trigger()
    assert asked  # a changed setting is something to lose


def test_new_asks_then_clears_the_curves_results_and_model_of_the_old_network(qtbot, monkeypatch, tmp_path):
    window = new_window(qtbot)
    window.on_core_ready()
    open_through_the_menu(window, monkeypatch, trained_model_file(tmp_path))
    training = window.training
    assert training.epoch_plots.epochs and training.results.confusion_view.total > 0

    monkeypatch.setattr(window, "_ask_start_new", lambda: False)  # Cancel keeps everything
    window.new_action.trigger()
    assert training.checkpoint() is not None and training.epoch_plots.epochs

    monkeypatch.setattr(window, "_ask_start_new", lambda: True)
    window.new_action.trigger()
    assert window.builder.spec() == SEED.spec and training.config() == SEED.config
    assert training.checkpoint() is None and not training.has_results()
    assert training.epoch_plots.epochs == [] and training.batch_plot.points == 0
    assert training.results.confusion_view.total == 0
    assert training.results.results_label.text() == NO_RESULTS
    assert not training.continue_button.isEnabled()
    assert window.builder.model_note.text() == ""  # no model left to belong to a network
    assert QSettings().value(LAST_MODEL_KEY) is None  # a new start is not reopened at the next launch
    window.builder.undo_action.trigger()  # the network and the settings come back
    assert window.builder.spec() == PRESETS["d2l-mlp"].spec


def a_session_that_opened_a_model(qtbot, monkeypatch, folder):
    """A window that opened a trained model file through File > Open, then closed; returns it and the file.

    The caller keeps the window until the test ends, as qtbot does not: a window collected while the next one is
    built crashed the test run (in pyqtgraph, during garbage collection).
    """
    first = new_window(qtbot)
    first.on_core_ready()
    path = trained_model_file(folder)
    open_through_the_menu(first, monkeypatch, path)
    first.close()
    return first, path


def test_the_open_model_comes_back_at_the_next_launch_after_torch_loads(qtbot, monkeypatch, tmp_path, messages):
    _first, _ = a_session_that_opened_a_model(qtbot, monkeypatch, tmp_path)
    second = new_window(qtbot)
    assert second.training.checkpoint() is None  # PyTorch has not loaded yet
    second.on_core_ready()
    model = second.training.checkpoint()
    assert model is not None and model.epoch == 3 and model.spec == PRESETS["d2l-mlp"].spec
    assert second.training.epoch_plots.epochs == list(HISTORY)
    assert "model.safetensors" in second.predict.model_label.text()
    assert "Opened the last model again: model.safetensors" in second.statusBar().currentMessage()
    assert not messages


def test_a_last_model_gone_since_is_skipped_quietly_with_a_status_message(qtbot, monkeypatch, tmp_path, messages):
    _first, path = a_session_that_opened_a_model(qtbot, monkeypatch, tmp_path)
    path.unlink()

    second = new_window(qtbot)
    second.on_core_ready()
    assert second.training.checkpoint() is None
    assert not messages  # no box to dismiss at start-up
    status = second.statusBar().currentMessage()
    assert "The last model, model.safetensors, was not opened again" in status
    assert QSettings().value(LAST_MODEL_KEY) is None


@pytest.mark.slow
def test_a_trained_models_file_comes_back_at_the_next_launch(qtbot, fashion_root):
    first = new_window(qtbot)
    first.on_core_ready()
    first.training.set_config(replace(SEED.config, epochs=1, batch_size=32, val_size=50, device="cpu"))
    first.training.settings.folder_edit.setText(str(fashion_root))
    with qtbot.waitSignal(first.training.training_finished, timeout=60_000):
        first.training.start_button.click()
    trained = first.training.checkpoint()
    first.close()

    second = new_window(qtbot)
    second.on_core_ready()
    model = second.training.checkpoint()
    assert model is not None and model.test == trained.test


def test_file_dialogs_start_in_a_sensible_folder_for_their_kind_before_any_was_used(
    qtbot, monkeypatch, tmp_path, messages
):
    from pathlib import Path

    from fashion_desktop.core.paths import checkpoints_dir

    window = new_window(qtbot)
    window.on_core_ready()
    asked: list[tuple[str, str]] = []

    def record(kind):
        return lambda parent, title, start, *args: asked.append((kind, start)) or ("", "")

    monkeypatch.setattr(QFileDialog, "getOpenFileName", record("open"))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", record("save"))
    runs_models = checkpoints_dir()
    runs_models.mkdir(parents=True, exist_ok=True)
    window.open_action.trigger()
    assert asked.pop() == ("open", str(runs_models))  # where every run saves its model

    # A run's model opened from the Runs page does not make the app's own folder the place to save models in.
    window.open_model(trained_model_file(runs_models))
    window.save_action.trigger()
    assert asked.pop() == ("save", str(Path.home() / "model.safetensors"))
    window.model_export_actions["onnx"].trigger()
    assert asked.pop() == ("save", str(Path.home() / "fashion_network.onnx"))
