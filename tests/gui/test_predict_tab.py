"""The Predict tab on real drops, real images and an untrained seed network."""

from __future__ import annotations

import csv
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
from fashion_desktop.gui.predict import PredictTab
from fashion_desktop.gui.predict.chart import TOP_BAR_COLOUR
from fashion_desktop.gui.predict.saliency import SALIENCY_CHOICES
from fashion_desktop.gui.predict.tab import NO_MODEL_HINT


def untrained(preset: str):
    from fashion_desktop.core.builder import build_model
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.presets import get_preset

    spec = get_preset(preset).spec
    return Checkpoint(spec, build_model(spec, seed=0).state_dict())


@pytest.fixture(scope="module")
def checkpoint():
    return untrained("seed")


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
    ImageDraw.Draw(shirt).polygon(
        [(60, 30), (180, 30), (230, 80), (190, 100), (180, 180), (60, 180), (50, 100), (10, 80)], fill=(40, 40, 60)
    )
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


def drop_files(qtbot, tab: PredictTab, *paths: Path) -> None:
    """Drop the files on the tab and wait, as a person would, until every one is prepared and classified."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    assert drag(tab, mime) == (True, True)
    settle(qtbot, tab)


def settle(qtbot, tab: PredictTab) -> None:
    """Wait until the tab's background work (after a drop or a switch change) has come back."""
    qtbot.waitUntil(lambda: not tab.is_preparing(), timeout=30_000)


def item_texts(tab: PredictTab) -> list[str]:
    return [tab.image_list.item(row).text() for row in range(tab.image_list.count())]


def shown_class(text: str) -> str | None:
    return next((name for name in CLASS_NAMES if re.search(rf"\n{re.escape(name)} \d+\.\d%", text)), None)


def test_importing_the_tab_does_not_import_torch():
    code = "import sys, fashion_desktop.gui.predict; sys.exit('torch' in sys.modules)"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode == 0


def test_dropped_images_are_classified_and_bad_files_show_their_error(qtbot, tab, checkpoint, images):
    tab.set_model(checkpoint)
    drop_files(qtbot, tab, images["shirt"], images["trousers"], images["corrupt"], images["text"])

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
    # Not the empty tab's "Drop images here": the views say why there is no picture.
    assert tab.original_view.text() == tab.seen_view.text() == "Cannot read this file"
    tab.image_list.setCurrentRow(0)
    assert tab.original_view.text() == ""  # a picture again


def test_without_a_model_images_are_listed_and_classified_once_a_model_is_set(qtbot, tab, checkpoint, images, tmp_path):
    assert tab.model_hint.isVisible() and tab.model_hint.text() == NO_MODEL_HINT
    drop_files(qtbot, tab, images["shirt"], images["trousers"])
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
    assert messages == ["Classified 2 images with the new model"]


def test_a_model_whose_weights_do_not_fit_leaves_the_tab_without_a_model(qtbot, tab, checkpoint, images):
    from dataclasses import replace

    from fashion_desktop.core.presets import get_preset

    tab.set_model(checkpoint)
    drop_files(qtbot, tab, images["shirt"])
    tab.set_model(replace(checkpoint, spec=get_preset("d2l-mlp").spec))  # seed weights, a 784-256-10 network
    assert tab.notice.isVisible() and "weights do not fit" in tab.notice.text()
    assert tab.model_hint.isVisible()
    assert shown_class(item_texts(tab)[0]) is None
    tab.set_model(checkpoint)
    assert not tab.notice.isVisible() and shown_class(item_texts(tab)[0])


def test_preprocessing_switches_update_the_model_input_and_probabilities(qtbot, tab, checkpoint, images):
    tab.set_model(checkpoint)
    drop_files(qtbot, tab, images["shirt"])

    def shown() -> tuple[np.ndarray, tuple[float, ...]]:
        settle(qtbot, tab)  # each switch prepares the photo again in the background
        image = tab.seen_view.source().toImage()
        assert (image.width(), image.height()) == (28, 28)
        pixels = np.array([[image.pixelColor(x, y).value() for x in range(28)] for y in range(28)])
        return pixels, tab.chart.probabilities

    tab.invert_box.setCurrentText("on")
    inverted, inverted_probabilities = shown()
    tab.invert_box.setCurrentText("off")
    plain, plain_probabilities = shown()
    # The separated background is black either way (core.segment); inverting flips the garment's tones
    assert inverted[0, 0] == plain[0, 0] == 0 and not np.array_equal(inverted, plain)
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
    assert "Browse... on the Training tab" in tab.notice.text() and "--data" not in tab.notice.text()
    assert tab.image_list.count() == 0


