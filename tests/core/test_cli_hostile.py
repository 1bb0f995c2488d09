"""The command line against hostile input: odd file names, odd encodings, signals, values JSON cannot hold."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from fashion_desktop.cli import main
from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.presets import get_preset

SEED = get_preset("seed")


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    return Checkpoint(SEED.spec, build_model(SEED.spec, seed=0).state_dict(), config=SEED.config).save(path)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "shirt.png"
    Image.fromarray(np.pad(np.full((20, 14), 40, np.uint8), 30, constant_values=255)).save(path)
    return path


def _strict_json(line):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_predict_json_never_prints_nan(capsys, tmp_path, photo):
    """Finite but huge weights overflow to inf and NaN probabilities: the line must stay valid JSON."""
    weights = {k: torch.full_like(v, 3e38) for k, v in build_model(SEED.spec, seed=0).state_dict().items()}
    path = Checkpoint(SEED.spec, weights, config=SEED.config).save(tmp_path / "huge.safetensors")
    code, out, _ = run(capsys, "predict", "--model", path, photo, "--json")
    assert "NaN" not in out and "Infinity" not in out
    for line in out.splitlines():
        _strict_json(line)


def test_predict_csv_with_a_file_name_that_is_not_utf8(capsys, model_file, tmp_path, photo):
    folder = tmp_path / os.fsdecode(b"fotos-\xe9t\xe9")
    folder.mkdir()
    odd = folder / os.fsdecode(b"chemise-\xff.png")
    photo.rename(odd)
    out = tmp_path / "predictions.csv"
    code, stdout, err = run(capsys, "predict", "--model", model_file, "--csv", out, folder)
    assert code == 0 and "wrote 1 predictions" in stdout and "Traceback" not in err
    assert b"chemise-\xff.png" in out.read_bytes()  # the name as its bytes, so it can be found again
    code, stdout, _ = run(capsys, "predict", "--model", model_file, odd)
    assert code == 0 and "chemise-" in stdout


@pytest.mark.slow
def test_pythonioencoding_utf8_with_an_odd_name_in_a_subprocess(model_file, tmp_path, photo):
    odd = tmp_path / os.fsdecode(b"chemise-\xff.png")
    photo.rename(odd)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, "-m", "fashion_desktop", "predict", "--model", str(model_file), os.fsencode(odd)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and b"Traceback" not in done.stderr and b"chemise-" in done.stdout


@pytest.mark.slow
def test_sigterm_stops_training_like_ctrl_c_and_records_the_run(fashion_root, tmp_path):
    history = tmp_path / "runs.sqlite3"
    env = {**os.environ, "FASHION_DESKTOP_RUNS": str(history)}
    out = tmp_path / "m.safetensors"
    command = [sys.executable, "-m", "fashion_desktop", "train", "--data", str(fashion_root), "--epochs", "10000"]
    process = subprocess.Popen(
        [*command, "--val-size", "50", "--batch-size", "8", "--out", str(out), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert b'"event": "epoch"' in process.stdout.readline()  # training has started and recorded an epoch
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130 and b"interrupted" in err and b"Traceback" not in err
    with sqlite3.connect(history) as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("stopped",)]


def test_train_with_an_out_path_and_name_that_are_not_utf8(capsys, fashion_root, tmp_path):
    out = tmp_path / os.fsdecode(b"mod\xe8le.safetensors")
    name = os.fsdecode(b"essai-\xe9")
    config = ["--epochs", 1, "--val-size", 50, "--batch-size", 64]
    code, _, err = run(capsys, "train", "--data", fashion_root, *config, "--out", out, "--name", name)
    assert code == 0 and out.exists() and "Traceback" not in err and "not recorded" not in err
    code, stdout, _ = run(capsys, "runs")
    assert "essai-" in stdout


def test_a_huge_device_number_is_a_clear_error(capsys, fashion_root, tmp_path):
    code, _, err = run(
        capsys, "train", "--data", fashion_root, "--device", "cuda:99999999999999999999", "--out", tmp_path / "m"
    )
    assert code == 2 and "too large" in err


def test_summary_refuses_a_network_of_billions_of_parameters(capsys, tmp_path):
    spec = replace(
        SEED.spec,
        layers=(
            SEED.spec.layers[0],
            *(replace(SEED.spec.layers[1], params={"out_features": 65536}) for _ in range(3)),
            SEED.spec.layers[-1],
        ),
    )
    path = tmp_path / "bomb.json"
    path.write_text(spec.to_json())
    code, out, _ = run(capsys, "summary", "--spec", path)
    assert code == 1 and "parameters" in out and "more than the" in out


def test_allocation_failures_in_a_command_are_a_message(capsys, monkeypatch):
    from fashion_desktop import cli

    def allocate(args):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 17179869184 bytes")

    monkeypatch.setitem(cli.COMMANDS, "summary", allocate)
    code, _, err = run(capsys, "summary")
    assert code == 2 and "out of memory" in err and "lower the batch size" in err


def test_spec_files_that_nest_deeply_or_hold_huge_numbers(capsys, tmp_path):
    for text in ("[" * 100_000 + "]" * 100_000, '{"layers": [], "mean": ' + "9" * 5000 + "}"):
        path = tmp_path / "odd.json"
        path.write_text(text)
        code, _, err = run(capsys, "summary", "--spec", path)
        assert code == 2 and "Traceback" not in err and "spec" in err


def test_a_fifo_as_spec_file_is_refused_without_blocking(capsys, tmp_path):
    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    code, _, err = run(capsys, "summary", "--spec", fifo)
    assert code == 2 and "named pipe" in err and time.monotonic() - started < 5
