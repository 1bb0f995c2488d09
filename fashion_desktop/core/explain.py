"""Looking inside a trained model: saliency maps, the test images behind each confusion-matrix cell, batch CSVs."""

from __future__ import annotations

import csv
import io
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fashion_desktop.core.data import normalize
from fashion_desktop.core.engine import EVAL_BATCH
from fashion_desktop.core.errors import ImageError, UserError
from fashion_desktop.core.files import atomic_write
from fashion_desktop.core.imaging import MODEL_SIZE, PreprocessOptions, list_image_files
from fashion_desktop.core.inference import Prediction, Predictor
from fashion_desktop.core.spec import CLASS_NAMES, ModelSpec

SALIENCY_METHODS: tuple[str, ...] = ("gradient_x_input", "occlusion")
OCCLUSION_PATCH = 4
OCCLUSION_STRIDE = 2
# Identical images in one batch may still differ in the last bits of their outputs (GEMM kernels block the batch
# unevenly), so occlusion drops below this probability are rounding noise, not evidence; without the floor a blank
# image's map of pure noise would be stretched to full brightness.
_OCCLUSION_NOISE = 1e-5
CSV_FIXED_COLUMNS: tuple[str, ...] = ("file", "top_class", "top_probability")


# -- saliency --


def saliency(
    predictor: Predictor, image: np.ndarray, method: str = "gradient_x_input", target: int | None = None
) -> np.ndarray:
    """Which pixels made the model choose a class.

    Safe to call inside ``torch.inference_mode()``: the gradient method leaves it locally. The model must be in
    eval mode (a ``Predictor`` puts it there), so dropout is off and batch norm uses its running statistics.

    Args:
        predictor: The trained model.
        image: The uint8 image the model was given, e.g. ``Prediction.seen``: (28, 28) in Fashion-MNIST form
            (bright garment on black) for a Fashion-MNIST model, (H, W) grey or (H, W, 3) colour as the model's
            input shape says for an image-folder model.
        method: ``"gradient_x_input"``: |input x gradient of the class's log-probability|, one backward pass,
            sharp but noisy (summed over the colour channels). ``"occlusion"``: how much the class's probability
            drops when a patch of the pixels is blacked out, patch by patch (4x4 with stride 2 at 28x28, 169 images
            in one forward pass; patches grow with the input so the count stays about the same); smoother and
            easier to trust, blurred over a few pixels.
        target: The class to explain; None explains the model's top class.

    Returns:
        An (H, W) float32 map in [0, 1], scaled so that its strongest pixel is 1; all zeros when no pixel
        matters (a black image, for instance).

    Raises:
        ValueError: The image is not uint8 of the model's input shape, the method is unknown or the target is not
            a class index.
    """
    image = _check_input(predictor.spec, image)
    if method not in SALIENCY_METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(SALIENCY_METHODS)}")
    if target is not None and not 0 <= target < len(predictor.class_names):
        raise ValueError(f"target must be a class index from 0 to {len(predictor.class_names) - 1}, not {target}")
    if method == "occlusion":
        return _occlusion(predictor, image, target)
    return _gradient_x_input(predictor, image, target)


def _gradient_x_input(predictor: Predictor, image: np.ndarray, target: int | None) -> np.ndarray:
    # inference_mode(False) first: enable_grad alone does not leave an enclosing inference mode, and tensors made
    # inside inference mode can never require grad. The input is made here, from numpy, so it is a normal tensor.
    with torch.inference_mode(False), torch.enable_grad():
        pixels = _as_tensor(predictor, image[None]).requires_grad_(True)
        output = predictor.model(normalize(pixels, predictor.spec.mean, predictor.spec.std))
        log_probabilities = _log_probabilities(predictor.spec, output)[0]
        chosen = int(log_probabilities.argmax()) if target is None else target
        # autograd.grad, not backward(): only the input's gradient is computed and the parameters' .grad stay as
        # they were, so explaining a model that is still training cannot leak into its next optimizer step.
        (gradient,) = torch.autograd.grad(log_probabilities[chosen], pixels)
    # The reference is the black background, not zero of the normalised input (which is -mean/std = -1 there):
    # with z = (x / 255 - mean) / std, grad_z * (z - z_black) = grad_x * x for the pixel value x, so both
    # readings give the same map, and a black pixel, which carries no garment, gets exactly 0. Multiplying by the
    # normalised input instead would light up the whole empty background.
    attribution = (gradient * pixels).abs()[0].sum(dim=0)  # a colour pixel's three channels together
    return _to_unit(attribution.detach().cpu().numpy(), floor=0.0)


