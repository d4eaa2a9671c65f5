"""Priors over hand shapes and poses.

Shapes: a bounded standard normal over `betas`, or an empirical bank (`.npy`, (N,10)).
Poses: `AnatomicalPosePrior` draws a grasp-like mode, then per-joint flexion, splay and twist
inside anatomical limits, couples each finger's DIP to its PIP, and rejects poses whose
fingers pass through each other or the palm (`CapsuleCollider`). Limits live in anatomical
frames derived from the model's rest joints (bone direction, palm normal), so the same prior
drives the open hand and the real MANO, right or left. A learned prior (e.g. DPoser-Hand) plugs
in by implementing `PosePrior.sample`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from .collision import CapsuleCollider
from .model import HandModel
from .skeleton import FINGER_JOINTS, FINGERS

# ---------------------------------------------------------------------------------------------
# Shapes


class ShapePrior(Protocol):
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, num_betas) float64 shape parameters."""


@dataclass(frozen=True)
class BoundedNormalShapePrior:
    """betas ~ N(0, sd² I), each redrawn until it lies within ±bound (a truncated normal)."""

    num_betas: int = 10
    sd: float = 1.0
    bound: float = 2.5

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        betas = rng.normal(0.0, self.sd, size=(n, self.num_betas))
        while (out := np.abs(betas) > self.bound).any():
            betas[out] = rng.normal(0.0, self.sd, size=int(out.sum()))
        return betas


@dataclass(frozen=True)
class EmpiricalShapePrior:
    """Uniform draws from a bank of measured shapes, e.g. betas fitted to real hand scans."""

    bank: np.ndarray

    @classmethod
    def from_npy(cls, path: str | Path) -> "EmpiricalShapePrior":
        bank = np.load(path, allow_pickle=False)
        if bank.ndim != 2 or len(bank) == 0 or not np.isfinite(bank).all():
            raise ValueError(f"{path}: a shape bank must be a finite (N, num_betas) array, got shape {bank.shape}")
        return cls(bank.astype(np.float64))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.bank[rng.integers(0, len(self.bank), size=n)].copy()


# ---------------------------------------------------------------------------------------------
# Poses


class PosePrior(Protocol):
    def sample(self, rng: np.random.Generator, n: int, betas: np.ndarray | None = None) -> "PoseSample":
        """n hand poses (axis-angle, MANO joint order, flat hand = zero)."""


@dataclass
class PoseSample:
    hand_pose: np.ndarray  # (n,45) axis-angle of MANO joints 1..15
    modes: list[str]  # the mode each pose was drawn from
    accepted: np.ndarray | None = None  # (n,) bool: passed the self-penetration test


@dataclass(frozen=True)
class JointLimits:
    """(low, high) in degrees of flexion (+ curls towards the palm), splay (+ towards the
    little finger) and twist (about the bone) for each joint kind."""

    finger_mcp: tuple[tuple[float, float], ...] = ((-25, 90), (-20, 20), (-10, 10))
    finger_pip: tuple[tuple[float, float], ...] = ((-5, 105), (-5, 5), (-5, 5))
    finger_dip: tuple[tuple[float, float], ...] = ((-5, 80), (-5, 5), (-5, 5))
    thumb_cmc: tuple[tuple[float, float], ...] = ((-20, 50), (-25, 45), (-20, 40))
    thumb_mcp: tuple[tuple[float, float], ...] = ((-10, 60), (-10, 10), (-10, 10))
    thumb_ip: tuple[tuple[float, float], ...] = ((-15, 80), (-5, 5), (-5, 5))

    def array(self) -> np.ndarray:
        """(15, 3, 2) limits in radians, MANO joint order 1..15."""
        out = np.zeros((15, 3, 2))
        for finger in FINGERS:
            kinds = ("cmc", "mcp", "ip") if finger == "thumb" else ("mcp", "pip", "dip")
            prefix = "thumb" if finger == "thumb" else "finger"
            for joint, kind in zip(FINGER_JOINTS[finger], kinds):
                out[joint - 1] = np.radians(getattr(self, f"{prefix}_{kind}"))
        return out


# A mode: mean and sd (degrees) of (flexion, splay, twist) per joint kind; fingers get
# `ulnar_curl` extra flexion per finger from index to pinky (the ulnar fingers curl more).
@dataclass(frozen=True)
class PoseMode:
    finger: tuple[tuple[float, float], ...]  # (mean, sd) flexion of MCP, PIP
    thumb: tuple[tuple[float, float], ...]  # (mean, sd) flexion of CMC, MCP, IP
    thumb_splay: tuple[float, float] = (10, 10)
    thumb_twist: tuple[float, float] = (10, 10)
    spread: tuple[float, float] = (5, 5)  # (mean, sd) degrees fingers fan apart, pinky most
    splay_sd: float = 2.0  # independent per-finger splay on top of the spread
    ulnar_curl: float = 0.0
    extended: tuple[str, ...] = ()  # fingers kept nearly straight (pointing)


