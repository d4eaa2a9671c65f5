"""Dataset row → AnyHandNet-D inputs and labels: the one crop-and-label transform that training,
evaluation and the tests share (the predictor shares :func:`crop_inputs`).

A row is a decoded v1 row (:func:`anyhand_hf.data.schema.decode_row`): image uint8 (H, W, 3),
depth float32 metres or None, bbox xyxy, K, camera-frame joints_3d (metres), joints_2d (pixels),
MANO parameters (absent ones None). The crop is WiLoR's (:mod:`anyhand_hf.crop`: box ×2.0
expanded to 192:256, resampled to the model's ``image_size``); left hands are mirrored to right
hands. With an ``rng`` the crop is augmented as HaMeR does (:func:`anyhand_hf.crop.sample_augmentation`
plus a per-channel colour gain) and every label follows the geometry exactly: 2D keypoints through
the crop affine, 3D keypoints and the global orientation through the crop camera's rotation
about the optical axis (:func:`anyhand_hf.crop.crop_camera`), depth resampled by nearest neighbour
(a rotation about the optical axis keeps every point's z, so depth values stay valid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ..crop import (
    DEFAULT_RESCALE,
    Augmentation,
    CropParams,
    crop_camera,
    crop_params,
    mirror_axis_angle,
    mirror_points_3d,
    mirrored_box_and_intrinsics,
    sample_augmentation,
    to_model_crop_pixels,
    transform_points_2d,
    warp_depth,
    warp_image,
)

MANO_COLUMNS = ("global_orient", "hand_pose", "betas")


@dataclass(frozen=True)
class AugmentConfig:
    """HaMeR/WiLoR training augmentation (scale ±30 %, rotation ±60° with p 0.6, ±2 % shift,
    per-channel colour gain 0.8–1.2). ``rotation_deg`` is the normal's sd; it is clipped at 2 sd."""

    scale: float = 0.3
    rotation_deg: float = 30.0
    rotation_prob: float = 0.6
    shift: float = 0.02
    color_gain: tuple[float, float] = (0.8, 1.2)

    def __post_init__(self):
        if not 0 <= self.scale < 1:
            raise ValueError(f"augment scale must be in [0, 1), got {self.scale}")
        if not 0 <= self.rotation_prob <= 1:
            raise ValueError(f"augment rotation_prob must be in [0, 1], got {self.rotation_prob}")
        lo, hi = self.color_gain
        if not 0 < lo <= hi:
            raise ValueError(f"augment color_gain must be (lo, hi) with 0 < lo <= hi, got {self.color_gain}")

    def sample(self, rng: np.random.Generator) -> tuple[Augmentation, np.ndarray]:
        """A crop augmentation and a per-channel colour gain (3,)."""
        aug = sample_augmentation(rng, self.scale, self.rotation_deg, self.rotation_prob, self.shift)
        return aug, rng.uniform(*self.color_gain, size=3)


