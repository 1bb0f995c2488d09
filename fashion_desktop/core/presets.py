"""Ready-made networks, each with the training settings it was tuned with."""

from __future__ import annotations

from dataclasses import dataclass

from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.errors import SpecError
from fashion_desktop.core.spec import LayerSpec, ModelSpec, layer


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    spec: ModelSpec
    config: TrainConfig


def _mlp(
    hidden: tuple[int, ...], dropout: float = 0.0, batch_norm: bool = False, head: str = "LogSoftmax"
) -> ModelSpec:
    layers: list[LayerSpec] = [layer("Flatten")]
    for units in hidden:
        layers.append(layer("Linear", out_features=units))
        if batch_norm:
            layers.append(layer("BatchNorm"))
        layers.append(layer("ReLU"))
        if dropout:
            layers.append(layer("Dropout", p=dropout))
    layers.append(layer("Linear", out_features=10))
    if head != "logits":
        layers.append(layer(head))
    return ModelSpec(tuple(layers))


def _conv_block(channels: int, pool: bool = True) -> list[LayerSpec]:
    """Conv 3x3 (no bias: the batch norm after it has one), BatchNorm, ReLU, then 2x2 max pooling if ``pool``."""
    block = [
        layer("Conv2d", out_channels=channels, kernel_size=3, padding=1, bias=False),
        layer("BatchNorm"),
        layer("ReLU"),
    ]
    return block + [layer("MaxPool2d", kernel_size=2)] if pool else block


def _photo_cnn() -> ModelSpec:
    """Five conv blocks on 3x64x64 colour photos, pooled to 4x4, then global average pooling to 128 features."""
    blocks = [block for channels in (16, 32, 64, 128) for block in _conv_block(channels)]
    classifier = [layer("GlobalAvgPool"), layer("Dropout", p=0.3), layer("Linear", out_features=10)]
    return ModelSpec(tuple(blocks + _conv_block(128, pool=False) + classifier), input_shape=(3, 64, 64))


# Every preset ends with its best epoch's weights (lowest validation loss), so presets compare like for like.
_SEED_CONFIG = TrainConfig(epochs=10, batch_size=64, lr=3e-3, loss="nll", optimizer="Adam", keep_best=True)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "seed",
            "The classic FashionNetwork: 784-256-128-10, ReLU, dropout 0.25, LogSoftmax + NLLLoss, Adam",
            _mlp((256, 128), dropout=0.25),
            _SEED_CONFIG,
        ),
        Preset(
            "seed-no-dropout",
            "The classic network without dropout, to see what dropout does",
            _mlp((256, 128)),
            _SEED_CONFIG,
        ),
        Preset(
            "d2l-mlp",
            "Dive into Deep Learning's MLP: 784-256-10, ReLU, plain SGD",
            _mlp((256,), head="logits"),
            TrainConfig(epochs=10, batch_size=256, lr=0.1, loss="cross_entropy", optimizer="SGD", keep_best=True),
        ),
        Preset(
            "deep-mlp",
            "A wider, deeper MLP with batch norm and dropout, AdamW and a cosine schedule",
            _mlp((1024, 512, 256), dropout=0.2, batch_norm=True, head="logits"),
            TrainConfig(
                epochs=30,
                batch_size=128,
                lr=2e-3,
                loss="label_smoothing",
                optimizer="AdamW",
                optimizer_options={"weight_decay": 0.05},
                scheduler="CosineAnnealingLR",
                keep_best=True,
            ),
        ),
        Preset(
            "small-cnn",
            "Two convolution blocks and a small classifier: the best accuracy for a few CPU minutes",
            ModelSpec(
                tuple(
                    _conv_block(32)
                    + _conv_block(64)
                    + [
                        layer("Flatten"),
                        layer("Dropout", p=0.25),
                        layer("Linear", out_features=128),
                        layer("ReLU"),
                        layer("Dropout", p=0.25),
                        layer("Linear", out_features=10),
                    ]
                )
            ),
            TrainConfig(
                epochs=10,
                batch_size=128,
                lr=3e-3,
                loss="cross_entropy",
                optimizer="AdamW",
                optimizer_options={"weight_decay": 0.01},
                scheduler="CosineAnnealingLR",
                keep_best=True,
            ),
        ),
        Preset(
            "photo-cnn",
            "For 64x64 colour photos: five convolution blocks, global average pooling and dropout, about 250k "
            "weights; it needs a dataset of colour photos, not Fashion-MNIST's 28x28 greyscale images",
            _photo_cnn(),
            TrainConfig(
                epochs=30,
                batch_size=64,
                lr=3e-3,
                loss="cross_entropy",
                optimizer="AdamW",
                optimizer_options={"weight_decay": 0.05},
                scheduler="CosineAnnealingLR",
                keep_best=True,
            ),
        ),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise SpecError(f"there is no preset {name!r}; choose one of {', '.join(PRESETS)}") from None
