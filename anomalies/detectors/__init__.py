"""Detectors by name: ``statistical_zscore``, ``isolation_forest`` and ``dbscan``."""

from . import dbscan, iforest, zscore  # noqa: F401  (registers the detectors)
from .base import (
    REGISTRY,
    SEVERITY_BANDS,
    Detector,
    DetectorError,
    get_detector_class,
    severity_for,
)

DETECTOR_NAMES = list(REGISTRY)

__all__ = [
    "DETECTOR_NAMES",
    "REGISTRY",
    "SEVERITY_BANDS",
    "Detector",
    "DetectorError",
    "get_detector_class",
    "severity_for",
]
