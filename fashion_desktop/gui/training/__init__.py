"""The Training tab in parts: settings, controller, results, and the tab that lays them out."""

from fashion_desktop.gui.training.tab import TrainingTab

__all__ = ["TrainingTab"]
