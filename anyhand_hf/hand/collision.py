"""Self-penetration of a posed hand: a fast capsule test (used by the pose sampler) and an
exact mesh test (used to validate it).

Each finger bone is a capsule around its segment (joint to child joint, or to the fingertip);
the palm is four metacarpal capsules from the wrist to the finger bases. Every rest vertex
belongs to its nearest capsule axis, and a capsule's radius is the median distance of its
vertices, so the test works for any MANO-layout hand. Touching is allowed; overlapping deeper
than a tolerance is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .skeleton import FINGERS


@dataclass(frozen=True)
class Capsule:
    name: str
    start: int  # keypoint id, OpenPose order
    end: int
    group: str  # finger name, or "palm"
    order: int  # 0 palm, 1 proximal (thumb: metacarpal), 2 middle, 3 distal


def hand_capsules() -> list[Capsule]:
    base = {f: 1 + 4 * i for i, f in enumerate(FINGERS)}  # keypoint id of each finger's first joint
    caps = [Capsule(f"palm_{f}", 0, base[f], "palm", 0) for f in FINGERS[1:]]
    for finger in FINGERS:
        caps += [Capsule(f"{finger}{k}", base[finger] + k - 1, base[finger] + k, finger, k) for k in (1, 2, 3)]
    return caps


def capsule_pairs(caps: list[Capsule]) -> list[tuple[int, int]]:
    """Capsule pairs that must not overlap.

    Skipped: bones of one finger (they meet at joints); a proximal bone (or the thumb's
    metacarpal) against the palm it grows from; two non-thumb proximal bones (they meet in
    the web between fingers).
    """
    pairs = []
    for i, a in enumerate(caps):
        for j, b in enumerate(caps[i + 1:], start=i + 1):
            if a.group == b.group:
                continue
            if "palm" in (a.group, b.group):
                if max(a.order, b.order) >= 2:
                    pairs.append((i, j))
            elif not (a.order == 1 and b.order == 1 and "thumb" not in (a.group, b.group)):
                pairs.append((i, j))
    return pairs


def segment_distance(p0: Tensor, p1: Tensor, q0: Tensor, q1: Tensor) -> Tensor:
    """Closest distance between segments p0p1 and q0q1, batched over leading dims (..., 3)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e = (d1 * d1).sum(-1), (d2 * d2).sum(-1)
    b, c, f = (d1 * d2).sum(-1), (d1 * r).sum(-1), (d2 * r).sum(-1)
    s = ((b * f - c * e) / (a * e - b * b).clamp_min(1e-12)).clamp(0, 1)
    t = ((b * s + f) / e.clamp_min(1e-12)).clamp(0, 1)
    s = ((b * t - c) / a.clamp_min(1e-12)).clamp(0, 1)  # re-project after clamping t
    return torch.linalg.vector_norm(p0 + d1 * s[..., None] - q0 - d2 * t[..., None], dim=-1)