def _occlusion(predictor: Predictor, image: np.ndarray, target: int | None) -> np.ndarray:
    height, width = image.shape[:2]
    # Patches grow with the input (9x9 with stride 4 at 64x64): the same share of the garment, about as many images
    patch = max(OCCLUSION_PATCH, round(OCCLUSION_PATCH * max(height, width) / MODEL_SIZE))
    stride = max(OCCLUSION_STRIDE, patch // 2)
    patches = list(itertools.product(range(0, height - patch + 1, stride), range(0, width - patch + 1, stride)))
    batch = np.repeat(image[None], len(patches) + 1, axis=0)  # row 0 stays whole: the reference probability
    for row, (top, left) in enumerate(patches, start=1):
        batch[row, top : top + patch, left : left + patch] = 0  # black: the training background
    probabilities = _probabilities_of_images(predictor, batch)
    chosen = int(probabilities[0].argmax()) if target is None else target
    # Only drops count: a patch whose removal raises the class's probability was evidence against the class,
    # and the map shows what the class was recognised by.
    drops = (probabilities[0, chosen] - probabilities[1:, chosen]).clamp_min(0).cpu().numpy()
    total = np.zeros((height, width), np.float64)
    covered = np.zeros((height, width), np.float64)
    for drop, (top, left) in zip(drops, patches, strict=True):
        total[top : top + patch, left : left + patch] += drop
        covered[top : top + patch, left : left + patch] += 1
    # Averaging over the patches that cover a pixel keeps the border, covered by fewer patches, comparable; a
    # strip the stride leaves uncovered (at most a few pixels of an odd size) counts as no effect
    return _to_unit(np.divide(total, covered, out=np.zeros_like(total), where=covered > 0), floor=_OCCLUSION_NOISE)


def overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.75) -> np.ndarray:
    """The image in grey tinted by a heat map, for display: red where the heat is low, yellow where it is high.

    Args:
        image: The (H, W) grey or (H, W, 3) colour uint8 image the map explains.
        heat: An (H, W) map in [0, 1], as returned by ``saliency``.
        strength: How far the hottest pixels move from grey to the heat colour (0: the plain image, 1: pure colour).

    Returns:
        A new (H, W, 3) uint8 RGB image.
    """
    image = _check_image(image)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != image.shape[:2]:
        raise ValueError(f"the heat map must be {image.shape[:2]}, like the image, not {heat.shape}")
    amount = np.clip(np.nan_to_num(heat), 0.0, 1.0)[..., None]
    # A colour input is shown in grey under the tint (luminance, ITU-R 601), so the tint stays the only colour
    luminance = image if image.ndim == 2 else image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    grey = np.repeat(np.asarray(luminance, np.float32)[..., None], 3, axis=2)
    # Red-to-yellow stays readable on both the black background and the white garment, and on the grey image
    # no pixel is already red or yellow, so a tinted pixel is never mistaken for part of the photo.
    colour = np.concatenate([np.ones_like(amount), amount, np.zeros_like(amount)], axis=2) * 255
    alpha = strength * amount
    return np.rint(grey * (1 - alpha) + colour * alpha).clip(0, 255).astype(np.uint8)


# -- the test images behind a confusion-matrix cell --


