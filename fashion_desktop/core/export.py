"""Export a trained model to take anywhere: ONNX, TorchScript, a readable PyTorch class or a training script."""

from __future__ import annotations

import ast
import io
import json
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template
from typing import Any

import torch
from torch import nn

from fashion_desktop.core.builder import class_names_literal, to_python
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.data import DEFAULT_DATASET, dataset_info
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.files import atomic_write
from fashion_desktop.core.folders import FramingSettings
from fashion_desktop.core.optim import OneHotLoss, make_loss, optimizer_kwargs
from fashion_desktop.core.spec import CLASS_NAMES, ModelSpec

ONNX_OPSET = 17  # old enough for every maintained ONNX runtime, new enough for every layer we build
NETWORK_CLASS = "FashionNetwork"


class ExportError(UserError):
    """A model that cannot be exported in the chosen format."""


def export_onnx(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write the network as ONNX: input ``image`` (N, *spec.input_shape) normalised float32, output (N, classes).

    The batch dimension is dynamic. The file's metadata holds the class names, the input shape, the normalisation
    and, for an image-folder model, how its photos are framed.

    Raises:
        ExportError: the ``onnx`` package, which torch's exporter needs, is not installed.
    """
    try:
        import onnx
    except ImportError:
        raise ExportError("exporting to ONNX needs the onnx package; install it with `pip install onnx`") from None
    # The TorchScript-based exporter (dynamo=False) needs only the onnx package; the newer torch.export-based
    # one also needs onnxscript. It warns that it is deprecated, which is not news to the user exporting.
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exported = Path(folder) / "model.onnx"
        torch.onnx.export(
            checkpoint.build_model(),
            (torch.zeros(1, *checkpoint.spec.input_shape),),
            exported,
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["image"],
            output_names=["output"],
            dynamic_axes={"image": {0: "batch"}, "output": {0: "batch"}},
        )
        proto = onnx.load_model(exported)
    metadata = {**_description(checkpoint), "spec": json.dumps(checkpoint.spec.to_dict())}
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    return atomic_write(Path(path), proto.SerializeToString())


def export_torchscript(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write the network as TorchScript, loadable with ``torch.jit.load`` without this app or the class code.

    The archive's extra files (``torch.jit.load(path, _extra_files={"class_names": ""})``) hold the same
    description as the ONNX metadata: class names, input shape, normalisation and framing.
    """
    buffer = io.BytesIO()
    # Scripting rather than tracing keeps dropout and batch norm switching with train() and eval().
    # torch marks TorchScript deprecated; it is still what C++ (libtorch) and older runtimes load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(checkpoint.build_model()), buffer, _extra_files=_description(checkpoint))
    return atomic_write(Path(path), buffer.getvalue())


def _description(checkpoint: Checkpoint) -> dict[str, str]:
    """What a runtime needs besides the network, as JSON texts: the classes and how an image becomes the input."""
    framing = checkpoint.framing
    return {
        "class_names": json.dumps(list(checkpoint.class_names)),
        "input_shape": json.dumps(list(checkpoint.spec.input_shape)),
        "normalization": json.dumps({"mean": checkpoint.spec.mean, "std": checkpoint.spec.std}),
        **({"framing": json.dumps(asdict(framing))} if framing is not None else {}),
    }


def export_python(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write the network as a readable PyTorch class that loads the model file's weights.

    A model trained here also gets ``make_loss()``, the loss it was trained with, to fine-tune it the same way.
    """
    code = to_python(checkpoint.spec, NETWORK_CLASS, checkpoint.class_names)
    if checkpoint.config is not None:
        main = '\n\nif __name__ == "__main__":'
        helpers = _loss_helpers(checkpoint.config).strip("\n")
        loss = f"def make_loss():\n    return {_loss_code(checkpoint.config)}\n"
        code = code.replace(main, "\n\n" + (helpers + "\n\n\n" if helpers else "") + loss + main, 1)
    return atomic_write(Path(path), code.encode())


def export_training_script(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write a standalone script that trains the network again as the model file's run did.

    Raises:
        ExportError: the model file holds no training settings (it was not trained by Fashion Desktop).
    """
    if checkpoint.config is None:
        raise ExportError(
            "this model file holds no training settings, so there is no run to reproduce; "
            "export the network alone with the python format"
        )
    script = training_script(checkpoint.spec, checkpoint.config, checkpoint.class_names, checkpoint.data)
    return atomic_write(Path(path), script.encode())


def training_script(
    spec: ModelSpec,
    config: TrainConfig,
    class_names: Sequence[str] = CLASS_NAMES,
    data: Mapping[str, Any] | None = None,
) -> str:
    """A standalone script (torch and torchvision only) that trains ``spec`` with ``config`` on its data again.

    ``data`` is the model file's data settings: a torchvision dataset (Fashion-MNIST when None) or an image
    folder with its framing, which the script reads with ``torchvision.datasets.ImageFolder``.

    Every value goes into the code as a Python literal (``repr`` of a checked int, float, bool or text), never as
    text pasted into source, so no model file can put code into the script.

    Raises:
        ConfigError, SpecError: the settings or the network are not valid.
    """
    config.check()
    spec.check(classes=len(class_names))
    data = dict(data or {})
    if data.get("dataset") == "folder":
        framing = FramingSettings(**{k: v for k, v in data.items() if k in FramingSettings.__dataclass_fields__})
        garment = (
            framing.framing == "garment"
        )  # the app's crop needs OpenCV's GrabCut: the script frames the whole photo
        intro = _FOLDER_INTRO + (_GARMENT_NOTE if garment else "")
        data_code = _FOLDER_DATA.substitute(
            size=_literal(framing.size, int),
            color=_literal(framing.color, bool),
            framing=repr("squash" if framing.framing == "squash" else "whole"),
            garment_note="  (not the app's garment crop: see above)" if garment else "",
        )
    else:
        title = dataset_info(str(data.get("dataset", DEFAULT_DATASET))).folder  # a registry name, never user text
        intro = _TORCHVISION_INTRO.substitute(dataset=title)
        data_code = _TORCHVISION_DATA.substitute(dataset=title)
    return _SCRIPT.substitute(
        intro=intro,
        data_code=data_code.strip("\n"),
        network=_class_code(spec, class_names),
        epochs=_literal(config.epochs, int),
        batch_size=_literal(config.batch_size, int),
        seed=_literal(config.seed, int),
        val_size=_literal(config.val_size, int),
        mean=_literal(spec.mean, float),
        std=_literal(spec.std, float),
        augment=_literal(config.augment, bool),
        keep_best=_literal(config.keep_best, bool),
        patience=_literal(config.early_stopping_patience, int),
        class_names=class_names_literal(class_names),
        loss=_loss_code(config),
        loss_helpers=_loss_helpers(config),
        optimizer=_optimizer_code(config),
        scheduler=_scheduler_code(config),
    )


def _literal(value: object, kind: type) -> str:
    """``value`` as a Python literal of ``kind``; anything else is refused rather than written as code."""
    if kind is bool:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    if not ok:
        raise ExportError(f"the model's setting {value!r:.40} is not {kind.__name__}; the file is damaged")
    return repr(float(value) if kind is float else value)  # type: ignore[arg-type]


def _class_code(spec: ModelSpec, class_names: Sequence[str]) -> str:
    """The network class from the readable export, without that module's docstring, loader and demo."""
    code = to_python(spec, NETWORK_CLASS, class_names)
    node = next(n for n in ast.parse(code).body if isinstance(n, ast.ClassDef))
    segment = ast.get_source_segment(code, node)
    assert segment is not None
    return segment


def _loss_code(config: TrainConfig) -> str:
    loss = make_loss(config)
    if isinstance(loss, OneHotLoss):
        return f"OneHotLoss({loss.kind!r}, beta={float(loss.beta)!r})"
    if isinstance(loss, nn.CrossEntropyLoss):
        return f"nn.CrossEntropyLoss(label_smoothing={loss.label_smoothing!r})"
    return f"nn.{type(loss).__name__}()"


def _loss_helpers(config: TrainConfig) -> str:
    """The OneHotLoss class, for the scripts whose loss is one of torch's losses on the one-hot target."""
    return ONE_HOT_LOSS_CODE if isinstance(make_loss(config), OneHotLoss) else ""


# core.optim.OneHotLoss, written out for code that runs without Fashion Desktop; a test checks that both give the
# same losses and gradients.
ONE_HOT_LOSS_CODE = '''

class OneHotLoss(nn.Module):
    """A loss between the raw outputs (logits) and the one-hot target, summed over the classes of each sample.

    mse, l1 and smooth_l1 compare the softmax probabilities with the one-hot target; bce is the binary
    cross-entropy of the sigmoid of each output (computed from the logits, which stays exact).
    """

    def __init__(self, kind, beta=1.0, reduction="mean"):
        super().__init__()
        self.kind, self.beta, self.reduction = kind, beta, reduction

    def forward(self, logits, targets):
        one_hot = nn.functional.one_hot(targets, logits.shape[1]).to(logits.dtype)
        functional = nn.functional
        if self.kind == "bce":
            per_class = functional.binary_cross_entropy_with_logits(logits, one_hot, reduction="none")
        else:
            probabilities = logits.softmax(dim=1)
            if self.kind == "mse":
                per_class = functional.mse_loss(probabilities, one_hot, reduction="none")
            elif self.kind == "l1":
                per_class = functional.l1_loss(probabilities, one_hot, reduction="none")
            else:
                per_class = functional.smooth_l1_loss(probabilities, one_hot, reduction="none", beta=self.beta)
        per_sample = per_class.sum(dim=1)
        return per_sample.sum() if self.reduction == "sum" else per_sample.mean()
'''


def _optimizer_code(config: TrainConfig) -> str:
    """The optimizer call with every option spelled out, as the app itself builds it."""
    args = "".join(f", {name}={value!r}" for name, value in optimizer_kwargs(config).items())
    return f"torch.optim.{config.optimizer}(parameters{args})"


def _scheduler_code(config: TrainConfig) -> str:
    """The scheduler call, with the same special cases as ``optim.make_scheduler``."""
    if config.scheduler == "none":
        return "None"
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in config.resolved_scheduler_options().items()}
    args = ", T_max=epochs" if config.scheduler == "CosineAnnealingLR" else ""
    args += "".join(f", {name}={value!r}" for name, value in options.items())
    return f"torch.optim.lr_scheduler.{config.scheduler}(optimizer{args})"


@dataclass(frozen=True)
class ExportFormat:
    export: Callable[[Checkpoint, str | Path], Path]
    suffix: str  # appended to the model file's stem for the default output name
    description: str


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat(export_onnx, ".onnx", "ONNX, for onnxruntime and other inference runtimes"),
    "torchscript": ExportFormat(export_torchscript, ".torchscript.pt", "TorchScript, for torch.jit.load and libtorch"),
    "python": ExportFormat(export_python, ".py", "the network as a readable PyTorch class"),
    "script": ExportFormat(export_training_script, "_train.py", "a standalone training script (PyTorch, torchvision)"),
}


