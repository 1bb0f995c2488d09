"""Regenerate the app icon: python resources/icons/make_icons.py writes fashion-desktop.svg and its PNG sizes.

The icon is a white T-shirt on a rounded indigo square. The SVG is the source; the PNGs are rendered from it
with QtSvg, because window managers and PyInstaller want bitmaps. The output is deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SIZES = (16, 32, 48, 64, 128, 256)

# A 256x256 canvas. The shirt is symmetric about x = 128; rounded stroke joins soften its corners.
SVG = """\
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <defs>
    <linearGradient id="background" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#6C7BF2"/>
      <stop offset="1" stop-color="#4338CA"/>
    </linearGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="56" fill="url(#background)"/>
  <path d="M104 64 Q128 92 152 64 L190 76 L224 112 L196 138 L180 122 L180 204 L76 204 L76 122 L60 138
           L32 112 L66 76 Z"
        fill="#FFFFFF" stroke="#FFFFFF" stroke-width="14" stroke-linejoin="round"/>
  <path d="M104 64 Q128 92 152 64" fill="none" stroke="#C7D2FE" stroke-width="8" stroke-linecap="round"/>
</svg>
"""


def main() -> None:
    app = QGuiApplication.instance() or QGuiApplication([])  # QImage painting needs a GUI application  # noqa: F841
    (HERE / "fashion-desktop.svg").write_text(SVG)
    renderer = QSvgRenderer(QByteArray(SVG.encode()))
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(HERE / f"fashion-desktop-{size}.png"))
        print(f"wrote fashion-desktop-{size}.png")


if __name__ == "__main__":
    main()
