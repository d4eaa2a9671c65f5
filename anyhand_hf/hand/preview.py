"""A picture of sampled hands: each sample's posed mesh seen from the palm and from the back."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..viz import image_grid, intrinsics_from_fov, look_at, render_mesh
from .model import HandModel
from .priors import AnatomicalPosePrior, BoundedNormalShapePrior, ShapePrior, palm_axes


def hand_views(vertices: np.ndarray, faces: np.ndarray, rest_keypoints: np.ndarray, is_right: bool,
               size: int = 256, distance: float = 0.36) -> list[np.ndarray]:
    """Render one hand mesh from the palm side and from the back (slightly oblique)."""
    distal, palmar, ulnar = palm_axes(rest_keypoints, is_right)
    centre = vertices.mean(0)
    K = intrinsics_from_fov(np.radians(35), (size, size))
    views = []
    for side in (palmar + 0.25 * ulnar, -palmar + 0.35 * ulnar):
        R, t = look_at(centre + distance * side / np.linalg.norm(side), centre, distal)
        views.append(render_mesh(vertices @ R.T + t, faces, K, (size, size), background=np.full((size, size, 3), 40, np.uint8)))
    return views


def preview_grid(hand: HandModel, num: int = 8, seed: int = 0, shape_prior: ShapePrior | None = None,
                 pose_prior: AnatomicalPosePrior | None = None, size: int = 256, cols: int = 4) -> Image.Image:
    """A grid of `num` sampled shapes and poses, two views each, labelled with the pose mode."""
    rng = np.random.default_rng(seed)
    betas = (shape_prior or BoundedNormalShapePrior(num_betas=hand.num_betas)).sample(rng, num)
    poses = (pose_prior or AnatomicalPosePrior(hand)).sample(rng, num, betas=betas)
    with torch.no_grad():
        rest_keypoints = hand().keypoints[0].double().numpy()
        out = hand(hand_pose=torch.as_tensor(poses.hand_pose, dtype=torch.float32),
                   betas=torch.as_tensor(betas, dtype=torch.float32))
    faces = hand.faces.numpy()
    tiles, labels = [], []
    for i in range(num):
        palm, back = hand_views(out.vertices[i].double().numpy(), faces, rest_keypoints, hand.is_right, size)
        tiles.append(np.concatenate([palm, back], axis=1))
        labels.append(f"#{i} {poses.modes[i]}  |beta|={np.linalg.norm(betas[i]):.1f}")
    return image_grid(tiles, cols=max(1, min(cols // 2, num)), labels=labels)
