"""importbench imports a folder twice (fresh, then cached) and prints the figures, per stage and against a saved run."""

from __future__ import annotations

import json

from fashion_desktop.importbench import main
from tests.core.test_folders import make_classes


def test_importbench_prints_first_cached_memory_and_stages_and_compares(tmp_path, capsys):
    photos = tmp_path / "photos"
    make_classes(photos, {"shirt": 3, "shoes": 3}, suffix=".jpg")
    saved = tmp_path / "old.json"
    assert main(["--photos", str(photos), "--workers", "1", "--save", str(saved)]) == 0
    report = json.loads(saved.read_text())
    assert report["photos"] == 6 and report["skipped"] == 0
    assert report["first_cpu_s"] > 0 and report["cpu_ms_per_photo"] > 0 and report["cached_wall_s"] > 0
    assert report["peak_rss_mb"] > 10
    assert {"read", "decode", "working copy", "grabcut", "clean-up", "framing", "cache write"} <= set(report["stages"])
    assert report["stages"]["decode"]["calls"] == 6  # the cached import is not counted
    printed = capsys.readouterr().out
    assert "| photos | 6 |" in printed and "| grabcut |" in printed

    assert main(["--photos", str(photos), "--limit", "2", "--separation", "border", "--against", str(saved)]) == 0
    printed = capsys.readouterr().out
    assert "| figure | new | old | new / old |" in printed
    assert "| photos | 4 | 6 | 0.67 |" in printed and "| border |" in printed