@dataclass(frozen=True)
class Mistake:
    """One test image in a cell of the confusion matrix (a misclassification, or a correct one on the diagonal)."""

    index: int  # into the test set: FashionData.test_images[index] is the picture
    true_class: int
    predicted_class: int
    confidence: float  # the model's probability for predicted_class
    top3: tuple[tuple[int, float], ...]  # (class, probability), most probable first


def predict_all(model: Predictor | nn.Module, x: torch.Tensor, spec: ModelSpec | None = None) -> torch.Tensor:
    """Class probabilities for a whole split, computed once so that every cell can be queried instantly.

    Args:
        model: A ``Predictor``, or a network; a network is put in eval mode.
        x: Normalised inputs (N, 1, 28, 28) on any device, e.g. ``FashionData.test_x``.
        spec: The network's spec, for its head; only needed for a network that is not built by ``build_model``.

    Returns:
        An (N, classes) float32 CPU tensor of probabilities; each row sums to 1.
    """
    predictor = _as_predictor(model, spec)
    with torch.inference_mode():
        parts = [
            predictor.probabilities(predictor.model(x[start : start + EVAL_BATCH].to(predictor.device))).float().cpu()
            for start in range(0, len(x), EVAL_BATCH)
        ]
    return torch.cat(parts) if parts else torch.empty(0, len(predictor.class_names))


def mistakes_from(
    probabilities: torch.Tensor, targets: torch.Tensor, true_class: int, predicted_class: int
) -> list[Mistake]:
    """The images of one confusion-matrix cell, ordered for a gallery.

    The predicted class is the most probable one, as in ``Trainer.evaluate``, so the list's length is the cell's
    count in its confusion matrix.

    Args:
        probabilities: (N, classes), from ``predict_all``.
        targets: (N,) true class indices on any device, e.g. ``FashionData.test_y``.
        true_class: The cell's row.
        predicted_class: The cell's column.

    Returns:
        Off the diagonal, the mistakes made with the most confidence first: the model's worst errors. On the
        diagonal (``true_class == predicted_class``), the correct answers made with the least confidence first:
        the images the model nearly got wrong. Ties keep the test-set order.
    """
    probabilities = probabilities.detach().float().cpu()
    targets = targets.detach().cpu()
    if len(targets) != len(probabilities):
        raise ValueError(f"{len(probabilities)} rows of probabilities but {len(targets)} targets")
    predicted = probabilities.argmax(dim=1)
    index = torch.nonzero((targets == true_class) & (predicted == predicted_class)).flatten()
    confidence = probabilities[index, predicted_class]
    order = torch.sort(confidence, descending=true_class != predicted_class, stable=True).indices
    index = index[order]
    top = torch.topk(probabilities[index], k=min(3, probabilities.shape[1]), dim=1)
    return [
        Mistake(i, true_class, predicted_class, p, tuple(zip(classes, values, strict=True)))
        for i, p, classes, values in zip(
            index.tolist(), confidence[order].tolist(), top.indices.tolist(), top.values.tolist(), strict=True
        )
    ]


# -- batch prediction to CSV --


def predict_folder(
    predictor: Predictor, sources: str | Path | Iterable[str | Path], options: PreprocessOptions | None = None
) -> Iterator[tuple[Path, Prediction | ImageError]]:
    """Predict every image of a folder, or a list of files and folders, one at a time.

    A folder gives its images as ``imaging.list_image_files`` finds them: sorted by name, without going into
    sub-folders and skipping hidden files (such as macOS's ``._photo.jpg``). Any other path is taken as an image
    file, in the order given. A file that cannot be read yields its ``ImageError`` and the others go on.

    Args:
        predictor: The trained model.
        sources: A folder or an image file, or several of them.
        options: How photos are turned into model inputs; the defaults when None.

    Yields:
        (path, the prediction or the error) for each image, as soon as it is done, so a caller can show progress.

    Raises:
        ImageError: A folder cannot be listed.
    """
    for path in _image_paths(sources):
        try:
            yield path, predictor.predict(path, options)
        except ImageError as error:
            yield path, error


