"""The mistakes gallery: one confusion-matrix cell's test images, ordered, capped, crisp, and choosable."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from fashion_desktop.core.engine import train
from fashion_desktop.core.predictions import TestPredictions, load_test_predictions
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import CLASS_NAMES
from fashion_desktop.gui.mistakes import MAX_SHOWN, SCALE, MistakesGallery, TestImage, _pixmap

SEED = get_preset("seed")


def predictions(count=300, seed=0):
    """``count`` random images whose true class is 2 and whose probabilities favour class 6 (Shirt), mostly."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(count, 10, generator=generator)
    logits[:, 6] += 3.0
    images = np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    return TestPredictions(torch.softmax(logits, dim=1), torch.full((count,), 2), images)


@pytest.fixture
def gallery(qtbot):
    gallery = MistakesGallery()
    qtbot.addWidget(gallery)
    return gallery


def test_a_big_cell_is_capped_and_ordered_by_confidence(gallery):
    data = predictions()
    mistakes = data.cell(2, 6)
    assert len(mistakes) > MAX_SHOWN  # else the cap goes untested
    gallery.show_cell(2, 6, mistakes, data.images)
    assert gallery.isVisible() and not gallery.isModal()
    assert gallery.shown == MAX_SHOWN and len(gallery.mistakes) == len(mistakes)
    assert gallery.windowTitle() == "Pullover predicted as Shirt"
    summary = gallery.summary_label.text()
    assert f"{len(mistakes)} test images of a Pullover, predicted as Shirt" in summary
    assert f"Showing the first {MAX_SHOWN}" in summary
    confidences = [m.confidence for m in gallery.mistakes]
    assert confidences == sorted(confidences, reverse=True)
    top = gallery.mistakes[0]
    lines = gallery.image_list.item(0).text().split("\n")
    assert lines == [f"{CLASS_NAMES[c]} {p:.0%}" if p >= 0.005 else f"{CLASS_NAMES[c]} <1%" for c, p in top.top3]
    assert lines[0].startswith("Shirt")


def test_a_small_cell_shows_all_and_an_empty_one_says_so(gallery):
    data = predictions(count=20)
    mistakes = data.cell(2, 6)
    gallery.show_cell(2, 6, mistakes, data.images)
    assert gallery.shown == len(mistakes) and "Showing the first" not in gallery.summary_label.text()
    gallery.show_cell(2, 8, data.cell(2, 8), data.images)
    assert gallery.shown == 0 and gallery.summary_label.text() == "No test image of a Pullover was predicted as Bag."


def test_clicking_an_image_chooses_that_test_image(qtbot, gallery):
    data = predictions(count=40)
    gallery.show_cell(2, 6, data.cell(2, 6), data.images)
    qtbot.waitExposed(gallery)
    item = gallery.image_list.item(2)
    with qtbot.waitSignal(gallery.test_image_chosen) as chosen:
        qtbot.mouseClick(
            gallery.image_list.viewport(),
            Qt.MouseButton.LeftButton,
            pos=gallery.image_list.visualItemRect(item).center(),
        )
    image = chosen.args[0]
    assert isinstance(image, TestImage) and image.true_class == 2 and image.index == gallery.mistakes[2].index
    assert image.image.shape == (28, 28) and image.image.dtype == np.uint8
    assert np.array_equal(image.image, data.images[image.index])
    assert not np.shares_memory(image.image, data.images)  # the receiver may keep it


def test_images_are_scaled_up_crisply():
    image = np.zeros((28, 28), np.uint8)
    image[0, 0], image[0, 1] = 255, 10
    scaled = _pixmap(image, 1.0).toImage()
    assert scaled.width() == scaled.height() == 28 * SCALE
    # Every source pixel becomes a SCALE x SCALE block of exactly its value: no blurring across the edges.
    assert {scaled.pixelColor(x, y).red() for x in range(SCALE) for y in range(SCALE)} == {255}
    assert {scaled.pixelColor(x, 0).red() for x in range(SCALE, 2 * SCALE)} == {10}


def test_a_saved_models_test_predictions_match_its_test_results(fashion_root):
    config = replace(SEED.config, epochs=2, batch_size=32, val_size=50, device="cpu", lr=1e-4)
    checkpoint = train(SEED.spec, config, fashion_root).checkpoint()
    data = load_test_predictions(checkpoint, fashion_root)
    assert data.probabilities.shape == (100, 10)
    for true_class in range(10):
        for predicted_class in range(10):
            count = checkpoint.test.confusion[true_class][predicted_class]
            assert len(data.cell(true_class, predicted_class)) == count


def test_every_caption_fits_its_grid_cell(qtbot):
    # "Shirt <1%" and "Ankle boot 100%" were cut to "Shirt <1%..." in cells sized by the image alone.
    from fashion_desktop.core.spec import CLASS_NAMES
    from fashion_desktop.gui.mistakes import MistakesGallery

    gallery = MistakesGallery()
    qtbot.addWidget(gallery)
    metrics = gallery.image_list.fontMetrics()
    widest = max(metrics.horizontalAdvance(f"{name} {p}") for name in CLASS_NAMES for p in ("100%", "<1%"))
    assert gallery.image_list.gridSize().width() > widest


@pytest.mark.parametrize("width", [560, 760, 1100])
def test_the_gallery_columns_follow_its_width_with_no_empty_strip_beside_them(gallery, qtbot, width):
    data = predictions()
    gallery.show_cell(2, 6, data.cell(2, 6), data.images)
    gallery.resize(width, 600)
    qtbot.waitExposed(gallery)
    qtbot.wait(20)
    view = gallery.image_list
    room = view.viewport().width()
    cell = view.gridSize().width() + view.spacing()
    columns = (room - view.spacing()) // cell
    assert columns >= 1 and room - view.spacing() - columns * cell <= columns  # the leftover is shared out
    assert view.gridSize().width() >= gallery._least_cell.width()  # the captions still fit
    first, second = view.visualItemRect(view.item(0)), view.visualItemRect(view.item(1))
    assert second.top() == first.top() or columns == 1  # the second image beside the first, on the first row
    last_in_row = view.visualItemRect(view.item(columns - 1))
    assert last_in_row.top() == first.top() and last_in_row.right() <= room


def test_no_caption_is_cut_to_the_first_items_width(gallery, qtbot):
    # Items all took the first item's size (three short lines), so "Ankle boot 1%" became "Ankle boot ...".
    data = predictions()
    gallery.show_cell(2, 6, data.cell(2, 6), data.images)
    gallery.resize(760, 600)
    qtbot.waitExposed(gallery)
    view = gallery.image_list
    metrics = view.fontMetrics()
    for row in range(view.count()):
        item = view.item(row)
        widest = max(metrics.horizontalAdvance(line) for line in item.text().split("\n"))
        assert view.visualItemRect(item).width() >= widest, item.text()
