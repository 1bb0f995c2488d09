"""The Training tab's layout at the sizes a person meets: 1024x768, a window larger than the screen, big counts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt

from fashion_desktop.core.metrics import EpochMetrics, Evaluation
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.gui.plots.confusion import ConfusionMatrixView
from fashion_desktop.gui.plots.epochs import EPOCH_ROW_HEIGHT, EpochPlots

THOUSANDS = tuple(tuple(1000 if row == column else 3 for column in range(10)) for row in range(10))
HISTORY = tuple(EpochMetrics(e, 1 / e, 1.1 / e, 0.8, 0.003, 5.0, 4000.0, THOUSANDS) for e in range(1, 11))


def shown_window(qtbot, width: int = 1280, height: int = 800) -> MainWindow:
    """A main window of this size on the screen, showing the Training tab."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(width, height)
    window.show()
    qtbot.waitExposed(window)
    window.tabs.setCurrentWidget(window.training)
    return window


def training_window(qtbot, width: int, height: int) -> MainWindow:
    """A shown window whose Training tab has ten epochs of curves and a test matrix of 1000s."""
    window = shown_window(qtbot, width, height)
    window.training.epoch_plots.set_history(HISTORY)
    window.training.results.set_matrices(HISTORY, Evaluation(0.3, 0.9, THOUSANDS))
    qtbot.wait(50)  # the layouts settle
    return window


@pytest.mark.slow
def test_at_1024x768_the_batch_plot_keeps_its_title_and_the_epoch_plots_fit_the_window(qtbot):
    window = training_window(qtbot, 1024, 768)
    tab = window.training
    batch = tab.batch_plot
    # It was squeezed to 110 px beside the matrix, its title cut: now it goes above the results, as wide as they are.
    assert batch.width() >= batch.plot_item.titleLabel.minimumWidth()
    assert batch.width() >= tab.results_tabs.width() - 2
    plots = tab.epoch_plots
    right_edge = plots.mapTo(window, plots.rect().topRight()).x()
    assert right_edge <= window.width()
    for plot in (plots.loss_plot, plots.accuracy_plot, plots.lr_plot):  # the learning-rate plot was cut off
        assert plot.geometry().right() <= plots.width() + 1
        assert plot.geometry().width() >= plot.titleLabel.minimumWidth()
    assert plots.columns == 3
    assert tab.plots_scroll.horizontalScrollBar().maximum() == 0  # nothing to scroll sideways at this size


@pytest.mark.slow
def test_a_wide_window_keeps_the_batch_plot_beside_the_results(qtbot):
    tab = training_window(qtbot, 1600, 1000).training
    assert tab.top_splitter.orientation() == Qt.Orientation.Horizontal
    assert tab.batch_plot.width() >= tab.batch_plot.plot_item.titleLabel.minimumWidth()


def test_narrow_epoch_plots_go_in_rows_rather_than_off_the_edge(qtbot):
    plots = EpochPlots()
    qtbot.addWidget(plots)
    plots.set_history(HISTORY)
    plots.resize(1000, 300)
    plots.show()
    qtbot.waitExposed(plots)
    assert plots.columns == 3
    plots.resize(300, 500)  # a narrow window at scale factor 2
    qtbot.wait(20)
    assert plots.columns == 1
    assert plots.minimumHeight() == 3 * EPOCH_ROW_HEIGHT  # each row keeps its height: no strip
    for plot in (plots.loss_plot, plots.accuracy_plot, plots.lr_plot):
        assert plot.geometry().right() <= plots.width() + 1
        assert plot.geometry().height() >= EPOCH_ROW_HEIGHT - 20


@pytest.mark.slow
def test_a_window_restored_larger_than_the_screen_fits_on_it_and_the_matrix_scrolls(qtbot):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.resize(1600, 1000)  # as on a big screen, or before a scale factor of 2
    first.close()
    assert QSettings().value("main_window/geometry")

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    screen = window.screen().availableGeometry()
    assert window.width() <= screen.width() and window.height() <= screen.height()
    # The matrix keeps every column and the Accuracy in reach: the plots scroll, the settings stay in view.
    window.tabs.setCurrentWidget(window.training)
    window.training.results.set_matrices(HISTORY, Evaluation(0.3, 0.9, THOUSANDS))
    qtbot.wait(50)
    matrix = window.training.results.confusion_view
    assert matrix.width() >= matrix.minimumWidth()
    assert window.training.epoch_plots.height() >= EPOCH_ROW_HEIGHT


