"""The Learn tab's maths: each experiment's numbers against the tutorials' values, torch and the formulas."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from fashion_desktop.core import learn
from fashion_desktop.core.presets import PRESETS
from fashion_desktop.core.spec import LAYER_TYPES

# The values the classic tutorials quote for the first two steps on w^2 / 2 from w = 1 at lr 0.01.
TUTORIAL_FIRST_STEPS = {
    "SGD, momentum 0.9": (0.9900, 0.9711),
    "AdaGrad": (0.9900, 0.982965),
    "RMSProp, alpha 0.9": (0.968377, 0.945788),
    "Adam, betas (0.9, 0.99)": (0.9900, 0.980003),
}


def test_importing_the_module_does_not_load_torch():
    code = "import sys, fashion_desktop.core.learn; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("label", TUTORIAL_FIRST_STEPS)
def test_the_first_steps_match_the_tutorials_to_six_decimals(label):
    choice = next(c for c in learn.FIRST_STEP_CHOICES if c.label == label)
    assert learn.first_steps(choice) == pytest.approx(TUTORIAL_FIRST_STEPS[label], abs=5e-7)


def test_the_first_steps_use_the_registry_defaults_that_reproduce_them():
    """AdaGrad's accumulator starts at 0 (torch's default) and eps is tiny; with a start of 0.1 the values differ."""
    adagrad = next(c for c in learn.FIRST_STEP_CHOICES if c.optimizer == "Adagrad")
    assert adagrad.torch_kwargs(0.01) == {"lr": 0.01, "lr_decay": 0.0, "eps": 1e-10, "weight_decay": 0.0}
    w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    shifted = torch.optim.Adagrad([w], lr=0.01, initial_accumulator_value=0.1)
    (w.pow(2).sum() / 2).backward()
    shifted.step()
    assert float(w.detach()) != pytest.approx(0.99, abs=5e-7)
    # Momentum is torch's v = 0.9 v + g (dampening 0); the (1 - beta)-weighted form, dampening 0.9, gives other values.
    damped = learn.OptimizerChoice("damped", "SGD", {"momentum": 0.9, "dampening": 0.9})
    assert learn.first_steps(damped) == pytest.approx([0.99, 0.98001])


def test_plain_sgd_on_the_toy_loss_shrinks_w_by_one_minus_lr_each_step():
    assert learn.first_steps(learn.OptimizerChoice("SGD", "SGD"), steps=5) == pytest.approx(
        [0.99**k for k in range(1, 6)]
    )


def test_the_ewma_follows_its_formula_and_bias_correction_divides_by_one_minus_beta_to_the_t():
    values = learn.noisy_temperatures()
    assert len(values) == 30 and values == learn.noisy_temperatures(seed=0) != learn.noisy_temperatures(seed=1)
    beta = 0.9
    plain, corrected = learn.ewma(values, beta), learn.ewma(values, beta, bias_correction=True)
    expected = 0.0
    for t, (y, s, c) in enumerate(zip(values, plain, corrected, strict=True), start=1):
        expected = beta * expected + (1 - beta) * y
        assert s == pytest.approx(expected) and c == pytest.approx(expected / (1 - beta**t))
    assert corrected[0] == pytest.approx(values[0])  # the first corrected value is the first day itself
    assert plain[0] == pytest.approx(0.1 * values[0])  # the uncorrected one is pulled towards S_0 = 0


def test_a_larger_beta_gives_a_flatter_curve():
    values = learn.noisy_temperatures()

    def roughness(series):
        return sum(abs(b - a) for a, b in zip(series[5:], series[6:], strict=False))

    assert (
        roughness(learn.ewma(values, 0.98, True))
        < roughness(learn.ewma(values, 0.9, True))
        < roughness(learn.ewma(values, 0.5, True))
    )
    with pytest.raises(ValueError, match="beta"):
        learn.ewma(values, 1.0)


def _std_ratio(experiment, key):
    stds = [getattr(s, key) for s in experiment.statistics]
    return max(stds) / min(stds), stds


def test_kaiming_keeps_relu_activations_within_a_factor_of_two_over_ten_layers_while_normal_explodes():
    kaiming = learn.init_experiment(10, 32, "ReLU", "kaiming_normal")
    ratio, stds = _std_ratio(kaiming, "activation_std")
    assert ratio < 2, stds
    exploding = learn.init_experiment(10, 32, "ReLU", "normal", {"std": 1.0})
    stds = [s.activation_std for s in exploding.statistics]
    assert stds[-1] > 1e4 * stds[0] and all(b > a for a, b in zip(stds, stds[1:], strict=False))


def test_xavier_keeps_tanh_gradients_level():
    ratio, stds = _std_ratio(learn.init_experiment(10, 32, "Tanh", "xavier_normal"), "gradient_std")
    assert ratio < 2, stds


def test_zeros_stall_every_unit_and_every_gradient():
    stalled = learn.init_experiment(10, 32, "ReLU", "zeros")
    assert all(s.activation_std == 0 and s.gradient_std == 0 for s in stalled.statistics)
    sigmoid = learn.init_experiment(5, 32, "Sigmoid", "zeros")  # every unit outputs 0.5, all alike
    assert all(s.activation_std == 0 and s.activation_mean == pytest.approx(0.5) for s in sigmoid.statistics)


def test_sigmoid_with_normal_init_saturates_and_its_gradients_vanish_towards_the_input():
    experiment = learn.init_experiment(10, 32, "Sigmoid", "normal", {"std": 1.0})
    first, last = experiment.statistics[0], experiment.statistics[-1]
    assert first.gradient_std < last.gradient_std / 4
    counts, edges = last.activations.counts, last.activations.edges
    assert edges[0] >= 0 and edges[-1] <= 1
    assert counts[0] + counts[-1] > 0.2 * sum(counts)  # many units sit at 0 or 1, where sigmoid's slope is ~0
    # With Xavier's smaller weights the sigmoid's slope of at most 1/4 shrinks the gradient at every layer.
    xavier = learn.init_experiment(10, 32, "Sigmoid", "xavier_normal").statistics
    assert xavier[0].gradient_std < 1e-3 * xavier[-1].gradient_std


def test_the_init_experiment_is_seeded_and_its_histograms_hold_every_value():
    a = learn.init_experiment(3, 16, "GELU", "xavier_uniform", batch=64, bins=20)
    b = learn.init_experiment(3, 16, "GELU", "xavier_uniform", batch=64, bins=20)
    assert a == b
    layer = a.statistics[0]
    assert sum(layer.activations.counts) == 64 * 16 and sum(layer.gradients.counts) == 16 * 16
    assert len(layer.activations.edges) == 21
    with pytest.raises(ValueError, match="layers"):
        learn.init_experiment(0, 16, "ReLU", "zeros")


def test_with_weight_init_sets_every_weighted_layer_and_leaves_the_others():
    spec = learn.with_weight_init(PRESETS["small-cnn"].spec, "xavier_uniform", {"gain": 2.0})
    for layer in spec.layers:
        if LAYER_TYPES[layer.kind].has_weights:
            assert (layer.init, dict(layer.init_params), layer.bias_init) == ("xavier_uniform", {"gain": 2.0}, "zeros")
        else:
            assert layer.init == "default"
    assert spec.errors() == []


def test_activation_curves_come_from_the_registry_with_their_vanishing_regions():
    assert learn.activation_kinds() == [k for k, t in LAYER_TYPES.items() if t.category == "activation"]
    assert "ReLU" in learn.activation_kinds() and "Sigmoid" in learn.activation_kinds()
    relu = learn.activation_curve("ReLU")
    assert relu.vanishing == [(-6.0, pytest.approx(0.0, abs=1e-6))]
    sigmoid = learn.activation_curve("Sigmoid")
    (left_start, left_end), (right_start, right_end) = sigmoid.vanishing
    # sigmoid'(x) = 0.05 where sigmoid(x) = (1 +- sqrt(0.8)) / 2, at |x| = 2.887
    assert left_start == -6 and right_end == 6
    assert left_end == pytest.approx(-2.887, abs=0.06) and right_start == pytest.approx(2.887, abs=0.06)
    assert learn.activation_curve("LeakyReLU", {"negative_slope": 0.1}).vanishing == []


def test_classification_losses_and_their_gradients_with_respect_to_the_true_logit():
    curves = {c.name: c for c in learn.classification_loss_curves()}
    ce, mse, bce = curves["cross_entropy"], curves["mse_softmax"], curves["bce"]
    for i in (0, 50, 150, -1):
        p = ce.x[i]
        assert ce.loss[i] == pytest.approx(-math.log(p))
        assert ce.gradient[i] == pytest.approx(p - 1)  # softmax + cross-entropy: d/dz = p - y
        q = (1 - p) / 9
        assert mse.loss[i] == pytest.approx(((1 - p) ** 2 + 9 * q**2) / 10)
        assert bce.loss[i] == pytest.approx((-math.log(p) - 9 * math.log(1 - q)) / 10)
    # A confident mistake: cross-entropy still pushes hard, MSE on softmax hardly at all.
    assert abs(ce.gradient[0]) > 0.99 and abs(mse.gradient[0]) < 0.01


def test_regression_losses_and_gradients():
    curves = {c.name: c for c in learn.regression_loss_curves(target=1.0, beta=0.5)}
    for i, y in enumerate(curves["l1"].x):
        error = y - 1.0
        assert curves["l1"].loss[i] == pytest.approx(abs(error))
        assert curves["mse"].loss[i] == pytest.approx(error**2)
        assert curves["mse"].gradient[i] == pytest.approx(2 * error)
        smooth = 0.5 * error**2 / 0.5 if abs(error) < 0.5 else abs(error) - 0.25
        assert curves["smooth_l1"].loss[i] == pytest.approx(smooth)
    with pytest.raises(ValueError, match="beta"):
        learn.regression_loss_curves(beta=0)


def _torch_rates(make, epochs=200, lr=0.1):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make(optimizer)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize(
    ("name", "options", "make", "closed_form"),
    [
        (
            "StepLR",
            {"step_size": 30, "gamma": 0.1},
            lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.1),
            lambda e: 0.1 * 0.1 ** (e // 30),
        ),
        (
            "MultiStepLR",
            {"milestones": (50, 125, 160), "gamma": 0.5},
            lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[50, 125, 160], gamma=0.5),
            lambda e: 0.1 * 0.5 ** sum(e >= m for m in (50, 125, 160)),
        ),
        (
            "ExponentialLR",
            {"gamma": 0.95},
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.95),
            lambda e: 0.1 * 0.95**e,
        ),
    ],
)
def test_schedules_over_200_epochs_match_torch_and_the_formula(name, options, make, closed_form):
    rates = learn.schedule(name, 200, 0.1, options)
    assert rates == pytest.approx(_torch_rates(make))
    assert rates == pytest.approx([closed_form(e) for e in range(200)])


def test_every_registry_scheduler_has_a_schedule_and_bad_options_are_explained():
    for name in learn.scheduler_names():
        assert len(learn.schedule(name, 20)) == 20
    with pytest.raises(Exception, match="gamma"):
        learn.schedule("ExponentialLR", 20, options={"gamma": 2.0})


def test_batches_and_iterations():
    plan = learn.batch_plan(50_000, 256, epochs=10)
    assert (plan.full_batches, plan.last_batch, plan.iterations_per_epoch, plan.iterations) == (195, 80, 196, 1960)
    exact = learn.batch_plan(60_000, 100)
    assert (exact.last_batch, exact.iterations_per_epoch) == (0, 600)
    assert learn.batch_plan(513, 256).app_skips_last and not learn.batch_plan(514, 256).app_skips_last


def test_batch_plan_agrees_with_the_engine_about_a_last_batch_of_one():
    from fashion_desktop.core.data import batches_per_epoch

    for samples, batch in ((513, 256), (50_000, 256), (1, 1), (2, 1), (257, 256), (3, 2)):
        plan = learn.batch_plan(samples, batch)
        assert batches_per_epoch(samples, batch)[0] == plan.iterations_per_epoch - plan.app_skips_last


@pytest.mark.parametrize("surface", list(learn.SURFACES))
def test_every_optimizer_runs_on_every_surface_and_gradient_descent_goes_downhill(surface):
    for choice in learn.optimizer_choices():
        points = learn.optimizer_trajectory(surface, choice, learn.SURFACES[surface].suggested_lr, 20)
        assert points[0] == learn.SURFACES[surface].start and len(points) == 21
    run = learn.OptimizerRun(learn.SURFACES[surface], learn.OptimizerChoice("SGD", "SGD"), 1e-3)
    run.step(10)
    assert run.losses == sorted(run.losses, reverse=True)


def test_the_optimizer_line_up_starts_with_the_classics_and_holds_every_registry_optimizer():
    choices = learn.optimizer_choices()
    assert [c.label for c in choices[:6]] == ["SGD", "SGD + momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam"]
    from fashion_desktop.core.config import OPTIMIZERS

    assert {c.optimizer for c in choices} == set(OPTIMIZERS)


def test_sgd_on_the_bowl_moves_exactly_as_gradient_descent():
    points = learn.optimizer_trajectory("bowl", learn.OptimizerChoice("SGD", "SGD"), 0.1, 3)
    x0, y0 = learn.SURFACES["bowl"].start
    assert points == [pytest.approx((x0 * 0.9**k, y0 * 0.9**k)) for k in range(4)]


def test_a_diverging_run_stops_and_says_so():
    run = learn.OptimizerRun(learn.SURFACES["bowl"], learn.OptimizerChoice("SGD", "SGD"), 5.0)  # |1 - 5| > 1
    run.step(100)
    assert run.diverged and len(run.points) < 100
