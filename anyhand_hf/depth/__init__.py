"""Depth: background depth estimators and fusion with rendered foreground depth."""

from .estimators import (
    MOGE_WEIGHTS_ENV, DepthEstimator, DepthEstimatorUnavailable, MoGeDepthEstimator, PlaneDepthEstimator,
    default_depth_estimator,
)
from .fusion import fuse_depth

__all__ = ["MOGE_WEIGHTS_ENV", "DepthEstimator", "DepthEstimatorUnavailable", "MoGeDepthEstimator",
           "PlaneDepthEstimator", "default_depth_estimator", "fuse_depth"]
