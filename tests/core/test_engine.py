"""The training engine on tiny synthetic data: metrics, callbacks, control, errors and exact resume."""

import math
import threading
from dataclasses import replace

import pytest
import torch

from fashion_desktop.core.callbacks import Callback, History, SaveCheckpoint
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.config import OPTIMIZERS, SCHEDULERS
from fashion_desktop.core.engine import Trainer, train
from fashion_desktop.core.errors import ConfigError, SpecError, TrainingDiverged
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import ModelSpec, layer

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=2, batch_size=32, val_size=50, device="cpu")


def test_fit_reports_every_batch_and_epoch_and_learns(fashion_root):
    history = History()
    trainer = train(SEED.spec, replace(FAST, epochs=4), fashion_root, [history])
    assert [m.epoch for m in history.epochs] == [1, 2, 3, 4]
    batches = math.ceil(250 / 32)
    assert len(history.batches) == 4 * batches
    assert [b.batch for b in history.batches[:batches]] == list(range(1, batches + 1))
    assert history.batches[batches - 1].samples_seen == 250
    first, last = history.epochs[0], history.epochs[-1]
    assert last.train_loss < first.train_loss
    assert last.val_accuracy > 0.8  # the synthetic classes are easy: a bar at a class-specific height
    assert first.samples_per_second > 0 and first.epoch_seconds > 0 and first.lr == pytest.approx(3e-3)
    result = history.result
    assert result.test is not None and sum(map(sum, result.test.confusion)) == 100
    assert result.test.accuracy == pytest.approx(sum(result.test.confusion[i][i] for i in range(10)) / 100)
    assert len(result.test.per_class_accuracy) == 10 and not result.stopped
    assert trainer.epoch == 4


def test_epoch_train_loss_is_the_sample_weighted_mean_of_batch_losses(fashion_root):
    history = History()
    train(SEED.spec, replace(FAST, epochs=1, batch_size=64), fashion_root, [history])
    sizes = [64, 64, 64, 58]
    expected = sum(b.loss * n for b, n in zip(history.batches, sizes, strict=True)) / 250
    assert history.epochs[0].train_loss == pytest.approx(expected)


def test_same_seed_same_weights_on_cpu(fashion_root):
    a = train(SEED.spec, FAST, fashion_root).model.state_dict()
    b = train(SEED.spec, FAST, fashion_root).model.state_dict()
    c = train(SEED.spec, replace(FAST, seed=1), fashion_root).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc1.weight"], c["fc1.weight"])


def test_resume_gives_the_same_weights_as_one_uninterrupted_run(fashion_root, tmp_path):
    config = replace(
        FAST,
        epochs=4,
        scheduler="StepLR",
        scheduler_options={"step_size": 1, "gamma": 0.5},
        augment=True,
        keep_best=True,
        lr=0.02,
    )
    straight = train(SEED.spec, config, fashion_root)
    path = tmp_path / "half.safetensors"
    first = Trainer(SEED.spec, replace(config, epochs=2), [SaveCheckpoint(path)])
    first.fit(first.load_data(fashion_root))
    resumed = Trainer(SEED.spec, config, resume_from=Checkpoint.load(path))
    assert resumed.epoch == 2
    resumed.fit(resumed.load_data(fashion_root))
    expected, actual = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    assert [m.lr for m in resumed.history] == [m.lr for m in straight.history]
    assert resumed.best_epoch == straight.best_epoch


def first_half_then_resume(config, fashion_root, path, callbacks=()):
    """Train ``config`` to 2 epochs (or until a callback stops it) saving to ``path``, then continue from the file."""
    first = Trainer(SEED.spec, replace(config, epochs=2), [SaveCheckpoint(path), *callbacks])
    first.fit(first.load_data(fashion_root))
    resumed = Trainer(SEED.spec, config, resume_from=Checkpoint.load(path))
    resumed.fit(resumed.load_data(fashion_root))
    return first, resumed


def assert_same_weights(expected, actual):
    assert expected.keys() == actual.keys() and all(torch.equal(expected[k], actual[k]) for k in expected)


