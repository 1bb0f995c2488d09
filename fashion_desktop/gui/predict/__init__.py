"""The Predict tab: drop photos or pick test images, see what the model makes of them and why, score a folder.

``tab.py`` lays the tab out and drives it; ``entries.py`` is the listed images and their words, ``views.py`` the
image views and pixmaps, ``saliency.py`` the saliency view and its switches, ``chart.py`` the probability chart,
``worker.py`` the photo-framing thread pool and ``scoring.py`` the scoring of a labelled folder (its background
job, its controls and its result dialog).
"""

from fashion_desktop.gui.predict.tab import PredictTab

__all__ = ["PredictTab"]
