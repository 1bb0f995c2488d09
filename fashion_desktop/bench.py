"""``fashion-desktop bench``: our engine against the classic torchvision DataLoader pipeline, side by side.

Both train the ``seed`` preset (same weights at the start, Adam lr 3e-3, NLLLoss, batch 64) on all 60,000
training images. Epochs alternate between the two pipelines so that machine noise hits both alike.
"""

from __future__ import annotations

import gzip
import resource
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from fashion_desktop.core.data import FILES, find_raw_files
from fashion_desktop.core.engine import Trainer
from fashion_desktop.core.optim import make_loss, make_optimizer
from fashion_desktop.core.presets import get_preset


def run_bench(root: Path, epochs: int = 1) -> dict[str, Any]:
    preset = get_preset("seed")
    # Training speed only: no validation set, so nothing that needs one (keeping the best epoch, early stopping).
    config = replace(preset.config, val_size=0, keep_best=False, early_stopping_patience=0, device="cpu", epochs=epochs)
    trainer = Trainer(preset.spec, config)
    data = trainer.load_data(root)
    with tempfile.TemporaryDirectory() as folder:
        classic_dataset = _torchvision_dataset(root, Path(folder))
        loader = DataLoader(classic_dataset, batch_size=config.batch_size, shuffle=True, num_workers=0)
        classic_model = _same_start(trainer)
        classic_optimizer = make_optimizer(config, classic_model.parameters())
        loss_fn = make_loss(config)
        classic_times, engine_times = [], []
        for _ in range(epochs):
            classic_times.append(_classic_epoch(classic_model, classic_optimizer, loss_fn, loader))
            started = time.perf_counter()
            trainer.train_epoch(trainer.epoch + 1, data, len(loader))
            engine_times.append(time.perf_counter() - started)
            trainer.epoch += 1
    classic, engine = statistics.median(classic_times), statistics.median(engine_times)
    return {
        "torch_threads": torch.get_num_threads(),
        "epochs_each": epochs,
        "classic_epoch_seconds": classic,
        "engine_epoch_seconds": engine,
        "speedup": classic / engine,
        "engine_images_per_second": len(data.train_y) / engine,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _torchvision_dataset(root: Path, folder: Path) -> datasets.FashionMNIST:
    """Torchvision's own FashionMNIST class, over an uncompressed copy of the files in its layout."""
    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for key, path in find_raw_files(root).items():
        opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
        with opener(path, "rb") as source, open(raw / FILES[key], "wb") as target:
            shutil.copyfileobj(source, target)
    normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dataset = datasets.FashionMNIST(str(folder), train=True, transform=normalize, download=False)
    dataset.data, dataset.targets = dataset.data.clone(), dataset.targets.clone()  # no longer tied to the files
    return dataset


def _same_start(trainer: Trainer) -> torch.nn.Module:
    from fashion_desktop.core.builder import build_model

    model = build_model(trainer.spec)
    model.load_state_dict(trainer.model.state_dict())
    return model


def _classic_epoch(model: torch.nn.Module, optimizer: Any, loss_fn: Any, loader: DataLoader) -> float:
    """The textbook loop, as in the classic FashionNetwork notebook."""
    model.train()
    started = time.perf_counter()
    for images, labels in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started
