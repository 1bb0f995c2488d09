"""The Predict tab scores a dropped or chosen folder of class subfolders, and follows a model of other classes."""

from __future__ import annotations

import csv
import threading
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtWidgets import QFileDialog

from fashion_desktop.core import explain
from fashion_desktop.core.folders import FramingSettings
from fashion_desktop.core.spec import CLASS_NAMES
from fashion_desktop.gui.predict import PredictTab
from tests.gui.test_predict_tab import drag, drop_files, item_texts, untrained

OTHER_CLASSES = ("cat", "dog", "cup")


def other_model(size: int = 64):
    """An untrained model of three classes that takes size x size colour photos, as an image-folder run makes."""
    from fashion_desktop.core.builder import build_model
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.presets import get_preset

    spec = get_preset("seed").spec
    layers = list(spec.layers)
    layers[-2] = replace(layers[-2], params={"out_features": len(OTHER_CLASSES)})  # the head: three classes
    spec = replace(spec, layers=tuple(layers), input_shape=(3, size, size))
    framing = FramingSettings(size=size, color=True, framing="squash", separation="none")
    data = {"dataset": "folder", **asdict(framing)}
    return Checkpoint(spec, build_model(spec, seed=0).state_dict(), class_names=OTHER_CLASSES, data=data)


