"""The training plots: ranges, legends and labels that must not cover the curves or overshoot; hover read-outs,
smoothing, log scales, exports and the matrix's epoch marked on the curves."""

from __future__ import annotations

import csv
import math
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QFileDialog

from fashion_desktop.core.metrics import BatchMetrics, EpochMetrics, Evaluation
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import CLASS_NAMES
from fashion_desktop.gui.plots.batch_loss import BatchLossPlot
from fashion_desktop.gui.plots.confusion import ConfusionMatrixView
from fashion_desktop.gui.plots.epochs import BEST_LABEL_PLACES, EpochPlots, LearningRatePreview
from fashion_desktop.gui.plots.interactive import InteractivePlots, is_log_y
from fashion_desktop.gui.runs_panel import RunCurves
from fashion_desktop.gui.training import TrainingTab

FAST_RUN = replace(get_preset("seed").config, batch_size=32, val_size=50, device="cpu")


def epochs(
    count,
    accuracy=lambda epoch: min(1.0, 0.8 + 0.1 * epoch),
    train=lambda epoch: 1.0 / epoch,
    val=lambda epoch: 1.1 / epoch,
):
    return [EpochMetrics(e, train(e), val(e), accuracy(e), 0.003, 1.0, 100.0) for e in range(1, count + 1)]


@pytest.fixture
def plots(qtbot) -> EpochPlots:
    widget = EpochPlots()
    qtbot.addWidget(widget)
    widget.resize(900, 260)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_the_accuracy_axis_stops_at_100_percent_and_labels_it(qtbot, plots):
    plots.set_history(epochs(8))  # 90% then 100% from epoch 2: auto-range padding went to 100.4
    qtbot.wait(20)
    low, high = plots.accuracy_plot.viewRange()[1]
    assert 80 < low and high == 100
    pixmap = QPixmap(200, 400)
    painter = QPainter(pixmap)
    try:
        _, _, texts = plots.accuracy_plot.getAxis("left").generateDrawSpecs(painter)
    finally:
        painter.end()
    assert "100" in [text for _, _, text in texts]  # the tick on the range's edge keeps its label


def test_run_curves_accuracy_stops_at_100_percent_too(qtbot):
    curves = RunCurves()
    qtbot.addWidget(curves)
    curves.resize(600, 250)
    curves.show()
    curves.set_runs([("run", epochs(6), 0)])
    qtbot.wait(20)
    assert curves.accuracy_plot.viewRange()[1][1] == 100


def test_the_loss_legend_is_in_the_title_not_over_the_curves(plots):
    assert plots.loss_plot.legend is None
    title = plots.loss_plot.titleLabel.text
    assert "train" in title and "validation" in title


@pytest.mark.parametrize(
    ("train", "best", "place"),
    [
        (lambda e: 1.0 / e, 8, BEST_LABEL_PLACES[0]),  # the usual: low curves at the best epoch, the label on top
        (lambda e: 2.0 if e <= 2 else 0.1, 1, BEST_LABEL_PLACES[1]),
    ],  # both losses high round the best epoch: below
)
def test_the_best_label_goes_where_no_loss_point_is(plots, train, best, place):
    plots.set_history(epochs(8, train=train, val=lambda e: 1.5 if best == 1 and e <= 2 else 1.0 / e))
    plots.set_best_epoch(best)
    assert plots._best_lines[plots.loss_plot].label.orthoPos == place


def test_long_runs_let_pyqtgraph_tick_the_epochs(qtbot):
    preview = LearningRatePreview()
    qtbot.addWidget(preview)
    preview.set_rates([0.003] * 8)
    axis = preview.plot_item.getAxis("bottom")
    assert axis._tickSpacing == [(1, 0), (1, 0)]  # whole epochs, each one
    preview.set_rates([0.003] * 10_000)  # steps of 1250 ran "0 1250 2500 ..." into each other
    assert axis._tickSpacing is None


