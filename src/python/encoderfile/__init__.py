"""Encoderfile: encoder transformer models shipped as single-file executables."""

__version__ = "0.1.0"
