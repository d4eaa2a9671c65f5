"""Grasp synthesis: a hand shape and an object in, a contact-consistent, penetration-free,
physically stable grasp out (or None: rejected).

The hand is posed in its canonical frame (MANO with `global_orient` = 0, `transl` = 0) and the
object is placed around it by a rigid pose `object_pose` (4×4, object frame → hand frame).
Steps, for a grasp type (power, precision, tripod, lateral):
1. Pre-shape: the type's open finger angles (anatomical frames of `AnatomicalPosePrior`).
2. Approach: a point on the object's surface, its outward normal turned against the type's
   approach direction (out of the palm, or out of the index's radial side for lateral), the
   object rolled about it so that its narrowest width lies across the squeeze direction.
3. Palm placement: the object is pushed out of the pre-shaped hand, then (power) slid onto the
   palm until contact, by sphere tracing on the object's signed distance.
4. Closing: each finger closes from its open to its closed angles along one curl parameter,
   independently, until first contact (a sweep then bisection on the signed distance).
5. Refinement: penetration left (e.g. by the palm) backs the object off and closes again.
6. Checks: hand-vertex penetration ≤ `max_penetration_m`, thumb and another finger within
   `contact_m` of the surface, no self-penetration (`CapsuleCollider`), and a PhysX simulation
   in which the fixed hand (a static triangle mesh) supports the free object (its convex
   pieces) for `sim_seconds` under gravity along the approach, i.e. pressing the object into
   the hand (palm up for power grasps, fingertips up for pinches): the object must neither
   roll off nor slide out, displacement < `max_slip_m`. A static hand exerts no grip force, so
   a pull away from the palm cannot be resisted by friction and is not what is tested.
Everything draws from the generator it is given, so a grasp is a pure function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..assets.objects import GraspObject
from ..hand import HandModel
from ..hand.priors import SPREAD_DIRECTION, AnatomicalPosePrior, palm_axes
from ..hand.skeleton import FINGER_JOINTS, FINGERS

GRASP_TYPES: tuple[str, ...] = ("power", "precision", "tripod", "lateral")
CLOSE_LEVELS = 17  # curl levels swept before bisection
BISECTIONS = 7


def _finger_angles(flex: dict[str, tuple[float, float, float]], thumb_splay: float = 0.0,
                   thumb_twist: float = 0.0, spread: float = 6.0) -> np.ndarray:
    """(15,3) anatomical angles in degrees from per-finger flexions (base to tip); the fingers
    fan out by `spread` degrees (as the pose prior's modes do) so curled tips stay apart."""
    angles = np.zeros((15, 3))
    for finger, values in flex.items():
        angles[np.array(FINGER_JOINTS[finger]) - 1, 0] = values
        if finger != "thumb":
            angles[FINGER_JOINTS[finger][0] - 1, 1] = spread * SPREAD_DIRECTION[finger]
    thumb_base = FINGER_JOINTS["thumb"][0] - 1
    angles[thumb_base, 1:] = thumb_splay, thumb_twist
    return angles


@dataclass(frozen=True)
class GraspTemplate:
    """Open and closed finger angles (degrees) of a grasp type; which hand part the object is
    offered to (`anchor`: palm, pinch = thumb and index tips, tripod = thumb, index and middle
    tips, lateral = the index's middle bone); and the squeeze direction across which the object's
    narrowest width is turned ("distal" or the thumb-to-index tip line)."""

    open: np.ndarray
    closed: np.ndarray
    anchor: str
    squeeze: str
    depth_m: tuple[float, float] = (0.0, 0.0)  # how far past the anchor, towards the palm, the object reaches
    prefer: str = "any"  # approach points: "side"/"edge" (normal across the longest/thinnest axis), "flat"


_OPEN = (10, 10, 5)
_CURLED = (65, 80, 55)
_TUCKED_OPEN = (35, 50, 33)
_ULNAR_CURLED = {"middle": _CURLED, "ring": _CURLED, "pinky": _CURLED}
_FINGERS_CURLED = {"index": _CURLED, **_ULNAR_CURLED}
# Thumb angles are (CMC, MCP, IP) flexion; CMC flexion swings it out of the palm (opposition),
# negative CMC splay abducts it radially, positive adducts it towards the index.
TEMPLATES: dict[str, GraspTemplate] = {
    "power": GraspTemplate(
        open=_finger_angles({"index": _OPEN, "middle": _OPEN, "ring": _OPEN, "pinky": _OPEN,
                             "thumb": (0, 0, 0)}, thumb_splay=-40, thumb_twist=10),
        closed=_finger_angles({**_FINGERS_CURLED, "thumb": (50, 50, 60)}, thumb_splay=10, thumb_twist=20),
        anchor="palm", squeeze="distal", prefer="side"),
    "precision": GraspTemplate(
        open=_finger_angles({"index": (20, 20, 10), "middle": _TUCKED_OPEN, "ring": _TUCKED_OPEN,
                             "pinky": _TUCKED_OPEN, "thumb": (20, 0, 0)}, thumb_splay=-25, thumb_twist=20),
        closed=_finger_angles({"index": (50, 60, 40), **_ULNAR_CURLED, "thumb": (45, 10, 40)},
                              thumb_splay=20, thumb_twist=40),
        anchor="pinch", squeeze="tips", depth_m=(0.005, 0.02), prefer="edge"),
    "tripod": GraspTemplate(
        open=_finger_angles({"index": (20, 20, 10), "middle": (20, 20, 10), "ring": _TUCKED_OPEN,
                             "pinky": _TUCKED_OPEN, "thumb": (20, 0, 0)}, thumb_splay=-25, thumb_twist=0),
        closed=_finger_angles({"index": (70, 80, 55), "middle": (70, 80, 55), "ring": _CURLED, "pinky": _CURLED,
                               "thumb": (45, 30, 70)}, thumb_splay=5, thumb_twist=-20),
        anchor="tripod", squeeze="tips", depth_m=(0.005, 0.02), prefer="edge"),
    "lateral": GraspTemplate(
        open=_finger_angles({"index": (50, 70, 45), "middle": (60, 85, 55), "ring": (65, 90, 60),
                             "pinky": (70, 90, 60), "thumb": (0, 0, 0)}, thumb_splay=-35, thumb_twist=0),
        closed=_finger_angles({"index": (50, 70, 45), **_ULNAR_CURLED, "thumb": (10, 25, 25)},
                              thumb_splay=25, thumb_twist=-20),
        anchor="lateral", squeeze="distal", prefer="flat"),
}


# The thickest an object's thinnest side may be for each grasp type (metres).
MAX_THICKNESS_M: dict[str, float] = {"power": 0.09, "precision": 0.06, "tripod": 0.07, "lateral": 0.03}


def suitable_grasps(obj: GraspObject) -> tuple[str, ...]:
    """The grasp types a hand can apply to `obj`, judged by its thinnest side."""
    return tuple(g for g in GRASP_TYPES if obj.extents.min() <= MAX_THICKNESS_M[g])


@dataclass(frozen=True)
class GraspSettings:
    """Acceptance thresholds and the physics check (metres, seconds, SI units)."""

    max_penetration_m: float = 0.002
    contact_m: float = 0.003
    self_penetration_m: float = 0.001
    refine_rounds: int = 3
    sim_seconds: float = 1.0
    sim_dt: float = 1.0 / 240.0
    max_slip_m: float = 0.005  # half the 1 cm tolerance: a re-simulation of a held grasp varies by mm
    skin_m: float = 0.0015  # PhysX rest offset of the hand (a thin soft skin)
    friction: float = 1.0
    density: float = 400.0  # kg/m³: everyday objects are often hollow


@dataclass
class Grasp:
    """An accepted grasp: MANO `hand_pose` (45), the object's pose in the canonical hand frame,
    and the measurements it passed."""

    grasp_type: str
    hand_pose: np.ndarray
    object_pose: np.ndarray  # (4,4) object frame -> canonical hand frame
    penetration_m: float
    contacts_m: dict[str, float]  # per finger: distance of its closest vertex to the surface
    slip_m: float
    gravity: np.ndarray  # the direction (canonical hand frame) gravity pulled in the physics check
    measurements: dict[str, float] = field(default_factory=dict)


@dataclass
class GraspAttempt:
    """What one attempt produced, accepted or not (for rejection statistics)."""

    grasp: Grasp | None
    reason: str  # "accepted" or why it was rejected


class GraspSynthesizer:
    """Synthesises grasps for one hand model (float64, canonical frame)."""

    def __init__(self, hand: HandModel, prior: AnatomicalPosePrior, settings: GraspSettings = GraspSettings()):
        self.hand, self.prior, self.settings = hand, prior, settings
        self.faces = hand.faces.numpy()
        groups = np.array([c.group for c in prior.collider.capsules])[prior.collider.vertex_capsule.numpy()]
        self.finger_vertices = {f: np.nonzero(groups == f)[0] for f in FINGERS}
        self.palm_vertices = np.nonzero(groups == "palm")[0]
        self.finger_joints = {f: np.array(FINGER_JOINTS[f]) - 1 for f in FINGERS}
        lo, hi = prior.limits[..., 0], prior.limits[..., 1]
        self.templates = {name: (np.clip(np.radians(t.open), lo, hi), np.clip(np.radians(t.closed), lo, hi))
                          for name, t in TEMPLATES.items()}

    # -- hand ---------------------------------------------------------------------------------
    def pose_angles(self, grasp_type: str, curl: np.ndarray) -> np.ndarray:
        """(n,15,3) angles for (n,5) per-finger curls in [0, 1] (FINGERS order)."""
        open_, closed = self.templates[grasp_type]
        angles = np.repeat(open_[None], len(curl), 0)
        for k, finger in enumerate(FINGERS):
            j = self.finger_joints[finger]
            angles[:, j] = open_[j] + curl[:, k, None, None] * (closed[j] - open_[j])
        return angles

    def posed(self, angles: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n,V,3) vertices, (n,21,3) keypoints in the canonical frame, and (n,45) poses."""
        pose = self.prior.to_pose(angles)
        with torch.no_grad():
            out = self.hand(hand_pose=torch.as_tensor(pose, dtype=torch.float64),
                            betas=torch.as_tensor(np.repeat(betas[None], len(pose), 0), dtype=torch.float64))
        return out.vertices.numpy(), out.keypoints.numpy(), pose

    # -- synthesis ----------------------------------------------------------------------------
    def synthesize(self, obj: GraspObject, betas: np.ndarray, grasp_type: str,
                   rng: np.random.Generator, check_physics: bool = True) -> GraspAttempt:
        s = self.settings
        template = TEMPLATES[grasp_type]
        open_verts, open_kps, _ = self.posed(self.pose_angles(grasp_type, np.zeros((1, 5))), betas)
        _, closed_kps, _ = self.posed(self.pose_angles(grasp_type, np.ones((1, 5))), betas)
        open_verts, open_kps = open_verts[0], open_kps[0]
        distal, palmar, ulnar = palm_axes(open_kps, is_right=True)
        approach, anchor = self.anchor(template.anchor, open_verts, open_kps, closed_kps[0], palmar, ulnar)
        squeeze = distal if template.squeeze == "distal" else _unit(open_kps[8] - open_kps[4])
        pose = self.place_object(obj, rng, approach, anchor - approach * rng.uniform(*template.depth_m), squeeze,
                                 template.prefer)
        if pose is None:
            return GraspAttempt(None, "approach")
        pose = self.clear(obj, pose, open_verts, approach)
        if template.anchor == "palm":
            pose = self.slide_to_contact(obj, pose, open_verts, approach)
        elif template.anchor == "lateral":  # onto the side of the index
            pose = self.slide_to_contact(obj, pose, open_verts[self.finger_vertices["index"]], approach)
        for _ in range(s.refine_rounds):
            curl = self.close_fingers(obj, pose, grasp_type, betas)
            verts, kps, hand_pose = self.posed(self.pose_angles(grasp_type, curl[None]), betas)
            sdf = obj.sdf(to_object(verts[0], pose))
            penetration = max(0.0, -float(sdf.min()))
            if penetration <= s.max_penetration_m:
                break
            pose = translated(pose, approach * (penetration + 0.0005))  # back off, then close again
        else:
            return GraspAttempt(None, "penetration")
        contacts = {f: float(sdf[v].min()) for f, v in self.finger_vertices.items()}
        touching = [f for f, d in contacts.items() if d <= s.contact_m]
        if "thumb" not in touching or len(touching) < 2:
            return GraspAttempt(None, "contacts")
        self_depth = float(self.prior.collider.depth(torch.as_tensor(kps, dtype=torch.float32),
                                                     torch.as_tensor(betas[None], dtype=torch.float32))[0])
        if self_depth > s.self_penetration_m:
            return GraspAttempt(None, "self_penetration")
        slip = physics_slip(verts[0], self.faces, obj, pose, gravity=-approach, settings=s) if check_physics else 0.0
        if not slip < s.max_slip_m:
            return GraspAttempt(None, "physics")
        return GraspAttempt(Grasp(grasp_type, hand_pose[0], pose, penetration, contacts, slip, -approach,
                                  {"self_penetration_m": self_depth}), "accepted")

    def anchor(self, kind: str, verts: np.ndarray, kps: np.ndarray, closed_kps: np.ndarray, palmar: np.ndarray,
               ulnar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The approach direction (from the hand towards the object) and the point offered. Pinch
        and tripod offer the point where the closing tips meet, approached from the palm."""
        palm = verts[self.palm_vertices].mean(0)
        if kind == "palm":
            return palmar, palm
        if kind in ("pinch", "tripod"):
            meet = closed_kps[[4, 8] if kind == "pinch" else [4, 8, 12]].mean(0)
            return _unit(meet - palm), meet
        if kind == "lateral":  # the radial side of the index's middle bone
            return -ulnar, (kps[6] + kps[7]) / 2
        raise ValueError(f"unknown anchor {kind!r}")

    def place_object(self, obj: GraspObject, rng: np.random.Generator, approach: np.ndarray,
                     point: np.ndarray, squeeze: np.ndarray, prefer: str = "any") -> np.ndarray | None:
        """A pose putting a random surface point of `obj` at `point`, its outward normal facing
        the hand (-approach), rolled so the object's narrowest width lies along `squeeze`.
        `prefer` picks among candidate points: "side" the normal most across the object's longest
        axis, "flat" the normal most along its thinnest, "edge" the normal most across its
        thinnest. None when no candidate was found."""
        samples = _surface_points(obj, rng)
        if not len(samples):
            return None
        normals = sdf_normal(obj, samples)
        score = np.zeros(len(samples))
        if prefer == "side":
            score = -np.abs(normals[:, np.argmax(obj.extents)])
        elif prefer == "flat":
            score = np.abs(normals[:, np.argmin(obj.extents)])
        elif prefer == "edge":
            score = -np.abs(normals[:, np.argmin(obj.extents)])
        best = np.flatnonzero(score >= score.max() - 0.05)  # near-ties: the first drawn
        p, n = samples[best[0]], normals[best[0]]
        R0 = rotation_between(n, -approach)
        # Width of the rotated object along candidate in-plane directions; the narrowest wins.
        plane_squeeze = _unit(squeeze - (squeeze @ approach) * approach)
        rolls = np.radians(np.arange(0, 180, 15))
        verts = (np.asarray(obj.mesh.vertices) - p) @ R0.T
        widths = [np.ptp(verts @ (Rotation.from_rotvec(-r * approach).as_matrix() @ plane_squeeze)) for r in rolls]
        roll = rolls[int(np.argmin(widths))] + np.radians(rng.normal(0.0, 10.0))
        R = Rotation.from_rotvec(roll * approach).as_matrix() @ R0
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, point - R @ p
        return T

    def clear(self, obj: GraspObject, pose: np.ndarray, verts: np.ndarray, approach: np.ndarray) -> np.ndarray:
        """Push the object along `approach` until no vertex of the pre-shaped hand is inside it."""
        for _ in range(20):
            depth = -float(obj.sdf(to_object(verts, pose)).min())
            if depth < 0:
                return pose
            pose = translated(pose, approach * (depth + 0.001))
        return pose

    def slide_to_contact(self, obj: GraspObject, pose: np.ndarray, verts: np.ndarray,
                         approach: np.ndarray) -> np.ndarray:
        """Slide the object back towards the hand until it touches (sphere tracing: a step of
        the smallest vertex distance can never pass through the surface)."""
        for _ in range(30):
            gap = float(obj.sdf(to_object(verts, pose)).min())
            if gap < 0.0005:
                break
            pose = translated(pose, -approach * (gap - 0.0002))
        return pose

    def close_fingers(self, obj: GraspObject, pose: np.ndarray, grasp_type: str, betas: np.ndarray) -> np.ndarray:
        """(5,) per-finger curls: each finger closes until its first contact (or fully)."""
        levels = np.linspace(0.0, 1.0, CLOSE_LEVELS)
        verts, _, _ = self.posed(self.pose_angles(grasp_type, np.repeat(levels[:, None], 5, 1)), betas)
        sdf = obj.sdf(to_object(verts.reshape(-1, 3), pose)).reshape(len(levels), -1)
        lo, hi = np.zeros(5), np.ones(5)
        for k, finger in enumerate(FINGERS):
            clear = sdf[:, self.finger_vertices[finger]].min(1) >= 0
            if clear.all():
                lo[k] = hi[k] = 1.0
            elif not clear[0]:
                lo[k] = hi[k] = 0.0
            else:
                first = int(np.argmin(clear))
                lo[k], hi[k] = levels[first - 1], levels[first]
        for _ in range(BISECTIONS):
            mid = (lo + hi) / 2
            v, _, _ = self.posed(self.pose_angles(grasp_type, mid[None]), betas)
            d = obj.sdf(to_object(v[0], pose))
            ok = np.array([d[self.finger_vertices[f]].min() >= 0 for f in FINGERS])
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        return lo


# ---------------------------------------------------------------------------------------------
# Geometry helpers


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def to_object(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Hand-frame points into the object frame of an object placed by `pose`."""
    return (points - pose[:3, 3]) @ pose[:3, :3]


def translated(pose: np.ndarray, offset: np.ndarray) -> np.ndarray:
    out = pose.copy()
    out[:3, 3] += offset
    return out


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector a to unit vector b."""
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        other = np.eye(3)[np.argmin(np.abs(a))]
        return Rotation.from_rotvec(np.pi * _unit(np.cross(a, other))).as_matrix()
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()


def sdf_normal(obj: GraspObject, points: np.ndarray, eps: float = 2e-4) -> np.ndarray:
    """Outward unit normals from central differences of the signed distance."""
    offsets = np.concatenate([np.eye(3), -np.eye(3)]) * eps
    d = obj.sdf((points[:, None] + offsets).reshape(-1, 3)).reshape(len(points), 6)
    grad = d[:, :3] - d[:, 3:]
    return grad / np.linalg.norm(grad, axis=1, keepdims=True)


def _surface_points(obj: GraspObject, rng: np.random.Generator, n: int = 16) -> np.ndarray:
    """Area-uniform points on the object's outer surface (points of a union's mesh that lie
    inside another primitive are dropped)."""
    points = obj.mesh.sample(n, seed=int(rng.integers(2**31)))
    return points[np.abs(obj.sdf(points)) < 2e-4]


# ---------------------------------------------------------------------------------------------
# Physics


def physics_slip(hand_vertices: np.ndarray, hand_faces: np.ndarray, obj: GraspObject, pose: np.ndarray,
                 gravity: np.ndarray, settings: GraspSettings = GraspSettings()) -> float:
    """Displacement (m) of the object's centre after `sim_seconds` of PhysX with the hand fixed
    (a static triangle mesh, `skin_m` rest offset) and the object free (its convex pieces) under
    gravity along `gravity` (a direction in the hand frame)."""
    import sapien

    # PhysX's gravity is -z: turn the whole set-up so that `gravity` points down.
    Q = rotation_between(_unit(gravity), np.array([0.0, 0.0, -1.0]))
    system = sapien.physx.PhysxCpuSystem()
    scene = sapien.Scene([system])
    scene.set_timestep(settings.sim_dt)
    material = sapien.physx.PhysxMaterial(settings.friction, settings.friction, 0.0)
    static = sapien.physx.PhysxRigidStaticComponent()
    hand_shape = sapien.physx.PhysxCollisionShapeTriangleMesh(
        (hand_vertices @ Q.T).astype(np.float32), hand_faces.astype(np.uint32), np.ones(3, np.float32), material)
    hand_shape.set_rest_offset(settings.skin_m)
    hand_shape.set_contact_offset(settings.skin_m + 0.002)
    static.attach(hand_shape)
    hand_entity = sapien.Entity()
    hand_entity.add_component(static)
    scene.add_entity(hand_entity)
    body = sapien.physx.PhysxRigidDynamicComponent()
    for piece in obj.convex_pieces:
        shape = sapien.physx.PhysxCollisionShapeConvexMesh(piece.astype(np.float32), np.ones(3, np.float32), material)
        shape.set_density(settings.density)
        shape.set_rest_offset(0.0)
        shape.set_contact_offset(0.002)
        body.attach(shape)
    entity = sapien.Entity()
    entity.add_component(body)
    R = Q @ pose[:3, :3]
    w, x, y, z = np.roll(Rotation.from_matrix(R).as_quat(), 1)
    entity.set_pose(sapien.Pose(Q @ pose[:3, 3], [w, x, y, z]))
    scene.add_entity(entity)
    start = np.asarray(entity.get_pose().p)  # the origin of the object frame
    for _ in range(int(round(settings.sim_seconds / settings.sim_dt))):
        scene.step()
    return float(np.linalg.norm(np.asarray(entity.get_pose().p) - start))
