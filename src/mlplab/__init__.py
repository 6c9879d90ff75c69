"""mlplab: the multilayer-perceptron chapter of Dive into Deep Learning, on Lightning + Hydra."""

__version__ = "0.1.0"