POSE_MODES: dict[str, PoseMode] = {
    "flat": PoseMode(finger=((0, 8), (5, 6)), thumb=((0, 8), (5, 6), (5, 6)), spread=(6, 6)),
    "relaxed": PoseMode(finger=((25, 10), (25, 10)), thumb=((10, 8), (15, 8), (15, 10)), ulnar_curl=8),
    "grasp": PoseMode(finger=((50, 10), (50, 12)), thumb=((30, 8), (10, 8), (10, 8)),
                      thumb_splay=(-5, 8), thumb_twist=(15, 8), ulnar_curl=5),
    "pinch": PoseMode(finger=((40, 10), (45, 12)), thumb=((40, 8), (15, 8), (20, 8)),
                      thumb_splay=(-5, 8), thumb_twist=(20, 8), ulnar_curl=10),
    "point": PoseMode(finger=((70, 8), (85, 8)), thumb=((25, 8), (30, 8), (30, 10)), extended=("index",),
                      spread=(0, 2)),
    "fist": PoseMode(finger=((72, 6), (88, 6)), thumb=((25, 8), (35, 8), (35, 10)), spread=(0, 2)),
}
# How far each finger fans out per unit of spread: index towards the thumb, pinky away.
SPREAD_DIRECTION = {"index": -1.0, "middle": 0.0, "ring": 0.6, "pinky": 1.3}


class AnatomicalPosePrior:
    """Anatomically bounded poses of a given hand model, self-penetration rejected.

    Each joint's rotation is R = F · Rx(flex) Rz(splay) Ry(twist) · Fᵀ where the frame F has
    columns (flexion axis, bone direction, palmar normal) taken from the rest skeleton.
    """

    def __init__(self, hand: HandModel, limits: JointLimits = JointLimits(),
                 mode_weights: dict[str, float] | None = None, penetration_tolerance: float = 0.001,
                 max_rounds: int = 50):
        self.hand = hand
        self.limits = limits.array()
        weights = mode_weights or {"flat": 1, "relaxed": 2, "grasp": 2, "pinch": 1.5, "point": 1, "fist": 1,
                                   "random": 1.5}
        unknown = set(weights) - set(POSE_MODES) - {"random"}
        if unknown:
            raise ValueError(f"unknown pose modes {sorted(unknown)}; known: {sorted(POSE_MODES) + ['random']}")
        self.mode_names = list(weights)
        self.mode_probs = np.array([weights[m] for m in self.mode_names], dtype=float)
        self.mode_probs /= self.mode_probs.sum()
        self.tolerance = penetration_tolerance
        self.max_rounds = max_rounds
        with torch.no_grad():
            rest = hand()
        self.frames = anatomical_frames(rest.keypoints[0].double().numpy(), hand.is_right)
        self.collider = CapsuleCollider(hand)

    # -- angles <-> poses -----------------------------------------------------------------------
    def to_pose(self, angles: np.ndarray) -> np.ndarray:
        """(n,15,3) (flex, splay, twist) radians -> (n,45) axis-angle."""
        local = Rotation.from_euler("XZY", angles.reshape(-1, 3)).as_matrix().reshape(-1, 15, 3, 3)
        world = self.frames @ local @ np.swapaxes(self.frames, -1, -2)
        return Rotation.from_matrix(world.reshape(-1, 3, 3)).as_rotvec().reshape(-1, 45)

    def to_angles(self, hand_pose: np.ndarray) -> np.ndarray:
        """(n,45) axis-angle -> (n,15,3) (flex, splay, twist) radians in the anatomical frames."""
        world = Rotation.from_rotvec(hand_pose.reshape(-1, 3)).as_matrix().reshape(-1, 15, 3, 3)
        local = np.swapaxes(self.frames, -1, -2) @ world @ self.frames
        return Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("XZY").reshape(-1, 15, 3)

    # -- sampling -------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int, betas: np.ndarray | None = None) -> PoseSample:
        sample = self.sample_each([rng] * n, betas)
        if not sample.accepted.all():
            raise RuntimeError(f"{(~sample.accepted).sum()} of {n} poses still self-penetrating after "
                               f"{self.max_rounds} rounds; loosen penetration_tolerance or the mode settings")
        return sample

    def sample_each(self, rngs: list[np.random.Generator], betas: np.ndarray | None = None) -> PoseSample:
        """One pose per generator (a generator may repeat), the penetration test batched.

        Pose k uses only draws from `rngs[k]`, so a dataset sample with its own generator gets
        the same pose alone or in a batch. `accepted[k]` is False where `max_rounds` draws all
        self-penetrated (that pose is left at zero)."""
        n = len(rngs)
        poses, modes = np.zeros((n, 45)), [""] * n
        todo = np.arange(n)
        for _ in range(self.max_rounds):
            names = [self.mode_names[rngs[k].choice(len(self.mode_names), p=self.mode_probs)] for k in todo]
            candidate = self.to_pose(np.stack([self.draw_angles(rngs[k], m) for k, m in zip(todo, names)]))
            ok = self.penetration_depth(candidate, None if betas is None else betas[todo]) <= self.tolerance
            poses[todo[ok]] = candidate[ok]
            for k, m in zip(todo[ok], np.asarray(names)[ok]):
                modes[k] = str(m)
            todo = todo[~ok]
            if not len(todo):
                break
        accepted = np.ones(n, dtype=bool)
        accepted[todo] = False
        return PoseSample(hand_pose=poses, modes=modes, accepted=accepted)

    def penetration_depth(self, hand_pose: np.ndarray, betas: np.ndarray | None = None) -> np.ndarray:
        """(n,) capsule overlap depth in metres of posed hands (<= tolerance: accepted)."""
        with torch.no_grad():
            pose = torch.as_tensor(hand_pose, dtype=torch.float32)
            b = None if betas is None else torch.as_tensor(betas, dtype=torch.float32)
            keypoints = self.hand(hand_pose=pose, betas=b).keypoints
        return self.collider.depth(keypoints, b).numpy()

    def draw_angles(self, rng: np.random.Generator, mode_name: str) -> np.ndarray:
        """(15,3) (flex, splay, twist) radians of one pose of a mode, within limits, no collision test."""
        lo, hi = self.limits[..., 0], self.limits[..., 1]
        if mode_name == "random":
            angles = rng.uniform(lo, hi)
        else:
            mode = POSE_MODES[mode_name]
            angles = np.zeros((15, 3))
            spread = rng.normal(*mode.spread)
            for rank, finger in enumerate(FINGERS[1:]):
                joints = np.array(FINGER_JOINTS[finger]) - 1
                (m_mcp, s_mcp), (m_pip, s_pip) = ((2, 4), (3, 4)) if finger in mode.extended else mode.finger
                curl = rank * mode.ulnar_curl
                angles[joints[0], 0] = rng.normal(m_mcp + curl, s_mcp)
                angles[joints[1], 0] = rng.normal(m_pip + curl, s_pip)
                angles[joints[0], 1] = spread * SPREAD_DIRECTION[finger] + rng.normal(0, mode.splay_sd)
                angles[joints, 2] = rng.normal(0, 2, size=3)
            thumb = np.array(FINGER_JOINTS["thumb"]) - 1
            angles[thumb, 0] = [rng.normal(m, s) for m, s in mode.thumb]
            angles[thumb[0], 1] = rng.normal(*mode.thumb_splay)
            angles[thumb[0], 2] = rng.normal(*mode.thumb_twist)
            angles = np.radians(angles)
        # Coupling: a finger's DIP follows its PIP (about two thirds), as tendons make it.
        for finger in FINGERS[1:]:
            _, pip, dip = np.array(FINGER_JOINTS[finger]) - 1
            angles[dip, 0] = angles[pip, 0] * 2 / 3 + rng.normal(0, np.radians(5))
        return np.clip(angles, lo, hi)


