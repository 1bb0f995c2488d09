"""Fashion Desktop: build, train and try neural networks on Fashion-MNIST."""

__version__ = "0.1.0"
