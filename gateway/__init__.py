"""Hosted-inference gateway for ONNX computer-vision models."""

from __future__ import annotations

__version__ = "0.1.0"
