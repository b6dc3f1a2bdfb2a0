"""specct: cross-corpus speech emotion recognition with spectrogram images and Compact Convolutional Transformers."""

__version__ = "0.1.0"
