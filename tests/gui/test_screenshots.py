"""Screenshots of every tab in its typical states, to look at: set FASHION_DESKTOP_SHOTS=DIR to keep them.

Each shot is checked for being the window's size and not a blank fill; whether it looks right is for a person to
judge (clipped text, overlaps, empty plots), so keep the files and open them after a change to the GUI.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from fashion_desktop.core.presets import get_preset
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.resources import resource_path

SIZE = (1280, 800)  # a common laptop window; the offscreen screen is smaller, which Qt allows for a resize()
SEED = get_preset("seed")
# Keep-best on a rate that overshoots, so the best-epoch marker shows; eight epochs give curves with a shape.
SHOWN = replace(SEED.config, epochs=8, batch_size=32, val_size=50, device="cpu", keep_best=True)


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("FASHION_DESKTOP_SHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def window(qtbot, fashion_root) -> MainWindow:
    main = MainWindow()
    qtbot.addWidget(main)
    main.resize(*SIZE)
    main.show()
    qtbot.waitExposed(main)
    main.on_core_ready()
    main.training.set_config(SHOWN)
    main.training.settings.folder_edit.setText(str(fashion_root))
    return main


def save(qtbot, window: MainWindow, shots: Path, name: str, size: tuple[int, int] = SIZE) -> Path:
    """Grab the whole window as it is drawn now, check the picture, and write it as ``name``.png."""
    qtbot.wait(60)  # pending layouts, and the Training tab's batch redraw
    pixmap = window.grab()
    ratio = pixmap.devicePixelRatio()
    assert (pixmap.width(), pixmap.height()) == (round(size[0] * ratio), round(size[1] * ratio))
    assert _colours(pixmap.toImage()) > 20, f"{name} is (nearly) one flat colour"
    path = shots / f"{name}.png"
    assert pixmap.save(str(path)) and path.stat().st_size > 0
    return path


def _colours(image: QImage) -> int:
    """How many distinct colours a 64x40 grid of samples finds."""
    xs, ys = np.linspace(0, image.width() - 1, 64, dtype=int), np.linspace(0, image.height() - 1, 40, dtype=int)
    return len({image.pixel(int(x), int(y)) for x in xs for y in ys})


def test_builder(qtbot, window, shots):
    window.tabs.setCurrentWidget(window.builder)
    window.builder.layer_list.view.setCurrentRow(1)
    save(qtbot, window, shots, "builder-idle")
    window.builder.add_layer("Conv2d")  # after fc1: a Conv2d needs a 3-D input
    assert window.builder.spec().errors()
    save(qtbot, window, shots, "builder-invalid")


@pytest.mark.slow
def test_training(qtbot, window, shots):
    training = window.training
    window.tabs.setCurrentWidget(training)
    save(qtbot, window, shots, "training-idle")

    training.set_config(replace(SHOWN, epochs=10_000))
    training.start_button.click()
    qtbot.waitUntil(lambda: len(training.epoch_plots.epochs) >= 3, timeout=60_000)
    qtbot.wait(300)  # a few batches of the next epoch
    save(qtbot, window, shots, "training-running")
    training.request_stop()
    assert training.wait_for_stop(30_000)

    training.set_config(SHOWN)
    with qtbot.waitSignal(training.training_finished, timeout=60_000):
        training.start_button.click()
    assert training.results.confusion_view.total > 0
    save(qtbot, window, shots, "training-finished")
    training.results_tabs.setCurrentWidget(training.runs_panel)
    training.runs_panel.select_runs([run.id for run in training.runs_panel.store.list_runs()])
    save(qtbot, window, shots, "training-runs")


@pytest.mark.slow
def test_predict(qtbot, window, shots, tmp_path):
    with qtbot.waitSignal(window.training.training_finished, timeout=60_000):
        window.training.start_button.click()
    predict = window.predict
    window.tabs.setCurrentWidget(predict)
    predict._add_paths([resource_path("samples", "dress.png")])
    qtbot.waitUntil(lambda: not predict.is_preparing(), timeout=30_000)
    predict.image_list.setCurrentRow(0)
    assert predict.chart.probabilities != (0.0,) * 10
    save(qtbot, window, shots, "predict")

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    predict._add_paths([corrupt])
    qtbot.waitUntil(lambda: not predict.is_preparing(), timeout=30_000)
    predict.image_list.setCurrentRow(predict.image_list.count() - 1)
    save(qtbot, window, shots, "predict-corrupt")


# The Builder, the Predict tab and the first-run window at a large and a small size, in a light and a dark palette.
# Run this file again with QT_SCALE_FACTOR=2 for the high-DPI look: the file names then say "x2".
LOOKS = [((1600, 1000), "light"), ((1024, 768), "light"), ((1600, 1000), "dark"), ((1024, 768), "dark")]


@pytest.fixture(params=LOOKS, ids=[f"{w}x{h}-{palette}" for (w, h), palette in LOOKS])
def look(request, qapp, qtbot, fashion_root):
    """A main window at one size and palette, with PyTorch loaded; yields (window, size, name suffix)."""
    from fashion_desktop.gui.app import dark_palette

    size, palette = request.param
    original = qapp.palette()
    if palette == "dark":
        qapp.setPalette(dark_palette())
    main = MainWindow()
    qtbot.addWidget(main)
    main.resize(*size)
    main.show()
    qtbot.waitExposed(main)
    main.on_core_ready()
    main.training.settings.folder_edit.setText(str(fashion_root))
    scale = os.environ.get("QT_SCALE_FACTOR", "")
    suffix = f"{size[0]}x{size[1]}-{palette}" + (f"-x{scale}" if scale and scale != "1" else "")
    yield main, size, suffix
    main.close()
    qapp.setPalette(original)


def test_builder_looks(qtbot, look, shots):
    window, size, suffix = look
    save(qtbot, window, shots, f"main-welcome-{suffix}", size)  # the first-run window, welcome included
    window.welcome_button.click()
    window.tabs.setCurrentWidget(window.builder)
    builder = window.builder
    builder.load_preset("small-cnn")
    builder.layer_list.view.setCurrentRow(builder.layer_list.view.count() - 1)
    builder.add_layer("Softmax")  # a warning row, under CrossEntropy
    builder.layer_list.view.setCurrentRow([layer.kind for layer in builder.spec().layers].index("Dropout"))
    editor = builder.properties.options_form.editor("p")
    editor.setValue(1.5)  # an invalid value, explained beside its box
    problems = builder.overview.problems_label.text()
    assert "p must be" in problems and "can train" not in problems
    save(qtbot, window, shots, f"builder-{suffix}", size)
    builder.layer_list.view.setCurrentRow(2)  # an activation: its plot
    builder.set_locked("A training is using this network: stop it (Training tab) to edit the network again.")
    assert builder.lock_label.isVisibleTo(window) and not builder.preset_combo.isEnabled()
    save(qtbot, window, shots, f"builder-locked-{suffix}", size)


def test_predict_looks(qtbot, look, shots):
    from fashion_desktop.core.builder import build_model
    from fashion_desktop.core.checkpoint import Checkpoint

    window, size, suffix = look
    window.welcome_button.click()
    window.tabs.setCurrentWidget(window.predict)
    predict = window.predict
    spec = SEED.spec
    predict.set_model(Checkpoint(spec, build_model(spec, seed=0).state_dict(), SEED.config), source="seed.safetensors")
    predict._add_paths([resource_path("samples", "dress.png")])
    qtbot.waitUntil(lambda: not predict.is_preparing(), timeout=30_000)
    predict.saliency.box.setChecked(True)
    predict.image_list.setCurrentRow(0)
    save(qtbot, window, shots, f"predict-{suffix}", size)


def test_training_data_looks(qtbot, look, shots, tmp_path, monkeypatch):
    """The data section with an image folder: its classes, framed samples and skipped files, at each look."""
    from tests.core.test_folders import make_classes

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    window, size, suffix = look
    window.welcome_button.click()
    window.tabs.setCurrentWidget(window.training)
    photos = tmp_path / "photos"
    make_classes(photos / "train", {name: 6 for name in ("bag", "dress", "pullover", "shoes", "shorts", "t-shirt")})
    (photos / "train" / "dress" / "torn.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    data = window.training.settings.data
    data.dataset_combo.setCurrentIndex(data.dataset_combo.findData("folder"))
    data.images_edit.setText(str(photos))
    data.size_combo.setCurrentIndex(data.size_combo.findData(64))
    data.color_check.setChecked(True)
    qtbot.waitUntil(lambda: not data.is_scanning(), timeout=30_000)
    data.skipped_button.click()
    save(qtbot, window, shots, f"training-data-{suffix}", size)
