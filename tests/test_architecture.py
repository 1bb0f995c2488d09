"""The layering the design guide asks for, checked on every test run: the core never imports Qt."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_import_linter_contracts_are_kept():
    """``lint-imports`` reads the contracts in pyproject.toml (the core imports no PySide6, pyqtgraph or gui)."""
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.slow
def test_importing_the_whole_core_loads_no_qt():
    """The same rule at run time, which also catches imports that a static linter cannot see."""
    modules = sorted(p.stem for p in (ROOT / "fashion_desktop" / "core").glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module('fashion_desktop.core.' + name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert len(modules) >= 15  # every core module was imported, not an empty glob


def test_the_module_level_contract_counts_only_imports_that_run_at_import_time(tmp_path, monkeypatch):
    """Function bodies and ``if TYPE_CHECKING:`` are skipped; ``try``, ``if`` and class bodies are not."""
    from tests.import_contracts import _import_time_lines

    (tmp_path / "probe_module.py").write_text(
        "from typing import TYPE_CHECKING\n"  # 1
        "import os\n"  # 2
        "if TYPE_CHECKING:\n"
        "    import torch\n"  # 4: skipped
        "try:\n"
        "    import numpy\n"  # 6
        "except ImportError:\n"
        "    import json\n"  # 8
        "class Holder:\n"
        "    import csv\n"  # 10
        "def later():\n"
        "    import torch\n"  # 12: skipped
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _import_time_lines("probe_module") == {1, 2, 6, 8, 10}