def test_both_run_curves_fit_a_narrow_runs_page(qtbot):
    curves = RunCurves()
    qtbot.addWidget(curves)
    curves.resize(265, 180)
    curves.show()
    curves.set_runs([("seed 2026-11-29 17:18", epochs(8), 0), ("seed 2026-11-29 17:19", epochs(8), 1)])
    qtbot.wait(20)
    accuracy = curves.accuracy_plot.mapRectToScene(curves.accuracy_plot.boundingRect())
    assert accuracy.right() <= 265 and accuracy.width() > 80  # it was pushed out of view, ~30 pixels of it left
    assert curves.legend.columnCount == 1 and curves.loss_plot.titleLabel.text == "Val. loss"
    curves.resize(900, 250)
    qtbot.wait(20)
    assert curves.legend.columnCount == 3 and curves.loss_plot.titleLabel.text.startswith("Validation loss")


def test_the_results_placeholder_names_no_made_up_count(qtbot):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    assert "10,000" not in tab.results.results_label.text() and "test images" in tab.results.results_label.text()


def test_plots_follow_a_dark_palette(qtbot, qapp):
    import pyqtgraph as pg

    from fashion_desktop.gui.app import dark_palette
    from fashion_desktop.gui.plots.batch_loss import BatchLossPlot, batch_legend_color

    original = qapp.palette()
    qapp.setPalette(dark_palette())
    try:
        plot = BatchLossPlot()
        qtbot.addWidget(plot)
        assert plot.view.backgroundBrush().color().lightness() < 60
        assert pg.getConfigOption("foreground").lightness() > 180  # legend and label text: light on dark
        assert batch_legend_color().lightness() > 100  # "each batch" readable on the near-black plot
        assert batch_legend_color().name() in plot.plot_item.titleLabel.text
    finally:
        qapp.setPalette(original)
        from fashion_desktop.gui.plots.style import use_palette_colours

        use_palette_colours()


# -- hover read-outs, smoothing, log scale, export --
def batches(epochs=2, per_epoch=40):
    return [
        BatchMetrics(e, b, per_epoch, 2.0 / (e * b) ** 0.3, 10 * b)
        for e in range(1, epochs + 1)
        for b in range(1, per_epoch + 1)
    ]