def test_resume_from_a_file_that_kept_an_earlier_best_epoch_continues_from_the_last(fashion_root, tmp_path):
    config = replace(FAST, epochs=4, keep_best=True, optimizer="SGD", lr=0.3, optimizer_options={"momentum": 0.9})
    straight = train(SEED.spec, config, fashion_root)
    first, resumed = first_half_then_resume(config, fashion_root, tmp_path / "half.safetensors")
    assert first.best_epoch == 1  # this learning rate overshoots: the file's model is epoch 1, not epoch 2
    saved = Checkpoint.load(tmp_path / "half.safetensors")
    assert_same_weights(saved.weights, saved.best_weights)
    assert not torch.equal(saved.weights["fc1.weight"], saved.resume_weights["fc1.weight"])
    assert [m.val_loss for m in resumed.history] == [m.val_loss for m in straight.history]
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
    assert resumed.best_epoch == straight.best_epoch


class CrashAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_start(self, trainer, epoch):
        if epoch == self.epoch:
            raise KeyboardInterrupt  # as a crash or Ctrl-C would end the run, after the last per-epoch save


def test_resume_after_a_crash_keeps_the_best_epoch_the_per_epoch_file_recorded(fashion_root, tmp_path):
    config = replace(FAST, epochs=5, keep_best=True, optimizer="SGD", lr=0.3, optimizer_options={"momentum": 0.9})
    straight = train(SEED.spec, config, fashion_root)
    path = tmp_path / "crashed.safetensors"
    crashed = Trainer(SEED.spec, config, [SaveCheckpoint(path), CrashAt(2)])
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(crashed.load_data(fashion_root))
    saved = Checkpoint.load(path)
    assert saved.epoch == 1 and saved.best_epoch == 1  # the file knows that epoch 1 was the best so far
    resumed = Trainer(SEED.spec, config, resume_from=saved)
    resumed.fit(resumed.load_data(fashion_root))
    assert resumed.best_epoch == straight.best_epoch
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())


def test_a_run_continued_without_keep_best_ends_on_its_last_epoch(fashion_root, tmp_path):
    overshooting = replace(
        FAST, epochs=4, optimizer="SGD", lr=0.3, optimizer_options={"momentum": 0.9}, keep_best=False
    )
    straight = train(SEED.spec, overshooting, fashion_root)  # no keep-best: the last epoch's weights
    first, resumed = first_half_then_resume(
        replace(overshooting, keep_best=True), fashion_root, tmp_path / "half.safetensors"
    )
    assert first.best_epoch == 1  # the file's model is epoch 1's
    resumed = Trainer(SEED.spec, overshooting, resume_from=Checkpoint.load(tmp_path / "half.safetensors"))
    result = resumed.fit(resumed.load_data(fashion_root))
    assert result.best_epoch is None
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())


def test_resume_from_a_file_stopped_mid_epoch_replays_that_epoch_whole(fashion_root, tmp_path):
    config = replace(FAST, epochs=4)
    straight = train(SEED.spec, config, fashion_root)
    batches = math.ceil(250 / FAST.batch_size)
    first, resumed = first_half_then_resume(
        config, fashion_root, tmp_path / "half.safetensors", [StopAfter(batches + 3)]
    )
    assert first.epoch == 1 and first.resume_point is not None  # 3 batches into epoch 2
    saved = Checkpoint.load(tmp_path / "half.safetensors")
    assert_same_weights(saved.weights, first.model.state_dict())  # the model trained so far is what was saved
    assert [m.train_loss for m in resumed.history] == [m.train_loss for m in straight.history]
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())


def test_a_cosine_schedule_continued_for_more_epochs_follows_the_longer_curve(fashion_root, tmp_path):
    config = replace(FAST, epochs=4, scheduler="CosineAnnealingLR")
    straight = [m.lr for m in train(SEED.spec, config, fashion_root).history]
    first, resumed = first_half_then_resume(config, fashion_root, tmp_path / "half.safetensors")
    assert [m.lr for m in first.history] == pytest.approx(straight[:1] + [config.lr / 2])  # its own 2-epoch curve
    assert [m.lr for m in resumed.history][2:] == pytest.approx(straight[2:])
    assert min(m.lr for m in resumed.history) > 0


class StopAfter(Callback):
    def __init__(self, batches: int) -> None:
        self.batches, self.seen = batches, 0

    def on_batch_end(self, trainer, metrics):
        self.seen += 1
        if self.seen == self.batches:
            trainer.stop()


def test_stop_takes_effect_after_the_current_batch_and_keeps_the_weights(fashion_root):
    stopper, history = StopAfter(3), History()
    trainer = Trainer(SEED.spec, replace(FAST, epochs=50), [stopper, history])
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.fit(trainer.load_data(fashion_root))
    assert len(history.batches) == 3
    assert result.stopped and result.history == () and result.test is not None
    assert not torch.equal(before["fc1.weight"], trainer.model.state_dict()["fc1.weight"])


