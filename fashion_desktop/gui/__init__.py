"""The Qt GUI: a thin layer that edits core objects, runs the engine on a QThread and draws what it reports."""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")  # pyqtgraph otherwise takes the first Qt binding it finds