def crop_inputs(image: np.ndarray, depth: np.ndarray | None, params: CropParams, flip: bool,
                image_mean: Sequence[float], image_std: Sequence[float],
                color_gain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's inputs for one crop: ``pixel_values`` (3, H, W) float32, RGB scaled to 0–1
    (after an optional per-channel gain, clipped) and normalised with ``image_mean/std``; and
    ``depth_values`` (1, H, W) metres (0 = invalid), or None without depth."""
    crop = warp_image(image, params, flip=flip).astype(np.float32)
    if color_gain is not None:
        crop = np.clip(crop * np.asarray(color_gain, np.float32), 0.0, 255.0)
    pixels = (crop / 255.0 - np.asarray(image_mean, np.float32)) / np.asarray(image_std, np.float32)
    depth_crop = None if depth is None else warp_depth(depth, params, flip=flip)[None]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)), depth_crop


def _rotate_axis_angle(rotation: np.ndarray, axis_angle: np.ndarray) -> np.ndarray:
    return (Rotation.from_matrix(rotation) * Rotation.from_rotvec(axis_angle)).as_rotvec()


def hand_box(row: dict[str, Any], rescale: float = DEFAULT_RESCALE) -> np.ndarray:
    """The row's hand box; else the tight box of its 2D keypoints; else (hand-centred benchmark
    images such as FreiHAND's evaluation set) the box whose crop spans the whole image."""
    if row.get("bbox") is not None:
        return np.asarray(row["bbox"], np.float64)
    if row.get("joints_2d") is not None:
        kp = np.asarray(row["joints_2d"], np.float64)
        return np.concatenate([kp.min(0), kp.max(0)])
    h, w = np.asarray(row["image"]).shape[:2]
    centre, half = np.array([(w - 1) / 2.0, (h - 1) / 2.0]), np.array([w, h]) / (2.0 * rescale)
    return np.concatenate([centre - half, centre + half])


def row_to_example(row: dict[str, Any], image_size: Sequence[int], image_mean: Sequence[float],
                   image_std: Sequence[float], use_depth: bool, rng: np.random.Generator | None = None,
                   augment: AugmentConfig | None = None, rescale: float = DEFAULT_RESCALE,
                   require_labels: bool = True) -> dict[str, np.ndarray]:
    """One decoded row → model inputs and labels (numpy, float32, ready to stack).

    Keys: ``pixel_values`` (3, H, W); ``depth_values`` (1, H, W) when ``use_depth``;
    ``joints_3d`` (21, 3) metres in the crop camera's frame (the row's camera frame, mirrored
    for left hands and turned by the augmentation's rotation); ``joints_2d`` (21, 2) in the
    model's crop pixels (centres at ``j + 0.5``); ``global_orient`` (3), ``hand_pose`` (45),
    ``betas`` (10) with ``mano_mask`` 1, or zeros with ``mano_mask`` 0 when the row lacks them.
    Without augmentation also ``K`` (3, 3) and ``box`` (4,): the model's camera arguments, so its
    outputs are in the (mirrored, for left hands) camera frame of ``joints_3d``.

    Augmentation happens when both ``rng`` and ``augment`` are given. A row without ``joints_3d``
    (unlabelled benchmark images) gives inputs only, unless ``require_labels``.
    """
    needed = ("image", "K", "joints_3d") if require_labels else ("image", "K")
    missing = [k for k in needed if row.get(k) is None]
    if missing:
        raise ValueError(f"row {row.get('scene_id')!r} lacks {missing}: the model needs {list(needed)}")
    if use_depth and row.get("depth") is None:
        raise ValueError(f"row {row.get('scene_id')!r} has no depth but the model is RGB-D (use_depth=True)")
    flip = not bool(row.get("is_right", True))
    out_hw = (int(image_size[0]), int(image_size[1]))
    augmentation, gain = (augment.sample(rng) if rng is not None and augment is not None else (None, None))
    params = crop_params(hand_box(row, rescale), rescale, out_hw, augmentation)
    K = np.asarray(row["K"], np.float64)
    pixels, depth = crop_inputs(row["image"], row["depth"] if use_depth else None, params, flip, image_mean,
                                image_std, gain)

    example = {"pixel_values": pixels}
    if use_depth:
        example["depth_values"] = depth
    if augmentation is None:
        box, K = mirrored_box_and_intrinsics(params.box, K) if flip else (params.box, K)
        example["K"] = K.astype(np.float32)
        example["box"] = box.astype(np.float32)
    if row.get("joints_3d") is None:
        return example

    joints_3d = np.asarray(row["joints_3d"], np.float64)
    joints_3d = mirror_points_3d(joints_3d) if flip else joints_3d
    k_crop, turn = crop_camera(np.asarray(row["K"], np.float64), params, flip)
    if row.get("joints_2d") is not None:
        joints_2d = transform_points_2d(np.asarray(row["joints_2d"], np.float64), params, flip)
    else:  # project the camera-frame keypoints through the crop camera
        p = (k_crop @ turn @ joints_3d.T).T
        joints_2d = p[:, :2] / p[:, 2:]
    example["joints_3d"] = (joints_3d @ turn.T).astype(np.float32)
    example["joints_2d"] = to_model_crop_pixels(joints_2d).astype(np.float32)
    has_mano = all(row.get(k) is not None for k in MANO_COLUMNS)
    if has_mano:
        orient = np.asarray(row["global_orient"], np.float64)
        pose = np.asarray(row["hand_pose"], np.float64)
        orient, pose = (mirror_axis_angle(orient), mirror_axis_angle(pose)) if flip else (orient, pose)
        example["global_orient"] = _rotate_axis_angle(turn, orient).astype(np.float32)
        example["hand_pose"] = pose.astype(np.float32)
        example["betas"] = np.asarray(row["betas"], np.float32)
    else:
        example.update(global_orient=np.zeros(3, np.float32), hand_pose=np.zeros(45, np.float32),
                       betas=np.zeros(10, np.float32))
    example["mano_mask"] = np.float32(has_mano)
    return example


LABEL_NAMES = ("joints_3d", "joints_2d", "global_orient", "hand_pose", "betas", "mano_mask")


def collate(examples: Sequence[dict[str, np.ndarray]]):
    """Stack examples into tensors: model keyword arguments plus ``labels`` (a dict)."""
    import torch

    batch = {k: torch.from_numpy(np.stack([np.asarray(e[k]) for e in examples])) for k in examples[0]}
    labels = {k: batch.pop(k) for k in LABEL_NAMES if k in batch}
    return {**batch, "labels": labels}
