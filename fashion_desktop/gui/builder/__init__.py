"""The Builder tab: stack layers into a network, see its shapes, parameter counts, problems and PyTorch code live.

``tab.py`` holds the network, its undo history and the presets, and lays the tab out; ``palette.py`` is the layer
kinds to add, ``layer_list.py`` the layers in order (drag reordering and its buttons), ``properties.py`` the
selected layer's options, initialisation and activation plot, ``summary.py`` the summary table, the problems and
the PyTorch code, ``undo.py`` the undo step, ``files.py`` the architecture files (dialogs and drops) and
``buttons.py`` the push buttons and their arrow icons.
"""

from fashion_desktop.gui.builder.tab import BuilderTab

__all__ = ["BuilderTab"]
