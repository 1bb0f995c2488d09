"""``python -m fashion_desktop.importbench``: how long an image folder takes to import, first and from the cache.

It imports a folder of class subfolders (with the default framing: 28x28 grey, cropped to the garment found by
GrabCut) into a fresh cache, then again from that cache, and prints: the photos, the first import's wall seconds and
CPU seconds per photo (the whole process tree's, from ``getrusage``), the estimate for 2 cores (that CPU time
halved: the photos are framed in parallel, and the serial part is a fraction of a second), the cached import's
seconds, the peak resident memory of the process tree, and the CPU time per stage (decode,
working copy, GrabCut, clean-up, framing, cache). CPU time is the figure to compare: on a shared machine wall time
measures the neighbours too.

``--save FILE`` keeps the figures as JSON; ``--against FILE`` prints them beside an earlier run's, with ratios
(run this file from an older checkout, where the stages are not recorded, to get the old figures).

Targets (issue 11): the 3,068 training photos in at most about 60 s the first time on 2 cores, a few seconds from
the cache, the whole run under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from fashion_desktop.core.folders import FramingSettings, discover_layout, load_image_folder
from fashion_desktop.core.imaging import IMAGE_SUFFIXES

PARALLEL_CORES = 2  # the machine the targets are set for


def _stage_recorder() -> Callable[[], AbstractContextManager[dict[str, Any]]]:
    try:
        from fashion_desktop.core.stages import recording
    except ImportError:  # a checkout from before the stages were recorded: the totals only
        return lambda: nullcontext({})
    return recording


def _cpu_seconds() -> float:
    """User and system CPU time of this process and its waited-for children (a process pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants, from /proc (0 where there is no /proc)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        for task in tasks:
            try:
                pending += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return total


@contextmanager
def _peak_rss() -> Iterator[dict[str, int]]:
    """Sample the process tree's resident memory every 20 ms while the block runs; ``["peak"]`` is the most seen."""
    found = {"peak": _tree_rss(os.getpid())}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            found["peak"] = max(found["peak"], _tree_rss(os.getpid()))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        # ru_maxrss (KiB on Linux) catches a peak between two samples of this process itself
        found["peak"] = max(found["peak"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _subset(root: Path, limit: int, into: Path) -> Path:
    """A folder of symbolic links to the first ``limit`` images of each class of each split, in the same layout."""
    layout = discover_layout(root)
    for split_folder in layout.split_folders.values():
        for name in layout.class_names:
            images = sorted(p for p in (split_folder / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            target = into / split_folder.relative_to(layout.root) / name
            target.mkdir(parents=True, exist_ok=True)
            for image in images[:limit]:
                (target / image.name).symlink_to(image.resolve())
    return into


def run_importbench(
    root: Path, settings: FramingSettings, workers: int | None = None, executor: str = "thread"
) -> dict[str, Any]:
    """Import ``root`` into a fresh cache, then again from the cache; plain numbers (see the module docstring)."""
    recording = _stage_recorder()
    with tempfile.TemporaryDirectory(prefix="importbench-") as cache, _peak_rss() as memory:
        cache_dir = Path(cache)
        started, started_cpu = time.perf_counter(), _cpu_seconds()
        with recording() as stages:
            first = load_image_folder(root, settings, cache_dir=cache_dir, workers=workers, executor=executor)
        first_wall, first_cpu = time.perf_counter() - started, _cpu_seconds() - started_cpu
        started, started_cpu = time.perf_counter(), _cpu_seconds()
        again = load_image_folder(root, settings, cache_dir=cache_dir, workers=workers, executor=executor)
        cached_wall, cached_cpu = time.perf_counter() - started, _cpu_seconds() - started_cpu
    photos = len(first.train_images) + len(first.val_images) + len(first.test_images) + len(first.skipped)
    assert again.cached == photos - len(first.skipped), "the second import did not come from the cache"
    return {
        "photos": photos,
        "skipped": len(first.skipped),
        "settings": {"size": settings.size, "color": settings.color, "framing": settings.framing},
        "separation": settings.separation,
        "workers": workers or os.cpu_count(),
        "executor": executor,
        "first_wall_s": first_wall,
        "first_cpu_s": first_cpu,
        "cpu_ms_per_photo": 1000 * first_cpu / max(1, photos),
        "estimate_2_cores_s": first_cpu / PARALLEL_CORES,
        "cached_wall_s": cached_wall,
        "cached_cpu_s": cached_cpu,
        "peak_rss_mb": memory["peak"] / 2**20,
        "stages": {name: {"cpu_s": t.seconds, "calls": t.calls} for name, t in stages.items()},
        "load_average": os.getloadavg()[0],
        "cores": os.cpu_count(),
    }


def format_report(report: dict[str, Any], old: dict[str, Any] | None = None) -> str:
    """The figures as a Markdown table, with an earlier run's beside them and the ratio new / old."""
    rows = [
        ("photos", "photos", "{:.0f}"),
        ("first import, wall s", "first_wall_s", "{:.1f}"),
        ("first import, CPU s", "first_cpu_s", "{:.1f}"),
        ("CPU ms per photo", "cpu_ms_per_photo", "{:.1f}"),
        (f"estimate on {PARALLEL_CORES} cores, s", "estimate_2_cores_s", "{:.1f}"),
        ("cached import, wall s", "cached_wall_s", "{:.2f}"),
        ("peak RSS of the process tree, MB", "peak_rss_mb", "{:.0f}"),
    ]
    head = "| figure | new | old | new / old |" if old else "| figure | value |"
    lines = [head, "| --- | ---: | ---: | ---: |" if old else "| --- | ---: |"]
    for label, key, fmt in rows:
        value = fmt.format(report[key])
        if old:
            ratio = report[key] / old[key] if old.get(key) else float("nan")
            lines.append(f"| {label} | {value} | {fmt.format(old[key])} | {ratio:.2f} |")
        else:
            lines.append(f"| {label} | {value} |")
    photos = max(1, report["photos"] - report["skipped"])
    if report["stages"]:
        lines += ["", "CPU time per stage (summed over threads)", "", "| stage | ms per photo | share | calls |"]
        lines.append("| --- | ---: | ---: | ---: |")
        total = sum(s["cpu_s"] for s in report["stages"].values())
        for name, spent in report["stages"].items():
            share = spent["cpu_s"] / total if total else 0.0
            lines.append(f"| {name} | {1000 * spent['cpu_s'] / photos:.2f} | {share:.0%} | {spent['calls']} |")
        lines.append(f"| (outside the stages) | {1000 * (report['first_cpu_s'] - total) / photos:.2f} | | |")
    lines.append(
        f"\n{report['workers']} {report['executor']} workers, separation {report['separation']}; load average "
        f"{report['load_average']:.1f} on {report['cores']} cores while measuring"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_desktop.importbench", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="a folder of class subfolders (or train/ ...)")
    parser.add_argument("--limit", type=int, help="only the first N images of each class folder")
    parser.add_argument("--workers", type=int, help="pool size (default: the number of cores)")
    parser.add_argument("--executor", choices=("thread", "process"), default="thread")
    parser.add_argument("--separation", choices=("grabcut", "border", "none"), default="grabcut")
    parser.add_argument("--size", type=int, default=28, help="input side in pixels")
    parser.add_argument("--save", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--against", type=Path, help="a JSON file from --save to compare with")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if not args.photos.is_dir():
        parser.error(f"{args.photos} is not a folder")
    old = json.loads(args.against.read_text()) if args.against else None
    settings = FramingSettings(size=args.size, separation=args.separation)
    with tempfile.TemporaryDirectory(prefix="importbench-photos-") as scratch:
        root = _subset(args.photos, args.limit, Path(scratch)) if args.limit else args.photos
        report = run_importbench(root, settings, args.workers, args.executor)
    if args.save:
        args.save.write_text(json.dumps(report, indent=1))
    print(json.dumps(report) if args.json else format_report(report, old))
    return 0


if __name__ == "__main__":
    sys.exit(main())
