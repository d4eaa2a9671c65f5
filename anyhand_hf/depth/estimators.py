"""Background depth estimators: MoGe-2 when its package and weights are present, else a plane.

A rendered AnyHand image is a rendered foreground (exact metric depth) over a background that
has no depth of its own: a photo, a procedural image, or an environment map. Its depth comes
from a `DepthEstimator`:

- `MoGeDepthEstimator`: MoGe-2 (PyPI `dlr-moge`, weights from a local `model.pt`; the Hub is
  not needed). Metric depth of the background image as the camera sees it.
- `PlaneDepthEstimator`: the documented fallback. The background is a plane (a wall or a
  table top) behind the hand: its distance along the optical axis is drawn from
  [near, far] metres and its normal is tilted from the optical axis by up to `max_tilt_deg`,
  both from a seed, so neighbouring pixels keep a smooth, plausible geometry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

MOGE_WEIGHTS_ENV = "ANYHAND_MOGE_WEIGHTS"


class DepthEstimatorUnavailable(RuntimeError):
    """The requested estimator cannot run here; the message says what to install or set."""


class DepthEstimator(Protocol):
    def estimate(self, image: np.ndarray, K: np.ndarray, seed: int = 0) -> np.ndarray:
        """(H,W,3) uint8 RGB, (3,3) intrinsics -> (H,W) float32 metric depth, 0 where unknown."""


@dataclass(frozen=True)
class PlaneDepthEstimator:
    near: float = 1.5
    far: float = 4.0
    max_tilt_deg: float = 35.0

    def estimate(self, image: np.ndarray, K: np.ndarray, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        h, w = image.shape[:2]
        distance = rng.uniform(self.near, self.far)
        tilt = np.radians(rng.uniform(0, self.max_tilt_deg))
        azimuth = rng.uniform(0, 2 * np.pi)
        # Plane n·X = d with n pointing away from the camera (n_z > 0) through (0, 0, distance).
        normal = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)])
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(K).T  # z = 1 per ray
        return (normal[2] * distance / (rays @ normal)).astype(np.float32)


class MoGeDepthEstimator:
    """MoGe-2 through its PyPI package (`dlr-moge`), weights from a local checkpoint file."""

    def __init__(self, weights: str | Path | None = None, device: str = "cpu"):
        weights = weights or os.environ.get(MOGE_WEIGHTS_ENV)
        try:
            from moge.model.v2 import MoGeModel
        except ImportError as err:
            raise DepthEstimatorUnavailable(
                "MoGe-2 is not installed: pip install --no-deps dlr-moge==2.0.0 torchvision==0.28.0 "
                f"(plus its small deps), then point {MOGE_WEIGHTS_ENV} at MoGe-2's model.pt ({err})") from err
        if not weights or not Path(weights).is_file():
            raise DepthEstimatorUnavailable(
                f"MoGe-2 weights not found: set {MOGE_WEIGHTS_ENV} (or pass weights=) to a local MoGe-2 model.pt "
                f"(got {weights!r}); the Hub cannot be reached from here")
        import torch

        self._torch = torch
        self.model = MoGeModel.from_pretrained(str(weights)).to(device).eval()

    def estimate(self, image: np.ndarray, K: np.ndarray, seed: int = 0) -> np.ndarray:
        torch = self._torch
        h, w = image.shape[:2]
        fov_x = float(np.degrees(2 * np.arctan(w / (2 * K[0, 0]))))
        tensor = torch.as_tensor(image, dtype=torch.float32, device=self.model.device).permute(2, 0, 1) / 255
        with torch.inference_mode():
            depth = self.model.infer(tensor, fov_x=fov_x, use_fp16=False)["depth"].cpu().numpy()
        return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)


def default_depth_estimator(kind: str = "auto") -> DepthEstimator:
    """"moge", "plane", or "auto" (MoGe-2 when available, else the plane fallback)."""
    if kind == "plane":
        return PlaneDepthEstimator()
    try:
        return MoGeDepthEstimator()
    except DepthEstimatorUnavailable:
        if kind == "moge":
            raise
        return PlaneDepthEstimator()
