"""Fashion-MNIST, MNIST and KMNIST: finding, checking, downloading and loading the IDX files, then batching them.

Integrity policy: every file gets structural checks (gzip stream, IDX magic number, dimensions, exact payload
length). A file whose header claims the official item count (60,000 or 10,000) must also match the published md5 of
the uncompressed official file, which catches damaged downloads and look-alikes such as MNIST digits. Files with any
other count (custom subsets, the synthetic test data) have no published checksum and are accepted after the
structural checks. The md5 is taken over the uncompressed bytes because the .gz wrappers may be recompressed.

MNIST and KMNIST (see :data:`DATASETS`) use the same four file names and format. Only the md5 of their .gz downloads
is published (in torchvision's source), so a full-size .gz file of theirs must match that, and an uncompressed one
gets the structural checks plus a test that it is not Fashion-MNIST by mistake.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fashion_desktop.core.errors import DataError
from fashion_desktop.core.files import create_temporary, read_bounded

FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
OFFICIAL: dict[str, tuple[int, int, str]] = {  # (items, uncompressed bytes, md5 of the uncompressed bytes)
    "train_images": (60000, 47_040_016, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    "train_labels": (60000, 60_008, "9018921c3c673c538a1fc5bad174d6f9"),
    "test_images": (10000, 7_840_016, "8181f5470baa50b63fa0f6fddb340f0a"),
    "test_labels": (10000, 10_008, "15d484375f8d13e6eb1aabb0c3f46965"),
}
_GZ_SIZES = {  # sizes of the published .gz files: the progress total before a server has told us
    "train-images-idx3-ubyte.gz": 26_421_880,
    "train-labels-idx1-ubyte.gz": 29_515,
    "t10k-images-idx3-ubyte.gz": 4_422_102,
    "t10k-labels-idx1-ubyte.gz": 5_148,
}
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_FILE_LIST = ", ".join(FILES.values())


@dataclass(frozen=True)
class DatasetInfo:
    """A torchvision dataset in the IDX format of Fashion-MNIST: 60,000 + 10,000 images of 28x28 in ten classes.

    Attributes:
        key: The name on the command line and in settings ("fashion-mnist").
        title: The name shown to people.
        folder: torchvision's folder for it under the data folder (``root/<folder>/raw``), also its class name.
        class_names: The ten class names, in label order.
        md5: md5 of each official uncompressed file, by FILES key, where published; checked for full-size files.
        gz_md5: md5 of each official .gz file, by file name, as in torchvision's ``resources``.
    """

    key: str
    title: str
    folder: str
    class_names: tuple[str, ...]
    md5: Mapping[str, str]
    gz_md5: Mapping[str, str]


DATASETS: dict[str, DatasetInfo] = {
    info.key: info
    for info in (
        DatasetInfo(
            "fashion-mnist",
            "Fashion-MNIST",
            "FashionMNIST",
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            {key: md5 for key, (_, _, md5) in OFFICIAL.items()},
            {
                "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
            },
        ),
        DatasetInfo(
            "mnist",
            "MNIST",
            "MNIST",
            ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
            {},
            {
                "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
            },
        ),
        DatasetInfo(
            "kmnist",
            "KMNIST",
            "KMNIST",
            ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),  # the romanised Kuzushiji characters
            {},
            {
                "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
                "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
                "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
                "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
            },
        ),
    )
}
DEFAULT_DATASET = "fashion-mnist"


def dataset_info(dataset: str) -> DatasetInfo:
    """The registry entry for ``dataset`` (a key of :data:`DATASETS`).

    Raises:
        DataError: an unknown name; the message lists the known ones.
    """
    try:
        return DATASETS[dataset]
    except KeyError:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}") from None


def _raw_dir(root: Path, dataset: str = DEFAULT_DATASET) -> Path:
    return Path(root) / dataset_info(dataset).folder / "raw"


def find_raw_files(root: Path, dataset: str = DEFAULT_DATASET) -> dict[str, Path]:
    """The four files (each uncompressed or .gz) in ``root/<folder>/raw``, ``root`` or ``root/raw``.

    ``<folder>`` is the dataset's torchvision folder, ``FashionMNIST`` for Fashion-MNIST.

    All four must be in the same folder, so a stray file elsewhere cannot mix two versions of the dataset.

    Raises:
        DataError: no folder holds all four; the message names the missing files and the folders looked in.
    """
    root = Path(root)
    title = dataset_info(dataset).title
    folders = (_raw_dir(root, dataset), root, root / "raw")
    best: tuple[Path, list[str]] | None = None
    for folder in folders:
        found: dict[str, Path] = {}
        for key, name in FILES.items():
            # Uncompressed first: it is read faster, and torchvision leaves both after extracting.
            path = next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)
            if path is not None:
                found[key] = path
        if len(found) == len(FILES):
            return found
        missing = [name for key, name in FILES.items() if key not in found]
        if best is None or len(missing) < len(best[1]):
            best = (folder, missing)
    assert best is not None
    others = ", ".join(str(f) for f in folders if f != best[0])
    # Neutral words: the command line and the GUI both show this message, each with its own way to choose a folder.
    raise DataError(
        f"{title} not found: {', '.join(best[1])} (.gz or uncompressed) missing in {best[0]} (also looked in "
        f"{others}); put the four files {_FILE_LIST} (each .gz or uncompressed) directly in {root} or in "
        f"{_raw_dir(root, dataset)}, choose another data folder, or let Fashion Desktop download them (needs internet)"
    )


def _damaged(path: Path, problem: str) -> DataError:
    return DataError(f"{path} {problem}; the file is damaged or incomplete: download it again or replace it")


# The official training images are 47,040,016 bytes unpacked; twice that leaves room for bigger custom sets while
# keeping a decompression bomb (8 MB that inflate to 8 GiB) from filling memory.
MAX_IDX_BYTES = 128 * 2**20


def _gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress a gzip file (all its members), stopping with an error as soon as the output passes ``limit``."""
    output = bytearray()
    while data:
        stream = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        output += stream.decompress(data, limit + 1 - len(output))
        if len(output) > limit:
            raise OverflowError(limit)
        if not stream.eof:
            if stream.unconsumed_tail:  # stopped by the limit exactly at it, with input left
                raise OverflowError(limit)
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        data = stream.unused_data.lstrip(b"\0")  # gzip files may hold several members, padded with zeros
    return bytes(output)


