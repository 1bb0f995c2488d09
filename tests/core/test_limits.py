"""Limits and odd values: resource caps on networks, typed training settings, device numbers, extreme inits."""

from dataclasses import replace

import pytest

from fashion_desktop.core.config import TrainConfig, device_problem
from fashion_desktop.core.errors import ConfigError, OutOfMemory, SpecError, out_of_memory
from fashion_desktop.core.spec import MAX_ACTIVATIONS, MAX_PARAMETERS, LayerSpec, ModelSpec, layer


def _mlp(*widths):
    return ModelSpec(
        (layer("Flatten"), *(layer("Linear", out_features=w) for w in widths), layer("Linear", out_features=10))
    )


def test_a_network_over_the_parameter_cap_is_refused_by_validate():
    bomb = _mlp(65536, 65536, 65536)  # 8.6 billion parameters: 33 GB, which summary used to accept
    messages = [p.message for p in bomb.errors()]
    assert any("parameters" in m and f"{MAX_PARAMETERS:,}" in m for m in messages)
    with pytest.raises(SpecError, match="parameters"):
        bomb.check()


def test_a_network_over_the_activation_cap_is_refused_by_validate():
    wide = ModelSpec(
        (
            layer("Conv2d", out_channels=8192, kernel_size=3, padding=1),
            layer("Flatten"),
            layer("Linear", out_features=10),
        )
    )
    assert any("values per image" in p.message and f"{MAX_ACTIVATIONS:,}" in p.message for p in wide.errors())


def test_every_preset_is_well_inside_the_caps():
    from fashion_desktop.core.presets import PRESETS

    for preset in PRESETS.values():
        assert preset.spec.errors() == [], preset


@pytest.mark.parametrize(
    "scheme", [("constant", {"val": 1e308}), ("normal", {"std": 1e308}), ("uniform", {"b": 1e300})]
)
def test_an_initialisation_beyond_float32_is_refused_not_a_traceback(scheme):
    init, options = scheme
    spec = ModelSpec((layer("Flatten"), LayerSpec("Linear", {"out_features": 10}, init, options)))
    assert spec.errors(), "an init torch cannot fill must not pass validation"


@pytest.mark.parametrize("name", ["cuda:99999999999999999999", "cuda:1024", "mps:5000"])
def test_device_numbers_beyond_any_machine_are_refused(name):
    assert "too large" in device_problem(name)
    assert device_problem("cuda:3") is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"batch_size": "64"}, "batch_size must be a whole number"),
        ({"batch_size": 64.0}, "batch_size must be a whole number"),
        ({"lr": "0.01"}, "lr must be a number"),
        ({"seed": None}, "seed must be a whole number"),
        ({"augment": 1}, "augment must be true or false"),
        ({"device": 0}, "device must be a text"),
        ({"loss_options": {"smoothing": {"nested": 1}}}, "loss_options.smoothing"),
        ({"scheduler_options": ["StepLR"]}, "scheduler_options must be an object"),
    ],
)
def test_from_dict_checks_every_fields_type(changes, words):
    data = {**TrainConfig().to_dict(), **changes}
    with pytest.raises(ConfigError, match=words):
        TrainConfig.from_dict(data)


def test_from_dict_round_trips_and_refuses_non_objects():
    config = replace(TrainConfig(), scheduler="MultiStepLR", scheduler_options={"milestones": (2, 4)})
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="must be an object"):
        TrainConfig.from_dict(["epochs", 3])  # type: ignore[arg-type]


def test_allocation_failures_become_a_message_with_advice():
    for error in (
        MemoryError(),
        RuntimeError("CUDA out of memory. Tried to allocate 17.00 GiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"),
    ):
        found = out_of_memory(error, "cpu")
        assert isinstance(found, OutOfMemory) and "lower the batch size" in str(found)
    assert out_of_memory(RuntimeError("shapes cannot be multiplied")) is None
