"""The Learn tab: its experiments redraw as their controls move, and its Use buttons reach the other tabs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import Qt

from fashion_desktop.core import learn
from fashion_desktop.core.spec import LAYER_TYPES
from fashion_desktop.gui.learn import LearnTab
from fashion_desktop.gui.main_window import MainWindow


@pytest.fixture
def tab(qtbot) -> LearnTab:
    learn_tab = LearnTab()
    qtbot.addWidget(learn_tab)
    learn_tab.resize(1280, 800)
    learn_tab.show()
    learn_tab.on_core_ready()
    return learn_tab


@pytest.fixture
def window(qtbot) -> MainWindow:
    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    main.on_core_ready()
    return main


def shown(qtbot, tab: LearnTab, page):
    """Show ``page`` by clicking its entry in the list, and wait for its first drawing."""
    row = tab.pages.index(page)
    rect = tab.page_list.visualItemRect(tab.page_list.item(row))
    qtbot.mouseClick(tab.page_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: not page._stale, timeout=10_000)
    return page


@pytest.mark.slow
def test_building_the_tab_loads_no_torch():
    """The window paints before torch loads, so the Learn tab must be built without it."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from fashion_desktop.gui.learn import LearnTab\n"
        "tab = LearnTab(); tab.show(); app.processEvents()\n"
        "print('torch' in sys.modules, tab.activations.status_label.text(), flush=True)\n"
        "del tab, app\n"  # widgets before the application, or Python's shutdown may crash
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False Waiting for PyTorch to load..."


def test_the_learn_tab_is_the_fourth_tab(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())][:4] == [
        "Builder",
        "Training",
        "Predict",
        "Learn",
    ]


def test_the_average_follows_the_beta_slider(qtbot, tab):
    page = shown(qtbot, tab, tab.average)
    page.beta_slider.slider.setFocus()
    for _ in range(3):
        qtbot.keyClick(page.beta_slider.slider, Qt.Key.Key_Right)  # 0.90 -> 0.93
    qtbot.waitUntil(lambda: not page._stale)
    assert page.beta_slider.value() == pytest.approx(0.93)
    temperatures = learn.noisy_temperatures()
    assert list(page.plain_curve.yData) == pytest.approx(learn.ewma(temperatures, 0.93))
    assert list(page.corrected_curve.yData) == pytest.approx(learn.ewma(temperatures, 0.93, bias_correction=True))
    qtbot.mouseClick(page.plain_check, Qt.MouseButton.LeftButton, pos=page.plain_check.rect().bottomLeft() / 2)
    qtbot.waitUntil(lambda: page.plain_curve.yData is None or len(page.plain_curve.yData) == 0)


def test_every_activation_of_the_registry_is_offered_and_drawn(qtbot, tab):
    page = shown(qtbot, tab, tab.activations)
    kinds = [page.kind_combo.itemText(i) for i in range(page.kind_combo.count())]
    assert kinds == [k for k, t in LAYER_TYPES.items() if t.category == "activation"]
    page.kind_combo.setCurrentText("Sigmoid")
    qtbot.waitUntil(lambda: not page._stale)
    assert max(page.slope_curve.yData) == pytest.approx(0.25, abs=1e-3)
    assert len(page._regions) == 2  # both saturated tails are shaded


def test_a_classic_initialisation_set_up_fills_the_controls_and_redraws(qtbot, tab):
    page = shown(qtbot, tab, tab.initialisation)
    page.setup_combo.setFocus()
    qtbot.keyClick(page.setup_combo, Qt.Key.Key_Down)  # (choose...) -> Kaiming + ReLU
    qtbot.keyClick(page.setup_combo, Qt.Key.Key_Down)  # -> Xavier + Tanh
    qtbot.waitUntil(lambda: not page._stale)
    assert (page.activation_combo.currentText(), page.init_combo.currentText()) == ("Tanh", "xavier_normal")
    assert page.result is not None and page.result.activation == "Tanh" and page.result.layers == 10
    page.layers_slider.slider.setValue(page.layers_slider.slider.value() + 5)  # as a drag does
    qtbot.waitUntil(lambda: not page._stale)
    assert page.result.layers == 15
    assert len(page.activation_std.yData) == 15


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("Kaiming + ReLU: keeps", "Activation std: layer 1 0.915, layer 10 0.892 (kept within a factor of 4)"),
        ("normal(0, 1) + ReLU: explodes", "(exploding)"),
        ("normal(0, 1) + Sigmoid: vanishes", "layer 1 0.167 (vanishing)"),
        ("zeros + ReLU: stalls", "(stalled: every unit computes the same)"),
    ],
)
def test_each_classic_set_up_is_described_as_it_behaves(qtbot, tab, setup, words):
    page = shown(qtbot, tab, tab.initialisation)
    page.setup_combo.setCurrentText(setup)
    page.setup_combo.activated.emit(page.setup_combo.currentIndex())  # as a pick from the open list does
    qtbot.waitUntil(lambda: not page._stale)
    assert words in page.status_label.text()


