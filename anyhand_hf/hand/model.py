"""`HandModel`: a batched, differentiable MANO-layout hand (torch), equal to `smplx.MANO`."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .io import load_hand_arrays, mirror_hand_arrays
from .lbs import axis_angle_to_matrix, rigid_transforms, skin, tree_levels
from .open_hand import boundary_loops
from .skeleton import MANO_TIP_VERTEX_IDS, OPENPOSE_FROM_MANO

OPEN_HAND_ASSET = "open_hand_right.npz"
CHUNK = 64


@dataclass
class HandOutput:
    vertices: Tensor  # (B,V,3)
    joints: Tensor  # (B,16,3) MANO order
    keypoints: Tensor  # (B,21,3) OpenPose/FreiHAND order
    rotations: Tensor  # (B,16,3,3) local joint rotations used


class HandModel(nn.Module):
    """A MANO-layout hand: shape and pose blend shapes, joint regression, linear blend skinning.

    Parameters follow DESIGN.md: `global_orient` (B,3) and `hand_pose` (B,45) axis-angle, or
    rotation matrices (B,1,3,3) / (B,15,3,3); with `flat_hand_mean=True` zero pose is the flat
    hand; `use_pca=True` takes `hand_pose` as (B,num_pca_comps) PCA coefficients. Buffers are
    not persistent: a checkpoint that holds this module never stores the (licensed) MANO arrays.
    """

    def __init__(self, arrays: dict[str, np.ndarray], *, is_right: bool = True, num_betas: int = 10,
                 flat_hand_mean: bool = True, use_pca: bool = False, num_pca_comps: int = 45,
                 tip_vertex_ids: tuple[int, ...] | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        v_template = arrays["v_template"]
        n_verts = v_template.shape[0]
        self.is_right = is_right
        self.num_betas = min(num_betas, arrays["shapedirs"].shape[-1])
        self.parents = [-1] + [int(p) for p in arrays["kintree_table"][0][1:]]
        self._levels = tree_levels(self.parents)
        if tip_vertex_ids is None:
            if "tip_vertex_ids" in arrays:
                tip_vertex_ids = tuple(int(i) for i in arrays["tip_vertex_ids"])
            elif n_verts == 778:
                tip_vertex_ids = MANO_TIP_VERTEX_IDS
            else:
                raise ValueError(f"hand model has {n_verts} vertices and no 'tip_vertex_ids': "
                                 "pass tip_vertex_ids=(thumb, index, middle, ring, pinky)")
        if len(tip_vertex_ids) != 5 or not all(0 <= i < n_verts for i in tip_vertex_ids):
            raise ValueError(f"tip_vertex_ids must be 5 vertex ids in [0, {n_verts}), got {tip_vertex_ids}")

        def buffer(name: str, value) -> None:
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=dtype), persistent=False)

        shapedirs = arrays["shapedirs"][:, :, : self.num_betas]
        j_regressor = arrays["J_regressor"].astype(np.float64)
        # One matrix for both blend shapes: [betas, pose feature] @ blend -> vertex offsets.
        blend = np.concatenate([shapedirs.reshape(n_verts * 3, -1).T,
                                arrays["posedirs"].reshape(n_verts * 3, -1).T], axis=0)
        buffer("v_template", v_template)
        buffer("blend_dirs", blend)
        # The regressor is linear, so joints = J v_template + (J shapedirs) betas, precomputed.
        buffer("joint_template", j_regressor @ v_template)
        buffer("joint_shapedirs", np.einsum("jv,vcs->jcs", j_regressor, shapedirs))
        buffer("lbs_weights", arrays["weights"])
        self.register_buffer("faces", torch.as_tensor(arrays["f"].astype(np.int64)), persistent=False)
        self.register_buffer("tip_vertex_ids", torch.as_tensor(tip_vertex_ids), persistent=False)
        self.register_buffer("openpose_index", torch.as_tensor(OPENPOSE_FROM_MANO), persistent=False)
        n_pose = 3 * (len(self.parents) - 1)
        hands_mean = arrays.get("hands_mean", np.zeros(n_pose))
        buffer("hand_mean", np.zeros(n_pose) if flat_hand_mean else hands_mean)
        self.use_pca = use_pca and num_pca_comps < n_pose
        if self.use_pca:
            if "hands_components" not in arrays:
                raise ValueError("use_pca=True needs 'hands_components' in the hand model file")
            buffer("hand_components", arrays["hands_components"][:num_pca_comps])
        self.uv = {k: arrays[k] for k in ("vt", "ft") if k in arrays}
        # The open boundary where a forearm attaches: stored in the open hand, found otherwise.
        self.wrist_ring = (np.asarray(arrays["wrist_ring"], dtype=np.int64) if "wrist_ring" in arrays
                           else max(boundary_loops(arrays["f"].astype(np.int64)), key=len, default=None))

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> "HandModel":
        """Any MANO-layout `.pkl` (the official one included, no chumpy needed) or `.npz`."""
        path = Path(path)
        kwargs.setdefault("is_right", "LEFT" not in path.name.upper())
        return cls(load_hand_arrays(path), **kwargs)

    @classmethod
    def open(cls, side: str = "right", **kwargs) -> "HandModel":
        """The open, procedurally generated hand shipped with the package; left by mirroring."""
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        arrays = load_hand_arrays(open_hand_path())
        if side == "left":
            arrays = mirror_hand_arrays(arrays)
        return cls(arrays, is_right=side == "right", **kwargs)

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def rest_joints(self) -> Tensor:
        """(16,3) joints of the mean shape at rest."""
        return self.joint_template

    # -- forward --------------------------------------------------------------------------------
    def forward(self, global_orient: Tensor | None = None, hand_pose: Tensor | None = None,
                betas: Tensor | None = None, transl: Tensor | None = None) -> HandOutput:
        batch = self._batch_size(global_orient=global_orient, hand_pose=hand_pose, betas=betas, transl=transl)
        root = self._rotations(global_orient, batch, 1, "global_orient")
        rot_mats = torch.cat([root, self._hand_rotations(hand_pose, batch)], dim=1)
        if betas is None:
            betas = self.v_template.new_zeros(batch, self.num_betas)
        self._check(betas, (batch, self.num_betas), "betas")
        eye = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
        feature = torch.cat([betas, (rot_mats[:, 1:] - eye).flatten(1)], dim=1)
        joints_rest = self.joint_template + torch.einsum("jcs,bs->bjc", self.joint_shapedirs, betas)
        _, joints, transforms = rigid_transforms(rot_mats, joints_rest, self.parents, self._levels)
        # Blend shapes and skinning are memory-bound: large batches run them in cache-sized
        # chunks (~64 x V x 12 floats stay in cache); at batch 1024 this halves their time.
        vertices = torch.cat([
            skin(self.v_template + (feature[i:i + CHUNK] @ self.blend_dirs).view(-1, self.num_vertices, 3),
                 self.lbs_weights, transforms[i:i + CHUNK])
            for i in range(0, batch, CHUNK)])
        if transl is not None:
            self._check(transl, (batch, 3), "transl")
            vertices, joints = vertices + transl[:, None], joints + transl[:, None]
        tips = vertices[:, self.tip_vertex_ids]
        keypoints = torch.cat([joints, tips], dim=1)[:, self.openpose_index]
        return HandOutput(vertices=vertices, joints=joints, keypoints=keypoints, rotations=rot_mats)

    def _hand_rotations(self, hand_pose: Tensor | None, batch: int) -> Tensor:
        n = self.num_joints - 1
        if hand_pose is not None and hand_pose.dim() >= 3:
            # Rotation matrices are the full pose: the hand mean is not added to them.
            return self._rotations(hand_pose, batch, n, "hand_pose")
        if hand_pose is None:
            axis_angle = self.hand_mean.expand(batch, -1)
        elif self.use_pca:
            self._check(hand_pose, (batch, self.hand_components.shape[0]), "hand_pose (PCA coefficients)")
            axis_angle = hand_pose @ self.hand_components + self.hand_mean
        else:
            self._check(hand_pose, (batch, 3 * n), "hand_pose")
            axis_angle = hand_pose + self.hand_mean
        return axis_angle_to_matrix(axis_angle.reshape(batch, n, 3))

    def _rotations(self, value: Tensor | None, batch: int, n: int, name: str) -> Tensor:
        if value is None:
            eye = torch.eye(3, dtype=self.v_template.dtype, device=self.v_template.device)
            return eye.expand(batch, n, 3, 3)
        if value.dim() >= 3 and value.shape[-2:] == (3, 3):
            value = value.reshape(value.shape[0], -1, 3, 3)
            self._check(value, (batch, n, 3, 3), name)
            return value
        self._check(value, (batch, 3 * n), name)
        return axis_angle_to_matrix(value.reshape(batch, n, 3))

    @staticmethod
    def _batch_size(**inputs: Tensor | None) -> int:
        sizes = {k: v.shape[0] for k, v in inputs.items() if v is not None and v.dim() > 0}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"mismatched batch sizes: {sizes}")
        return next(iter(sizes.values()), 1)

    @staticmethod
    def _check(value: Tensor, shape: tuple[int, ...], name: str) -> None:
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} has shape {tuple(value.shape)}, expected {shape}")
        if not torch.isfinite(value).all():
            raise ValueError(f"{name} contains NaN or infinite values")


def open_hand_path() -> Path:
    """Path of the shipped open right hand (`anyhand_hf/hand/assets/open_hand_right.npz`)."""
    return Path(str(resources.files("anyhand_hf.hand") / "assets" / OPEN_HAND_ASSET))
