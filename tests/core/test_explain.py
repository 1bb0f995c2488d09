"""Saliency maps, confusion-matrix galleries and batch CSVs, on models trained briefly on the synthetic bars."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.data import FashionData
from fashion_desktop.core.engine import Trainer, train
from fashion_desktop.core.errors import ImageError
from fashion_desktop.core.explain import (
    SALIENCY_METHODS,
    Mistake,
    mistakes_from,
    overlay,
    predict_all,
    predict_folder,
    saliency,
    write_predictions_csv,
)
from fashion_desktop.core.inference import Prediction, Predictor
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import CLASS_NAMES, ModelSpec, layer

SOFTMAX_LAYERS = (
    ("Flatten", {}),
    ("Linear", {"out_features": 32}),
    ("ReLU", {}),
    ("Linear", {"out_features": 10}),
    ("Softmax", {}),
)


def bar_mask(label: int) -> np.ndarray:
    """Where fashion_desktop.core.synthetic draws the bright bar of a class."""
    mask = np.zeros((28, 28), dtype=bool)
    row = 2 + 2 * label
    mask[row : row + 4, 4:24] = True
    return mask


@pytest.fixture(scope="module", params=["seed", "small-cnn"])
def trained(request, fashion_root) -> tuple[Predictor, FashionData]:
    """An MLP (with dropout) or a CNN (with batch norm and dropout) trained for two short epochs."""
    preset = get_preset(request.param)
    config = replace(preset.config, epochs=2, batch_size=32, val_size=50, device="cpu")
    trainer = train(preset.spec, config, fashion_root)
    return Predictor(trainer.model, preset.spec), trainer.load_data(fashion_root)


# -- saliency --


@pytest.mark.parametrize("method", SALIENCY_METHODS)
def test_saliency_lights_up_the_bar_that_defines_the_class(trained, method):
    predictor, data = trained
    for index in range(10):
        image, label = data.test_images[index], int(data.test_y[index])
        heat = saliency(predictor, image, method)
        assert heat.shape == (28, 28) and heat.dtype == np.float32
        assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
        mask = bar_mask(label)
        assert heat[mask].mean() > 5 * heat[~mask].mean(), (index, label)


@pytest.mark.parametrize("method", SALIENCY_METHODS)
def test_a_black_image_has_no_salient_pixel(trained, method):
    predictor, _ = trained
    heat = saliency(predictor, np.zeros((28, 28), np.uint8), method)
    assert heat.dtype == np.float32 and np.isfinite(heat).all()
    assert np.abs(heat).max() < 1e-6


@pytest.mark.parametrize("method", SALIENCY_METHODS)
def test_saliency_works_inside_inference_mode_and_leaves_the_parameters_alone(trained, method):
    predictor, data = trained
    image = data.test_images[0]
    grads = [None if p.grad is None else p.grad.clone() for p in predictor.model.parameters()]  # left by training
    outside = saliency(predictor, image, method)
    with torch.inference_mode():
        inside = saliency(predictor, image, method)
    np.testing.assert_allclose(inside, outside, atol=1e-6)
    for before, parameter in zip(grads, predictor.model.parameters(), strict=True):
        assert (parameter.grad is None) if before is None else torch.equal(parameter.grad, before)
    assert not predictor.model.training


def test_target_explains_another_class(trained):
    predictor, data = trained
    image, label = data.test_images[0], int(data.test_y[0])
    other = (label + 5) % 10
    for method in SALIENCY_METHODS:
        top = saliency(predictor, image, method)
        np.testing.assert_allclose(saliency(predictor, image, method, target=label), top, atol=1e-6)
        assert not np.allclose(saliency(predictor, image, "gradient_x_input", target=other), top)


@pytest.mark.parametrize(
    "spec",
    [
        get_preset("deep-mlp").spec,  # batch norm and dropout, logits
        ModelSpec(tuple(layer(kind, **options) for kind, options in SOFTMAX_LAYERS)),
    ],
    ids=["batchnorm-dropout-logits", "softmax-head"],
)
def test_saliency_is_deterministic_for_every_kind_of_network(spec):
    predictor = Predictor(build_model(spec, seed=0), spec)
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    for method in SALIENCY_METHODS:
        first = saliency(predictor, image, method)
        assert np.isfinite(first).all() and 0 <= first.min() and first.max() <= 1
        np.testing.assert_array_equal(saliency(predictor, image, method), first)  # dropout is off in eval mode


def test_saliency_rejects_what_it_cannot_explain(trained):
    predictor, _ = trained
    image = np.zeros((28, 28), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        saliency(predictor, np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match=r"\(28, 28\)"):
        saliency(predictor, np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="occlusion"):
        saliency(predictor, image, "lime")
    with pytest.raises(ValueError, match="target"):
        saliency(predictor, image, target=10)


def test_overlay_tints_the_grey_image_by_heat():
    image = np.full((28, 28), 128, np.uint8)
    heat = np.zeros((28, 28), np.float32)
    heat[0, 0], heat[0, 1] = 1.0, 0.2
    shown = overlay(image, heat)
    assert shown.shape == (28, 28, 3) and shown.dtype == np.uint8
    assert (shown[1:] == 128).all()  # no heat: the plain grey image
    hot, warm = shown[0, 0].astype(int), shown[0, 1].astype(int)
    assert hot[0] > 128 and hot[1] > 128 and hot[2] < 64  # yellow
    assert warm[0] > warm[1] > warm[2]  # reddish
    with pytest.raises(ValueError, match="heat map"):
        overlay(image, heat[:27])


# -- confusion-matrix cells --


def test_mistakes_are_sorted_by_confidence_with_their_top3():
    probabilities = torch.tensor(
        [
            [0.10, 0.60, 0.30] + [0.0] * 7,  # true 0, predicted 1 with 0.6
            [0.05, 0.90, 0.05] + [0.0] * 7,  # true 0, predicted 1 with 0.9
            [0.70, 0.20, 0.10] + [0.0] * 7,  # true 0, correct with 0.7
            [0.50, 0.30, 0.20] + [0.0] * 7,  # true 0, correct with 0.5
            [0.20, 0.75, 0.05] + [0.0] * 7,  # true 1, correct with 0.75
        ]
    )
    targets = torch.tensor([0, 0, 0, 0, 1])
    wrong = mistakes_from(probabilities, targets, true_class=0, predicted_class=1)
    assert [m.index for m in wrong] == [1, 0]  # the most confident mistake first
    assert wrong[0] == Mistake(
        1, 0, 1, pytest.approx(0.9), ((1, pytest.approx(0.9)), (0, pytest.approx(0.05)), (2, pytest.approx(0.05)))
    )
    assert [c for c, _ in wrong[1].top3] == [1, 2, 0]
    right = mistakes_from(probabilities, targets, true_class=0, predicted_class=0)
    assert [m.index for m in right] == [3, 2]  # on the diagonal: the nearly wrong first
    assert mistakes_from(probabilities, targets, true_class=2, predicted_class=0) == []


def test_cells_match_the_confusion_matrix_of_evaluate(fashion_root):
    preset = get_preset("seed")
    trainer = Trainer(preset.spec, replace(preset.config, val_size=50, device="cpu"))  # untrained: many mistakes
    data = trainer.load_data(fashion_root)
    confusion = trainer.evaluate(data.test_x, data.test_y).confusion
    assert sum(confusion[i][j] for i in range(10) for j in range(10) if i != j) > 0
    probabilities = predict_all(trainer.model, data.test_x)
    assert probabilities.shape == (100, 10) and probabilities.device.type == "cpu"
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(100))
    torch.testing.assert_close(predict_all(Predictor(trainer.model, preset.spec), data.test_x), probabilities)
    for true_class in range(10):
        for predicted_class in range(10):
            cell = mistakes_from(probabilities, data.test_y, true_class, predicted_class)
            assert len(cell) == confusion[true_class][predicted_class]
            confidences = [m.confidence for m in cell]
            descending = true_class != predicted_class
            assert confidences == sorted(confidences, reverse=descending)
            for mistake in cell:
                assert int(data.test_y[mistake.index]) == true_class
                assert mistake.top3[0][0] == predicted_class and mistake.top3[0][1] == mistake.confidence
                assert [p for _, p in mistake.top3] == sorted((p for _, p in mistake.top3), reverse=True)
                assert len(mistake.top3) == 3


def test_predict_all_needs_to_know_the_head():
    with pytest.raises(TypeError, match="spec"):
        predict_all(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)), torch.zeros(2, 1, 28, 28))


# -- batch prediction to CSV --


def test_a_folder_becomes_a_csv_with_one_row_per_image(trained, tmp_path):
    predictor, data = trained
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(data.test_images[0]).save(folder / "b_good.png")
    Image.fromarray(data.test_images[1]).save(folder / "A_good.PNG")
    (folder / "c_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"resource fork")
    (folder / "sub").mkdir()
    Image.fromarray(data.test_images[2]).save(folder / "sub" / "nested.png")

    rows = list(predict_folder(predictor, folder))
    assert [path.name for path, _ in rows] == ["A_good.PNG", "b_good.png", "c_broken.jpg"]
    assert isinstance(rows[0][1], Prediction) and isinstance(rows[1][1], Prediction)
    assert isinstance(rows[2][1], ImageError)

    out = write_predictions_csv(rows, tmp_path / "out" / "predictions.csv", predictor.class_names)
    assert sorted(p.name for p in out.parent.iterdir()) == ["predictions.csv"]  # no temporary file left
    with out.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == ["file", "top_class", "top_probability", *CLASS_NAMES, "unsure", "error"]
        table = list(reader)
    assert len(table) == 3
    for row, index in zip(table[:2], (1, 0), strict=True):
        assert row["error"] == ""
        probabilities = [float(row[name]) for name in CLASS_NAMES]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-6)
        assert row["top_class"] == CLASS_NAMES[int(data.test_y[index])]
        assert float(row["top_probability"]) == pytest.approx(max(probabilities))
    assert table[2]["file"].endswith("c_broken.jpg") and "c_broken.jpg" in table[2]["error"]
    assert all(table[2][name] == "" for name in ("top_class", "top_probability", *CLASS_NAMES))


def test_listed_files_keep_their_order_and_a_missing_one_is_an_error_row(trained, tmp_path):
    predictor, data = trained
    Image.fromarray(data.test_images[0]).save(tmp_path / "z.png")
    rows = list(predict_folder(predictor, [tmp_path / "z.png", tmp_path / "gone.png", str(tmp_path / "z.png")]))
    assert [path.name for path, _ in rows] == ["z.png", "gone.png", "z.png"]
    assert [type(result) for _, result in rows] == [Prediction, ImageError, Prediction]
    assert list(predict_folder(predictor, tmp_path / "z.png"))[0][1].probabilities == rows[0][1].probabilities


def test_an_empty_folder_gives_a_csv_with_only_the_header(trained, tmp_path):
    predictor, _ = trained
    out = write_predictions_csv(predict_folder(predictor, tmp_path), tmp_path / "p.csv")
    assert out.read_text(encoding="utf-8").splitlines() == [
        ",".join(["file", "top_class", "top_probability", *CLASS_NAMES, "unsure", "error"])
    ]


def test_an_unreadable_folder_is_a_user_error(trained, tmp_path, monkeypatch):
    predictor, _ = trained

    def refuse(self: Path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(ImageError, match="cannot list the folder"):
        list(predict_folder(predictor, tmp_path))
