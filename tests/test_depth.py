"""Background depth estimators and depth fusion."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from anyhand_hf.depth import (
    DepthEstimatorUnavailable, MoGeDepthEstimator, PlaneDepthEstimator, default_depth_estimator, fuse_depth,
)

K = np.array([[300.0, 0, 63.5], [0, 300.0, 47.5], [0, 0, 1]])
IMAGE = np.zeros((96, 128, 3), np.uint8)


def test_plane_estimator_is_a_plane_in_range():
    depth = PlaneDepthEstimator(near=2.0, far=3.0).estimate(IMAGE, K, seed=4)
    assert depth.shape == (96, 128) and depth.dtype == np.float32 and (depth > 0).all()
    u, v = np.meshgrid(np.arange(128), np.arange(96))
    points = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T * depth[..., None]
    # All back-projected points lie on one plane: the smallest singular value vanishes.
    centred = points.reshape(-1, 3) - points.reshape(-1, 3).mean(0)
    assert np.linalg.svd(centred, compute_uv=False)[-1] < 1e-4 * np.linalg.svd(centred, compute_uv=False)[0]
    # The optical axis meets the plane at the drawn distance.
    at_axis = np.interp(63.5, np.arange(128), depth[47]) / 2 + np.interp(63.5, np.arange(128), depth[48]) / 2
    assert 2.0 <= at_axis <= 3.0


def test_plane_estimator_is_deterministic_per_seed():
    est = PlaneDepthEstimator()
    assert np.array_equal(est.estimate(IMAGE, K, 1), est.estimate(IMAGE, K, 1))
    assert not np.array_equal(est.estimate(IMAGE, K, 1), est.estimate(IMAGE, K, 2))


def test_fusion_keeps_rendered_depth_and_puts_background_behind():
    labels = np.zeros((4, 5), np.uint8)
    labels[1:3, 1:3] = 1
    labels[0, 0] = 2
    foreground = np.where(labels > 0, 0.8, 0.0).astype(np.float32)
    foreground[1, 1] = 1.1
    background = np.full((4, 5), 0.5, np.float32)
    background[3, 4] = 0.0  # unknown stays unknown
    fused = fuse_depth(foreground, labels, background, margin=0.05)
    assert np.array_equal(fused[labels > 0], foreground[labels > 0])
    bg = (labels == 0) & (background > 0)
    assert np.allclose(fused[bg], 1.15) and fused[3, 4] == 0.0
    # A background already far behind is left as it is.
    far = np.full((4, 5), 3.0, np.float32)
    assert np.array_equal(fuse_depth(foreground, labels, far)[labels == 0], far[labels == 0])


def test_fusion_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="depth shapes differ"):
        fuse_depth(np.zeros((4, 5)), np.zeros((4, 5)), np.zeros((5, 4)))


@pytest.mark.skipif(importlib.util.find_spec("moge") is not None, reason="MoGe is installed here")
def test_moge_unavailable_says_what_to_install_and_auto_falls_back(monkeypatch):
    monkeypatch.delenv("ANYHAND_MOGE_WEIGHTS", raising=False)
    with pytest.raises(DepthEstimatorUnavailable, match="pip install --no-deps dlr-moge"):
        MoGeDepthEstimator()
    with pytest.raises(DepthEstimatorUnavailable):
        default_depth_estimator("moge")
    assert isinstance(default_depth_estimator("auto"), PlaneDepthEstimator)
