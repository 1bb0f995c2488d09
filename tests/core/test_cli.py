"""The command line, run in-process (fast) and as a real subprocess (entry point, exit codes)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from fashion_desktop.cli import main
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.presets import PRESETS


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model_file(fashion_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m.safetensors"
    assert (
        main(["train", "--data", str(fashion_root), "--epochs", "1", "--val-size", "50", "--out", str(out), "--json"])
        == 0
    )
    return out


def test_train_json_prints_one_object_per_line(capsys, fashion_root, tmp_path):
    out = tmp_path / "m.safetensors"
    code, stdout, _ = run(
        capsys,
        "train",
        "--data",
        fashion_root,
        "--epochs",
        2,
        "--val-size",
        50,
        "--batch-size",
        32,
        "--out",
        out,
        "--json",
    )
    assert code == 0
    events = [json.loads(line) for line in stdout.splitlines()]
    assert [e["event"] for e in events] == ["epoch", "epoch", "finished"]
    assert set(events[0]) == {
        "event",
        "epoch",
        "train_loss",
        "val_loss",
        "val_accuracy",
        "lr",
        "epoch_seconds",
        "samples_per_second",
    }
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
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "train", "--data", tmp_path / "empty", "--out", tmp_path / "m.safetensors")
    assert code == 2 and "could not download" in err


def test_train_with_a_data_folder_that_does_not_exist(capsys, tmp_path, monkeypatch):
    from fashion_desktop.core import data

    monkeypatch.setattr(data, "download", lambda *a, **k: pytest.fail("a mistyped folder must not be downloaded into"))
    typo = tmp_path / "dta"
    code, _, err = run(capsys, "train", "--data", typo, "--out", tmp_path / "m.safetensors")
    assert code == 2 and f"the data folder {typo} does not exist" in err and not typo.exists()
    code, _, err = run(capsys, "bench", "--data", typo)
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--device", "cuda:x"], "unknown device 'cuda:x'; choose auto, cpu, cuda, cuda:N"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--seed", str(2**64)], f"seed must be a whole number from 0 to {2**32 - 1}, not {2**64}"),
        (["--seed", "-1"], "seed must be a whole number from 0 to"),
        (["--val-size", "0"], "keeping the best epoch needs a validation set: set a validation size above 0"),
        (["--val-size", "0", "--no-keep-best", "--early-stopping", "2"], "early stopping needs a validation set"),
        (
            ["--val-size", "0", "--no-keep-best", "--scheduler", "ReduceLROnPlateau"],
            "the ReduceLROnPlateau schedule needs a validation set",
        ),
    ],
)
def test_train_rejects_bad_devices_seeds_and_validation_settings(capsys, fashion_root, tmp_path, args, words):
    out = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", "--data", fashion_root, "--out", out, *args)
    assert code == 2 and words in err and "Traceback" not in err and not out.exists()


def test_device_names_are_normalised(capsys, fashion_root, tmp_path):
    from fashion_desktop.core.config import TrainConfig, normalize_device
    from fashion_desktop.core.runtime import pick_device

    assert [normalize_device(name) for name in ("CPU", " cpu:0 ", "cuda:01", "cuda", "Auto", "mps")] == [
        "cpu",
        "cpu",
        "cuda:1",
        "cuda",
        "auto",
        "mps",
    ]
    assert pick_device("cpu:0") == torch.zeros(1).device  # compares equal to where the data is
    assert TrainConfig(device="cuda:x").problems() and not TrainConfig(device="CUDA:1").problems()
    out = tmp_path / "m.safetensors"
    code, _, err = run(
        capsys,
        "train",
        "--data",
        fashion_root,
        "--epochs",
        1,
        "--val-size",
        50,
        "--device",
        "cpu:0",
        "--out",
        out,
        "--json",
    )
    assert code == 0, err
    assert Checkpoint.load(out).config.device == "cpu"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--optimizer", "SGD"], "--optimizer 'Adam' (asked: 'SGD')"),
        (["--lr", "0.1", "--batch-size", "10"], "--batch-size 64 (asked: 10), --lr 0.003 (asked: 0.1)"),
        (["--seed", "4"], "--seed 0 (asked: 4)"),
        (["--val-size", "40"], "--val-size 50 (asked: 40)"),
        (["--loss", "cross_entropy"], "--loss 'nll' (asked: 'cross_entropy')"),
        (["--scheduler", "StepLR"], "--scheduler 'none' (asked: 'StepLR')"),
        (["--preset", "seed"], "so it takes no --preset or --spec"),
    ],
)
def test_resume_refuses_settings_it_cannot_honour(capsys, fashion_root, model_file, args, words):
    before = model_file.read_bytes()
    code, _, err = run(capsys, "train", "--resume", model_file, "--epochs", 3, "--data", fashion_root, *args)
    assert code == 2 and words in err and "start a new run instead" in err and "Traceback" not in err
    assert model_file.read_bytes() == before


def test_resume_may_change_epochs_device_early_stopping_and_keep_best(capsys, fashion_root, tmp_path, model_file):
    import shutil

    copy = shutil.copy(model_file, tmp_path / "copy.safetensors")
    code, stdout, err = run(
        capsys,
        "train",
        "--resume",
        copy,
        "--epochs",
        2,
        "--device",
        "CPU",
        "--early-stopping",
        3,
        "--no-keep-best",
        "--optimizer",
        "Adam",
        "--lr",
        3e-3,
        "--data",
        fashion_root,
        "--json",
    )
    assert code == 0, err
    assert [json.loads(line)["epoch"] for line in stdout.splitlines()[:-1]] == [2]


def test_resuming_a_finished_run_asks_for_more_epochs(capsys, fashion_root, model_file):
    from fashion_desktop.core.paths import resolve_runs_path
    from fashion_desktop.core.runs import RunStore

    with RunStore(resolve_runs_path()) as store:
        recorded = len(store.list_runs())
    code, stdout, err = run(capsys, "train", "--resume", model_file, "--data", fashion_root)
    assert code == 2 and stdout == ""
    assert "has already trained 1 of 1 epochs; pass --epochs M (more than 1) to continue" in err
    code, _, err = run(capsys, "train", "--resume", model_file, "--epochs", 0, "--data", fashion_root)
    assert code == 2 and "has already trained 1 epochs, more than 0; pass --epochs M" in err
    with RunStore(resolve_runs_path()) as store:
        assert len(store.list_runs()) == recorded  # no duplicate run was recorded


@pytest.mark.parametrize("where", ["missing", "file", "read-only", "folder"])
def test_train_refuses_an_out_path_it_cannot_write_before_training(capsys, fashion_root, tmp_path, where):
    import os
    import stat

    (tmp_path / "a-file").write_text("not a folder")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if where == "read-only" and os.access(locked, os.W_OK):
        pytest.skip("running as a user who can write anywhere")
    out = {
        "missing": tmp_path / "no" / "m.safetensors",
        "file": tmp_path / "a-file" / "m.safetensors",
        "read-only": locked / "m.safetensors",
        "folder": tmp_path,
    }[where]
    code, stdout, err = run(
        capsys, "train", "--data", fashion_root, "--epochs", 1, "--val-size", 50, "--out", out, "--json"
    )
    locked.chmod(stat.S_IRWXU)
    assert code == 2 and stdout == "" and "Traceback" not in err
    assert (f"cannot write {out}" in err) if where != "folder" else ("is a folder" in err)


def test_train_goes_on_without_recording_when_the_history_is_damaged(capsys, fashion_root, tmp_path, monkeypatch):
    history = tmp_path / "damaged.sqlite3"
    history.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    monkeypatch.setenv("FASHION_DESKTOP_RUNS", str(history))
    code, stdout, err = run(
        capsys,
        "train",
        "--data",
        fashion_root,
        "--epochs",
        1,
        "--val-size",
        50,
        "--out",
        tmp_path / "m.safetensors",
        "--json",
    )
    assert code == 0 and json.loads(stdout.splitlines()[-1])["event"] == "finished"
    assert "warning: this run is not recorded: the run history" in err and "is damaged" in err
    assert "move it aside" in err and history.read_bytes().startswith(b"SQLite format 3")


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
    summary = json.loads(stdout)
    assert code == 0 and summary["layers"][0]["type"] == "Conv2d" and summary["problems"] == []


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_round_trips_through_a_spec_file(capsys, tmp_path, preset):
    # The spec file has no loss: it follows the head, so a network that ends in logits is not checked against NLLLoss.
    code, stdout, _ = run(capsys, "spec", "--preset", preset)
    spec_file = tmp_path / f"{preset}.json"
    spec_file.write_text(stdout)
    code, stdout, _ = run(capsys, "summary", "--spec", spec_file, "--json")
    assert code == 0 and json.loads(stdout)["problems"] == []


def test_train_from_a_spec_file_takes_the_loss_from_its_head(capsys, fashion_root, tmp_path):
    spec_file = tmp_path / "d2l.json"
    spec_file.write_text(PRESETS["d2l-mlp"].spec.to_json())
    out = tmp_path / "m.safetensors"
    code, _, err = run(
        capsys,
        "train",
        "--spec",
        spec_file,
        "--data",
        fashion_root,
        "--epochs",
        1,
        "--val-size",
        50,
        "--out",
        out,
        "--json",
    )
    assert code == 0, err
    assert Checkpoint.load(out).config.loss == "cross_entropy"
    code, _, err = run(capsys, "train", "--spec", spec_file, "--loss", "nll", "--data", fashion_root, "--out", out)
    assert code == 2 and "NLLLoss expects log-probabilities" in err  # an explicit --loss is still checked


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"layers": ["Flatten", {"type": "Linear", "out_features": 10}]}, "layer 1 of the spec is not valid"),
        (
            {"layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 10, "init": "xavier"}]},
            'layer 2 of the spec is not valid: Linear\'s "init" must be a JSON object',
        ),
        (
            {"mean": "grey", "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}]},
            "the spec's 'mean' must be a number",
        ),
        (
            {"std": 0, "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}]},
            "std must be a finite number above 0",
        ),
    ],
)
def test_a_malformed_spec_file_is_a_clear_error(capsys, fashion_root, tmp_path, spec, words):
    spec_file = tmp_path / "bad.json"
    spec_file.write_text(json.dumps(spec))
    out = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", "--spec", spec_file, "--data", fashion_root, "--out", out)
    assert code == 2 and words in err and "Traceback" not in err


def test_summary_of_an_invalid_spec_exits_non_zero(capsys, tmp_path):
    spec_file = tmp_path / "bad.json"
    spec_file.write_text(json.dumps({"layers": [{"type": "Linear", "out_features": 10}]}))
    code, stdout, _ = run(capsys, "summary", "--spec", spec_file)
    assert code == 1 and "add a Flatten before it" in stdout


def test_predict_an_empty_folder(capsys, model_file, tmp_path):
    from fashion_desktop.resources import resource_path

    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    code, stdout, err = run(capsys, "predict", "--model", model_file, empty)
    assert code == 2 and stdout == "" and f"no images found in {empty}" in err and "Traceback" not in err
    code, stdout, err = run(
        capsys, "predict", "--model", model_file, resource_path("samples", "ankle_boot.png"), empty, "--json"
    )
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert code == 1 and "top_class" in lines[0] and lines[1] == {"file": str(empty), "error": lines[1]["error"]}
    assert f"no images found in {empty}" in lines[1]["error"]


@pytest.mark.parametrize("command", ["predict", "export"])
def test_files_that_cannot_be_written_are_clear_errors(capsys, model_file, tmp_path, command):
    from fashion_desktop.resources import resource_path

    target = "/proc/fashion-desktop-test.out"
    args = (
        ["predict", "--model", model_file, resource_path("samples", "ankle_boot.png"), "--csv", target]
        if command == "predict"
        else ["export", "--model", model_file, "--format", "python", "--out", target]
    )
    code, _, err = run(capsys, *args)
    assert code == 2 and f"cannot write {target}: " in err and "Traceback" not in err


def test_unexpected_os_errors_exit_2_without_a_traceback(capsys, monkeypatch):
    from fashion_desktop import cli

    def broken(args):
        raise PermissionError(13, "Permission denied", "/some/file")

    monkeypatch.setitem(cli.COMMANDS, "spec", broken)
    code, _, err = run(capsys, "spec")
    assert code == 2 and err.strip() == "fashion-desktop: error: /some/file: Permission denied"


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
    failed = subprocess.run(
        [sys.executable, "-m", "fashion_desktop", "summary", "--spec", str(tmp_path / "no.json")],
        capture_output=True,
        text=True,
    )
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


def test_the_train_help_lists_the_registries_choices(capsys):
    from fashion_desktop.core.config import LOSSES, OPTIMIZERS, SCHEDULERS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    for registry in (OPTIMIZERS, SCHEDULERS, LOSSES):
        names = list(registry)
        assert f"{', '.join(names[:-1])} or {names[-1]}" in help_text
