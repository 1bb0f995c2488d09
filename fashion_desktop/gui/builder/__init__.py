"""The Builder tab: stack layers into a network, see its shapes, parameter counts, problems and PyTorch code live."""

from fashion_desktop.gui.builder.tab import BuilderTab

__all__ = ["BuilderTab"]
