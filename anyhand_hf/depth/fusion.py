"""Fuse rendered foreground depth with estimated background depth, in camera space."""

from __future__ import annotations

import numpy as np


def fuse_depth(foreground: np.ndarray, labels: np.ndarray, background: np.ndarray,
               margin: float = 0.05) -> np.ndarray:
    """(H,W) metres: rendered depth where `labels` > 0 (exact), background elsewhere.

    The background is pushed back, as a whole, until its nearest valid pixel lies `margin`
    metres behind the farthest rendered pixel, so it is never in front of the hand, forearm
    or object (a photo's own scale says nothing about where the hand stands). Pixels the
    estimator left unknown (0) stay 0. Which pixels are exact is the label mask itself.
    """
    if foreground.shape != labels.shape or background.shape != labels.shape:
        raise ValueError(f"depth shapes differ: foreground {foreground.shape}, labels {labels.shape}, "
                         f"background {background.shape}")
    rendered = labels > 0
    valid_bg = (background > 0) & np.isfinite(background)
    fused = np.where(valid_bg, background, 0.0)
    if rendered.any() and valid_bg.any():
        shift = foreground[rendered].max() + margin - background[valid_bg].min()
        fused = np.where(valid_bg, background + max(shift, 0.0), 0.0)
    return np.where(rendered, foreground, fused).astype(np.float32)
