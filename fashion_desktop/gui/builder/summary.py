"""The network's overview: the Summary (a row per layer, the totals, the problems) and the PyTorch code."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFontDatabase, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QListWidgetItem,
    QPlainTextEdit,
    QSplitter,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.spec import ModelSpec, Problem, Summary
from fashion_desktop.gui.forms import blend, error_text_colour, is_dark

SEVERITY_TINTS = {"error": QColor(220, 53, 69), "warning": QColor(255, 193, 7)}  # mixed into the palette's base
SUMMARY_COLUMNS = ("Layer", "Type", "Output shape", "Trainable", "Non-trainable")


class NetworkOverview(QSplitter):
    """The Summary above the PyTorch code, which appears once PyTorch has loaded.

    Signals:
        layer_clicked: the index of the layer whose summary row was clicked.
    """

    layer_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self._core_ready = False
        self.summary_table = QTableWidget(0, len(SUMMARY_COLUMNS))
        self.summary_table.setHorizontalHeaderLabels(SUMMARY_COLUMNS)
        self.summary_table.verticalHeader().hide()
        self.summary_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.summary_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.summary_table.cellClicked.connect(self._on_summary_table_cell_clicked)
        header = self.summary_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for column in (0, 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.summary_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.totals_label = QLabel()
        self.totals_label.setWordWrap(True)  # at 1024 pixels the line ran past the Summary's edge
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextFormat(Qt.TextFormat.RichText)

        summary = QGroupBox("Summary")
        layout = QVBoxLayout(summary)
        layout.addWidget(self.summary_table, 1)
        layout.addWidget(self.totals_label)
        layout.addWidget(self.problems_label)

        self.code_view = QPlainTextEdit()
        self.code_view.setReadOnly(True)
        self.code_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.code_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        code = QGroupBox("PyTorch code")
        QVBoxLayout(code).addWidget(self.code_view)

        self.setChildrenCollapsible(False)
        self.addWidget(summary)
        self.addWidget(code)
        self.setSizes([400, 280])
        self.setMinimumWidth(420)

    def show_summary(self, summary: Summary, by_layer: Mapping[int, Problem], palette: QPalette, style: QStyle) -> None:
        """A row per layer and the totals; a layer's row marked with its problem in ``by_layer`` under ``palette``."""
        table = self.summary_table
        table.setRowCount(len(summary.rows))
        for row in summary.rows:
            shape = "x".join(map(str, row.output_shape)) if row.output_shape else "?"
            cells = (row.name, row.kind, shape, f"{row.trainable:,}", f"{row.non_trainable:,}")
            problem = by_layer.get(row.index)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                mark_problem(item, problem, palette)
                table.setItem(row.index, column, item)
            table.item(row.index, 0).setIcon(problem_icon(problem, style))
        self.totals_label.setText(
            f"Total params: <b>{summary.total:,}</b> &nbsp;·&nbsp; Trainable: {summary.trainable:,} &nbsp;·&nbsp; "
            f"Non-trainable: {summary.non_trainable:,} &nbsp;·&nbsp; Size: {summary.size_mb:.2f} MB"
        )

    def show_problems(self, problems: Sequence[Problem]) -> None:
        """Every problem in its severity's colour, or that the network can train."""
        if problems:
            lines = [
                f'<span style="color:{_severity_text(p.severity).name()}">• {html.escape(_sentence(p.message))}</span>'
                for p in problems
            ]
            self.problems_label.setText("<br>".join(lines))
        else:
            good = "#56d364" if is_dark() else "#2b7a3d"
            self.problems_label.setText(f'<span style="color:{good}">✓ The network can train.</span>')

    def on_core_ready(self) -> None:
        """PyTorch has loaded: the code view can now show the code (at the next ``show_code``)."""
        self._core_ready = True

    def show_code(self, spec: ModelSpec, classes: int | None) -> None:
        """The PyTorch code of ``spec``, or why it cannot be built yet."""
        errors = spec.errors(classes=classes)
        if not self._core_ready:
            text = "# The PyTorch code for this network appears here once PyTorch has loaded."
        elif errors:
            text = "# The network cannot be built yet:\n" + "\n".join(f"#  - {p.message}" for p in errors)
        else:
            from fashion_desktop.core.builder import to_python

            text = to_python(spec)
        wrap = QPlainTextEdit.LineWrapMode.WidgetWidth if errors else QPlainTextEdit.LineWrapMode.NoWrap
        self.code_view.setLineWrapMode(wrap)  # code keeps its lines; problems in prose wrap
        if text != self.code_view.toPlainText():
            scroll = self.code_view.verticalScrollBar().value()  # keep the reader's place while they edit
            self.code_view.setPlainText(text)
            self.code_view.verticalScrollBar().setValue(scroll)

    @Slot(int, int)
    def _on_summary_table_cell_clicked(self, row: int, _column: int) -> None:
        self.layer_clicked.emit(row)


def problems_by_layer(problems: Sequence[Problem]) -> dict[int, Problem]:
    """The problem to mark each layer with: an error outranks a warning on the same layer."""
    by_layer: dict[int, Problem] = {}
    for problem in problems:
        if problem.layer is not None and (problem.layer not in by_layer or problem.severity == "error"):
            by_layer[problem.layer] = problem
    return by_layer


def mark_problem(item: QTableWidgetItem | QListWidgetItem, problem: Problem | None, palette: QPalette) -> None:
    """Tint a layer's row with its problem's severity under ``palette``, the problem as its tooltip."""
    background = severity_colours(problem.severity, palette)[0] if problem else None
    item.setBackground(QBrush(background) if background else QBrush())
    full_name = item.text() if isinstance(item, QListWidgetItem) else ""  # a list narrow enough to elide it
    item.setToolTip(_sentence(problem.message) if problem else full_name)


def problem_icon(problem: Problem | None, style: QStyle) -> QIcon:
    if problem is None:  # a blank icon keeps the names of valid and invalid layers aligned
        blank = QPixmap(16, 16)
        blank.fill(Qt.GlobalColor.transparent)
        return QIcon(blank)
    pixmap = (
        QStyle.StandardPixmap.SP_MessageBoxCritical
        if problem.severity == "error"
        else (QStyle.StandardPixmap.SP_MessageBoxWarning)
    )
    return style.standardIcon(pixmap)


def severity_colours(severity: str, palette: QPalette) -> tuple[QColor, QColor]:
    """(row background, message colour) of a problem's severity under ``palette``.

    The background is the severity's colour mixed into the palette's own base, under the palette's text: a
    fixed light yellow under the light grey text of a dark palette could not be read.
    """
    dark = is_dark(palette)
    background = blend(palette.color(QPalette.ColorRole.Base), SEVERITY_TINTS[severity], 0.35 if dark else 0.25)
    return background, _severity_text(severity)


def _severity_text(severity: str) -> QColor:
    if severity == "error":
        return error_text_colour()
    return QColor("#e3b341") if is_dark() else QColor("#8a6500")


def _sentence(text: str) -> str:
    """The core's lower-case message as a sentence."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
