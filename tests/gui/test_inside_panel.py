"""The Training tab's Inside panel, after a real run started with the Start button on the synthetic data."""

import math
from dataclasses import replace

import pytest

from fashion_desktop.core.paths import resolve_runs_path
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.runs import RunStore
from fashion_desktop.core.spec import LayerSpec, ModelSpec, layer
from fashion_desktop.core.synthetic import write_fashion_mnist
from fashion_desktop.gui.training import TrainingTab

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=3, batch_size=32, val_size=50, device="cpu")
SIGMOID = ModelSpec(
    (
        layer("Flatten"),
        *[
            spec
            for _ in range(10)
            for spec in (LayerSpec("Linear", {"out_features": 16}, "normal", {"std": 1.0}), layer("Sigmoid"))
        ],
        LayerSpec("Linear", {"out_features": 10}, "normal", {"std": 1.0}),
    )
)


def _trained_tab(qtbot, root, spec, config):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.resize(1400, 900)
    tab.show_warning = lambda title, message: pytest.fail(message)
    tab.set_spec(spec)
    tab.on_core_ready()
    tab.set_config(config)
    tab.settings.folder_edit.setText(str(root))
    with qtbot.waitSignal(tab.training_finished, timeout=60_000):
        tab.start_button.click()
    qtbot.waitUntil(lambda: any(s.epoch == config.epochs and s.ends_epoch for s in tab.inside.snapshots))
    qtbot.waitUntil(lambda: not tab.inside.redraw_pending)  # the last measurements are drawn within 100 ms
    tab.results_tabs.setCurrentWidget(tab.inside)
    return tab


@pytest.mark.slow
def test_the_panel_draws_each_layers_curves_after_a_run(qtbot, fashion_root, tmp_path):
    tab = _trained_tab(qtbot, fashion_root, SEED.spec, FAST)
    panel = tab.inside
    assert [s.epoch for s in panel.snapshots if s.ends_epoch] == [1, 2, 3]
    assert len(panel.snapshots) > 3  # measured during the epochs too
    curves = {key: curve for key, curve in panel._curves.items()}
    assert {name for plot, name in curves if plot == "grad"} == {"fc1", "fc2", "fc3"}
    assert {name for plot, name in curves if plot == "dead"} == {"relu1", "relu2"}
    x, y = curves["std", "fc1"].getData()
    assert len(x) == len(panel.snapshots) and x[-1] == pytest.approx(3.0)
    assert y[-1] == pytest.approx(panel.snapshots[-1].layer("fc1").std)
    assert [panel.layer_combo.itemText(i) for i in range(panel.layer_combo.count())] == ["fc1", "fc2", "fc3"]
    panel.layer_combo.setCurrentText("fc2")
    assert sum(panel._histogram.opts["height"]) == 256 * 128  # every weight of fc2 in the histogram
    tab.grab().save("/tmp/inside-seed.png")
    with RunStore(resolve_runs_path()) as store:  # and recorded in the run history
        run = store.list_runs()[0]
        assert [s.epoch for s in store.activity(run.id)] == [1, 2, 3]
    tab.start_button.click()  # a new run starts with an empty panel
    assert not panel.snapshots
    qtbot.waitUntil(lambda: not tab.is_training(), timeout=60_000)


@pytest.mark.slow
def test_the_panel_shows_the_vanishing_gradients_of_sigmoid_with_normal_1(qtbot, tmp_path):
    root = write_fashion_mnist(tmp_path / "data")
    config = replace(FAST, epochs=2, loss="cross_entropy", optimizer="SGD", lr=0.01)
    tab = _trained_tab(qtbot, root, SIGMOID, config)
    _, first = tab.inside._curves["grad", "fc1"].getData()
    _, last = tab.inside._curves["grad", "fc11"].getData()
    # The log-scaled plot holds log10 of the norms: the first layer's is about 100 times below the last's, and more
    # than 20 times at every point.
    assert all(b - a > math.log10(20) for a, b in zip(first, last, strict=True))
    assert sum(b - a for a, b in zip(first, last, strict=True)) / len(first) > math.log10(50)
    tab.grab().save("/tmp/inside-sigmoid.png")


def test_a_flood_of_measurements_draws_at_once_then_at_most_once_per_interval(qtbot, monkeypatch):
    """On tiny data epochs take milliseconds: a redraw per measurement fell behind and starved the event loop."""
    from fashion_desktop.core.activity import ActivitySnapshot, LayerActivity
    from fashion_desktop.gui.training.inside import REDRAW_INTERVAL_MS, InsidePanel

    panel = InsidePanel()
    qtbot.addWidget(panel)
    redraws = []
    redraw = panel._redraw
    monkeypatch.setattr(panel, "_redraw", lambda: (redraws.append(len(panel.snapshots)), redraw()))
    relu = LayerActivity("relu1", "ReLU", mean=0.5, std=1.0, dead_fraction=0.1, grad_norm=None, weights=None)
    for epoch in range(1, 2001):
        panel.add_snapshot(ActivitySnapshot(epoch, 10, 10, (relu,)))
    assert redraws == [1]  # the first at once, the other 1,999 wait for the interval
    qtbot.wait(3 * REDRAW_INTERVAL_MS)
    assert redraws == [1, 2000] and not panel.redraw_pending  # then one redraw shows them all
    assert len(panel._curves["std", "relu1"].getData()[0]) == 2000