def photo(path: Path, colour: tuple[int, int, int], seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 40, (48, 40, 3)).astype(np.uint8)
    pixels[10:38, 8:32] = colour
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def labelled(tmp_path) -> Path:
    """Class folders named like the clothing photos: shoes (3 photos), bags (2, one of them broken), hats."""
    root = tmp_path / "validation"
    for name, n in (("shoes", 3), ("bags", 2), ("hats", 1)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            photo(root / name / f"{name}{i}.png", (200, 180 - 40 * i, 90), i)
    (root / "bags" / "bags1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


@pytest.fixture
def tab(qtbot):
    tab = PredictTab()
    qtbot.addWidget(tab)
    tab.resize(1024, 768)
    tab.show()
    qtbot.waitExposed(tab)
    yield tab
    if tab.scoring.dialog is not None:
        tab.scoring.dialog.close()
    tab.shutdown()


def drop_folder(tab: PredictTab, folder: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    assert drag(tab, mime) == (True, True)


def wait_scored(qtbot, tab: PredictTab) -> None:
    qtbot.waitUntil(lambda: not tab.scoring.is_running(), timeout=30_000)


def test_dropping_a_labelled_folder_scores_it_on_another_thread_and_shows_the_score(qtbot, tab, labelled, monkeypatch):
    tab.set_model(untrained("seed"))
    threads, progress = set(), []
    real = explain.predict_folder

    def recording(*args, **kwargs):
        threads.add(threading.get_ident())
        yield from real(*args, **kwargs)

    monkeypatch.setattr(explain, "predict_folder", recording)
    tab.scoring._scorer.progressed.connect(lambda done, total: progress.append((done, total)))

    drop_folder(tab, labelled)
    assert tab.scoring.is_running() and tab.scoring.progress.isVisible() and tab.scoring.cancel_button.isVisible()
    wait_scored(qtbot, tab)

    assert threads and threading.get_ident() not in threads  # predicted off the GUI thread
    assert progress[-1] == (5, 5) and [done for done, _ in progress] == [1, 2, 3, 4, 5]
    assert not tab.scoring.progress.isVisible() and tab.image_list.count() == 0  # scored, not listed
    dialog = tab.scoring.dialog
    assert dialog is not None and dialog.isVisible()
    score = dialog.score
    assert score.folders == ("bags", "shoes") and score.counts == (1, 3) and score.unmatched == ("hats",)
    assert "validation: 4 images of 2 classes scored, accuracy" in dialog.summary.text()
    assert dialog.summary.text().split("accuracy ")[1] == f"{score.accuracy:.1%}"
    # per class: the folder, its accuracy, right / images, and what counts as right ("shoes": any footwear)
    rows = [[dialog.per_class.item(r, c).text() for c in range(4)] for r in range(dialog.per_class.rowCount())]
    assert rows[1][0] == "shoes" and rows[1][2] == f"{score.correct[1]} / 3"
    assert rows[1][3] == "Sandal, Sneaker, Ankle boot" and rows[0][3] == "Bag"
    matrix = dialog.matrix
    assert (matrix.rowCount(), matrix.columnCount()) == (2, 10)
    assert [matrix.horizontalHeaderItem(c).text() for c in range(10)] == list(CLASS_NAMES)
    shown = [[int(matrix.item(r, c).text()) for c in range(10)] for r in range(2)]
    assert tuple(map(tuple, shown)) == score.confusion
    assert "hats" in dialog.left_out.text() and "1 file could not be read" in dialog.left_out.text()
    assert dialog.unreadable.count() == 1 and "bags1.png" in dialog.unreadable.item(0).text()
    assert "accuracy" in tab.notice.text() and tab.notice.isVisible()


def test_clicking_a_count_of_the_matrix_lists_those_images(qtbot, tab, labelled):
    tab.set_model(untrained("seed"))
    drop_folder(tab, labelled)
    wait_scored(qtbot, tab)
    matrix = tab.scoring.dialog.matrix
    row = 1  # shoes: three photos, all predicted as something
    column = next(c for c in range(10) if matrix.item(row, c).text() != "0")
    expected = tab.scoring.dialog.score.images(row, column)

    qtbot.mouseClick(
        matrix.viewport(), Qt.MouseButton.LeftButton, pos=matrix.visualItemRect(matrix.item(row, column)).center()
    )

    qtbot.waitUntil(lambda: not tab.is_preparing() and tab.image_list.count() == len(expected), timeout=30_000)
    assert sorted(text.split("\n")[0] for text in item_texts(tab)) == sorted(path.name for path in expected)


def test_scoring_can_be_cancelled_and_counts_nothing(qtbot, tab, labelled, monkeypatch):
    tab.set_model(untrained("seed"))
    gate = threading.Event()
    real = explain.predict_folder

    def held(*args, **kwargs):
        for row in real(*args, **kwargs):
            gate.wait(10)
            yield row

    monkeypatch.setattr(explain, "predict_folder", held)
    messages = []
    tab.status_message.connect(messages.append)
    drop_folder(tab, labelled)
    qtbot.waitUntil(tab.scoring.cancel_button.isVisible)

    qtbot.mouseClick(tab.scoring.cancel_button, Qt.MouseButton.LeftButton)
    gate.set()
    wait_scored(qtbot, tab)

    assert tab.scoring.dialog is None and not tab.scoring.progress.isVisible()
    assert messages[-1] == "Scoring was cancelled; nothing was counted"
    assert tab.scoring.button.isEnabled() and tab.scoring.action.isEnabled()


def test_the_score_action_asks_for_the_folder_and_says_why_one_cannot_be_scored(qtbot, tab, labelled, monkeypatch):
    chosen = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: chosen.pop())
    tab.scoring.action.trigger()  # no model yet
    assert tab.notice.isVisible() and "train one in the Training tab" in tab.notice.text()

    tab.set_model(untrained("seed"))
    plain = labelled.parent / "plain"
    plain.mkdir()
    photo(plain / "one.png", (200, 200, 200), 0)
    chosen.append(str(plain))
    tab.scoring.action.trigger()
    assert "Cannot score plain:" in tab.notice.text() and not tab.scoring.is_running()

    chosen.append(str(labelled))
    qtbot.mouseClick(tab.scoring.button, Qt.MouseButton.LeftButton)  # the button beside the list is the same action
    wait_scored(qtbot, tab)
    assert tab.scoring.dialog is not None and tab.scoring.dialog.score.folders == ("bags", "shoes")


def test_a_folder_whose_subfolders_match_no_class_is_listed_as_before(qtbot, tab, labelled):
    model = other_model(size=24)  # cat, dog, cup: none of shoes, bags, hats
    tab.set_model(model)
    drop_files(qtbot, tab, labelled)
    assert not tab.scoring.is_running() and tab.scoring.dialog is None
    assert tab.image_list.count() == 6  # every image of the class folders, as a folder of photos is listed


def test_predict_follows_a_model_of_other_classes_and_input(qtbot, tab, labelled, monkeypatch, tmp_path):
    tab.on_core_ready()
    assert tab.random_button.isEnabled()
    tab.set_model(other_model())
    assert not tab.random_button.isEnabled() and "64x64 colour" in tab.random_button.toolTip()
    assert tab.seen_caption.text() == "What the model sees (64x64 colour)"
    assert [tab.saliency.explain_class.itemText(i) for i in range(1, tab.saliency.explain_class.count())] == list(
        OTHER_CLASSES
    )

    drop_files(qtbot, tab, labelled / "shoes" / "shoes0.png")
    text = item_texts(tab)[0]
    assert any(f"\n{name} " in text for name in OTHER_CLASSES), text
    assert len(tab.chart.probabilities) == 3 and sum(tab.chart.probabilities) == pytest.approx(1, abs=1e-5)
    ticks = tab.chart.getPlotItem().getAxis("left")._tickLevels[0]
    assert [name for _, name in ticks] == list(OTHER_CLASSES)
    seen = tab.seen_view.source().toImage()
    assert (seen.width(), seen.height()) == (64, 64)

    tab.saliency.box.click()
    for method in range(tab.saliency.method.count()):
        tab.saliency.method.setCurrentIndex(method)
        shown = tab.saliency.view.source()
        assert not shown.isNull() and (shown.width(), shown.height()) == (64, 64)
        assert any(name in tab.saliency.caption.text() for name in OTHER_CLASSES)

    # A Fashion-MNIST test image does not fit this model: listed, saying why
    tab.show_image(np.zeros((28, 28), np.uint8), "Test image #3")
    assert "Not classified: the model takes 64x64 colour images, not 28x28 grey" in item_texts(tab)[1]

    out = tmp_path / "predictions.csv"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(labelled / "shoes"))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: (str(out), ""))
    tab.batch_button.click()
    with out.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 and all(row["top_class"] in OTHER_CLASSES for row in rows)
    assert all(sum(float(row[name]) for name in OTHER_CLASSES) == pytest.approx(1, abs=1e-5) for row in rows)

    tab.set_model(untrained("seed"))  # back to Fashion-MNIST: the photo is framed again at 28x28
    qtbot.waitUntil(lambda: not tab.is_preparing(), timeout=30_000)
    seen = tab.seen_view.source().toImage()
    assert (seen.width(), seen.height()) == (28, 28) and len(tab.chart.probabilities) == 10
    assert tab.random_button.isEnabled()


def test_the_overlay_of_a_colour_input_tints_its_grey_version():
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[..., 1] = 200  # green
    heat = np.zeros((64, 64), np.float32)
    heat[0, 0] = 1.0
    shown = explain.overlay(colour, heat)
    assert shown.shape == (64, 64, 3)
    assert (shown[1:, :, 0] == shown[1:, :, 1]).all() and (shown[1:, :, 1] == shown[1:, :, 2]).all()  # grey
    assert shown[0, 0, 0] > shown[0, 0, 2]  # the tint where the heat is
