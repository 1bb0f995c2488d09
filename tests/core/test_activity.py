"""Inside the network: dead units, vanishing gradients, the measuring rate, hooks removed, and the run history."""

import sqlite3
from dataclasses import replace

import pytest
import torch

from fashion_desktop.core.activity import ActivitySnapshot, NetworkActivity, measure_layers
from fashion_desktop.core.builder import build_model
from fashion_desktop.core.engine import Trainer
from fashion_desktop.core.paths import resolve_runs_path
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.runs import RunStore
from fashion_desktop.core.session import TrainingObserver, TrainingRequest, run_training
from fashion_desktop.core.spec import LayerSpec, ModelSpec, layer

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=1, batch_size=32, val_size=50, device="cpu")
SMALL = ModelSpec((layer("Flatten"), layer("Linear", out_features=32), layer("ReLU"), layer("Linear", out_features=10)))


def test_a_layer_whose_bias_is_very_negative_is_all_dead():
    model = build_model(SMALL, seed=0)
    probe = torch.randn(64, 1, 28, 28)
    alive = {layer.name: layer for layer in measure_layers(model, probe)}
    assert 0 <= alive["relu1"].dead_fraction < 0.2
    with torch.no_grad():
        model.fc1.bias.fill_(-1e4)
    dead = {layer.name: layer for layer in measure_layers(model, probe)}
    assert dead["relu1"].dead_fraction == 1.0 and dead["relu1"].std == 0.0
    assert dead["fc1"].dead_fraction is None and dead["fc1"].weights is not None  # not of the ReLU family
    assert "flatten1" not in dead  # its output is its input
    assert sum(dead["fc1"].weights.counts) == 784 * 32


def test_measuring_removes_its_hooks_and_leaves_the_mode_as_it_was():
    model = build_model(SEED.spec, seed=0).train()
    measure_layers(model, torch.randn(8, 1, 28, 28))
    assert model.training and all(not module._forward_hooks for module in model.modules())


def test_a_snapshot_round_trips_through_json_and_refuses_a_foreign_record():
    model = build_model(SMALL, seed=0)
    model(torch.randn(4, 1, 28, 28)).sum().backward()
    snapshot = ActivitySnapshot(2, 5, 10, measure_layers(model, torch.randn(16, 1, 28, 28)))
    assert ActivitySnapshot.from_dict(snapshot.to_dict()) == snapshot
    assert snapshot.position == 1.5 and not snapshot.ends_epoch and snapshot.layer("fc1").grad_norm > 0
    with pytest.raises(ValueError, match="not a record of the network's activity"):
        ActivitySnapshot.from_dict({"epoch": 1, "layers": [{"name": "fc1"}]})


@pytest.mark.slow
def test_sigmoid_with_normal_1_initialisation_shows_vanishing_gradients(fashion_root):
    # Ten narrow sigmoid layers: normal(0, 1) saturates them, and each passes back a fraction of the gradient.
    # (Wide layers hide it: 256 weights of std 1 into each unit scale the gradient back up about as much.)
    hidden = []
    for _ in range(10):
        hidden += [LayerSpec("Linear", {"out_features": 16}, "normal", {"std": 1.0}), layer("Sigmoid")]
    spec = ModelSpec((layer("Flatten"), *hidden, LayerSpec("Linear", {"out_features": 10}, "normal", {"std": 1.0})))
    trainer = Trainer(spec, replace(FAST, loss="cross_entropy", optimizer="SGD", lr=0.01))
    data = trainer.load_data(fashion_root)
    activity = NetworkActivity(data.val_x)
    trainer.callbacks.append(activity)
    trainer.fit(data)
    for snapshot in activity.snapshots:
        norms = [layer.grad_norm for layer in snapshot.layers if layer.kind == "Linear"]
        assert norms[0] < norms[-1] / 50  # orders of magnitude below the last layer's
        assert sum(norms[:5]) < sum(norms[-5:]) / 10


@pytest.mark.slow
def test_relu_at_a_very_high_learning_rate_kills_units(fashion_root):
    trainer = Trainer(SMALL, replace(FAST, epochs=2, loss="cross_entropy", optimizer="SGD", lr=20.0))
    data = trainer.load_data(fashion_root)
    activity = NetworkActivity(data.val_x)
    trainer.callbacks.append(activity)
    try:
        trainer.fit(data)
    except Exception:  # the loss may go to inf; the units died before that
        pass
    assert max(s.layer("relu1").dead_fraction for s in activity.snapshots) > 0.5


def test_each_epoch_is_measured_a_few_times_and_at_its_end(fashion_root):
    trainer = Trainer(SEED.spec, replace(FAST, epochs=2))
    data = trainer.load_data(fashion_root)
    activity = NetworkActivity(data.val_x, per_epoch=3)
    trainer.callbacks.append(activity)
    trainer.fit(data)
    batches = activity.snapshots[-1].batches
    assert [(s.epoch, s.batch) for s in activity.snapshots if s.epoch == 1] == [(1, 2), (1, 4), (1, 6), (1, batches)]
    assert [s.ends_epoch for s in activity.snapshots].count(True) == 2
    assert [s.epoch for s in activity.snapshots] == sorted(s.epoch for s in activity.snapshots)


def test_a_session_records_each_epochs_activity_in_the_run_history(fashion_root, tmp_path):
    heard = []

    class Listener(TrainingObserver):
        def on_activity(self, snapshot):
            heard.append(snapshot)

    request = TrainingRequest(SEED.spec, replace(FAST, epochs=2), fashion_root, model_path=tmp_path / "m.safetensors")
    outcome = run_training(request, Listener())
    assert outcome.error is None and outcome.run_id is not None
    with RunStore(resolve_runs_path()) as store:
        stored = store.activity(outcome.run_id)
    assert [s.epoch for s in stored] == [1, 2]
    assert stored == [s for s in heard if s.ends_epoch] and len(heard) > len(stored)


def test_an_older_history_without_the_activity_table_opens_and_gains_it(tmp_path):
    path = tmp_path / "runs.sqlite3"
    with RunStore(path) as store:
        run_id = store.start_run(SEED.spec, FAST, "cpu")
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE epoch_activity")  # as a file of the version before this table
    with RunStore(path) as store:
        assert store.get_run(run_id).name and store.activity(run_id) == []
        snapshot = ActivitySnapshot(1, 3, 3, measure_layers(build_model(SMALL), torch.randn(4, 1, 28, 28)))
        store.add_activity(run_id, snapshot)
        assert store.activity(run_id) == [snapshot]
        store.delete(run_id)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM epoch_activity").fetchone()[0] == 0  # deleted with its run
