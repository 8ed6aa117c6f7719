"""Searched spiking stereo networks for event cameras: network, training, evaluation, inference."""

__version__ = "0.1.0"