def point_segment_distance(points: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """(N,3) points to (K,3)-(K,3) segments -> (N,K) distances."""
    ab = b - a
    t = (((points[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0, 1)
    return torch.linalg.vector_norm(points[:, None] - (a + t[..., None] * ab), dim=-1)


class CapsuleCollider:
    """Capsule overlap depth of posed hands, computed from their 21 keypoints and shapes.

    Radii follow the shape: they are measured on the rest mesh of the mean shape and of each
    ±1 shape direction, and taken as linear in `betas`. The palm is a slab, not a tube: a
    finger curling onto it meets its face (half thickness), while the thumb swinging across
    meets its radial edge (tube radius).
    """

    def __init__(self, hand):
        self.capsules = hand_capsules()
        self.pairs = torch.as_tensor(capsule_pairs(self.capsules))
        self.starts = torch.tensor([c.start for c in self.capsules])
        self.ends = torch.tensor([c.end for c in self.capsules])
        n_betas = hand.num_betas
        betas = torch.cat([torch.zeros(1, n_betas), torch.eye(n_betas), -torch.eye(n_betas)])
        with torch.no_grad():
            rest = hand(betas=betas)
        verts, kps = rest.vertices.double(), rest.keypoints.double()
        dist = point_segment_distance(verts[0], kps[0, self.starts], kps[0, self.ends])
        self.vertex_capsule = dist.argmin(1)  # (V,) the capsule each vertex belongs to
        self.tube_radii = self._tube_radii(verts[0], kps[0])
        reach = torch.stack([self._pair_reach(v, k) for v, k in zip(verts, kps)])  # (1+2S, P)
        self.reach = reach[0].float()
        self.reach_per_beta = ((reach[1:1 + n_betas] - reach[1 + n_betas:]) / 2).float()  # (S, P)

    def _tube_radii(self, vertices: Tensor, keypoints: Tensor) -> Tensor:
        dist = point_segment_distance(vertices, keypoints[self.starts], keypoints[self.ends])
        return torch.stack([dist[self.vertex_capsule == k, k].median() for k in range(len(self.capsules))])

    def _pair_reach(self, vertices: Tensor, keypoints: Tensor) -> Tensor:
        """Sum of the two radii of every checked pair, for one rest mesh."""
        tube = self._tube_radii(vertices, keypoints)
        slab = tube.clone()
        for k, cap in enumerate(self.capsules):
            if cap.group == "palm":
                slab[k] = _half_thickness(vertices[self.vertex_capsule == k], keypoints[cap.start], keypoints[cap.end])
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        thumb_pair = torch.tensor([self.capsules[x].group == "thumb" or self.capsules[y].group == "thumb"
                                   for x, y in self.pairs.tolist()])
        return torch.where(thumb_pair, tube[i] + tube[j], slab[i] + slab[j])

    def depth(self, keypoints: Tensor, betas: Tensor | None = None) -> Tensor:
        """(B,21,3) posed keypoints [, (B,S) betas] -> (B,) deepest overlap of a checked pair,
        metres (<= 0: none)."""
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        gap = segment_distance(keypoints[:, self.starts[i]], keypoints[:, self.ends[i]],
                               keypoints[:, self.starts[j]], keypoints[:, self.ends[j]])
        reach = self.reach if betas is None else self.reach + betas.float() @ self.reach_per_beta
        return (reach - gap).max(dim=1).values


def _half_thickness(points: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Median distance of palm points from segment ab along the palm's thinnest axis."""
    thinnest = torch.linalg.svd(points - points.mean(0), full_matrices=False).Vh[-1]
    ab = b - a
    t = (((points - a) @ ab) / (ab @ ab)).clamp(0, 1)
    return ((points - (a + t[:, None] * ab)) @ thinnest).abs().median()


def mesh_penetration_depth(vertices: np.ndarray, faces: np.ndarray, keypoints: np.ndarray,
                           collider: CapsuleCollider) -> float:
    """Exact check of one posed mesh: the deepest vertex of one part inside another part.

    For each checked pair of parts whose triangles really intersect (python-fcl), the depth of
    a vertex of one part is its distance behind the other part's surface (closest point, signed
    by that triangle's outward normal), counting only vertices near the other part's bone axis
    (the open ends of a part's patch would give meaningless signs). 0.0 when nothing intersects.
    """
    import trimesh
    from trimesh.collision import CollisionManager

    part = collider.vertex_capsule.numpy()
    face_part = part[faces]
    parts = {}
    for k in range(len(collider.capsules)):
        own = faces[(face_part == k).all(1)]
        if len(own):
            parts[k] = trimesh.Trimesh(vertices, own, process=False)
    deepest = 0.0
    for i, j in collider.pairs.tolist():
        if i not in parts or j not in parts:
            continue
        manager = CollisionManager()
        manager.add_object("a", parts[i])
        if not manager.in_collision_single(parts[j]):
            continue
        for src, dst in ((i, j), (j, i)):
            points = vertices[part == src]
            axis = point_segment_distance(torch.as_tensor(points), torch.as_tensor(keypoints[[collider.starts[dst]]]),
                                          torch.as_tensor(keypoints[[collider.ends[dst]]]))[:, 0].numpy()
            points = points[axis < 1.5 * float(collider.tube_radii[dst])]
            if not len(points):
                continue
            closest, _, tri = trimesh.proximity.closest_point(parts[dst], points)
            behind = -np.einsum("nc,nc->n", points - closest, parts[dst].face_normals[tri])
            deepest = max(deepest, float(behind.max(initial=0.0)))
    return deepest