def test_a_stop_after_an_epochs_last_batch_keeps_that_epoch_when_a_one_sample_batch_is_left_out(fashion_root):
    history = History()
    trainer = Trainer(SEED.spec, replace(FAST, epochs=3, batch_size=249), [StopAfter(1), history])
    trainer.fit(trainer.load_data(fashion_root))  # 250 samples: one batch of 249, the odd one is left out
    assert [(b.batch, b.batches, b.samples_seen) for b in history.batches] == [(1, 1, 249)]
    assert [m.epoch for m in history.epochs] == [1] and trainer.resume_point is None


def test_pause_holds_between_batches_and_resume_continues(fashion_root):
    paused_at = threading.Event()

    class PauseOnce(Callback):
        def on_batch_end(self, trainer, metrics):
            if metrics.epoch == 1 and metrics.batch == 2:
                trainer.pause()
                paused_at.set()

    history = History()
    trainer = Trainer(SEED.spec, FAST, [PauseOnce(), history])
    data = trainer.load_data(fashion_root)
    worker = threading.Thread(target=trainer.fit, args=(data,))
    worker.start()
    assert paused_at.wait(10)
    count = len(history.batches)
    worker.join(0.6)
    assert worker.is_alive() and trainer.paused and len(history.batches) == count
    trainer.resume()
    worker.join(30)
    assert not worker.is_alive() and len(history.epochs) == 2
    # The pause is no training: epoch 1's time and speed leave it out (a whole epoch here takes milliseconds),
    # or the run history would record paused epochs as slow and the next unpaused one as a burst of speed.
    paused_epoch = history.epochs[0]
    assert paused_epoch.epoch_seconds < 0.5 and paused_epoch.samples_per_second > 250 / 0.5


def test_stop_while_paused_wakes_the_loop(fashion_root):
    trainer = Trainer(SEED.spec, FAST)
    data = trainer.load_data(fashion_root)
    trainer.pause()
    worker = threading.Thread(target=trainer.fit, args=(data,))
    worker.start()
    worker.join(0.2)
    trainer.stop()
    worker.join(10)
    assert not worker.is_alive()


def test_nan_loss_stops_with_advice_and_keeps_the_last_good_weights(fashion_root):
    history = History()
    config = replace(FAST, epochs=3, optimizer="SGD", lr=100.0, optimizer_options={"momentum": 0.9})
    spec = SEED.spec
    trainer = Trainer(spec, config, [history])
    with pytest.raises(TrainingDiverged, match="learning rate 100 is probably too high, try 10"):
        trainer.fit(trainer.load_data(fashion_root))
    assert isinstance(history.error, TrainingDiverged)
    finished = history.epochs[-1].epoch if history.epochs else 0
    assert trainer.epoch == finished
    # The model and optimizer are back where the failed epoch started: the end of the last finished one.
    again = Trainer(spec, replace(config, epochs=finished)) if finished else Trainer(spec, config)
    if finished:
        again.fit(again.load_data(fashion_root))
    expected = again.model.state_dict()
    assert all(torch.equal(expected[k], v) for k, v in trainer.model.state_dict().items())
    momentum = [s["momentum_buffer"] for s in trainer.optimizer.state_dict()["state"].values()]
    assert all(torch.isfinite(m).all() for m in momentum)


def test_a_loss_that_explodes_without_becoming_nan_stops_as_diverged(fashion_root):
    # Adam at lr 100 takes the loss from 2.3 to about 4e11 in one step; it stays finite and would "finish" at 10 %.
    history = History()
    config = replace(FAST, epochs=3, optimizer="Adam", lr=100.0, optimizer_options={})
    trainer = Trainer(SEED.spec, config, [history])
    with pytest.raises(TrainingDiverged, match=r"The loss exploded to .* at epoch 1, batch 2 \(it started at 2\.\d+\)"):
        trainer.fit(trainer.load_data(fashion_root))
    assert isinstance(history.error, TrainingDiverged) and history.result is None
    assert "learning rate 100 is probably too high, try 10" in str(history.error)
    assert all(math.isfinite(b.loss) and b.loss < 1e3 for b in history.batches)  # the exploded batch is not drawn