def read_idx(path: Path, expected_ndim: int, dataset: str = DEFAULT_DATASET) -> np.ndarray:
    """Read an IDX file of uint8 values (gzip-compressed or not, told apart by the gzip magic bytes).

    A full-size file is checked against ``dataset``'s published md5 of the uncompressed file, where there is one.

    Raises:
        DataError: the file cannot be read, is not such an IDX file, has the wrong length, or claims the official
            item count but does not match the published checksum.
    """
    path = Path(path)
    data = read_bounded(path, MAX_IDX_BYTES, "a Fashion-MNIST data file", DataError)
    try:
        if data[:2] == _GZIP_MAGIC:
            data = _gunzip_bounded(data, MAX_IDX_BYTES)
    except OverflowError:
        raise _damaged(
            path, f"unpacks to more than {MAX_IDX_BYTES // 2**20} MiB, more than any IDX file here"
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise _damaged(path, f"is not a valid gzip file ({error})") from None
    header = 4 + 4 * expected_ndim
    magic = 0x800 + expected_ndim  # 0x08: unsigned bytes, then the number of dimensions
    if len(data) >= 4 and (found := struct.unpack(">I", data[:4])[0]) != magic:
        what = "images" if expected_ndim == 3 else "labels"
        raise _damaged(path, f"is not an IDX file of {what} (magic number 0x{found:08x} instead of 0x{magic:08x})")
    if len(data) < header:
        raise _damaged(path, f"is too short for an IDX header ({len(data)} bytes)")
    dims = struct.unpack(f">{expected_ndim}I", data[4:header])
    expected, actual = math.prod(dims), len(data) - header
    if actual != expected:
        shape = "x".join(map(str, dims))
        problem = "is truncated" if actual < expected else "is too long"
        raise _damaged(path, f"{problem}: its header promises {shape} = {expected} bytes of data but it holds {actual}")
    key = {name: key for key, name in FILES.items()}.get(path.name.removesuffix(".gz"))
    info = dataset_info(dataset)
    if key is not None and dims[0] == OFFICIAL[key][0] and _official_mismatch(data, key, info):
        raise DataError(
            f"{path} does not match the published checksum of the {info.title} {key.replace('_', ' ')}; "
            "the file is damaged or from another dataset: download it again"
        )
    # A bytearray makes the array writable, so torch.from_numpy takes it without a warning or another copy.
    return np.frombuffer(bytearray(data), dtype=np.uint8, offset=header).reshape(dims)


def _official_mismatch(data: bytes, key: str, info: DatasetInfo) -> bool:
    """Whether full-size uncompressed ``data`` is not ``info``'s file: its md5 differs, or it is Fashion-MNIST's."""
    digest = hashlib.md5(data).hexdigest()
    expected = info.md5.get(key)
    if expected is not None:
        return digest != expected
    # No published md5 for the uncompressed file: at least refuse the most likely mix-up, the app's own dataset.
    return digest == OFFICIAL[key][2]


def _check_download_md5(path: Path, info: DatasetInfo) -> None:
    """A full-size .gz file of a dataset with no uncompressed md5 must match the md5 torchvision publishes for it."""
    expected = info.gz_md5.get(path.name)
    if info.md5 or expected is None or path.suffix != ".gz":
        return
    digest = hashlib.md5()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise DataError(
            f"{path} does not match the published checksum of the {info.title} download; the file is damaged or "
            "from another dataset: download it again"
        )


@dataclass(frozen=True, eq=False)
class RawFashionMNIST:
    """The dataset as read from disk: images (N, 28, 28) and labels (N,), all uint8."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def load_arrays(root: Path, dataset: str = DEFAULT_DATASET) -> RawFashionMNIST:
    """Read and check the four files of ``dataset`` found under ``root``."""
    paths = find_raw_files(root, dataset)
    info = dataset_info(dataset)
    arrays = {key: read_idx(path, 3 if key.endswith("images") else 1, dataset) for key, path in paths.items()}
    for key, path in paths.items():
        if len(arrays[key]) == OFFICIAL[key][0]:
            _check_download_md5(path, info)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_path, label_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        if images.shape[1:] != (28, 28):
            raise DataError(
                f"{image_path} holds {images.shape[1]}x{images.shape[2]} images, not 28x28; "
                "replace it with the Fashion-MNIST file"
            )
        if len(images) == 0:  # an empty set would report accuracy 0.0 or fail to split
            raise DataError(f"{image_path} holds no images; replace it with the Fashion-MNIST file")
        if len(images) != len(labels):
            raise DataError(
                f"{image_path} holds {len(images)} images but {label_path} {len(labels)} labels; "
                "replace them with a matching pair"
            )
        if len(labels) and labels.max() > 9:
            raise DataError(f"{label_path} holds label {labels.max()}, but classes are 0..9; replace the file")
    return RawFashionMNIST(**arrays)


def download(
    root: Path,
    progress: Callable[[int, int], None] | None = None,
    mirrors: Sequence[str] | None = None,
    resources: Sequence[tuple[str, str]] | None = None,
    dataset: str = DEFAULT_DATASET,
) -> Path:
    """Download the .gz files into ``root/<folder>/raw``, skipping those already there with the right md5.

    Args:
        root: The data folder.
        progress: Called with (bytes done, bytes total) over all files after every 64 KiB; the total is an estimate
            until each server has given its size, and the last call has done == total.
        mirrors: Base URLs tried in order (``file://`` works); torchvision's mirrors for the dataset by default.
        resources: (file name, md5 of the .gz) pairs; torchvision's list by default.
        dataset: Which dataset of :data:`DATASETS`.

    Raises:
        DataError: a file could not be fetched from any mirror, or did not match its md5.
    """
    import torchvision.datasets  # torchvision is slow to import and only needed here
    from torchvision.datasets.utils import check_md5

    info = dataset_info(dataset)
    source = getattr(torchvision.datasets, info.folder)  # FashionMNIST, MNIST, KMNIST: their mirrors and md5s
    raw = _raw_dir(root, dataset)
    mirrors = list(source.mirrors if mirrors is None else mirrors)
    resources = list(source.resources if resources is None else resources)
    sizes = {name: _GZ_SIZES.get(name, 0) for name, _ in resources}
    done = 0

    def report(extra: int = 0) -> None:
        if progress is not None:
            progress(done + extra, max(sum(sizes.values()), done + extra))

    def fail(reason: str) -> DataError:
        return DataError(
            f"could not download {info.title} ({reason}); check the internet connection and try "
            f"again, or put the four files {_FILE_LIST} (each .gz or uncompressed) directly in {root} "
            f"or in {raw}, or choose another data folder"
        )

    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise fail(f"cannot create {raw}: {error.strerror or error}") from None
    for name, md5 in resources:
        target = raw / name
        if target.is_file() and check_md5(target, md5):
            sizes[name] = target.stat().st_size
            done += sizes[name]
            report()
            continue
        reason = "no mirrors given"
        for mirror in mirrors:
            url = f"{mirror.rstrip('/')}/{name}"
            tmp, got = "", 0
            try:
                part, fd = create_temporary(target)  # mode 0666 less the umask, like any downloaded file
                tmp = str(part)
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
                    sizes[name] = int(response.headers.get("Content-Length") or sizes[name])
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        got += len(chunk)
                        report(got)
                if check_md5(tmp, md5):
                    os.replace(tmp, target)  # atomic: a crash leaves no half-written file under the real name
                    sizes[name] = got
                    done += got
                    break
                reason = f"{url} does not match its published checksum"
            except (OSError, HTTPException, ValueError) as error:  # ValueError: a malformed URL
                reason = _download_failure(url, error)
            finally:
                if tmp and os.path.exists(tmp):
                    os.remove(tmp)
        else:
            raise fail(reason)
    report()
    return Path(root)


def _download_failure(url: str, error: Exception) -> str:
    """Why fetching ``url`` failed, in words: offline, it is that the server could not be reached."""
    cause = getattr(error, "reason", None)  # urllib's URLError wraps the socket's error
    if isinstance(cause, OSError) or isinstance(error, (ConnectionError, TimeoutError)):
        host = urllib.parse.urlsplit(url).hostname or url
        return f"{host} could not be reached: no internet connection?"
    return f"{url}: {cause or error}"


def ensure_data(
    root: Path,
    allow_download: bool = True,
    progress: Callable[[int, int], None] | None = None,
    dataset: str = DEFAULT_DATASET,
) -> Path:
    """Return ``root`` once it holds the four files, downloading them first when they are missing and allowed.

    A download that fails or is stopped (the progress callback raised) leaves nothing behind: the folders it
    created (``root``, ``root/<folder>``, ``root/<folder>/raw``) are removed with the files it wrote in them.
    Folders that were there before are left as they were, with any complete file it fetched into them.
    """
    try:
        find_raw_files(root, dataset)
    except DataError:
        if not allow_download:
            raise
        raw = _raw_dir(root, dataset)
        created = [folder for folder in (raw, raw.parent, Path(root)) if not folder.exists()]  # deepest first
        try:
            if dataset == DEFAULT_DATASET:
                download(root, progress)  # the call as it was, for code that replaces download with its own
            else:
                download(root, progress, dataset=dataset)
        except BaseException:
            _remove_created(created, {name for name in _GZ_SIZES})
            raise
    return Path(root)


def _remove_created(folders: Sequence[Path], names: set[str]) -> None:
    """Remove ``folders`` (deepest first) and the download's files in them; anything else found keeps a folder."""
    for folder in folders:
        for name in names:
            (folder / name).unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty (something else was put there meanwhile) or already gone: leave it


def normalize(pixels: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Pixels of 0 to 255 (any shape, uint8 or float) as a model takes them: ``(x / 255 - mean) / std``.

    The one place this is written: training, prediction, saliency and the mistakes gallery must agree on it, or a
    model sees other inputs than it was trained on. The result is a new float32 tensor; ``pixels`` is left as it
    was (so it may require grad), and a uint8 input is converted once and then worked on in place, since the
    whole training set passes through here.
    """
    if pixels.is_floating_point():
        return pixels.float().div(255).sub_(mean).div_(std)
    return pixels.float().div_(255).sub_(mean).div_(std)


@dataclass(frozen=True, eq=False)
class FashionData:
    """The dataset resident on the training device: images (N, 1, 28, 28) normalised, labels int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor  # held out from the training files; empty when val_size is 0
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: float
    std: float
    device: torch.device
    test_images: np.ndarray  # the raw uint8 test images, to show one
    class_names: tuple[str, ...] = DATASETS[DEFAULT_DATASET].class_names  # label order; an image folder's own


def load_fashion_mnist(
    root: Path,
    device: torch.device | str = "cpu",
    val_size: int = 5000,
    seed: int = 0,
    mean: float = 0.5,
    std: float = 0.5,
    dataset: str = DEFAULT_DATASET,
) -> FashionData:
    """Load, split (seeded: the first ``val_size`` of a permutation are validation) and normalise on ``device``.

    ``dataset`` picks Fashion-MNIST (the default), MNIST or KMNIST (see :data:`DATASETS`).
    """
    raw = load_arrays(root, dataset)
    device = torch.device(device)
    count = len(raw.train_labels)
    if not 0 <= val_size < count:
        raise DataError(
            f"the validation set must hold 0 to {count - 1} images (there are {count} training images), "
            f"not {val_size}; choose a smaller validation size"
        )
    perm = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:val_size].sort().values, perm[val_size:].sort().values

    def images(array: np.ndarray, index: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.from_numpy(array).to(device)  # uint8 goes over, so the device does the float work
        x = x if index is None else x[index.to(device)]
        return normalize(x.unsqueeze(1), mean, std)

    train_y = torch.from_numpy(raw.train_labels).to(device).long()
    return FashionData(
        train_x=images(raw.train_images, train_idx),
        train_y=train_y[train_idx.to(device)],
        val_x=images(raw.train_images, val_idx),
        val_y=train_y[val_idx.to(device)],
        test_x=images(raw.test_images),
        test_y=torch.from_numpy(raw.test_labels).to(device).long(),
        mean=mean,
        std=std,
        device=device,
        test_images=raw.test_images,
        class_names=dataset_info(dataset).class_names,
    )


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    augment: bool = False,
    background: float = -1.0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Training batches of (inputs, targets), shuffled by the CPU ``generator`` when given; the last may be smaller.

    A last batch of a single sample is left out (see :func:`batches_per_epoch`): BatchNorm cannot compute batch
    statistics from one value per channel and fails with "Expected more than 1 value per channel". The shuffle
    differs every epoch, so the sample left out is a different one next time. Evaluation does not use this: it
    runs in eval mode, where BatchNorm uses its running statistics.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    order = None if generator is None else torch.randperm(len(x), generator=generator).to(x.device)
    for start in range(0, batches_per_epoch(len(x), batch_size)[1], batch_size):
        if order is None:
            inputs, targets = x[start : start + batch_size], y[start : start + batch_size]
        else:
            index = order[start : start + batch_size]
            inputs, targets = x[index], y[index]
        if augment:
            inputs = augment_batch(inputs, generator if generator is not None else torch.default_generator, background)
        yield inputs, targets


def batches_per_epoch(samples: int, batch_size: int) -> tuple[int, int]:
    """(batches, samples) that :func:`iterate_batches` yields in one epoch of ``samples`` training samples.

    A trailing batch of one sample is dropped (unless it is the only batch, or every batch holds one sample).
    """
    if batch_size > 1 and samples > batch_size and samples % batch_size == 1:
        samples -= 1
    return math.ceil(samples / batch_size), samples


def augment_batch(x: torch.Tensor, generator: torch.Generator, background: float) -> torch.Tensor:
    """Flip each image horizontally with p = 0.5 and shift it by -2..2 pixels in x and y, filling with ``background``.

    The random numbers come from the CPU ``generator``, so a seed gives the same batch on every device.
    """
    batch, channels, height, width = x.shape
    flip = (torch.rand(batch, generator=generator) < 0.5).to(x.device)
    shift = torch.randint(-2, 3, (batch, 2), generator=generator).to(x.device)
    padded = F.pad(x, (2, 2, 2, 2), value=background)
    # out[i, j] = in[i - dy, j - dx] after the flip; +2 converts to coordinates in the padded image.
    rows = torch.arange(height, device=x.device) - shift[:, :1] + 2
    cols = torch.arange(width, device=x.device)
    cols = torch.where(flip[:, None], width - 1 - cols + shift[:, 1:], cols - shift[:, 1:]) + 2
    b = torch.arange(batch, device=x.device)[:, None, None, None]
    c = torch.arange(channels, device=x.device)[None, :, None, None]
    return padded[b, c, rows[:, None, :, None], cols[:, None, None, :]]