def default_export_path(model_path: str | Path, format_name: str) -> Path:
    """``model.safetensors`` -> ``model.onnx``, ``model_train.py``, ... beside the model file."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + EXPORT_FORMATS[format_name].suffix)


_TORCHVISION_INTRO = Template(
    """Train a network on $dataset with plain PyTorch and torchvision, as a Fashion Desktop run.

Options: --data DIR (downloaded there unless it is already there, unpacked or as the four .gz files), --epochs N,
--out FILE; the defaults are the exported run's settings."""
)

_FOLDER_INTRO = """Train a network on a labelled photo folder with PyTorch and torchvision, as a Fashion Desktop run.

Options: --data DIR (required: one subfolder per class, or train/ with optional validation/ and test/ folders that
hold the class subfolders, as torchvision.datasets.ImageFolder reads them), --epochs N, --out FILE; the defaults
are the exported run's settings. Each photo is framed as the app frames it: transparency onto white, negated
(bright on black, like Fashion-MNIST; a grey image on a dark background is kept as it is), area-resampled to
the input size. Without a validation/ or test/ folder, a seeded tenth of each class is held out for each, the
same shares as the app's, not the same images."""

# Said in the script's docstring when the model was trained on garment-cropped photos.
_GARMENT_NOTE = """

NOT REPRODUCED: the app trained this model on photos cropped to the garment, separated from the background with
OpenCV's GrabCut (seeded rectangle, clean-up, largest parts kept), which is too long to repeat in a short script.
This script frames the whole photo, padded to a square, instead: expect somewhat different accuracy, and predict
on photos framed the same way."""