def write_predictions_csv(
    rows: Iterable[tuple[Path, Prediction | ImageError]], path: str | Path, class_names: Sequence[str] = CLASS_NAMES
) -> Path:
    """Write predictions as CSV, atomically: a crash or a full disk leaves the old file or none, never half of one.

    Columns: ``file``, ``top_class``, ``top_probability``, one probability column per class, ``unsure`` ("true"
    or "false", see ``core.calibration``), then ``error``, which holds the message for a file that failed (its
    other cells are empty) and is empty otherwise.

    Args:
        rows: (path, prediction or error) pairs, e.g. from ``predict_folder``.
        path: The CSV file to write.
        class_names: The probability columns' names, in class order: ``Predictor.class_names``.

    Returns:
        The path written.
    """
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*CSV_FIXED_COLUMNS, *class_names, "unsure", "error"])
    for file, result in rows:
        if isinstance(result, ImageError):
            writer.writerow([str(file), "", "", *[""] * len(class_names), "", str(result)])
        else:
            # Nine significant digits keep float32 probabilities exact enough that each row still sums to 1
            probabilities = [f"{p:.9g}" for p in result.probabilities]
            unsure = "true" if result.unsure else "false"
            writer.writerow([str(file), result.top_class, f"{result.top_probability:.9g}", *probabilities, unsure, ""])
    # A file name that is not valid UTF-8 (Python holds its bytes as surrogates) is written back as those bytes
    return atomic_write(Path(path), text.getvalue().encode("utf-8", "surrogateescape"))


# -- helpers --