def test_use_this_initialisation_reaches_the_builder(qtbot, window):
    page = window.learn.initialisation
    window.tabs.setCurrentWidget(window.learn)
    window.learn.show_page(page)
    page.apply_setup("Sigmoid", "normal", {"std": 1.0})
    qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
    weighted = [layer for layer in window.builder.spec().layers if LAYER_TYPES[layer.kind].has_weights]
    assert weighted and all(layer.init == "normal" and layer.init_params["std"] == 1.0 for layer in weighted)
    assert window.builder.undo_stack.undoText() == "Initialise with normal"
    assert "normal" in window.statusBar().currentMessage()


def test_use_the_selected_optimizer_reaches_the_training_tab(qtbot, window):
    page = window.learn.optimizers
    window.tabs.setCurrentWidget(window.learn)
    window.learn.show_page(page)
    row = [c.label for c in learn.optimizer_choices()].index("RMSProp")
    rect = page.optimizer_list.visualItemRect(page.optimizer_list.item(row))
    qtbot.mouseClick(page.optimizer_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    page.options_form.editor("momentum").setValue(0.5)
    qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
    config = window.training.config()
    assert config.optimizer == "RMSprop"
    assert (
        config.resolved_optimizer_options()["alpha"] == 0.9 and config.resolved_optimizer_options()["momentum"] == 0.5
    )
    assert config.problems() == []


@pytest.mark.slow
def test_the_optimizers_step_live_to_the_chosen_number_of_steps(qtbot, tab):
    page = shown(qtbot, tab, tab.optimizers)
    page.steps_slider.set_value(100)
    page.surface_combo.setCurrentIndex(page.surface_combo.findData("valley"))
    assert page.is_stepping()
    shown(qtbot, tab, tab.batches)  # stepping waits while the page is hidden...
    assert not page.is_stepping()
    tab.show_page(page)  # ...and carries on when it is back
    assert page.is_stepping()
    qtbot.waitUntil(lambda: not page.is_stepping(), timeout=20_000)
    runs = page.runs()
    assert [run.choice.label for run in runs] == [c.label for c in learn.optimizer_choices()[:6]]
    for run in runs:
        assert run.diverged or len(run.points) == 101
    sgd = page._paths[0]
    expected = learn.optimizer_trajectory("valley", learn.optimizer_choices()[0], page.lr_slider.value(), 100)
    assert np.allclose(np.column_stack([sgd.xData, sgd.yData]), expected)
    assert page.slowest_tick_ms < 200  # a tick steps for at most 10 ms, then draws
    # The first-steps table shows the tutorials' values.
    cells = {page.table.item(r, 0).text(): page.table.item(r, 2).text() for r in range(page.table.rowCount())}
    assert cells["Adam, betas (0.9, 0.99)"] == "0.980003" and cells["SGD, momentum 0.9"] == "0.971100"


def test_schedules_plot_the_ticked_schedulers_as_torch_sets_them(qtbot, tab):
    page = shown(qtbot, tab, tab.schedules)
    assert page.checked() == ["StepLR", "MultiStepLR", "ExponentialLR"]
    multi = page._curves["MultiStepLR"]
    assert list(multi.yData) == pytest.approx(learn.schedule("MultiStepLR", 200, 0.1, page.options("MultiStepLR")))
    assert multi.yData[49] == pytest.approx(0.1) and multi.yData[50] == pytest.approx(0.05)
    item = page.scheduler_list.item(3)  # CosineAnnealingLR
    item.setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: not page._stale)
    assert len(page._curves["CosineAnnealingLR"].yData) == 200


def test_batches_show_the_last_partial_batch(qtbot, tab):
    page = shown(qtbot, tab, tab.batches)
    assert "196 iterations per epoch" in page.summary_label.text()
    assert "1,960 iterations in 10 epochs" in page.summary_label.text()
    page.batch_spin.setValue(100)
    qtbot.waitUntil(lambda: not page._stale)
    assert "500 iterations per epoch" in page.summary_label.text() and "no partial batch" in page.summary_label.text()


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1280, 800), (1024, 768)])
def test_screenshots_of_every_experiment(qtbot, tab, size):
    """Saved as /tmp/learn-*.png to look at; every page draws something and says what it shows."""
    tab.resize(*size)
    for number, page in enumerate(tab.pages, start=1):
        shown(qtbot, tab, page)
        if page is tab.optimizers:
            page.finish()
        qtbot.wait(50)
        name = page.title.split()[0].lower().strip(",")
        tab.grab().save(f"/tmp/learn-{number}-{name}-{size[0]}x{size[1]}.png")
        assert page.explanation and page.formula and page.last_update_ms > 0