_TORCHVISION_DATA = Template('''
def unpack_gz_files(root):
    """Unpack the .gz files that are already in ROOT/$dataset/raw/.

    torchvision uses the unpacked files when they are there. Without them it downloads the .gz files again unless
    their checksums match its list, which recompressed copies of the same data do not (and offline it fails).
    """
    raw = Path(root) / "$dataset" / "raw"
    for packed in sorted(raw.glob("*-ubyte.gz")):
        unpacked = packed.with_suffix("")  # train-images-idx3-ubyte.gz -> train-images-idx3-ubyte
        if unpacked.exists():
            continue
        print(f"unpacking {packed}", flush=True)
        partial = unpacked.with_name(unpacked.name + ".part")  # renamed when complete: never half a file
        try:
            target = open(partial, "wb")
        except OSError as error:
            raise SystemExit(f"cannot unpack {packed} beside it ({error.strerror}): copy the data folder "
                             "somewhere writable and pass that copy with --data") from None
        with gzip.open(packed) as source, target:
            shutil.copyfileobj(source, target)
        os.replace(partial, unpacked)


DATA_HELP = "$dataset folder in torchvision's layout, downloaded there when missing (default: data)"
DATA_DEFAULT = "data"


def load_data(root):
    """The training, validation and test sets, normalised as the network expects."""
    unpack_gz_files(root)
    normalise = [transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))]
    augment = [transforms.RandomHorizontalFlip(), transforms.RandomAffine(0, translate=(2 / 28, 2 / 28))]
    train_files = datasets.$dataset(
        root, train=True, download=True, transform=transforms.Compose((augment if AUGMENT else []) + normalise)
    )
    val_files = datasets.$dataset(root, train=True, transform=transforms.Compose(normalise))
    test_set = datasets.$dataset(root, train=False, download=True, transform=transforms.Compose(normalise))
    # The same seeded permutation as Fashion Desktop, so the validation images are the app's. Batches are drawn
    # and augmented in another order, so the numbers come out close to the app's, not bit-for-bit the same.
    order = torch.randperm(len(train_files), generator=torch.Generator().manual_seed(SEED)).tolist()
    return Subset(train_files, order[VAL_SIZE:]), Subset(val_files, order[:VAL_SIZE]), test_set
''')