def _check_image(image: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The image as a C-contiguous uint8 (H, W) or (H, W, 3) array, of ``shape`` when given."""
    pixels = np.asarray(image)
    wanted = shape if shape is not None else pixels.shape
    if pixels.dtype != np.uint8 or pixels.shape != wanted or not (pixels.ndim == 2 or pixels.shape[2:] == (3,)):
        expected = f"a {shape}" if shape is not None else "an (H, W) or (H, W, 3)"
        raise ValueError(f"expected {expected} uint8 image, not {pixels.shape} {pixels.dtype}")
    return np.ascontiguousarray(pixels)


def _check_input(spec: ModelSpec, image: np.ndarray) -> np.ndarray:
    """The image, checked against the model's input: (H, W) for one channel, (H, W, 3) for three."""
    channels, height, width = spec.input_shape
    return _check_image(image, (height, width) if channels == 1 else (height, width, channels))


def _as_tensor(predictor: Predictor, images: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, 3) uint8 images as the (N, C, H, W) float tensor the model takes, not normalised."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(predictor.device, torch.float32)
    return x.permute(0, 3, 1, 2).contiguous() if x.ndim == 4 else x.unsqueeze(1)


def _log_probabilities(spec: ModelSpec, output: torch.Tensor) -> torch.Tensor:
    """Log-probabilities computed stably for each head; log(softmax) would give -inf for a very unlikely class."""
    if spec.head == "Softmax":
        return output.clamp_min(torch.finfo(output.dtype).tiny).log()
    return torch.log_softmax(output, dim=1)  # a no-op on a LogSoftmax head's output, which already is one


def _probabilities_of_images(predictor: Predictor, images: np.ndarray) -> torch.Tensor:
    """Probabilities for a batch of the model's uint8 inputs, normalised as the model was trained."""
    with torch.inference_mode():
        x = normalize(_as_tensor(predictor, images), predictor.spec.mean, predictor.spec.std)
        return predictor.probabilities(predictor.model(x)).float()


def _to_unit(values: np.ndarray, floor: float) -> np.ndarray:
    """Scale a non-negative map so its maximum is 1; zeros when its maximum is not above ``floor``."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(values.max(initial=0.0))
    if peak <= floor:
        return np.zeros(values.shape, np.float32)
    return np.clip(values / peak, 0.0, 1.0).astype(np.float32)


def _as_predictor(model: Predictor | nn.Module, spec: ModelSpec | None) -> Predictor:
    if isinstance(model, Predictor):
        return model
    spec = spec if spec is not None else getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise TypeError("pass a Predictor, a network made by build_model, or the network's spec")
    return Predictor(model, spec)


def _image_paths(sources: str | Path | Iterable[str | Path]) -> Iterator[Path]:
    for source in [sources] if isinstance(sources, (str, os.PathLike)) else sources:
        path = Path(source)
        if not path.is_dir():
            yield path
            continue
        try:
            entries = list_image_files(path)
        except OSError as error:
            reason = error.strerror or error
            raise ImageError(f"cannot list the folder {path} ({reason}); check its permissions") from None
        yield from entries


# -- scoring a labelled folder --

# Photo-folder names that stand for Fashion-MNIST classes (folder -> the classes that count as right for it), the
# names of the clothing-photos set used in issue 11's study. Any footwear counts for "shoes": photos do not tell
# sandals, sneakers and boots apart. Used only for a model whose classes are Fashion-MNIST's.
FASHION_FOLDER_NAMES: dict[str, tuple[str, ...]] = {
    "t-shirt": ("T-shirt/top",),
    "tshirt": ("T-shirt/top",),
    "top": ("T-shirt/top",),
    "pants": ("Trouser",),
    "trousers": ("Trouser",),
    "longsleeve": ("Pullover",),
    "sweater": ("Pullover",),
    "outwear": ("Coat",),
    "shoes": ("Sandal", "Sneaker", "Ankle boot"),
    "boots": ("Ankle boot",),
    "sneakers": ("Sneaker",),
    "sandals": ("Sandal",),
    "bags": ("Bag",),
}


class ScoringCancelled(Exception):
    """Scoring a labelled folder was cancelled; nothing was counted."""


@dataclass(frozen=True)
class LabelledFolder:
    """A folder of class subfolders matched against a model's classes, before any image is predicted.

    Attributes:
        class_root: The folder holding the class folders: the folder given, or its ``train/``.
        folders: The class folders whose names match classes of the model, one row each of the score.
        accepted: For each folder, the model's class indices that count as right for it.
        unmatched: Class folders whose names match none of the model's classes (left out of every figure).
    """

    class_root: Path
    folders: tuple[str, ...]
    accepted: tuple[tuple[int, ...], ...]
    unmatched: tuple[str, ...]


@dataclass(frozen=True)
class LabelledScore:
    """A model scored on a folder of class subfolders, over the subfolders whose names match its classes.

    Attributes:
        folders: The matched class folders' names, one row each.
        accepted: For each folder, the model's class indices that count as right for it.
        confusion: One row per folder, one column per model class: how often its images were predicted as that.
        unmatched: Class folders whose names match none of the model's classes (left out of every figure).
        failed: Images that could not be read, with the reason.
        predicted: For each folder, every image read with the class index it was predicted as.
        class_names: The model's classes, the confusion matrix's columns.
    """

    folders: tuple[str, ...]
    accepted: tuple[tuple[int, ...], ...]
    confusion: tuple[tuple[int, ...], ...]
    unmatched: tuple[str, ...]
    failed: tuple[tuple[Path, str], ...]
    predicted: tuple[tuple[tuple[Path, int], ...], ...] = ()
    class_names: tuple[str, ...] = CLASS_NAMES

    @property
    def correct(self) -> tuple[int, ...]:
        return tuple(sum(row[i] for i in ok) for row, ok in zip(self.confusion, self.accepted, strict=True))

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(sum(row) for row in self.confusion)

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / max(1, sum(self.counts))

    @property
    def per_class_accuracy(self) -> dict[str, float]:
        return {f: c / max(1, n) for f, c, n in zip(self.folders, self.correct, self.counts, strict=True)}

    def images(self, row: int, column: int) -> list[Path]:
        """The images of folder ``row`` predicted as class ``column``: one cell of the confusion matrix."""
        return [path for path, predicted in self.predicted[row] if predicted == column] if self.predicted else []


def match_folder(folder: str, class_names: Sequence[str]) -> tuple[int, ...]:
    """The model's classes a class folder stands for; empty when it matches none.

    A folder matches a class of the same name, ignoring case, spaces, '-', '/' and '_'; for a Fashion-MNIST model
    also through ``FASHION_FOLDER_NAMES`` (so "shoes" accepts any footwear class).
    """

    def plain(name: str) -> str:
        return "".join(ch for ch in name.lower() if ch.isalnum())

    same = tuple(i for i, name in enumerate(class_names) if plain(name) == plain(folder))
    if same:
        return same
    if tuple(class_names) != CLASS_NAMES:
        return ()
    aliases = {plain(k): v for k, v in FASHION_FOLDER_NAMES.items()}
    return tuple(CLASS_NAMES.index(name) for name in aliases.get(plain(folder), ()))


def match_labelled_folder(root: str | Path, class_names: Sequence[str]) -> LabelledFolder:
    """Which class folders of ``root`` a model of ``class_names`` can be scored on; quick: no image is opened.

    Raises:
        UserError: ``root`` is no folder of class subfolders (a ``DataError`` saying why), or none of them
            matches a class of the model.
    """
    from fashion_desktop.core.folders import discover_layout

    layout = discover_layout(root)
    folders, accepted, unmatched = [], [], []
    for name in layout.class_names:
        classes = match_folder(name, class_names)
        if classes:
            folders.append(name)
            accepted.append(classes)
        else:
            unmatched.append(name)
    if not folders:
        raise UserError(
            f"none of the class folders of {root} ({', '.join(layout.class_names[:6])}) matches a class of the model "
            f"({', '.join(class_names[:6])}); name the folders after the model's classes"
        )
    # the class folders are directly under root or under root/train
    return LabelledFolder(layout.split_folders["train"], tuple(folders), tuple(accepted), tuple(unmatched))


def score_labelled_folder(
    predictor: Predictor,
    root: str | Path | LabelledFolder,
    options: PreprocessOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> LabelledScore:
    """Predict every image of ``root``'s class subfolders and score the folders that match the model's classes.

    Args:
        predictor: The trained model.
        root: The folder, or what ``match_labelled_folder`` found in it.
        options: How photos are turned into model inputs; the defaults when None.
        progress: Called on the calling thread with (images done, images in all), after each image.
        cancel: Set from any thread to stop after the image being predicted.

    Raises:
        UserError: ``root`` is no folder of class subfolders, or none of them matches a class of the model.
        ImageError: A class folder cannot be listed.
        ScoringCancelled: ``cancel`` was set.
    """
    found = root if isinstance(root, LabelledFolder) else match_labelled_folder(root, predictor.class_names)
    files = [list(_image_paths(found.class_root / name)) for name in found.folders]
    total, done = sum(map(len, files)), 0
    confusion, predicted, failed = [], [], []
    for paths in files:
        row, results = [0] * len(predictor.class_names), []
        for path, result in predict_folder(predictor, paths, options):
            if isinstance(result, ImageError):
                failed.append((path, str(result)))
            else:
                row[result.top_index] += 1
                results.append((path, result.top_index))
            done += 1
            if progress is not None:
                progress(done, total)
            if cancel is not None and cancel.is_set():
                raise ScoringCancelled(f"scoring was cancelled after {done} of {total} images")
        confusion.append(tuple(row))
        predicted.append(tuple(results))
    return LabelledScore(
        found.folders,
        found.accepted,
        tuple(confusion),
        found.unmatched,
        tuple(failed),
        tuple(predicted),
        predictor.class_names,
    )