@pytest.fixture
def batch_plot(qtbot) -> BatchLossPlot:
    widget = BatchLossPlot()
    qtbot.addWidget(widget)
    widget.resize(500, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.append(batches())
    return widget


def view_point(view: InteractivePlots, plot, x: float, y: float) -> QPoint:
    """Where the data point (x, y) is in the view's widget, to move or click the mouse there."""
    return view.mapFromScene(plot.vb.mapViewToScene(QPointF(x, y)))


def hover(qtbot, view: InteractivePlots, plot, x: float):
    """Move the mouse over ``plot`` at epoch ``x``, halfway up, as a person does; returns its read-out."""
    qtbot.wait(20)  # a pending re-layout (a log axis's labels are wider) would move the plot under the mouse
    (_, _), (bottom, top) = plot.vb.viewRange()
    qtbot.mouseMove(view.viewport(), view_point(view, plot, x, (bottom + top) / 2))
    return view.readout(plot)


def test_hovering_the_batch_loss_names_the_batch_and_both_curves_values(qtbot, batch_plot):
    readout = hover(qtbot, batch_plot.view, batch_plot.plot_item, 1.5)  # halfway through epoch 2
    lines = readout.text.split("\n")
    assert lines[0] == "epoch 2, batch 20 of 40"
    raw = 2.0 / (2 * 20) ** 0.3
    assert lines[1] == f"batch: {raw:.4g}" and lines[2].startswith("smoothed: ")
    assert readout.label.isVisible() and readout.line.value() == pytest.approx(1.5)
    qtbot.mouseMove(batch_plot.smoothing_slider)  # out of the plot: the read-out goes
    assert not readout.label.isVisible() and not readout.line.isVisible()


@pytest.mark.parametrize(
    ("plot_name", "expected"),
    [
        ("loss_plot", "epoch 3\ntrain: 0.3333\nvalidation: 0.3667"),
        ("accuracy_plot", "epoch 3\naccuracy: 100.0%"),
        ("lr_plot", "epoch 3\nlearning rate: 0.003"),
    ],
)
def test_hovering_an_epoch_plot_names_the_values_of_the_epoch_under_the_mouse(qtbot, plots, plot_name, expected):
    plots.set_history(epochs(6))
    qtbot.wait(20)
    plot = getattr(plots, plot_name)
    readout = hover(qtbot, plots, plot, 3.2)
    assert readout.text == expected and readout.label.isVisible()
    assert all(not other.label.isVisible() for other in plots._readouts if other is not readout)


def test_hovering_while_training_redraws_no_curve(qtbot, batch_plot):
    """The read-out moves a line and a label: the curves, the expensive part, keep their data untouched."""
    raw = batch_plot._raw.curve
    calls = []
    original = raw.setData
    raw.setData = lambda *args, **kwargs: (calls.append(1), original(*args, **kwargs))
    for x in (0.3, 0.9, 1.4, 1.8):
        hover(qtbot, batch_plot.view, batch_plot.plot_item, x)
    assert not calls


def test_the_smoothing_slider_sets_the_moving_average_and_is_remembered(qtbot, batch_plot):
    slider = batch_plot.smoothing_slider
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Home)  # no smoothing: the average is each batch's loss
    x, raw = batch_plot._raw.getOriginalDataset()
    assert np.allclose(batch_plot._smooth.getOriginalDataset()[1], raw)
    assert batch_plot.smoothing_label.text() == "0.00"
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    assert batch_plot.smoothing == pytest.approx(0.3) and batch_plot.smoothing_label.text() == "0.30"
    expected = [raw[0]]
    for value in raw[1:]:
        expected.append(0.3 * expected[-1] + 0.7 * value)  # TensorBoard's smoothing: keep 0.3 of the last point
    assert np.allclose(batch_plot._smooth.getOriginalDataset()[1], expected)
    batch_plot.append([BatchMetrics(3, 1, 40, 5.0, 10)])  # batches arriving later are smoothed alike
    assert batch_plot._smooth.getOriginalDataset()[1][-1] == pytest.approx(0.3 * expected[-1] + 0.7 * 5.0)
    again = BatchLossPlot()
    qtbot.addWidget(again)
    assert again.smoothing == pytest.approx(0.3)


def right_click_menu(qtbot, view: InteractivePlots, plot, monkeypatch) -> dict[str, object]:
    """Right-click ``plot`` with the mouse; returns the context menu's actions by their text."""
    shown = []
    monkeypatch.setattr(view, "exec_menu", lambda menu, pos: shown.append(list(menu.actions())))
    (left, right), (bottom, top) = plot.vb.viewRange()
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.RightButton, pos=view_point(view, plot, (left + right) / 2, (bottom + top) / 2)
    )
    assert len(shown) == 1
    return {action.text(): action for action in shown[0]}


def test_a_log_scale_from_the_context_menu_shows_powers_of_ten_and_is_remembered(qtbot, batch_plot, monkeypatch):
    plot = batch_plot.plot_item
    menu = right_click_menu(qtbot, batch_plot.view, plot, monkeypatch)
    assert list(menu) == ["Log scale", "Export as PNG image...", "Export as SVG drawing..."]
    menu["Log scale"].trigger()
    assert is_log_y(plot)
    losses = batch_plot._raw.getOriginalDataset()[1]
    low, high = plot.vb.viewRange()[1]
    assert low < math.log10(losses.min()) < math.log10(losses.max()) < high < math.log10(2 * losses.max())
    again = BatchLossPlot()
    qtbot.addWidget(again)
    assert is_log_y(again.plot_item) and again.view.log_actions[again.plot_item].isChecked()
    right_click_menu(qtbot, batch_plot.view, plot, monkeypatch)["Log scale"].trigger()
    assert not is_log_y(plot) and plot.vb.viewRange()[1][0] < 0 < plot.vb.viewRange()[1][0] + 0.1