_FOLDER_DATA = Template('''
IMAGE_SIZE = $size  # pixels on each side of the square input
COLOR = $color  # three RGB channels; False: one grey channel
FRAMING = $framing  # "whole": padded to a square, aspect kept; "squash": resized to a square$garment_note
HOLD_OUT = 0.1  # each class's share held out for validation, and another for the test set, when no folder has them
LIGHT = 128  # a border whose median grey level reaches this is a light background
SPLIT_FOLDERS = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid"),
    "test": ("test", "testing"),
}
DATA_HELP = "the image folder: one subfolder per class, or train/ (and validation/, test/) holding them"
DATA_DEFAULT = None
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def open_photo(path):
    """An RGB copy of a photo, transparency flattened onto white (ImageFolder's own loader puts it on black)."""
    with Image.open(path) as image:
        image.load()
        if "A" in image.getbands() or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGB", image.size, (255, 255, 255))
            white.paste(rgba, mask=rgba.getchannel("A"))
            return white
        return image.convert("RGB")


def readable(path):
    """An image file that opens; the others are skipped and named, as the app skips them."""
    if not path.lower().endswith(IMAGE_SUFFIXES):
        return False
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception as error:
        print(f"skipped {path}: {error}", flush=True)
        return False


def border_level(image):
    """The median grey level of a 2% ring round the image, where a product photo shows its background."""
    grey = transforms.functional.pil_to_tensor(image.convert("L"))[0].float()
    height, width = grey.shape
    dy, dx = max(1, round(height * 0.02)), max(1, round(width * 0.02))
    ring = torch.cat([grey[:dy].flatten(), grey[-dy:].flatten(), grey[:, :dx].flatten(), grey[:, -dx:].flatten()])
    return float(ring.median())


def frame(image):
    """A photo as the network's input: negated (unless it is grey on dark already), then squared and resized."""
    red, green, blue = image.split()
    grey_on_dark = red.tobytes() == green.tobytes() == blue.tobytes() and border_level(image) < LIGHT
    tones = image if grey_on_dark else ImageOps.invert(image)
    pixels = tones if COLOR else tones.convert("L")
    side = (IMAGE_SIZE, IMAGE_SIZE)
    if FRAMING == "squash":
        return pixels.resize(side, Image.Resampling.BOX)
    level = border_level(pixels)
    fill = 0 if level < LIGHT else round(level)
    return ImageOps.pad(pixels, side, Image.Resampling.BOX, color=(fill,) * 3 if COLOR else fill)


class ClassFolder(datasets.ImageFolder):
    """ImageFolder with the model's class numbers, so a validation folder that lacks a class still labels right."""

    def find_classes(self, directory):
        present = {entry.name for entry in os.scandir(directory) if entry.is_dir()}
        names = [name for name in CLASS_NAMES if name in present]
        return names, {name: CLASS_NAMES.index(name) for name in names}


def split_folder(root, split):
    """ROOT's subfolder for a split (train, validation or test), whatever its case, or None."""
    names = {entry.name.lower(): entry.name for entry in os.scandir(root) if entry.is_dir()}
    found = next((names[name] for name in SPLIT_FOLDERS[split] if name in names), None)
    return os.path.join(root, found) if found else None


def held_out(count):
    """Images of a class to hold out for one split, as the app counts them: never all, none below three."""
    return 0 if count < 3 else min(count - 2, max(1, round(count * HOLD_OUT)))


def load_data(root):
    """The training, validation and test sets, framed and normalised as the network expects."""
    channels = 3 if COLOR else 1
    normalise = [frame, transforms.ToTensor(), transforms.Normalize((MEAN,) * channels, (STD,) * channels)]
    augment = [transforms.RandomHorizontalFlip(), transforms.RandomAffine(0, translate=(2 / IMAGE_SIZE,) * 2)]
    train_folder = split_folder(root, "train")
    folders = {"train": train_folder or root}
    if train_folder:
        folders.update({s: f for s in ("validation", "test") if (f := split_folder(root, s)) is not None})
    present = sorted(e.name for e in os.scandir(folders["train"]) if e.is_dir() and not e.name.startswith("."))
    if present != sorted(CLASS_NAMES):
        raise SystemExit(f"{folders['train']} holds the classes {present}, but the network was trained on "
                         f"{CLASS_NAMES}: give the folder it was trained on")

    def read(folder, steps):
        return ClassFolder(folder, transform=transforms.Compose(steps), loader=open_photo, is_valid_file=readable)

    train_files = read(folders["train"], (augment if AUGMENT else []) + normalise)
    plain_files = read(folders["train"], normalise)  # the same files, never augmented, for the held-out images
    generator = torch.Generator().manual_seed(SEED)
    train, held = [], {"validation": [], "test": []}
    for label in range(len(CLASS_NAMES)):
        members = [i for i, target in enumerate(train_files.targets) if target == label]
        order = [members[i] for i in torch.randperm(len(members), generator=generator).tolist()]
        for split in held:
            cut = 0 if split in folders else held_out(len(members))
            held[split] += order[:cut]
            order = order[cut:]
        train += order
    splits = [
        read(folders[split], normalise) if split in folders else Subset(plain_files, sorted(held[split]))
        for split in ("validation", "test")
    ]
    return Subset(train_files, sorted(train)), splits[0], splits[1]
''')

