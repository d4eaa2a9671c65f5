"""v1 rows made without the renderer, for fast training and evaluation tests: labels from the real
open hand (MANO parameters → joints, vertices, projections, box), noise pictures, a flat depth wall
behind the hand. The slow tests use SAPIEN-rendered rows instead."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import torch

from anyhand_hf.crop import mirror_axis_angle, mirror_points_3d
from anyhand_hf.data.schema import encode_row
from anyhand_hf.hand import HandModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from experiment_rgbd import write_dataset  # noqa: E402


@functools.cache
def open_hand() -> HandModel:
    return HandModel.open()


def synthetic_row(seed: int, size: int = 64) -> dict:
    """A right hand 0.6 m in front of a pinhole camera (principal point at the image centre)."""
    rng = np.random.default_rng(seed)
    go, pose, betas = rng.normal(0, 0.6, 3), rng.normal(0, 0.2, 45), rng.normal(0, 0.5, 10)
    with torch.no_grad():
        out = open_hand()(global_orient=torch.tensor(go[None], dtype=torch.float32),
                          hand_pose=torch.tensor(pose[None], dtype=torch.float32),
                          betas=torch.tensor(betas[None], dtype=torch.float32))
    kp, verts = out.keypoints[0].double().numpy(), out.vertices[0].double().numpy()
    transl = np.array([0.0, 0.0, 0.6]) - verts.mean(0)
    kp, verts = kp + transl, verts + transl
    f, c = 1.4 * size, (size - 1) / 2.0
    K = np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])
    project = lambda x: (x @ K.T)[:, :2] / x[:, 2:]  # noqa: E731
    uv = project(verts)
    depth = np.full((size, size), 0.9, np.float32)
    return {"image": rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "depth": depth, "K": K,
            "bbox": np.concatenate([uv.min(0), uv.max(0)]), "global_orient": go, "hand_pose": pose, "betas": betas,
            "hand_transl": transl, "joints_3d": kp, "joints_2d": project(kp), "vertices_3d": verts, "is_right": True,
            "scene_id": f"synthetic-{seed:04d}", "view_id": 0}


def mirrored(row: dict) -> dict:
    """The same scene seen in a mirror about the principal point's column: a left hand."""
    out = dict(row)
    width, cx = row["image"].shape[1], row["K"][0, 2]
    assert cx == (width - 1) / 2.0, "the mirror keeps the image only for a centred principal point"
    out["image"], out["depth"] = row["image"][:, ::-1].copy(), row["depth"][:, ::-1].copy()
    for key in ("joints_3d", "vertices_3d", "hand_transl"):
        out[key] = mirror_points_3d(row[key])
    out["global_orient"], out["hand_pose"] = mirror_axis_angle(row["global_orient"]), mirror_axis_angle(row["hand_pose"])
    out["joints_2d"] = row["joints_2d"] * [-1.0, 1.0] + [2 * cx, 0.0]
    x0, y0, x1, y1 = row["bbox"]
    out["bbox"] = np.array([2 * cx - x1, y0, 2 * cx - x0, y1])
    out["is_right"] = False
    return out


def write_synthetic_dataset(out: Path, train_rows: int = 8, test_rows: int = 4, size: int = 64,
                            config: str = "single_indoor", shards: int = 2) -> Path:
    rows = {"train": [encode_row(synthetic_row(i, size)) for i in range(train_rows)],
            "test": [encode_row(synthetic_row(1000 + i, size)) for i in range(test_rows)]}
    return write_dataset(out, {config: rows}, shards)
