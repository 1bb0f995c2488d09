"""Runs in words and flat settings.

The layer summary, the preset a network matches, the settings two runs are compared on, and the run columns of
the CSV export.
"""

from __future__ import annotations

from typing import Any

from fashion_desktop.core.layers import describe_shape
from fashion_desktop.core.params import resolve
from fashion_desktop.core.presets import PRESETS
from fashion_desktop.core.runs.records import RunRecord
from fashion_desktop.core.spec import INIT_SCHEMES, INPUT_SHAPE, LayerSpec, ModelSpec

CSV_RUN_COLUMNS = (
    "run_id",
    "run_name",
    "started_at",
    "status",
    "dataset",
    "preset",
    "layers",
    "parameters",
    "optimizer",
    "lr",
    "batch_size",
    "epochs_planned",
    "scheduler",
    "loss",
    "seed",
    "augment",
    "early_stopping_patience",
    "keep_best",
    "device",
    "test_accuracy",
    "test_loss",
    "best_epoch",
)


def csv_run_fields(run: RunRecord) -> tuple[Any, ...]:
    """The values of ``CSV_RUN_COLUMNS`` for one run, repeated on each of its epochs' rows in the CSV export."""
    config = run.config
    return (
        run.id,
        run.name,
        run.started_at.isoformat(),
        run.status,
        run.dataset or "",
        preset_name(run.spec) or "custom",
        describe_layers(run.spec),
        run.spec.summary().total,
        config.optimizer,
        config.lr,
        config.batch_size,
        config.epochs,
        config.scheduler,
        config.loss,
        config.seed,
        config.augment,
        config.early_stopping_patience,
        config.keep_best,
        run.device,
        "" if run.test_accuracy is None else run.test_accuracy,
        "" if run.test_loss is None else run.test_loss,
        "" if run.best_epoch is None else run.best_epoch,
    )


def run_settings(run: RunRecord) -> dict[str, Any]:
    """A run's settings as flat name -> value: the training config, the device, then a summary of the network."""
    config = run.config
    options = {
        "loss_options": config.resolved_loss_options(),
        "optimizer_options": config.resolved_optimizer_options(),
        "scheduler_options": config.resolved_scheduler_options(),
    }
    settings: dict[str, Any] = {}
    for key, value in config.to_dict().items():
        if key in options:
            settings.update({f"{key}.{name}": option for name, option in options[key].items()})
        else:
            settings[key] = value
    settings["device used"] = run.device
    settings["layers"] = describe_layers(run.spec)
    settings["parameters"] = run.spec.summary().total
    settings["mean"], settings["std"] = run.spec.mean, run.spec.std
    return settings


def describe_layers(spec: ModelSpec) -> str:
    """A one-line summary such as ``Flatten, Linear(256), ReLU, Dropout(0.25), Linear(10), LogSoftmax``.

    Each layer shows its main option (units, channels, kernel size or dropout rate), then any other option or
    initialisation that differs from the default. An input other than Fashion-MNIST's comes first: ``3x64x64 input``.
    """
    layers = [_describe_layer(layer) for layer in spec.layers]
    if spec.input_shape != INPUT_SHAPE:
        layers.insert(0, f"{describe_shape(spec.input_shape)} input")
    return ", ".join(layers)


def _describe_layer(layer: LayerSpec) -> str:
    initialisation = [f"init={layer.init}"] if layer.init != "default" else []
    if layer.bias_init != "default":
        initialisation.append(f"bias_init={layer.bias_init}")
    return layer.type.label(layer.options(), initialisation)


def preset_name(spec: ModelSpec) -> str | None:
    """The name of the first preset whose network is ``spec`` (options spelled out or left at their defaults)."""
    canonical = _canonical(spec)
    return next((name for name, preset in PRESETS.items() if _canonical(preset.spec) == canonical), None)


def _canonical(spec: ModelSpec) -> tuple[Any, ...]:
    """The spec with every option filled in, so that equal networks compare equal however they were written."""
    layers = tuple(
        (
            layer.kind,
            {p.name: layer.option(p.name) for p in layer.type.params},
            layer.init,
            resolve(INIT_SCHEMES.get(layer.init, ()), layer.init_params)[0],
            layer.bias_init,
        )
        for layer in spec.layers
    )
    return layers, spec.mean, spec.std, spec.input_shape
