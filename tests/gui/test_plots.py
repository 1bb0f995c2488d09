"""The training plots' look: ranges, legends and labels that must not cover the curves or overshoot."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPainter, QPixmap

from fashion_desktop.core.metrics import EpochMetrics
from fashion_desktop.gui.plots import BEST_LABEL_PLACES, EpochPlots, LearningRatePreview
from fashion_desktop.gui.runs_panel import RunCurves
from fashion_desktop.gui.training import TrainingTab


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
    from fashion_desktop.gui.plots import BatchLossPlot, batch_legend_color

    original = qapp.palette()
    qapp.setPalette(dark_palette())
    try:
        plot = BatchLossPlot()
        qtbot.addWidget(plot)
        assert plot.backgroundBrush().color().lightness() < 60
        assert pg.getConfigOption("foreground").lightness() > 180  # legend and label text: light on dark
        assert batch_legend_color().lightness() > 100  # "each batch" readable on the near-black plot
        assert batch_legend_color().name() in plot.plot_item.titleLabel.text
    finally:
        qapp.setPalette(original)
        from fashion_desktop.gui.plots import use_palette_colours

        use_palette_colours()