def anatomical_frames(rest_keypoints: np.ndarray, is_right: bool) -> np.ndarray:
    """(15,3,3) frames (columns: flexion axis, bone direction, palmar normal) for MANO joints
    1..15 from rest keypoints (21,3, OpenPose order).

    The palmar normal is radial × distal for a right hand (the mirror image for a left one);
    flexing by a positive angle about the flexion axis turns the bone towards the palm. A left
    hand's frames are the mirror images of the right's (left-handed), so equal angles give
    mirror-image poses: + splay turns a finger towards the little finger on both hands.
    """
    side = 1.0 if is_right else -1.0
    _, palmar, ulnar = palm_axes(rest_keypoints, is_right)
    kp = rest_keypoints
    frames = np.zeros((15, 3, 3))
    for i, finger in enumerate(FINGERS):
        chain = [1 + 4 * i + k for k in range(4)]  # keypoints base..tip
        # The thumb curls across the palm, towards the little finger, not straight down.
        towards = palmar if finger != "thumb" else (palmar + ulnar) / np.sqrt(2)
        for k, joint in enumerate(FINGER_JOINTS[finger]):
            bone = kp[chain[k + 1]] - kp[chain[k]]
            bone /= np.linalg.norm(bone)
            normal = towards - (towards @ bone) * bone
            normal /= np.linalg.norm(normal)
            frames[joint - 1] = np.stack([side * np.cross(bone, normal), bone, normal], axis=1)
    return frames


def palm_axes(rest_keypoints: np.ndarray, is_right: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit (distal, palmar, ulnar) directions of a hand from its rest keypoints (21,3).

    distal: wrist to middle-finger base; ulnar: index base to little-finger base; palmar:
    out of the palm, radial × distal for a right hand and its mirror image for a left one.
    """
    radial = rest_keypoints[5] - rest_keypoints[17]
    distal = rest_keypoints[9] - rest_keypoints[0]
    palmar = np.cross(radial, distal) * (1.0 if is_right else -1.0)
    return tuple(v / np.linalg.norm(v) for v in (distal, palmar, -radial))
