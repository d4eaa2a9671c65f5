"""Linear blend skinning for MANO-layout hands, batched and vectorised.

Mathematically the same as MANO/smplx's `lbs`, arranged for speed on the CPU:
shape and pose blend shapes are one matrix product, joints come from a regressor
pre-applied to the template and shape directions, the kinematic chain is walked
one tree level at a time, and skinning blends 3x4 transforms with one matmul.
"""

from __future__ import annotations

import torch
from torch import Tensor


def axis_angle_to_matrix(rot_vecs: Tensor) -> Tensor:
    """Rodrigues' formula: (..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    # The epsilon keeps the zero rotation differentiable; it matches smplx's.
    angle = torch.linalg.vector_norm(rot_vecs + 1e-8, dim=-1, keepdim=True)
    axis = rot_vecs / angle
    cos, sin = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(*axis.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rot_vecs.dtype, device=rot_vecs.device)
    return eye + sin * skew + (1 - cos) * (skew @ skew)


def tree_levels(parents: list[int]) -> list[list[int]]:
    """Group joints by depth in the kinematic tree (root alone at level 0)."""
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


def rigid_transforms(rot_mats: Tensor, joints: Tensor, parents: list[int],
                     levels: list[list[int]]) -> tuple[Tensor, Tensor, Tensor]:
    """Pose the skeleton.

    rot_mats (B,J,3,3) local rotations, joints (B,J,3) rest joints.
    Returns world rotations (B,J,3,3), posed joints (B,J,3), and each joint's skinning
    transform (B,J,12), the rows of [R_j | t_j] such that a rest point x moves to R_j x + t_j.
    """
    parent_idx = torch.as_tensor(parents[1:])
    offsets = torch.cat([joints[:, :1], joints[:, 1:] - joints[:, parent_idx]], dim=1)
    world_rot = [None] * len(parents)
    world_pos = [None] * len(parents)
    world_rot[0], world_pos[0] = rot_mats[:, 0], joints[:, 0]
    for level in levels[1:]:
        par = [parents[j] for j in level]
        r_par = torch.stack([world_rot[p] for p in par], dim=1)
        p_par = torch.stack([world_pos[p] for p in par], dim=1)
        r = r_par @ rot_mats[:, level]
        p = p_par + (r_par @ offsets[:, level, :, None])[..., 0]
        for k, j in enumerate(level):
            world_rot[j], world_pos[j] = r[:, k], p[:, k]
    rot = torch.stack(world_rot, dim=1)
    pos = torch.stack(world_pos, dim=1)
    skin_t = pos - (rot @ joints[..., None])[..., 0]
    return rot, pos, torch.cat([rot, skin_t[..., None]], dim=-1).flatten(2)


def skin(vertices: Tensor, weights: Tensor, transforms: Tensor) -> Tensor:
    """Blend per-joint 3x4 transforms (B,J,12) with skinning weights (V,J); apply to (B,V,3).

    The blend is one (B*12, J) x (J, V) product laid out vertex-last, so applying the 3x4
    transforms is a few long elementwise ops instead of B*V tiny matrix products.
    """
    b, j, n_verts = transforms.shape[0], transforms.shape[1], vertices.shape[1]
    blended = (transforms.transpose(1, 2).reshape(b * 12, j) @ weights.T).view(b, 3, 4, n_verts)
    coords = vertices.transpose(1, 2)  # (B,3,V)
    out = blended[:, :, 3] + blended[:, :, 0] * coords[:, None, 0]
    out = out + blended[:, :, 1] * coords[:, None, 1]
    return (out + blended[:, :, 2] * coords[:, None, 2]).transpose(1, 2)