def test_the_epoch_plots_log_scales_are_each_their_own(qtbot, plots, monkeypatch):
    plots.set_history(epochs(6))
    assert "Log scale" not in right_click_menu(qtbot, plots, plots.accuracy_plot, monkeypatch)  # percentages
    right_click_menu(qtbot, plots, plots.lr_plot, monkeypatch)["Log scale"].trigger()
    assert is_log_y(plots.lr_plot) and not is_log_y(plots.loss_plot)
    assert QSettings().value(EpochPlots.LR_LOG_SETTING, type=bool)
    right_click_menu(qtbot, plots, plots.loss_plot, monkeypatch)["Log scale"].trigger()
    plots.set_best_epoch(6)  # the best label still finds its place on the log axis
    assert plots._best_lines[plots.loss_plot].label.orthoPos in BEST_LABEL_PLACES
    assert hover(qtbot, plots, plots.loss_plot, 2).text == "epoch 2\ntrain: 0.5\nvalidation: 0.55"  # values, not logs


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_a_plot_exports_from_its_context_menu(qtbot, plots, monkeypatch, tmp_path, suffix):
    plots.set_history(epochs(6))
    asked = []

    def answer(parent, caption, suggested, kinds):
        asked.append((suggested, kinds))
        return str(tmp_path / "accuracy"), kinds  # no suffix typed: the format's is added

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    messages = []
    plots.status_message.connect(messages.append)
    hover(qtbot, plots, plots.accuracy_plot, 3)  # the read-out must not end up in the file
    menu = right_click_menu(qtbot, plots, plots.accuracy_plot, monkeypatch)
    menu[f"Export as {suffix.upper()} {'image' if suffix == 'png' else 'drawing'}..."].trigger()
    written = tmp_path / f"accuracy.{suffix}"
    assert asked[0][0].endswith(f"validation-accuracy.{suffix}") and f"*.{suffix}" in asked[0][1]
    assert messages == [f"Exported the plot to {written}"]
    data = written.read_bytes()
    if suffix == "png":
        from PySide6.QtGui import QImage

        image = QImage.fromData(data)
        plot_width = plots.accuracy_plot.sceneBoundingRect().width()
        assert data.startswith(b"\x89PNG") and image.width() == 2 * round(plot_width)  # twice the screen's size
    else:
        text = data.decode()
        assert "<svg" in text and "Validation accuracy" in text and "accuracy: " not in text


def test_a_failed_export_says_why_and_writes_nothing(qtbot, plots, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    target = tmp_path / "missing" / "folder" / "loss.png"
    (tmp_path / "missing").write_text("a file where the folder should be")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: (str(target), ""))
    errors = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: errors.append((title, text)))
    plots.set_history(epochs(3))
    right_click_menu(qtbot, plots, plots.loss_plot, monkeypatch)["Export as PNG image..."].trigger()
    assert errors and errors[0][0] == "Cannot export the plot" and str(target) in errors[0][1]


def confusion(rows=10):
    return tuple(tuple(10 * (i == j) + (i + j) % 3 for j in range(rows)) for i in range(rows))


def test_the_confusion_matrix_exports_as_csv_with_the_class_names(qtbot, monkeypatch, tmp_path):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    (action,) = [a for a in view.actions() if a.text() == "Export as CSV..."]  # its context menu
    assert view.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu and not action.isEnabled()
    view.set_evaluation(Evaluation(0.5, 0.8, confusion()))
    view.export_name = "confusion-matrix-test"
    asked = []
    monkeypatch.setattr(
        QFileDialog,
        "getSaveFileName",
        lambda parent, caption, suggested, kinds: (asked.append(suggested), (str(tmp_path / "m"), kinds))[1],
    )
    action.trigger()
    rows = list(csv.reader((tmp_path / "m.csv").open()))
    assert asked[0].endswith("confusion-matrix-test.csv")
    assert rows[0] == ["true class \\ predicted", *CLASS_NAMES]
    assert [row[0] for row in rows[1:]] == list(CLASS_NAMES)
    assert [tuple(map(int, row[1:])) for row in rows[1:]] == list(confusion())


