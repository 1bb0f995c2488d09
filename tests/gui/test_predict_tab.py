"""The Predict tab on real drops, real images and an untrained seed network."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from fashion_desktop.core.spec import CLASS_NAMES
from fashion_desktop.gui.predict_tab import NO_MODEL_HINT, TOP_BAR_COLOUR, PredictTab


@pytest.fixture(scope="module")
def checkpoint():
    from fashion_desktop.core.builder import build_model
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.presets import get_preset

    spec = get_preset("seed").spec
    return Checkpoint(spec, build_model(spec, seed=0).state_dict())


@pytest.fixture
def tab(qtbot):
    tab = PredictTab()
    qtbot.addWidget(tab)
    tab.resize(1280, 800)
    tab.show()
    qtbot.waitExposed(tab)
    return tab


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    """Two garment-like photos, a corrupt PNG and a text file."""
    shirt = Image.new("RGB", (240, 200), "white")
    ImageDraw.Draw(shirt).polygon([(60, 30), (180, 30), (230, 80), (190, 100), (180, 180), (60, 180), (50, 100),
                                   (10, 80)], fill=(40, 40, 60))  # fmt: skip
    trousers = Image.new("RGB", (160, 300), "white")
    draw = ImageDraw.Draw(trousers)
    draw.rectangle((40, 20, 120, 70), fill=(20, 30, 80))
    draw.rectangle((40, 20, 75, 280), fill=(20, 30, 80))
    draw.rectangle((85, 20, 120, 280), fill=(20, 30, 80))
    paths = {"shirt": tmp_path / "shirt.png", "trousers": tmp_path / "trousers.png"}
    shirt.save(paths["shirt"])
    trousers.save(paths["trousers"])
    paths["corrupt"] = tmp_path / "corrupt.png"
    paths["corrupt"].write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    paths["text"] = tmp_path / "notes.txt"
    paths["text"].write_text("not an image\n")
    return paths


def drag(tab: PredictTab, mime: QMimeData) -> tuple[bool, bool]:
    """Drag ``mime`` into the middle of the tab and drop it; whether the enter and the drop were accepted."""
    centre = QPoint(tab.width() // 2, tab.height() // 2)  # QDragEnterEvent takes a QPoint, QDropEvent a QPointF
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(tab, enter)
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(tab, drop)
    return enter.isAccepted(), drop.isAccepted()


def drop_files(tab: PredictTab, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    assert drag(tab, mime) == (True, True)


def item_texts(tab: PredictTab) -> list[str]:
    return [tab.image_list.item(row).text() for row in range(tab.image_list.count())]


def shown_class(text: str) -> str | None:
    return next((name for name in CLASS_NAMES if re.search(rf"\n{re.escape(name)} \d+\.\d%", text)), None)


def test_importing_the_tab_does_not_import_torch():
    code = "import sys, fashion_desktop.gui.predict_tab; sys.exit('torch' in sys.modules)"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode == 0


def test_dropped_images_are_classified_and_bad_files_show_their_error(tab, checkpoint, images):
    tab.set_model(checkpoint)
    drop_files(tab, images["shirt"], images["trousers"], images["corrupt"], images["text"])

    texts = item_texts(tab)
    assert len(texts) == 4
    assert all(shown_class(text) for text in texts[:2]), texts
    assert tab.image_list.currentRow() == 0
    shirt_probabilities = tab.chart.probabilities
    assert sum(shirt_probabilities) == pytest.approx(1, abs=1e-5)
    top = int(np.argmax(shirt_probabilities))
    assert shown_class(texts[0]) == CLASS_NAMES[top]
    assert CLASS_NAMES[top] in tab.result_label.text()
    colours = [pg.mkBrush(brush).color().name() for brush in tab.chart.bars.opts["brushes"]]
    assert colours[top] == TOP_BAR_COLOUR and len(set(colours)) == 2 and colours.count(TOP_BAR_COLOUR) == 1
    for row, name in ((2, "corrupt.png"), (3, "notes.txt")):
        item = tab.image_list.item(row)
        assert name in item.toolTip() and item.toolTip() in item.text() and not item.icon().isNull()
        assert shown_class(item.text()) is None

    tab.image_list.setCurrentRow(1)
    assert sum(tab.chart.probabilities) == pytest.approx(1, abs=1e-5)
    assert tab.chart.probabilities != shirt_probabilities
    assert not tab.seen_view.source().isNull() and not tab.original_view.source().isNull()

    tab.image_list.setCurrentRow(2)
    assert "corrupt.png" in tab.result_label.text()
    assert tab.chart.probabilities == (0.0,) * 10
    assert tab.seen_view.source().isNull()


def test_without_a_model_images_are_listed_and_classified_once_a_model_is_set(tab, checkpoint, images, tmp_path):
    assert tab.model_hint.isVisible() and tab.model_hint.text() == NO_MODEL_HINT
    drop_files(tab, images["shirt"], images["trousers"])
    assert tab.image_list.count() == 2
    assert not any(shown_class(text) for text in item_texts(tab))
    assert not tab.original_view.source().isNull() and not tab.seen_view.source().isNull()
    assert tab.chart.probabilities == (0.0,) * 10

    from fashion_desktop.core.checkpoint import Checkpoint

    messages = []
    tab.status_message.connect(messages.append)
    tab.set_model(Checkpoint.load(checkpoint.save(tmp_path / "model.safetensors")))
    assert not tab.model_hint.isVisible()
    assert all(shown_class(text) for text in item_texts(tab))
    assert sum(tab.chart.probabilities) == pytest.approx(1, abs=1e-5)
    assert messages == ["Classified 2 image(s) with the new model"]


def test_a_model_whose_weights_do_not_fit_leaves_the_tab_without_a_model(tab, checkpoint, images):
    from dataclasses import replace

    from fashion_desktop.core.presets import get_preset

    tab.set_model(checkpoint)
    drop_files(tab, images["shirt"])
    tab.set_model(replace(checkpoint, spec=get_preset("d2l-mlp").spec))  # seed weights, a 784-256-10 network
    assert tab.notice.isVisible() and "weights do not fit" in tab.notice.text()
    assert tab.model_hint.isVisible()
    assert shown_class(item_texts(tab)[0]) is None
    tab.set_model(checkpoint)
    assert not tab.notice.isVisible() and shown_class(item_texts(tab)[0])


def test_preprocessing_switches_update_the_model_input_and_probabilities(tab, checkpoint, images):
    tab.set_model(checkpoint)
    drop_files(tab, images["shirt"])

    def shown() -> tuple[np.ndarray, tuple[float, ...]]:
        image = tab.seen_view.source().toImage()
        assert (image.width(), image.height()) == (28, 28)
        pixels = np.array([[image.pixelColor(x, y).value() for x in range(28)] for y in range(28)])
        return pixels, tab.chart.probabilities

    tab.invert_box.setCurrentText("on")
    inverted, inverted_probabilities = shown()
    tab.invert_box.setCurrentText("off")
    plain, plain_probabilities = shown()
    assert inverted[0, 0] == 0 and plain[0, 0] == 255  # the white background: black once inverted
    assert plain_probabilities != inverted_probabilities
    assert sum(plain_probabilities) == pytest.approx(1, abs=1e-5)

    tab.invert_box.setCurrentText("auto")
    assert np.array_equal(shown()[0], inverted)  # a light background is inverted automatically
    tab.crop_box.setChecked(False)
    uncropped, _ = shown()
    assert not np.array_equal(uncropped, inverted)
    assert shown_class(item_texts(tab)[0])


def test_random_test_image_shows_its_true_class(tab, checkpoint, fashion_root):
    from fashion_desktop.core.data import load_arrays

    tab.set_model(checkpoint)
    tab.set_data_root(fashion_root)
    assert not tab.random_button.isEnabled()  # it needs torch, which loads after the window paints
    tab.on_core_ready()
    labels = load_arrays(fashion_root).test_labels
    for _ in range(3):
        tab.random_button.click()
    assert tab.image_list.count() == 3
    for row, text in enumerate(item_texts(tab)):
        index = int(re.match(r"Test image #(\d+)\n", text).group(1))
        assert text.endswith(f"true: {CLASS_NAMES[labels[index]]}")
        assert shown_class(text)
        tab.image_list.setCurrentRow(row)
        assert f"true: {CLASS_NAMES[labels[index]]}" in tab.result_label.text()
        assert sum(tab.chart.probabilities) == pytest.approx(1, abs=1e-5)


def test_random_test_image_without_data_says_so(tab, tmp_path):
    tab.set_data_root(tmp_path / "nowhere")
    tab.on_core_ready()
    tab.random_button.click()
    assert tab.notice.isVisible()
    assert "Fashion-MNIST not found" in tab.notice.text()
    assert tab.image_list.count() == 0


def test_a_dropped_folder_adds_its_images(tab, images, tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.png", "a.jpg", "c.webp", "d.gif", "sub/e.png"):
        Image.open(images["shirt"]).convert("RGB").save(folder / name)
    (folder / "readme.txt").write_text("hello")
    drop_files(tab, folder)
    names, results = zip(*(text.split("\n") for text in item_texts(tab)), strict=True)
    assert names == ("a.jpg", "b.png", "c.webp", "d.gif")
    assert set(results) == {"not classified: no model yet"}  # opened, not failed


def test_a_drag_without_local_files_is_ignored(tab):
    text = QMimeData()
    text.setText("/tmp/shirt.png")
    web = QMimeData()
    web.setUrls([QUrl("https://example.com/shirt.png")])
    assert drag(tab, text) == (False, False)
    assert drag(tab, web) == (False, False)
    assert tab.image_list.count() == 0
