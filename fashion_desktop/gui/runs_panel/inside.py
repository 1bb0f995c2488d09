"""A recorded run's "inside the network" measurements, in a window of their own (the Runs tab is too small)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

if TYPE_CHECKING:
    from fashion_desktop.core.activity import ActivitySnapshot
    from fashion_desktop.gui.training.inside import InsidePanel


class RunInsideWindow(QWidget):
    """The Training tab's Inside panel, showing the activity a run recorded at the end of each epoch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_QuitOnClose, False)  # closing the main window still quits
        # Here, not at the top: the Training tab's package imports the Runs panel.
        from fashion_desktop.gui.training.inside import InsidePanel

        self.panel: InsidePanel = InsidePanel()
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        self.resize(900, 600)

    def show_run(self, name: str, snapshots: Sequence[ActivitySnapshot]) -> None:
        """Show these measurements of the run called ``name`` and bring the window to the front."""
        self.setWindowTitle(f"Inside the network: {name}")
        self.panel.set_snapshots(snapshots)
        epochs = len(snapshots)
        self.panel.note.setText(
            f"“{name}”, measured at the end of each of its {epochs} recorded epoch{'s' if epochs != 1 else ''} "
            "on the same validation images."
        )
        self.show()
        self.raise_()
        self.activateWindow()