def test_an_ordinary_loss_spike_is_not_divergence(fashion_root):
    history = History()
    train(SEED.spec, replace(FAST, epochs=2, lr=0.05), fashion_root, [history])  # a high but workable rate
    assert len(history.epochs) == 2 and history.result is not None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"lr": 0.0}, "learning rate must be greater than 0"),
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"optimizer_options": {"beta1": 1.5}}, "beta1 must be less than 1"),
        ({"optimizer": "Nope"}, "unknown optimizer 'Nope'"),
        ({"optimizer": "SGD", "optimizer_options": {"nesterov": True}}, "Nesterov momentum needs momentum > 0"),
        ({"scheduler": "StepLR", "scheduler_options": {"gamma": 0}}, "gamma must be greater than 0"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_invalid_settings_are_refused_before_training(changes, words):
    with pytest.raises(ConfigError, match=words):
        Trainer(SEED.spec, replace(FAST, **changes))


def test_an_unbuildable_spec_is_refused_with_the_layer_named():
    with pytest.raises(SpecError, match=r"layer 1 \(Linear\) needs a flat input"):
        Trainer(ModelSpec((layer("Linear", out_features=10),)), FAST)


@pytest.mark.slow
def test_a_network_for_other_images_is_refused_before_the_first_batch(fashion_root):
    layers = (layer("Conv2d", out_channels=4), layer("GlobalAvgPool"), layer("Linear", out_features=10))
    trainer = Trainer(ModelSpec(layers, input_shape=(3, 16, 16)), replace(FAST, loss="cross_entropy"))
    with pytest.raises(ConfigError, match="the network takes 3x16x16 images but the data's are 1x28x28"):
        trainer.fit(trainer.load_data(fashion_root))
    assert trainer.epoch == 0


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        Trainer(SEED.spec, replace(FAST, device="cuda"))


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_every_optimizer_trains(optimizer, fashion_root):
    lr = {"Adadelta": 1.0, "SGD": 0.05, "ASGD": 0.05, "Adagrad": 0.05}.get(optimizer, 3e-3)
    history = History()
    train(SEED.spec, replace(FAST, epochs=1, optimizer=optimizer, lr=lr), fashion_root, [history])
    assert math.isfinite(history.epochs[0].train_loss)
    assert history.batches[-1].loss < history.batches[0].loss


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_every_scheduler_sets_the_learning_rate_it_previews(scheduler, fashion_root):
    from fashion_desktop.core.optim import preview_learning_rates

    config = replace(FAST, epochs=3, scheduler=scheduler)
    trainer = train(SEED.spec, config, fashion_root)
    rates = [m.lr for m in trainer.history]
    if scheduler != "ReduceLROnPlateau":
        assert rates == pytest.approx(preview_learning_rates(config))


def test_early_stopping_restores_the_best_epoch(fashion_root):
    config = replace(FAST, epochs=30, early_stopping_patience=2, lr=0.05)
    history = History()
    trainer = train(SEED.spec, config, fashion_root, [history])
    result = history.result
    losses = [m.val_loss for m in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses))
    assert len(result.history) <= result.best_epoch + 2
    data = trainer.load_data(fashion_root)
    assert trainer.evaluate(data.val_x, data.val_y).loss == pytest.approx(min(losses), rel=1e-5)


def test_keep_best_ends_with_the_lowest_validation_loss_without_stopping_early(fashion_root):
    history = History()
    trainer = train(SEED.spec, replace(FAST, epochs=6, keep_best=True, lr=0.05), fashion_root, [history])
    losses = [m.val_loss for m in history.epochs]
    assert len(losses) == 6 and history.result.best_epoch == 1 + losses.index(min(losses))
    data = trainer.load_data(fashion_root)
    assert trainer.evaluate(data.val_x, data.val_y).loss == pytest.approx(min(losses), rel=1e-5)


def test_label_smoothing_and_augmentation_train(fashion_root):
    history = History()
    config = replace(FAST, loss="label_smoothing", loss_options={"smoothing": 0.2}, augment=True)
    train(get_preset("small-cnn").spec, replace(config, epochs=1, batch_size=64), fashion_root, [history])
    assert math.isfinite(history.epochs[0].train_loss)


@pytest.mark.real_data
@pytest.mark.slow
def test_seed_preset_learns_the_real_data_in_one_epoch(real_data_root):
    trainer = train(SEED.spec, replace(SEED.config, epochs=1, device="cpu"), real_data_root)
    assert trainer.test.accuracy > 0.80
    assert sum(map(sum, trainer.test.confusion)) == 10_000