def test_confusion_counts_of_a_thousand_show_in_full(qtbot):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.set_confusion(THOUSANDS)
    view.resize(view.minimumWidth(), view.minimumHeight())
    view.show()
    qtbot.waitExposed(view)
    text = view.fontMetrics().horizontalAdvance("1000")
    margin = view.style().pixelMetric(view.style().PixelMetric.PM_FocusFrameHMargin, None, view) + 1
    assert all(view.columnWidth(column) >= text + 2 * margin for column in range(10))  # was 30 px: "1..."
    view.set_confusion([[123_456 if r == c else 0 for c in range(10)] for r in range(10)])
    assert view.horizontalHeader().minimumSectionSize() >= view.fontMetrics().horizontalAdvance("123456")


@pytest.mark.slow
def test_no_tab_holds_the_window_wider_than_a_small_screen(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    # 800x500 is a 1600x1000 screen at scale factor 2: every page scrolls rather than widen the window.
    assert window.minimumSizeHint().width() <= 800 and window.minimumSizeHint().height() <= 500
    window.resize(1024, 768)
    assert window.width() == 1024


@pytest.mark.slow
def test_start_pause_and_stop_answer_their_shortcuts_with_the_focus_in_a_settings_box(qtbot, fashion_root):
    from tests.gui.test_main_window import ENDLESS

    window = shown_window(qtbot)
    window.on_core_ready()
    tab = window.training
    tab.set_config(ENDLESS)
    tab.settings.folder_edit.setText(str(fashion_root))
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Training")
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == ["&Start", "&Continue", "&Pause", "St&op"]
    assert "(Ctrl+Return)" in tab.start_button.toolTip() and "(Ctrl+.)" in tab.stop_button.toolTip()
    box = tab.settings.editors["epochs"]
    box.setFocus()
    qtbot.waitUntil(box.hasFocus)

    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert tab.is_training()
    qtbot.waitUntil(lambda: tab.batch_plot.points > 0, timeout=30_000)
    plot = tab.batch_plot  # the settings are disabled while training: the focus goes to the curves
    plot.setFocus()
    qtbot.waitUntil(plot.hasFocus)
    qtbot.keyClick(plot, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert tab.pause_button.isChecked() and tab.pause_action.text() == "&Resume"
    qtbot.keyClick(plot, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    assert tab.wait_for_stop(30_000)
    assert not tab.is_training() and tab.checkpoint() is not None


def test_the_training_buttons_have_mnemonics(qtbot):
    from fashion_desktop.gui.training import TrainingTab

    tab = TrainingTab()
    qtbot.addWidget(tab)
    assert [b.text() for b in (tab.start_button, tab.continue_button, tab.pause_button, tab.stop_button)] == [
        "&Start",
        "&Continue",
        "&Pause",
        "St&op",
    ]
    assert not tab.start_action.isEnabled()  # PyTorch has not loaded: the action follows its button


@pytest.mark.parametrize("rate", [0.003, 0.1, 0.0007])
def test_the_lr_preview_labels_its_top_rate_and_its_labels_do_not_touch(qtbot, rate):
    from fashion_desktop.gui.plots.epochs import LearningRatePreview

    preview = LearningRatePreview()
    qtbot.addWidget(preview)
    preview.resize(240, 150)  # as tall as the settings form makes it
    preview.show()
    qtbot.waitExposed(preview)
    preview.set_rates([rate] * 10)
    qtbot.wait(20)
    axis = preview.plot_item.getAxis("left")
    low, high = preview.plot_item.viewRange()[1]
    pixels = preview.plot_item.getViewBox().height()
    ticks = [value for _, values in axis.tickValues(low, high, pixels) for value in values if low <= value <= high]
    assert max(ticks) >= rate * (1 - 1e-9)  # the constant line sat above the top tick, unlabelled
    major_spacing = axis.tickValues(low, high, pixels)[0][0]
    assert major_spacing / (high - low) * pixels >= preview.fontMetrics().height()  # labels clear of each other


@pytest.mark.slow
def test_at_1280x800_the_batch_plot_sits_beside_a_matrix_of_3_digit_counts_and_makes_way_for_4(qtbot):
    tab = shown_window(qtbot).training
    hundreds = tuple(tuple(900 if row == column else 9 for column in range(10)) for row in range(10))
    tab.results.set_matrices((), Evaluation(0.3, 0.9, hundreds))
    qtbot.wait(50)
    assert tab.top_splitter.orientation() == Qt.Orientation.Horizontal
    tab.results.set_matrices((), Evaluation(0.3, 0.9, THOUSANDS))  # wider columns: the layout follows
    qtbot.wait(50)
    matrix = tab.results.confusion_view
    assert matrix.width() >= matrix.minimumWidth()
    assert tab.batch_plot.width() >= tab.batch_plot.plot_item.titleLabel.minimumWidth()
    assert tab.plots_scroll.horizontalScrollBar().maximum() == 0
