"""The dataset registry: MNIST and KMNIST beside Fashion-MNIST, in their torchvision folders with their checks."""

from __future__ import annotations

import gzip
import hashlib
import shutil

import numpy as np
import pytest
import torchvision.datasets

from fashion_desktop.core import data
from fashion_desktop.core.data import (
    DATASETS,
    FILES,
    dataset_info,
    download,
    ensure_data,
    find_raw_files,
    load_arrays,
    load_fashion_mnist,
)
from fashion_desktop.core.errors import DataError
from fashion_desktop.core.synthetic import idx_bytes, write_fashion_mnist


def as_dataset(tmp_path, folder: str):
    """The synthetic set moved into another dataset's torchvision folder."""
    root = write_fashion_mnist(tmp_path / "data")
    shutil.move(root / "FashionMNIST", root / folder)
    return root


@pytest.mark.parametrize("key", list(DATASETS))
def test_registry_matches_torchvision(key):
    info = dataset_info(key)
    source = getattr(torchvision.datasets, info.folder)
    assert dict(info.gz_md5) == dict(source.resources)  # the md5s checked offline are torchvision's
    assert len(info.class_names) == 10 == len(set(info.class_names))
    if key != "mnist":  # MNIST's are "0 - zero" there; the digit alone reads better on a prediction
        assert list(info.class_names) == source.classes


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar'; choose one of fashion-mnist, mnist, kmnist"):
        dataset_info("cifar")


def test_mnist_is_found_in_its_own_folder_with_its_class_names(tmp_path):
    root = as_dataset(tmp_path, "MNIST")
    assert find_raw_files(root, "mnist")["train_images"].parent == root / "MNIST" / "raw"
    with pytest.raises(DataError, match=r"^Fashion-MNIST not found"):
        find_raw_files(root)
    with pytest.raises(DataError, match=r"^KMNIST not found: .* or in .*KMNIST/raw"):
        ensure_data(root, allow_download=False, dataset="kmnist")
    loaded = load_fashion_mnist(root, val_size=50, dataset="mnist")
    assert loaded.class_names == tuple(str(digit) for digit in range(10))
    assert len(loaded.train_y) == 250 and loaded.train_x.shape[1:] == (1, 28, 28)
    assert load_fashion_mnist(write_fashion_mnist(tmp_path / "f"), val_size=50).class_names[0] == "T-shirt/top"


def test_full_size_gz_of_mnist_must_match_torchvisions_md5(tmp_path):
    root = as_dataset(tmp_path, "MNIST")
    raw = root / "MNIST" / "raw"
    labels = np.arange(60_000, dtype=np.uint8) % 10  # the official count, but not the official file
    (raw / f"{FILES['train_labels']}.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    images = np.zeros((60_000, 28, 28), np.uint8)
    (raw / f"{FILES['train_images']}.gz").write_bytes(gzip.compress(idx_bytes(images), compresslevel=1))
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte.gz does not match the published checksum of the MNIST"
    ):
        load_arrays(root, "mnist")


def test_download_puts_kmnist_in_its_folder(tmp_path):
    source = write_fashion_mnist(tmp_path / "mirror") / "FashionMNIST" / "raw"
    resources = [(f"{n}.gz", hashlib.md5((source / f"{n}.gz").read_bytes()).hexdigest()) for n in FILES.values()]
    root = download(tmp_path / "dest", None, [source.as_uri()], resources, dataset="kmnist")
    assert sorted(p.name for p in (root / "KMNIST" / "raw").iterdir()) == sorted(name for name, _ in resources)
    assert len(load_arrays(root, "kmnist").test_labels) == 100


def test_ensure_data_downloads_the_chosen_dataset(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(data, "download", lambda root, progress, dataset: asked.append(dataset))
    ensure_data(tmp_path, dataset="mnist")
    assert asked == ["mnist"]


@pytest.mark.real_data
def test_real_fashion_mnist_is_not_taken_for_mnist(real_data_root):
    raw = real_data_root / "FashionMNIST" / "raw"
    with pytest.raises(DataError, match="does not match the published checksum of the MNIST"):
        load_arrays(raw, "mnist")
