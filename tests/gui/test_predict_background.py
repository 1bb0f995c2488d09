"""The Predict tab's background work: framing off the GUI thread, progress, cancel, stale results, shutdown."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QSettings, Qt, QUrl

from fashion_desktop.gui.predict import PredictTab, worker
from fashion_desktop.gui.predict.entries import Entry, summary
from fashion_desktop.gui.predict.tab import CANCELLED
from tests.gui.test_predict_tab import drag, drop_files, item_texts, settle, shown_class, untrained


@pytest.fixture
def tab(qtbot):
    tab = PredictTab()
    qtbot.addWidget(tab)
    tab.resize(1280, 800)
    tab.show()
    qtbot.waitExposed(tab)
    return tab


def photos(folder: Path, count: int) -> list[Path]:
    """``count`` small garment-like photos on white, each a little different."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        image = Image.new("RGB", (120, 100), "white")
        ImageDraw.Draw(image).rectangle((20 + index % 10, 15, 100, 85), fill=(30, 40, 60 + index))
        paths.append(folder / f"photo{index:03}.png")
        image.save(paths[-1])
    return paths


@pytest.fixture
def framing_threads(monkeypatch):
    """Records the thread of every call to the framing function (``to_model_input``) the workers make."""
    threads: list[threading.Thread] = []
    real = worker.to_model_input

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "to_model_input", recording)
    return threads


def test_photos_are_framed_on_worker_threads_never_on_the_gui_thread(qtbot, tab, tmp_path, framing_threads):
    tab.set_model(untrained("seed"))
    paths = photos(tmp_path / "photos", 6)
    drop_files(qtbot, tab, *paths)
    assert len(framing_threads) == 6
    assert threading.main_thread() not in framing_threads
    assert all(shown_class(text) for text in item_texts(tab))

    tab.separation_box.setCurrentIndex(tab.separation_box.findData("border"))  # a switch: all prepared again
    settle(qtbot, tab)
    assert len(framing_threads) == 12 and threading.main_thread() not in framing_threads


def test_the_list_fills_as_results_arrive_with_a_progress_line(qtbot, tab, tmp_path, monkeypatch):
    gate = threading.Event()  # holds every worker until the test has looked at the "Preparing" state
    real = worker.to_model_input
    monkeypatch.setattr(worker, "to_model_input", lambda *a, **k: gate.wait(10) and real(*a, **k))
    paths = photos(tmp_path / "photos", 4)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    assert drag(tab, mime) == (True, True)
    assert tab.image_list.count() == 4  # listed at once, before any is prepared
    assert all(text.endswith("Preparing...") for text in item_texts(tab))
    assert tab.progress_label.isVisible() and tab.progress_label.text() == "Preparing 1 of 4..."
    assert tab.cancel_button.isVisible()
    gate.set()
    settle(qtbot, tab)
    assert not tab.progress_label.isVisible() and not tab.cancel_button.isVisible()
    assert not any("Preparing" in text for text in item_texts(tab))


def test_cancel_stops_the_waiting_images_and_says_so(qtbot, tab, tmp_path, monkeypatch):
    gate = threading.Event()
    real = worker.to_model_input
    monkeypatch.setattr(worker, "to_model_input", lambda *a, **k: gate.wait(10) and real(*a, **k))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in photos(tmp_path / "photos", 8)])
    drag(tab, mime)
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    gate.set()
    assert not tab.is_preparing() and not tab.progress_label.isVisible()
    qtbot.waitUntil(lambda: tab._queue.active() == 0, timeout=10_000)
    qtbot.wait(50)  # a result of a running job arrives late: it belongs to the cancelled generation
    assert all(CANCELLED in text for text in item_texts(tab))


def test_the_separation_switch_is_saved_and_results_of_a_superseded_setting_are_dropped(
    qtbot, tab, tmp_path, framing_threads
):
    tab.set_model(untrained("seed"))
    drop_files(qtbot, tab, *photos(tmp_path / "photos", 3))
    labels = [tab.separation_box.itemText(row) for row in range(tab.separation_box.count())]
    assert labels == ["GrabCut", "Fast (border colour)", "Off"]
    tab.separation_box.setCurrentIndex(2)
    tab.separation_box.setCurrentIndex(1)  # at once: the "Off" results still to come must be dropped
    settle(qtbot, tab)
    assert QSettings().value("predict/separation") == "border"
    assert tab._options().separation == "border"
    seen_now = [tab._entries[row].seen.copy() for row in range(3)]
    from fashion_desktop.core.imaging import PreprocessOptions, open_image, to_model_input

    for entry, seen in zip(tab._entries, seen_now, strict=True):
        expected = to_model_input(open_image(entry.path), PreprocessOptions(separation="border"))
        assert np.array_equal(seen, expected)

    again = PredictTab()  # a new tab (a new session) starts with the saved choice
    qtbot.addWidget(again)
    assert again.separation_box.currentData() == "border"


def test_only_the_input_and_a_thumbnail_are_kept_per_image(qtbot, tab, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (1600, 1200), "white").save(big)
    drop_files(qtbot, tab, big)
    entry = tab._entries[0]
    assert not hasattr(entry, "image") and not hasattr(entry, "pixmap")
    assert entry.seen.shape == (28, 28)
    assert max(entry.icon.width(), entry.icon.height()) <= 128
    qtbot.waitUntil(lambda: tab.original_view.source().width() > 128, timeout=10_000)  # decoded again, on demand
    assert max(tab.original_view.source().width(), tab.original_view.source().height()) <= 1024


def test_no_worker_is_left_running_after_the_tab_closes(qtbot, tmp_path):
    tab = PredictTab()
    qtbot.addWidget(tab)
    tab.show()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in photos(tmp_path / "photos", 20)])
    drag(tab, mime)
    tab.close()  # in the middle of the work
    assert tab._queue.active() == 0


@dataclass(frozen=True)
class _UnsurePrediction:
    probabilities: tuple[float, ...]
    unsure: bool
    top_class: str = "Shirt"
    top_probability: float = 0.31


def test_an_unsure_prediction_reads_not_sure():
    entry = Entry("photo.png", 1, prediction=_UnsurePrediction((0.1,) * 10, unsure=True))  # type: ignore[arg-type]
    assert summary(entry) == "Not sure (perhaps Shirt 31.0%)"
    sure = Entry("photo.png", 2, prediction=_UnsurePrediction((0.1,) * 10, unsure=False))  # type: ignore[arg-type]
    assert summary(sure) == "Shirt 31.0%"
