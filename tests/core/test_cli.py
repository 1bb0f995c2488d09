"""The command line, run in-process (fast) and as a real subprocess (entry point, exit codes)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fashion_desktop.cli import main
from fashion_desktop.core.checkpoint import Checkpoint


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model_file(fashion_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m.safetensors"
    assert main(["train", "--data", str(fashion_root), "--epochs", "1", "--val-size", "50", "--out", str(out),
                 "--json"]) == 0  # fmt: skip
    return out


def test_train_json_prints_one_object_per_line(capsys, fashion_root, tmp_path):
    out = tmp_path / "m.safetensors"
    code, stdout, _ = run(capsys, "train", "--data", fashion_root, "--epochs", 2, "--val-size", 50, "--batch-size", 32,
                          "--out", out, "--json")  # fmt: skip
    assert code == 0
    events = [json.loads(line) for line in stdout.splitlines()]
    assert [e["event"] for e in events] == ["epoch", "epoch", "finished"]
    assert set(events[0]) == {"event", "epoch", "train_loss", "val_loss", "val_accuracy", "lr", "epoch_seconds",
                              "samples_per_second"}  # fmt: skip
    assert events[-1]["model"] == str(out) and 0 <= events[-1]["test_accuracy"] <= 1
    saved = Checkpoint.load(out)
    assert saved.epoch == 2 and saved.config.batch_size == 32 and saved.test is not None


def test_train_human_output_and_resume(capsys, fashion_root, tmp_path):
    out = tmp_path / "m.safetensors"
    code, stdout, _ = run(capsys, "train", "--data", fashion_root, "--epochs", 1, "--val-size", 50, "--out", out)
    assert code == 0 and "epoch   1" in stdout and "test accuracy" in stdout
    code, stdout, _ = run(capsys, "train", "--resume", out, "--epochs", 2, "--data", fashion_root, "--json")
    assert code == 0
    assert [json.loads(line)["epoch"] for line in stdout.splitlines()[:-1]] == [2]
    assert Checkpoint.load(out).epoch == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--lr", "0"], "learning rate must be greater than 0"),
        (["--batch-size", "0"], "batch size must be at least 1"),
        (["--optimizer", "Bogus"], "unknown optimizer"),
        (["--preset", "nope"], "there is no preset 'nope'"),
    ],
)
def test_train_rejects_bad_settings_without_traceback(capsys, fashion_root, tmp_path, args, words):
    code, _, err = run(capsys, "train", "--data", fashion_root, "--out", tmp_path / "m.safetensors", *args)
    assert code == 2 and words in err and "Traceback" not in err


def test_train_with_missing_data_says_where_to_put_the_files(capsys, tmp_path, monkeypatch):
    from fashion_desktop.core import data

    monkeypatch.setattr(data, "download", lambda *a, **k: (_ for _ in ()).throw(data.DataError("could not download")))
    code, _, err = run(capsys, "train", "--data", tmp_path / "empty", "--out", tmp_path / "m.safetensors")
    assert code == 2 and "could not download" in err


def test_predict_json_with_one_bad_image(capsys, model_file, tmp_path):
    good = tmp_path / "shirt.png"
    Image.fromarray(np.pad(np.full((20, 14), 40, np.uint8), 30, constant_values=255)).save(good)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, stdout, _ = run(capsys, "predict", "--model", model_file, good, bad, "--json")
    first, second = (json.loads(line) for line in stdout.splitlines())
    assert code == 1  # one image failed
    assert first["file"] == str(good) and sum(first["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert first["top_class"] in first["probabilities"]
    assert first["top_probability"] == max(first["probabilities"].values())
    assert second["file"] == str(bad) and "broken.jpg" in second["error"]


def test_predict_human_output(capsys, model_file):
    from fashion_desktop.resources import resource_path

    sample = resource_path("samples", "ankle_boot.png")
    code, stdout, _ = run(capsys, "predict", "--model", model_file, sample)
    assert code == 0 and stdout.startswith(f"{sample}: ") and stdout.count("%") == 11


def test_predict_with_a_damaged_model(capsys, tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"nope")
    code, _, err = run(capsys, "predict", "--model", model, tmp_path / "x.png")
    assert code == 2 and "not a Fashion Desktop model file" in err


def test_summary_and_spec(capsys, tmp_path):
    code, stdout, _ = run(capsys, "summary", "--preset", "seed", "--json")
    summary = json.loads(stdout)
    assert code == 0 and summary["total"] == 235_146 and summary["problems"] == []
    code, stdout, _ = run(capsys, "summary", "--preset", "seed")
    assert "Total params: 235,146" in stdout
    code, stdout, _ = run(capsys, "spec", "--preset", "small-cnn")
    spec_file = tmp_path / "cnn.json"
    spec_file.write_text(stdout)
    code, stdout, _ = run(capsys, "summary", "--spec", spec_file, "--json")
    assert json.loads(stdout)["layers"][0]["type"] == "Conv2d"


def test_summary_of_an_invalid_spec_exits_non_zero(capsys, tmp_path):
    spec_file = tmp_path / "bad.json"
    spec_file.write_text(json.dumps({"layers": [{"type": "Linear", "out_features": 10}]}))
    code, stdout, _ = run(capsys, "summary", "--spec", spec_file)
    assert code == 1 and "add a Flatten before it" in stdout


def test_export_python(capsys, model_file, tmp_path):
    out = tmp_path / "net.py"
    code, _, _ = run(capsys, "export", "--model", model_file, "--format", "python", "--out", out)
    assert code == 0
    namespace: dict = {}
    exec(out.read_text(), namespace)
    assert namespace["FashionNetwork"]().fc1.in_features == 784


def test_bench_on_synthetic_data(capsys, fashion_root):
    code, stdout, _ = run(capsys, "bench", "--data", fashion_root, "--json")
    report = json.loads(stdout)
    assert code == 0 and report["speedup"] > 0 and report["classic_epoch_seconds"] > 0


def test_module_entry_point_and_user_errors_in_a_subprocess(tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "fashion_desktop", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "train" in help_text.stdout and "predict" in help_text.stdout
    failed = subprocess.run([sys.executable, "-m", "fashion_desktop", "summary", "--spec", str(tmp_path / "no.json")],
                            capture_output=True, text=True)  # fmt: skip
    assert failed.returncode == 2 and "cannot read the spec file" in failed.stderr and "Traceback" not in failed.stderr


def test_predict_folder_to_csv(capsys, model_file, tmp_path):
    import csv

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.pad(np.full((20, 14), 40, np.uint8), 30, constant_values=255)).save(folder / name)
    (folder / "junk.jpg").write_bytes(b"not an image")
    out = tmp_path / "predictions.csv"
    code, stdout, _ = run(capsys, "predict", "--model", model_file, "--csv", out, folder)
    rows = list(csv.DictReader(out.open()))
    assert code == 1 and "wrote 2 predictions" in stdout and "1 files failed" in stdout
    assert [row["file"].rsplit("/", 1)[-1] for row in rows] == ["a.png", "b.png", "junk.jpg"]
    assert rows[2]["error"] and not rows[0]["error"]
    from fashion_desktop.core.spec import CLASS_NAMES

    assert sum(float(rows[0][name]) for name in CLASS_NAMES) == pytest.approx(1, abs=1e-5)
