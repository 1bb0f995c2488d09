"""The main window: tabs, menus, settings, model files, export, About, quitting, and a fast start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from PySide6.QtCore import QCoreApplication, qVersion
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QProgressDialog

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.paths import resolve_runs_path
from fashion_desktop.core.presets import PRESETS
from fashion_desktop.core.runs import RunStore
from fashion_desktop.gui import app as app_module
from fashion_desktop.gui import main_window as main_window_module
from fashion_desktop.gui.app import EXIT_AFTER_PAINT, app_icon, load_core_in_background
from fashion_desktop.gui.main_window import QUICK_STOP_MS, MainWindow
from fashion_desktop.gui.mistakes import TestImage
from tests.gui.test_training_tab import fake_download

FAST = replace(PRESETS["seed"].config, epochs=2, batch_size=32, val_size=50, device="cpu")
ENDLESS = replace(FAST, epochs=10_000)


@pytest.fixture
def window(qtbot) -> MainWindow:
    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    return main


@pytest.fixture
def messages(monkeypatch) -> list[tuple[str, str]]:
    """Message boxes record (kind, text) instead of blocking the test."""
    shown: list[tuple[str, str]] = []
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, lambda parent, title, text, *args, kind=kind: shown.append((kind, text)))
    return shown


def answer_file_dialogs(monkeypatch, path) -> None:
    for name in ("getOpenFileName", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, name, lambda *args: (str(path), ""))


def ready_window(qtbot, fashion_root, config=ENDLESS) -> MainWindow:
    """A shown main window with PyTorch loaded, set to train on the synthetic data."""
    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    main.on_core_ready()
    main.training.set_config(config)
    main.training.settings.folder_edit.setText(str(fashion_root))
    return main


def start_training(qtbot, window) -> None:
    window.training.start_button.click()
    qtbot.waitUntil(lambda: window.training.batch_plot.points > 0, timeout=30_000)
    assert window.training.is_training_model()


def refuse_questions(monkeypatch, window) -> list[str]:
    """The quit question records that it was asked and answers Cancel."""
    asked: list[str] = []
    monkeypatch.setattr(
        window, "_ask_save_before_quit", lambda: asked.append("asked") or QMessageBox.StandardButton.Cancel
    )
    return asked


def test_title_tabs_and_menus(window):
    assert window.windowTitle() == "Fashion Desktop"
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Builder", "Training", "Predict", "Learn"]
    menus = {action.text().replace("&", ""): action.menu() for action in window.menuBar().actions()}
    assert list(menus) == ["File", "Edit", "Training", "Help"]
    file_actions = [a.text().replace("&", "") for a in menus["File"].actions() if not a.isSeparator()]
    assert file_actions == [
        "New",
        "Open model...",
        "Save model...",
        "Score a labelled folder...",
        "Export as Python...",
        "Export model",
        "Quit",
    ]
    export_menu = next(a.menu() for a in menus["File"].actions() if a.text().replace("&", "") == "Export model")
    assert [a.text().replace("&", "") for a in export_menu.actions()] == [
        "As ONNX...",
        "As TorchScript...",
        "As a training script...",
    ]
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    assert window.about_action in menus["Help"].actions()
    assert window.device_label.text() == "Loading PyTorch..."


@pytest.mark.slow
def test_geometry_tab_and_network_persist_across_windows(qtbot):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.welcome_button.click()  # the first-run welcome, answered once
    qtbot.waitUntil(lambda: first.minimumSizeHint().height() <= 560)
    qtbot.wait(20)  # the window's own layout takes the smaller minimum
    first.resize(first.width(), 560)
    first.tabs.setCurrentIndex(2)
    first.builder.load_preset("small-cnn")
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    # Qt fits a restored window onto its screen, and the offscreen screen is narrower than the window: check heights.
    assert second.height() == 560  # the default is 800
    assert second.tabs.currentIndex() == 2
    assert second.builder.spec() == PRESETS["small-cnn"].spec
    assert not second.builder.undo_stack.canUndo()  # a restored network is a fresh start, not an edit


def test_new_asks_first_then_starts_again_from_the_seed_network_and_undo_brings_back_the_old(window, monkeypatch):
    window.builder.load_preset("d2l-mlp")
    asked = []
    monkeypatch.setattr(window, "_ask_start_new", lambda: asked.append(True) and False)  # Cancel
    window.new_action.trigger()
    assert asked and window.builder.spec() == PRESETS["d2l-mlp"].spec
    assert window.training.config() == PRESETS["d2l-mlp"].config

    monkeypatch.setattr(window, "_ask_start_new", lambda: True)
    window.new_action.trigger()
    assert window.builder.spec() == PRESETS["seed"].spec
    assert window.training.config() == PRESETS["seed"].config
    window.builder.undo_action.trigger()
    assert window.builder.spec() == PRESETS["d2l-mlp"].spec
    assert window.training.config() == PRESETS["d2l-mlp"].config


def choose_preset(window, name: str) -> None:
    """Pick a preset in the Preset box, as a click on its entry does."""
    combo = window.builder.preset_combo
    index = combo.findData(name)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_undo_of_a_preset_puts_back_the_preset_box_and_the_training_settings(window):
    choose_preset(window, "d2l-mlp")
    assert window.training.config() == PRESETS["d2l-mlp"].config
    window.builder.undo_action.trigger()  # Edit > Undo (Ctrl+Z)
    assert window.builder.spec() == PRESETS["seed"].spec
    assert window.builder.preset_combo.currentData() == "seed"
    assert window.training.config() == PRESETS["seed"].config
    assert window.builder.preset_description.text() == PRESETS["seed"].description
    window.builder.redo_action.trigger()
    assert window.builder.preset_combo.currentData() == "d2l-mlp"
    assert window.training.config() == PRESETS["d2l-mlp"].config


def test_a_chosen_preset_sets_the_training_settings(window):
    window.builder.load_preset("d2l-mlp")
    assert window.training.config() == PRESETS["d2l-mlp"].config


def test_opening_a_damaged_model_shows_why_and_keeps_the_network(window, tmp_path, monkeypatch, messages):
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    window.builder.load_preset("small-cnn")
    answer_file_dialogs(monkeypatch, damaged)
    window.open_action.trigger()
    assert len(messages) == 1 and messages[0][0] == "critical"
    assert "damaged.safetensors" in messages[0][1] and "Fashion Desktop model" in messages[0][1]
    assert window.builder.spec() == PRESETS["small-cnn"].spec


def test_opening_a_saved_model_loads_its_network_and_settings(window, tmp_path, monkeypatch, messages):
    preset = PRESETS["d2l-mlp"]
    path = Checkpoint(preset.spec, build_model(preset.spec).state_dict(), config=preset.config).save(
        tmp_path / "model.safetensors"
    )
    answer_file_dialogs(monkeypatch, path)
    window.open_action.trigger()
    assert messages == []
    assert window.builder.spec() == preset.spec
    assert window.training.config() == preset.config
    assert "model.safetensors" in window.statusBar().currentMessage()

    assert "belongs to this network" in window.builder.model_note.text()

    window.builder.undo_stack.undo()  # opening a model is one undoable step in the builder
    assert window.builder.spec() == PRESETS["seed"].spec
    assert window.training.checkpoint() is not None and window.training.checkpoint().spec == preset.spec
    assert "belongs to another network" in window.builder.model_note.text()  # says which network is whose


def saved_model(tmp_path, preset_name="d2l-mlp"):
    preset = PRESETS[preset_name]
    return Checkpoint(preset.spec, build_model(preset.spec, seed=0).state_dict(), config=preset.config).save(
        tmp_path / "model.safetensors"
    )


def test_export_as_python_exports_the_trained_models_network_when_the_builder_shows_another(
    window, tmp_path, monkeypatch
):
    from fashion_desktop.core.builder import to_python

    path = saved_model(tmp_path)
    answer_file_dialogs(monkeypatch, path)
    window.open_action.trigger()
    window.builder.add_layer("ReLU")  # an edit after the model was trained
    target = tmp_path / "network.py"
    answer_file_dialogs(monkeypatch, target)
    asked = []
    monkeypatch.setattr(window, "_ask_which_network_to_export", lambda: asked.append(True) or "model")
    window.export_action.trigger()
    assert asked and target.read_text() == to_python(PRESETS["d2l-mlp"].spec)  # its load_weights() fits the file
    monkeypatch.setattr(window, "_ask_which_network_to_export", lambda: "builder")
    window.export_action.trigger()
    assert target.read_text() == to_python(window.builder.spec())


def send_drop(widget, *paths) -> tuple[bool, bool]:
    """A real drag of local files into ``widget`` and a drop; whether the enter and the drop were accepted."""
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    centre = QPoint(widget.width() // 2, widget.height() // 2)
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted(), drop.isAccepted()


@pytest.mark.parametrize("tab", ["builder", "training", "predict"])
def test_a_model_file_dropped_on_any_tab_opens_as_a_model(window, tmp_path, messages, tab):
    path = saved_model(tmp_path)
    window.tabs.setCurrentWidget(getattr(window, tab))
    targets = {"builder": window.builder.overview.summary_table, "training": window.training, "predict": window.predict}
    target = targets[tab]
    send_drop(target, path)
    assert messages == []
    assert window.builder.spec() == PRESETS["d2l-mlp"].spec
    assert window.training.checkpoint() is not None and window.training.checkpoint().spec == PRESETS["d2l-mlp"].spec
    assert window.predict.image_list.count() == 0  # not listed as a broken image
    assert "model.safetensors" in window.predict.model_label.text()


def test_the_first_run_welcome_says_what_to_do_until_dismissed(qtbot):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    assert first.welcome.isVisible()
    text = first.welcome.findChild(QLabel).text()
    assert "preset" in text and "Start" in text and "Predict" in text
    first.welcome_button.click()
    assert not first.welcome.isVisible()
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    assert not second.welcome.isVisible()


@pytest.mark.slow
def test_the_builder_is_locked_while_a_run_trains(qtbot, fashion_root):
    window = ready_window(qtbot, fashion_root)
    start_training(qtbot, window)
    builder = window.builder
    assert builder.is_locked() and builder.lock_label.isVisible()
    assert not builder.layer_palette.add_button.isEnabled() and not builder.preset_combo.isEnabled()
    before = builder.spec()
    builder.add_layer("ReLU")
    builder.undo_action.trigger()
    assert builder.spec() == before
    window.training.request_stop()
    assert window.training.wait_for_stop(30_000)
    assert not builder.is_locked() and builder.layer_palette.add_button.isEnabled()
    builder.add_layer("ReLU")
    assert builder.spec() != before


@pytest.mark.slow
def test_a_test_image_from_the_mistakes_gallery_opens_on_the_predict_tab(window):
    preset = PRESETS["seed"]
    checkpoint = Checkpoint(preset.spec, build_model(preset.spec, seed=0).state_dict(), config=preset.config)
    window.predict.set_model(checkpoint)
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 10:18] = 200  # a bright upright bar, trouser-like
    window.training.predict_requested.emit(TestImage(pixels, true_class=1, index=17))
    assert window.tabs.currentWidget() is window.predict
    item = window.predict.image_list.currentItem()
    assert item is not None and "Test image #17" in item.text()


def test_save_model_without_a_model_says_so(window, monkeypatch, messages):
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: asked.append(args) or ("", ""))
    window.save_action.trigger()
    assert asked == [] and [kind for kind, _ in messages] == ["information"]


def test_save_model_writes_an_opened_model_again(window, tmp_path, monkeypatch):
    spec = PRESETS["seed"].spec
    opened = Checkpoint(spec, build_model(spec).state_dict()).save(tmp_path / "opened.safetensors")
    answer_file_dialogs(monkeypatch, opened)
    window.open_action.trigger()
    answer_file_dialogs(monkeypatch, tmp_path / "copy")
    assert window.save_model() == tmp_path / "copy.safetensors"
    assert Checkpoint.load(tmp_path / "copy.safetensors").spec == spec


def test_export_as_python_writes_code_that_compiles(window, tmp_path, monkeypatch):
    answer_file_dialogs(monkeypatch, tmp_path / "network.py")
    window.export_action.trigger()
    code = (tmp_path / "network.py").read_text()
    assert "class FashionNetwork(nn.Module)" in code
    compile(code, "network.py", "exec")


def test_export_of_an_invalid_network_explains_instead(window, tmp_path, monkeypatch, messages):
    window.builder.layer_list.view.setCurrentRow(1)
    window.builder.add_layer("Conv2d")
    answer_file_dialogs(monkeypatch, tmp_path / "network.py")
    window.export_action.trigger()
    assert not (tmp_path / "network.py").exists()
    assert messages[0][0] == "warning" and "needs a 3-D input" in messages[0][1]


def test_about_names_the_versions_and_device(window):
    window.on_core_ready()
    assert window.device_label.text() == "Device: CPU" or window.device_label.text().startswith("Device: CUDA")
    text = window.about_text()
    assert f"PyTorch {torch.__version__}" in text and f"Qt {qVersion()}" in text
    assert window.device_label.text().removeprefix("Device: ") in text


def test_tab_status_messages_reach_the_status_bar(window):
    window.builder.status_message.emit("Doing something")
    assert window.statusBar().currentMessage() == "Doing something"


@pytest.mark.parametrize(
    ("answer", "closes", "saves"),
    [
        (QMessageBox.StandardButton.Cancel, False, False),
        (QMessageBox.StandardButton.Discard, True, False),
        (QMessageBox.StandardButton.Save, True, True),
    ],
)
def test_quitting_while_training_asks_then_stops_the_training(window, monkeypatch, answer, closes, saves):
    calls = []
    monkeypatch.setattr(window.training, "is_training", lambda: True)
    monkeypatch.setattr(window.training, "is_training_model", lambda: True)
    monkeypatch.setattr(window.training, "request_stop", lambda: calls.append("stop"))
    monkeypatch.setattr(window.training, "wait_for_stop", lambda ms: calls.append(("wait", ms)) or True)
    monkeypatch.setattr(window, "_ask_save_before_quit", lambda: answer)
    monkeypatch.setattr(window, "_model_to_save", lambda: "a model")
    monkeypatch.setattr(window, "save_model", lambda: calls.append("save") or "saved")
    assert window.close() is closes
    expected = [] if answer == QMessageBox.StandardButton.Cancel else ["stop", ("wait", QUICK_STOP_MS)]
    assert calls == expected + (["save"] if saves else [])
    monkeypatch.setattr(window.training, "is_training", lambda: False)  # so the fixture's clean-up can close it


@pytest.mark.slow
def test_closing_during_a_real_run_saves_the_model_trained_so_far(qtbot, fashion_root, tmp_path, monkeypatch):
    window = ready_window(qtbot, fashion_root)
    start_training(qtbot, window)
    monkeypatch.setattr(window, "_ask_save_before_quit", lambda: QMessageBox.StandardButton.Save)
    answer_file_dialogs(monkeypatch, tmp_path / "kept")
    assert window.close()
    assert not window.isVisible() and not window.training.is_training()
    saved = Checkpoint.load(tmp_path / "kept.safetensors")
    assert saved.spec == PRESETS["seed"].spec and saved.config == ENDLESS
    assert saved.weights.keys() == build_model(saved.spec).state_dict().keys()


@pytest.mark.slow
def test_a_close_never_leaves_the_training_thread_running(qtbot, fashion_root, monkeypatch):
    # No quick wait: the stop is always still under way, as when a batch takes longer than the wait.
    monkeypatch.setattr(main_window_module, "QUICK_STOP_MS", 0)
    window = ready_window(qtbot, fashion_root)
    start_training(qtbot, window)
    monkeypatch.setattr(window, "_ask_save_before_quit", lambda: QMessageBox.StandardButton.Discard)
    shown = []
    monkeypatch.setattr(window, "_stopping_dialog", lambda: shown.append(True) or QProgressDialog(window))
    assert window.close()
    assert shown and not window.training.is_training()


@pytest.mark.slow
def test_a_close_that_gives_up_waiting_keeps_the_window_open(qtbot, fashion_root, monkeypatch):
    monkeypatch.setattr(main_window_module, "QUICK_STOP_MS", 0)
    window = ready_window(qtbot, fashion_root)
    start_training(qtbot, window)
    monkeypatch.setattr(window, "_ask_save_before_quit", lambda: QMessageBox.StandardButton.Discard)
    monkeypatch.setattr(QProgressDialog, "exec", lambda dialog: dialog.cancel())  # "Don't quit", at once
    assert not window.close()
    assert window.isVisible()
    qtbot.waitUntil(lambda: not window.training.is_training(), timeout=10_000)  # the stop goes on regardless


def test_closing_during_a_download_stops_it_without_asking_to_save(qtbot, fashion_root, tmp_path, monkeypatch):
    fake_download(monkeypatch, 100_000)
    window = ready_window(qtbot, fashion_root)
    asked = refuse_questions(monkeypatch, window)
    window.training.settings.folder_edit.setText(str(tmp_path))
    window.training.settings.download_button.click()
    qtbot.waitUntil(lambda: window.training.progress.run_bar.format().startswith("Downloading"))
    assert window.training.is_training() and not window.training.is_training_model()
    assert window.close()
    assert asked == [] and not window.training.is_training()
    assert not (tmp_path / "FashionMNIST").exists()


@pytest.mark.slow
def test_quitting_the_application_stops_the_training(qtbot, fashion_root):
    window = ready_window(qtbot, fashion_root)
    start_training(qtbot, window)
    QCoreApplication.instance().aboutToQuit.emit()  # as when the session ends: no closeEvent comes first
    assert not window.training.is_training()


@pytest.mark.slow
def test_the_training_settings_and_data_folder_persist_when_the_window_closes(qtbot, tmp_path):
    first = MainWindow()
    qtbot.addWidget(first)
    first.training.set_config(replace(FAST, epochs=7, lr=0.0125))
    first.training.settings.folder_edit.setText(str(tmp_path))  # typed, never Start: only closing saves them
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.training.config() == replace(FAST, epochs=7, lr=0.0125)
    assert second.training.settings.folder_edit.text() == str(tmp_path)
    second.training.settings.editor("lr").setText(
        "fast"
    )  # settings that could not train are not kept: the last good ones are
    second.close()
    third = MainWindow()
    qtbot.addWidget(third)
    assert third.training.config() == replace(FAST, epochs=7, lr=0.0125)


@pytest.mark.slow
def test_a_run_records_its_model_file_which_the_runs_page_opens(qtbot, fashion_root, tmp_path):
    window = ready_window(qtbot, fashion_root, FAST)
    with qtbot.waitSignal(window.training.training_finished, timeout=60_000):
        window.training.start_button.click()
    with RunStore(resolve_runs_path()) as store:
        (run,) = store.list_runs()
    # Saved after every epoch beside the test's own run history, never in the user's data folder.
    assert run.model_path.is_file() and run.model_path.parent == tmp_path / "checkpoints"
    assert Checkpoint.load(run.model_path).epoch == 2
    window.builder.load_preset("small-cnn")
    panel = window.training.runs_panel
    panel.select_runs([run.id])
    assert panel.open_button.isEnabled() and panel.open_action.isEnabled()
    panel.open_button.click()
    assert window.builder.spec() == PRESETS["seed"].spec
    assert run.model_path.name in window.statusBar().currentMessage()


def test_the_core_loads_on_its_own_thread_then_the_window_is_ready(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.core_ready, timeout=60_000):
        thread = load_core_in_background(window)
        assert window.core_loader is not None and window.core_thread is thread
    qtbot.waitUntil(lambda: window.core_thread is None, timeout=10_000)  # the window lets the finished thread go
    assert thread.isFinished()
    assert window.device_label.text().startswith("Device: ") and window.training.start_button.isEnabled()


def test_the_core_loader_thread_ends_without_the_event_loop(qtbot):
    """As in run_app when the window is closed while PyTorch loads: app.exec() has returned, then it waits."""
    window = MainWindow()
    qtbot.addWidget(window)
    thread = load_core_in_background(window)
    assert thread.wait(60_000)  # no event is processed meanwhile
    qtbot.waitUntil(lambda: window.core_thread is None, timeout=10_000)


def test_a_core_that_does_not_load_says_why(qtbot, monkeypatch):
    monkeypatch.setattr(app_module, "CORE_MODULES", (*app_module.CORE_MODULES, "fashion_desktop.no_such_module"))
    window = MainWindow()
    qtbot.addWidget(window)
    ready = []
    window.core_ready.connect(lambda: ready.append(True))
    with qtbot.waitSignal(window.core_failed, timeout=60_000) as failed:
        load_core_in_background(window)
    qtbot.waitUntil(lambda: window.core_thread is None, timeout=10_000)
    assert "no_such_module" in failed.args[0]
    box = window.findChild(QMessageBox)
    assert box is not None and box.isVisible() and "no_such_module" in box.text()  # shown, without blocking
    assert window.device_label.text() == "Device: none" and not ready
    box.close()


def test_the_app_icon_has_every_size():
    assert sorted(size.width() for size in app_icon().availableSizes()) == [16, 32, 48, 64, 128, 256]


@pytest.mark.slow
def test_the_window_is_drawn_before_torch_is_imported(tmp_path):
    code = "import sys, fashion_desktop.gui.app; print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"

    # The app's own QSettings and data folder, out of the developer's profile: quitting closes the window,
    # which saves its settings.
    env = {
        **os.environ,
        EXIT_AFTER_PAINT: "1",
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    launch = subprocess.run(
        [sys.executable, "-m", "fashion_desktop"], capture_output=True, text=True, env=env, timeout=120
    )
    assert launch.returncode == 0, launch.stderr
    assert launch.stdout.startswith("first paint after ")
    assert (tmp_path / "config" / "Fashion Desktop" / "Fashion Desktop.conf").is_file()  # not the developer's


@pytest.mark.parametrize("format_name", ["onnx", "torchscript", "script"])
def test_export_model_menu_items_write_their_file(qtbot, tmp_path, monkeypatch, format_name):
    from fashion_desktop.core.builder import build_model
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.presets import get_preset

    preset = get_preset("seed")
    path = Checkpoint(preset.spec, build_model(preset.spec, seed=0).state_dict(), preset.config).save(
        tmp_path / "m.safetensors"
    )
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.open_model(path)
    target = tmp_path / f"out-{format_name}"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.model_export_actions[format_name].trigger()  # as File > Export model > ... does
    (written,) = tmp_path.glob(f"out-{format_name}*")
    assert written.stat().st_size > 0
    if format_name == "script":
        compile(written.read_text(), str(written), "exec")


def test_export_model_without_a_model_says_so(qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *args: shown.append(args[2]))
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.export_model("onnx") is None and "no trained model" in shown[0]


def test_the_builder_checks_the_head_against_the_loss_as_soon_as_it_changes(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.builder.load_preset("d2l-mlp", undoable=False)  # ends with logits, trained with CrossEntropy
    window.tabs.setCurrentWidget(window.training)
    combo = window.training.settings.editor("loss").combo
    before = window.builder.overview.problems_label.text()
    combo.setCurrentIndex(combo.findData("nll"))  # as a user picks NLLLoss, with the Builder not shown
    assert "NLLLoss expects log-probabilities" in window.builder.overview.problems_label.text()
    assert "NLLLoss" not in before
    assert window.tabs.currentWidget() is window.training  # heard without a switch back to the Builder


def test_the_app_follows_the_systems_dark_mode(qapp):
    from PySide6.QtCore import Qt

    from fashion_desktop.gui.app import _apply_colour_scheme
    from fashion_desktop.gui.forms import is_dark

    original = qapp.palette()
    try:
        _apply_colour_scheme(qapp, Qt.ColorScheme.Dark)  # as QStyleHints.colorSchemeChanged reports it
        assert is_dark(qapp.palette())
        _apply_colour_scheme(qapp, Qt.ColorScheme.Light)
        assert not is_dark(qapp.palette())
    finally:
        qapp.setPalette(original)


def test_file_dialogs_start_in_the_folder_last_used_for_their_kind_of_file(window, tmp_path, monkeypatch):
    models, exports = tmp_path / "models", tmp_path / "exports"
    models.mkdir()
    exports.mkdir()
    path = saved_model(models)
    answer_file_dialogs(monkeypatch, path)
    window.open_action.trigger()
    answer_file_dialogs(monkeypatch, exports / "network.py")
    monkeypatch.setattr(window, "_ask_which_network_to_export", lambda: "model")
    window.export_action.trigger()
    asked = []
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda parent, title, start, *a: asked.append(start) or ("", "")
    )
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda parent, title, start, *a: asked.append(start) or ("", "")
    )
    window.open_action.trigger()
    window.export_action.trigger()
    assert asked == [str(models), str(exports / "fashion_network.py")]