def test_a_dropped_folder_adds_its_images(qtbot, tab, images, tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.png", "a.jpg", "c.webp", "d.gif", "sub/e.png"):
        Image.open(images["shirt"]).convert("RGB").save(folder / name)
    (folder / "readme.txt").write_text("hello")
    drop_files(qtbot, tab, folder)
    names, results = zip(*(text.split("\n") for text in item_texts(tab)), strict=True)
    assert names == ("a.jpg", "b.png", "c.webp", "d.gif")
    assert set(results) == {"Not classified: no model yet"}  # opened, not failed


def test_a_drag_without_local_files_is_ignored(tab):
    text = QMimeData()
    text.setText("/tmp/shirt.png")
    web = QMimeData()
    web.setUrls([QUrl("https://example.com/shirt.png")])
    assert drag(tab, text) == (False, False)
    assert drag(tab, web) == (False, False)
    assert tab.image_list.count() == 0


# Saliency overlay


def shown_rgb(tab: PredictTab, view=None) -> np.ndarray:
    """The 28x28 model input as shown (or the saliency ``view`` beside it), (28, 28, 3) RGB."""
    image = (view or tab.seen_view).source().toImage()
    assert (image.width(), image.height()) == (28, 28)
    return np.array([[image.pixelColor(x, y).getRgb()[:3] for x in range(28)] for y in range(28)], dtype=np.uint8)


def expected_overlay(checkpoint, seen: np.ndarray, method: str, target: int, saliency=None) -> np.ndarray:
    """What the tab should show, computed independently with the core's own functions (``saliency`` by default)."""
    from fashion_desktop.core import explain
    from fashion_desktop.core.inference import Predictor

    predictor = Predictor(checkpoint.build_model(), checkpoint.spec, checkpoint.class_names)
    return explain.overlay(seen, (saliency or explain.saliency)(predictor, seen, method, target))


def test_the_saliency_choices_are_the_cores_methods():
    from fashion_desktop.core.explain import SALIENCY_METHODS

    assert tuple(method for method, _, _ in SALIENCY_CHOICES) == SALIENCY_METHODS


@pytest.mark.parametrize("preset", ["seed", "small-cnn"])
def test_saliency_tints_the_model_input_for_the_top_class(qtbot, tab, images, preset):
    model = untrained(preset)
    tab.set_model(model)
    drop_files(qtbot, tab, images["shirt"])
    plain = shown_rgb(tab)
    assert np.array_equal(plain[..., 0], plain[..., 1]) and np.array_equal(plain[..., 1], plain[..., 2])  # grey
    assert not tab.saliency.method.isEnabled()

    assert not tab.saliency.view.isVisible()

    tab.saliency.box.click()
    assert tab.saliency.method.isEnabled() and tab.saliency.explain_class.isEnabled()
    assert tab.saliency.view.isVisible() and tab.saliency.scale.isVisible()  # beside the input, with its scale
    assert not tab.saliency.scale.pixmap().isNull()
    top = int(np.argmax(tab.chart.probabilities))
    overlays = {}
    for row, (method, _, _) in enumerate(SALIENCY_CHOICES):
        tab.saliency.method.setCurrentIndex(row)
        overlays[method] = shown_rgb(tab, tab.saliency.view)
        assert np.array_equal(shown_rgb(tab), plain)  # the input itself stays plain beside the overlay
        assert not np.array_equal(overlays[method], plain)
        assert (overlays[method][..., 0] != overlays[method][..., 1]).any()  # coloured, not grey
        assert np.array_equal(overlays[method], expected_overlay(model, plain[..., 0], method, top))
        assert CLASS_NAMES[top] in tab.saliency.caption.text()
    assert not np.array_equal(overlays["gradient_x_input"], overlays["occlusion"])  # the method matters

    other = (top + 1) % len(CLASS_NAMES)  # any class can be explained, not only the top one
    tab.saliency.explain_class.setCurrentIndex(tab.saliency.explain_class.findData(other))
    assert CLASS_NAMES[other] in tab.saliency.caption.text()
    assert np.array_equal(
        shown_rgb(tab, tab.saliency.view), expected_overlay(model, plain[..., 0], SALIENCY_CHOICES[-1][0], other)
    )

    tab.saliency.box.click()
    assert np.array_equal(shown_rgb(tab), plain)
    assert not tab.saliency.view.isVisible() and not tab.saliency.method.isEnabled()


def test_saliency_follows_the_selection_model_and_switches_computing_only_the_shown_image(
    qtbot, tab, images, monkeypatch
):
    from fashion_desktop.core import explain

    calls = []
    real_saliency = explain.saliency
    monkeypatch.setattr(explain, "saliency", lambda *args: calls.append(args[2]) or real_saliency(*args))
    seed, cnn = untrained("seed"), untrained("small-cnn")
    tab.set_model(seed)
    tab.saliency.box.setChecked(True)
    drop_files(qtbot, tab, images["shirt"], images["trousers"], images["corrupt"])
    assert calls == ["gradient_x_input"]  # the selected image only, not every listed one

    def check(model) -> np.ndarray:
        """The overlay shown, checked against the core's functions on the plain input."""
        shown = shown_rgb(tab, tab.saliency.view)
        seen = shown_rgb(tab)[..., 0]
        top = int(np.argmax(tab.chart.probabilities))
        assert np.array_equal(shown, expected_overlay(model, seen, "gradient_x_input", top, real_saliency))
        return shown

    shirt = check(seed)
    tab.image_list.setCurrentRow(1)
    trousers = check(seed)
    assert not np.array_equal(trousers, shirt)
    tab.image_list.setCurrentRow(0)
    assert np.array_equal(shown_rgb(tab, tab.saliency.view), shirt) and len(calls) == 2  # kept: costs nothing
    tab.image_list.setCurrentRow(2)  # the corrupt file: nothing to explain, no 28x28 image
    assert tab.seen_view.source().isNull() and tab.saliency.view.source().isNull() and len(calls) == 2

    tab.image_list.setCurrentRow(0)
    tab.crop_box.setChecked(False)
    settle(qtbot, tab)
    uncropped = check(seed)
    assert not np.array_equal(uncropped, shirt) and len(calls) == 3
    tab.set_model(cnn)
    assert not np.array_equal(check(cnn), uncropped) and len(calls) == 4


def test_saliency_without_a_model_shows_the_plain_input(qtbot, tab, images):
    drop_files(qtbot, tab, images["shirt"])
    plain = shown_rgb(tab)
    tab.saliency.box.setChecked(True)
    assert np.array_equal(shown_rgb(tab), plain)
    assert tab.saliency.view.source().isNull() and "No model" in tab.saliency.view.text()


# Batch prediction to CSV


@pytest.fixture
def dialogs(monkeypatch):
    """Answers the folder and save dialogs with what a test puts in; records how they were asked."""
    from PySide6.QtWidgets import QFileDialog

    answers = {"folder": "", "csv": ""}
    asked = []

    def folder(parent, caption, start):
        asked.append(("folder", start))
        return answers["folder"]

    def save(parent, caption, default, filters):
        asked.append(("csv", default))
        return answers["csv"], filters.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", folder)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save)
    return answers, asked


def test_predict_folder_to_csv_writes_a_row_per_image_with_the_current_preprocessing(
    qtbot, tab, checkpoint, images, dialogs
):
    answers, asked = dialogs
    folder = images["shirt"].parent  # shirt.png, trousers.png, corrupt.png and notes.txt, which is not listed
    answers["folder"], answers["csv"] = str(folder), str(folder / "out" / "predictions.csv")
    tab.set_model(checkpoint)
    drop_files(qtbot, tab, images["shirt"])
    tab.invert_box.setCurrentText("off")  # the CSV must follow the switches the user sees
    settle(qtbot, tab)
    shown_probabilities = tab.chart.probabilities
    messages = []
    tab.status_message.connect(messages.append)

    tab.batch_button.click()

    assert asked[1] == ("csv", str(folder / "predictions.csv"))  # suggested beside the images
    with open(answers["csv"], newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [Path(row["file"]).name for row in rows] == ["corrupt.png", "shirt.png", "trousers.png"]
    corrupt, shirt, trousers = rows
    assert "corrupt.png" in corrupt["error"] and corrupt["top_class"] == ""
    for row in (shirt, trousers):
        assert row["error"] == "" and row["top_class"] in CLASS_NAMES
        assert sum(float(row[name]) for name in CLASS_NAMES) == pytest.approx(1, abs=1e-5)
    assert [float(shirt[name]) for name in CLASS_NAMES] == pytest.approx(shown_probabilities, abs=1e-6)
    summary = f"Wrote 2 predictions to {answers['csv']}; 1 file could not be read (see the error column)"
    assert tab.notice.isVisible() and tab.notice.text() == summary
    assert messages == [summary]


def test_predict_folder_to_csv_without_a_model_gives_the_hint_and_asks_nothing(tab, dialogs):
    _, asked = dialogs
    messages = []
    tab.status_message.connect(messages.append)
    tab.batch_button.click()
    assert messages == [NO_MODEL_HINT] and asked == []


def test_predict_folder_to_csv_cancelled_or_empty_writes_nothing(tab, checkpoint, dialogs, tmp_path):
    answers, asked = dialogs
    tab.set_model(checkpoint)
    tab.batch_button.click()  # the folder dialog cancelled
    assert [kind for kind, _ in asked] == ["folder"]
    empty = tmp_path / "empty"
    empty.mkdir()
    answers["folder"], answers["csv"] = str(empty), str(empty / "predictions.csv")
    tab.batch_button.click()  # checked before asking where to write: nothing to ask for
    assert [kind for kind, _ in asked] == ["folder", "folder"]
    assert "empty holds no images" in tab.notice.text() and "Nothing was written" in tab.notice.text()
    assert list(empty.iterdir()) == []

    (tmp_path / "photo.png").write_bytes(b"")  # a folder with something to predict gets the save dialog
    answers["folder"], answers["csv"] = str(tmp_path), ""
    tab.batch_button.click()  # the save dialog cancelled
    assert [kind for kind, _ in asked] == ["folder", "folder", "folder", "csv"]
    assert not (tmp_path / "predictions.csv").exists()


# Images from elsewhere in the app, such as the mistakes gallery


def test_show_image_lists_the_image_as_the_model_sees_it_with_its_true_class(tab, checkpoint):
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 8:20] = np.arange(20, dtype=np.uint8)[:, None] * 12 + 10  # a garment-ish shaded block
    tab.set_model(checkpoint)
    tab.invert_box.setCurrentText("on")  # switches that would change a photo must leave this image alone
    tab.contrast_box.setChecked(True)

    given = image.copy()
    tab.show_image(image, "Test image #42", true_class=3)
    image[:] = 255  # the tab keeps its own copy

    assert tab.image_list.count() == 1 and tab.image_list.currentRow() == 0
    text = item_texts(tab)[0]
    assert text.startswith("Test image #42\n") and text.endswith("true: Dress") and shown_class(text)
    assert "true: Dress" in tab.result_label.text()
    assert sum(tab.chart.probabilities) == pytest.approx(1, abs=1e-5)
    shown = shown_rgb(tab)[..., 0]
    assert np.array_equal(shown, given)  # exactly the array given: no inversion, crop or stretch
    tab.crop_box.setChecked(False)
    tab.invert_box.setCurrentText("off")
    assert np.array_equal(shown_rgb(tab)[..., 0], shown)

    tab.show_image(shown, "No label")
    assert item_texts(tab)[1].startswith("No label\n") and "true:" not in item_texts(tab)[1]
    with pytest.raises(ValueError, match="28, 28"):
        tab.show_image(np.zeros((28, 28), np.float32), "float")
    with pytest.raises(ValueError, match="class index"):
        tab.show_image(shown, "bad class", true_class=10)
    assert tab.image_list.count() == 2


def test_predict_folder_to_csv_cancelled_in_the_progress_dialog_writes_nothing(
    tab, checkpoint, images, dialogs, monkeypatch
):
    from PySide6.QtWidgets import QProgressDialog

    answers, _ = dialogs
    answers["folder"], answers["csv"] = str(images["shirt"].parent), str(images["shirt"].parent / "predictions.csv")
    monkeypatch.setattr(QProgressDialog, "wasCanceled", lambda dialog: True)  # Cancel clicked during the first image
    messages = []
    tab.status_message.connect(messages.append)
    tab.set_model(checkpoint)
    tab.batch_button.click()
    assert not Path(answers["csv"]).exists()
    assert messages == ["Predicting the folder was cancelled; nothing was written"]


# Folders of class folders, model files, removing, wording


def class_folders(tmp_path: Path, images) -> Path:
    """A folder holding only class subfolders, as photo collections often are (Dress/, Shirt/)."""
    root = tmp_path / "by-class"
    for cls, source in (("Dress", "shirt"), ("Trouser", "trousers")):
        (root / cls).mkdir(parents=True)
        Image.open(images[source]).save(root / cls / f"{source}.png")
    return root


def test_a_dropped_folder_of_class_folders_adds_their_images(qtbot, tab, images, tmp_path):
    drop_files(qtbot, tab, class_folders(tmp_path, images))
    names = [text.split("\n")[0] for text in item_texts(tab)]
    assert names == ["Dress/shirt.png", "Trouser/trousers.png"]
    assert not tab.notice.isVisible()


def test_predict_folder_to_csv_takes_a_folder_of_class_folders(tab, checkpoint, images, dialogs, tmp_path):
    answers, asked = dialogs
    root = class_folders(tmp_path, images)
    answers["folder"], answers["csv"] = str(root), str(tmp_path / "predictions.csv")
    tab.set_model(checkpoint)
    tab.batch_button.click()
    with open(answers["csv"], newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [Path(row["file"]).name for row in rows] == ["shirt.png", "trousers.png"]
    assert "Wrote 2 predictions" in tab.notice.text()


def test_a_dropped_model_file_is_opened_as_a_model_not_listed_as_an_image(qtbot, tab, checkpoint, images, tmp_path):
    model = checkpoint.save(tmp_path / "model.safetensors")
    dropped = []
    tab.model_file_dropped.connect(dropped.append)
    drop_files(qtbot, tab, model, images["shirt"])
    assert dropped == [model]
    assert [text.split("\n")[0] for text in item_texts(tab)] == ["shirt.png"]


def test_delete_and_the_context_menu_remove_an_image(qtbot, tab, images):
    drop_files(qtbot, tab, images["shirt"], images["trousers"], images["corrupt"])
    tab.image_list.setCurrentRow(0)
    tab.image_list.setFocus()
    qtbot.keyClick(tab.image_list, Qt.Key.Key_Delete)
    assert [text.split("\n")[0] for text in item_texts(tab)] == ["trousers.png", "corrupt.png"]
    assert tab.remove_action in tab.image_list.actions()  # what the right-click menu offers
    assert tab.image_list.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    tab.image_list.setCurrentRow(1)
    tab.remove_action.trigger()
    assert [text.split("\n")[0] for text in item_texts(tab)] == ["trousers.png"]
    assert tab.image_list.currentRow() == 0 and not tab.original_view.source().isNull()


def test_the_tab_says_which_model_it_uses(tab, checkpoint):
    assert "none" in tab.model_label.text()
    tab.set_model(checkpoint, source="shirts.safetensors")
    assert "shirts.safetensors" in tab.model_label.text()
    tab.set_model(checkpoint)
    assert "trained on the Training tab" in tab.model_label.text()


def test_files_that_all_fail_are_reported_as_such(qtbot, tab, images):
    messages = []
    tab.status_message.connect(messages.append)
    drop_files(qtbot, tab, images["corrupt"], images["text"])
    assert messages == ["Could not read any of the 2 files."]
    drop_files(qtbot, tab, images["shirt"], images["corrupt"])
    assert messages[-1].startswith("Added 1 image; 1 file could not be read.")