_SCRIPT = Template('''"""$intro

Load the saved weights with: model = FashionNetwork(); model.load_state_dict(torch.load(FILE, weights_only=True))
"""


import argparse
import copy
import gzip
import os
import shutil
from pathlib import Path

import torch
from PIL import Image, ImageOps
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

EPOCHS = $epochs
BATCH_SIZE = $batch_size
SEED = $seed
VAL_SIZE = $val_size  # training images held out for validation
MEAN, STD = $mean, $std
AUGMENT = $augment  # random horizontal flips and shifts of up to 2 pixels
KEEP_BEST = $keep_best  # end with the weights of the epoch with the lowest validation loss
EARLY_STOPPING_PATIENCE = $patience  # epochs without a lower validation loss before stopping; 0: off
CLASS_NAMES = $class_names


$network
$loss_helpers

def make_loss():
    return $loss


def make_optimizer(parameters):
    return $optimizer


def make_scheduler(optimizer, epochs):
    return $scheduler


$data_code


@torch.no_grad()
def evaluate(model, loader, loss_fn, device):
    """Mean loss and accuracy over a dataset."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        outputs = model(images)
        total_loss += loss_fn(outputs, labels).item() * len(labels)
        correct += (outputs.argmax(1) == labels).sum().item()
        count += len(labels)
    return total_loss / max(1, count), correct / max(1, count)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA_DEFAULT, required=DATA_DEFAULT is None, help=DATA_HELP)
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"default: {EPOCHS}")
    parser.add_argument("--out", default="fashion_network.pt", help="where to save the trained weights")
    args = parser.parse_args()

    torch.manual_seed(SEED)  # before building the network: the initial weights come from it
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = FashionNetwork().to(device)
    train_set, val_set, test_set = load_data(args.data)
    shuffle = torch.Generator().manual_seed(SEED)
    # A last batch of one image would make BatchNorm fail ("Expected more than 1 value per channel"): leave it out.
    train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True, generator=shuffle,
                              drop_last=len(train_set) % BATCH_SIZE == 1)
    val_loader = DataLoader(val_set, batch_size=1000)
    test_loader = DataLoader(test_set, batch_size=1000)
    loss_fn = make_loss()
    optimizer = make_optimizer(model.parameters())
    scheduler = make_scheduler(optimizer, args.epochs)

    best_loss, best_epoch, best_weights = float("inf"), 0, None
    for epoch in range(1, args.epochs + 1):
        model.train()
        total_loss, seen = 0.0, 0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(labels)
            seen += len(labels)
        report = f"epoch {epoch}: train loss {total_loss / seen:.4f}"
        val_loss = None
        if VAL_SIZE:
            val_loss, val_accuracy = evaluate(model, val_loader, loss_fn, device)
            report += f", validation loss {val_loss:.4f}, validation accuracy {val_accuracy:.4f}"
        print(report, flush=True)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if val_loss is not None:
                scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        if (KEEP_BEST or EARLY_STOPPING_PATIENCE) and val_loss is not None:
            if val_loss < best_loss:
                best_loss, best_epoch, best_weights = val_loss, epoch, copy.deepcopy(model.state_dict())
            elif EARLY_STOPPING_PATIENCE and epoch - best_epoch >= EARLY_STOPPING_PATIENCE:
                print(f"no lower validation loss for {EARLY_STOPPING_PATIENCE} epochs: stopping early")
                break
    if best_weights is not None:
        model.load_state_dict(best_weights)
        print(f"kept the weights of epoch {best_epoch}, which had the lowest validation loss")

    test_loss, test_accuracy = evaluate(model, test_loader, loss_fn, device)
    print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")
    torch.save(model.state_dict(), args.out)
    print(f"saved the weights to {args.out}")


if __name__ == "__main__":
    main()
''')
