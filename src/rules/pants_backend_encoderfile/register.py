"""Registers the encoderfile backend with Pants: `backend_packages = ["pants_backend_encoderfile"]`."""

from __future__ import annotations


def rules():
    return []


def target_types():
    return []
