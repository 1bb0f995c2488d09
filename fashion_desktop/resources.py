"""Where the app's bundled files (icons, sample images) live, from a source checkout or a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

ICON_SIZES = (16, 32, 48, 64, 128, 256)  # the PNGs resources/icons/make_icons.py renders


def resource_path(*parts: str) -> Path:
    """A path inside ``resources/``: the checkout's top-level folder, or ``sys._MEIPASS`` in a PyInstaller bundle.

    Args:
        *parts: path components below ``resources/``, e.g. ``("samples", "bag.png")``.
    """
    bundle = getattr(sys, "_MEIPASS", None)  # where PyInstaller unpacks the bundle's data files
    root = Path(bundle) / "resources" if bundle else Path(__file__).resolve().parent.parent / "resources"
    return root.joinpath(*parts)


def app_icon_path(size: int = 256) -> Path:
    """The app icon as a PNG of ``size`` pixels (one of ICON_SIZES); ``fashion-desktop.svg`` is its source."""
    return resource_path("icons", f"fashion-desktop-{size}.png")