# -- the matrix's epoch on the curves, and clicks on a validation matrix --
def results_tab(qtbot):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.resize(1024, 768)
    tab.show()
    qtbot.waitExposed(tab)
    return tab


def validated(count):
    return [
        EpochMetrics(e, 1.0 / e, 1.1 / e, 0.8, 0.003, 1.0, 100.0, val_confusion=confusion())
        for e in range(1, count + 1)
    ]


def test_the_slider_epoch_is_marked_on_the_epoch_curves(qtbot):
    tab = results_tab(qtbot)
    history = validated(4)
    tab.epoch_plots.set_history(history)
    tab.results.set_matrices(history, Evaluation(0.5, 0.8, confusion()))
    slider, plots = tab.results.matrix_slider, tab.epoch_plots
    assert plots.matrix_epoch is None and not any(line.isVisible() for line in plots._matrix_lines.values())
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Left)  # from the test set back to epoch 4's validation matrix
    qtbot.keyClick(slider, Qt.Key.Key_Left)
    assert tab.results.matrix_label.text().startswith("Validation, epoch 3 of 4")
    assert plots.matrix_epoch == 3
    assert all(line.isVisible() and line.value() == 3 for line in plots._matrix_lines.values())
    qtbot.keyClick(slider, Qt.Key.Key_End)
    assert plots.matrix_epoch is None and not any(line.isVisible() for line in plots._matrix_lines.values())
    tab.epoch_plots.clear()
    assert not any(line.isVisible() for line in plots._matrix_lines.values())


def click_cell(qtbot, view, row, column):
    item = view.item(row, column)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualItemRect(item).center())


def test_clicking_a_validation_count_says_why_its_images_cannot_be_shown(qtbot):
    tab = results_tab(qtbot)
    tab.results.set_matrices(validated(2), None)  # no test results (a stopped run): nothing to show
    messages = []
    tab.results.status_message.connect(messages.append)
    click_cell(qtbot, tab.results.confusion_view, 1, 2)
    assert messages == [
        "Epoch 2's validation images are not kept, only their counts; "
        "the test images behind a count can be shown when the model has test results."
    ]
    assert tab.results.gallery is None


@pytest.mark.slow
def test_clicking_a_validation_count_after_training_shows_that_cells_test_images(qtbot, fashion_root):
    from tests.gui.test_training_tab import shown_tab, train

    tab = shown_tab(qtbot, fashion_root, replace(FAST_RUN, epochs=2))
    result = train(qtbot, tab)
    results = tab.results
    results.matrix_slider.setValue(0)  # epoch 1's validation matrix
    assert tab.epoch_plots.matrix_epoch == 1
    view = results.confusion_view
    assert view.viewport().cursor().shape() == Qt.CursorShape.PointingHandCursor
    assert "test images" in view.item(0, 0).toolTip()
    count, row, column = max((n, i, j) for i, counts in enumerate(result.test.confusion) for j, n in enumerate(counts))
    messages = []
    results.status_message.connect(messages.append)
    click_cell(qtbot, view, row, column)
    assert messages[0] == (
        "Epoch 1's validation images are not kept, only their counts: these are the test images "
        "that the final model put in the same cell."
    )
    assert results.matrix_slider.value() == results.matrix_slider.maximum() and view.clickable  # the test matrix
    assert tab.epoch_plots.matrix_epoch is None
    gallery = results.gallery
    assert gallery is not None and gallery.isVisible() and gallery.cell == (row, column) and gallery.shown == count
