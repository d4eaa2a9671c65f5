"""The open hand: a procedurally generated adult right hand in MANO's file layout.

Nothing here is derived from MANO's data; only its *file layout* and joint order are followed
so that `smplx.MANO` and our own layer read the result. The generator is a pure function of
`OpenHandParams`: `build_open_hand()` returns the arrays, `write_open_hand()` stores them, and
`python -m anyhand_hf.hand.open_hand --out PATH` regenerates the shipped asset bit for bit.

How the hand is made
1. A skeleton (16 MANO joints + 5 fingertips) from adult proportions (hand length 18.5 cm,
   breadth 8.5 cm, finger ratios middle > ring > index > pinky, an abducted palmar thumb).
2. A signed distance field: tapered elliptic capsules per phalanx, metacarpal capsules and pads
   for the palm, thenar/hypothenar ellipsoids and a forearm stub, joined by polynomial smooth-min
   (soft fillets = webbing); fingers are hard-min'ed among themselves so they never fuse.
3. Marching cubes on a grid whose last x-plane is the wrist cut (so the surface is open there),
   quadric pre-decimation, isotropic remeshing (gpytoolbox's Botsch-Kobbelt) to MANO's density,
   then tangential relaxation with re-projection onto the exact field.
4. Part labels from the nearest capsule; skinning weights diffused over the mesh from them (palm
   to knuckles) and blended on the bone axis across finger joints (~1.6 cm), 4 bones at most; a
   joint regressor of non-negative vertex weights that reproduces the joints exactly; 10 shape
   directions, each the derivative of a named skeletal/girth change; xatlas UVs; a pose basis
   from the principal directions of a synthetic grasp-synergy sample.

Reproducibility: every step is deterministic; the field is quantised before meshing, outputs
are rounded, and no large product goes through (thread-count dependent) BLAS/LAPACK, so the
asset regenerates bit for bit with the pinned packages (numpy 2.4, scipy 1.17, scikit-image 0.26.0,
fast-simplification 0.2.0, gpytoolbox 0.3.8, xatlas 0.0.11).

Frame (MANO-like): metres, right hand, flat; fingers point along -x, the thumb is on the +z
side, the palm faces -y (back of the hand +y), wrist joint at the origin. The wrist opening
is the plane x = `wrist_cut_x` (proximal, +x side).

Flexion sign: for the four fingers the bending axis is (nearly) +z, and a POSITIVE rotation
about it flexes the finger towards the palm (it turns -x into -y); exact per-joint axes are
`flexion_axes()` (finger direction x palmar direction). The thumb's axes are tilted with the
thumb; a positive rotation about `flexion_axes()[13..15]` flexes it across the palm.

`posedirs` are small pose correctives (MANO's layout: offsets linear in R_j - I of joints
1..15, added before skinning) fitted so that linear blend skinning follows dual-quaternion
skinning on finger bends: round knuckles, no thinning at large flexion. They are local (each
vertex uses only the joints it is blended between) and a few millimetres at most.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# MANO's kinematic tree: parents of joints 0..15 (wrist; index, middle, pinky, ring, thumb).
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14], dtype=np.int64)
# Fingers in MANO's joint-block order; finger f owns joints 1+3f, 2+3f, 3+3f.
MANO_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
# OpenPose tip order (thumb, index, middle, ring, pinky) as indices into MANO_FINGERS.
TIP_ORDER = (4, 0, 1, 3, 2)
ROOT_PARENT = 4294967295  # MANO stores the root's parent as uint32(-1)

SHAPE_DIRECTIONS: tuple[str, ...] = (
    "0 overall size: isotropic scale about the wrist joint (+1 sd = +5 %)",
    "1 palm width: metacarpals spread apart, fingers follow (+1 sd = +4 mm across the MCPs)",
    "2 palm length: wrist-to-knuckle distance (+1 sd = +3.5 % of palm length)",
    "3 finger length: all four fingers' phalanges, thumb excluded (+1 sd = +3.5 %)",
    "4 finger girth: radial thickness of all finger and thumb phalanges (+1 sd = +7 %)",
    "5 palm thickness: palm, thenar and hypothenar depth (+1 sd = +8 %)",
    "6 thumb length: thumb metacarpal and phalanges (+1 sd = +5 %)",
    "7 thumb placement: thumb base moved distally and radially, wider web space (+1 sd = 2.5 mm)",
    "8 index vs ring length (2D:4D): index longer, ring shorter (+1 sd = +/-3 %)",
    "9 pinky length: pinky phalanges (+1 sd = +6 %)",
)


@dataclass(frozen=True)
class OpenHandParams:
    """Proportions and resolution of the generated hand. Lengths in metres, angles in degrees.

    Per-finger tuples are in MANO order (index, middle, pinky, ring); thumb fields are separate.
    """

    palm_length: float = 0.092  # wrist joint to the middle finger's MCP joint
    palm_width: float = 0.085  # surface breadth across the metacarpal heads
    palm_thickness: float = 0.028
    # MCP joint positions: x as a fraction of palm_length, z as a fraction of palm_width.
    mcp_x: tuple[float, ...] = (0.955, 1.0, 0.855, 0.945)
    mcp_z: tuple[float, ...] = (0.305, 0.075, -0.37, -0.155)
    mcp_y: float = 0.0
    # Phalanx lengths (proximal, middle, distal-to-tip) per finger.
    phalanges: tuple[tuple[float, float, float], ...] = (
        (0.0410, 0.0245, 0.0215),  # index
        (0.0450, 0.0285, 0.0225),  # middle
        (0.0335, 0.0200, 0.0195),  # pinky
        (0.0425, 0.0275, 0.0215),  # ring
    )
    # Splay in the palm plane (towards the thumb is positive).
    splay: tuple[float, ...] = (6.0, 0.5, -14.0, -6.5)
    # Girth multipliers of the finger cross-sections.
    girth: tuple[float, ...] = (1.0, 1.04, 0.84, 0.96)
    finger_radius: float = 0.0100  # half-width of the index proximal phalanx at its base
    finger_flatness: float = 0.86  # depth/width ratio of finger cross-sections
    # Thumb: CMC position (fractions of palm length/width, y in metres), segment lengths,
    # in-plane abduction from the -x axis and palmar tilt of each segment.
    thumb_cmc: tuple[float, float, float] = (0.20, -0.009, 0.27)
    thumb_lengths: tuple[float, float, float] = (0.046, 0.032, 0.029)
    thumb_abduction: tuple[float, float, float] = (50.0, 40.0, 33.0)
    thumb_palmar_tilt: tuple[float, float, float] = (24.0, 14.0, 8.0)
    thumb_girth: float = 1.18
    # Forearm stub and wrist opening.
    wrist_width: float = 0.051
    wrist_depth: float = 0.040
    wrist_cut_x: float = 0.012
    # Meshing.
    voxel: float = 0.0015
    predecimate_faces: int = 1800
    edge_length: float = 0.0080  # gives ~778 vertices, MANO's count
    remesh_iterations: int = 10
    relax_iterations: int = 4
    weight_diffusion_iterations: int = 6
    joint_blend: float = 0.008  # half-width of the skinning blend across finger joints
    # Pose basis sample.
    pose_seed: int = 0
    pose_samples: int = 4000


# ----------------------------------------------------------------------------------------------
# Skeleton


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt(np.sum(v * v, axis=-1, keepdims=True))


def _finger_dir(splay_deg: float) -> np.ndarray:
    a = np.deg2rad(splay_deg)
    return np.array([-np.cos(a), 0.0, np.sin(a)])


def _thumb_dir(abduction_deg: float, tilt_deg: float) -> np.ndarray:
    a, t = np.deg2rad(abduction_deg), np.deg2rad(tilt_deg)
    return np.array([-np.cos(a) * np.cos(t), -np.sin(t), np.sin(a) * np.cos(t)])


def skeleton(p: OpenHandParams) -> dict[str, np.ndarray]:
    """Joints (16,3) in MANO order, tips (5,3) in MANO finger order, bone directions (16,3)."""
    joints = np.zeros((16, 3))
    tips = np.zeros((5, 3))
    dirs = np.zeros((16, 3))
    dirs[0] = (-1.0, 0.0, 0.0)
    for f in range(4):
        pos = np.array([-p.mcp_x[f] * p.palm_length, p.mcp_y, p.mcp_z[f] * p.palm_width])
        u = _finger_dir(p.splay[f])
        for k, length in enumerate(p.phalanges[f]):  # MCP, PIP, DIP, then the tip
            joints[1 + 3 * f + k] = pos
            dirs[1 + 3 * f + k] = u
            pos = pos + length * u
        tips[f] = pos
    cx, cy, cz = p.thumb_cmc
    pos = np.array([-cx * p.palm_length, cy, cz * p.palm_width])
    for k in range(3):
        u = _thumb_dir(p.thumb_abduction[k], p.thumb_palmar_tilt[k])
        joints[13 + k] = pos
        dirs[13 + k] = u
        pos = pos + p.thumb_lengths[k] * u
    tips[4] = pos
    # Round so that last-bit differences of sin/cos between libms cannot leak into the asset.
    return {"joints": np.round(joints, 9), "tips": np.round(tips, 9), "dirs": np.round(dirs, 12)}


# ----------------------------------------------------------------------------------------------
# Signed distance field


@dataclass(frozen=True)
class _Capsule:
    """Tapered capsule with elliptic cross-section between a and b; ry = depth (palmar-dorsal)
    half-axis, rz = width half-axis, interpolated linearly; `bone` = MANO joint it moves with."""

    a: np.ndarray
    b: np.ndarray
    r0: tuple[float, float]  # (ry, rz) at a
    r1: tuple[float, float]  # (ry, rz) at b
    bone: int
    up: np.ndarray = dataclasses.field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))

    def sdf(self, pts: np.ndarray) -> np.ndarray:
        ab = self.b - self.a
        length = float(np.sqrt(np.sum(ab * ab)))
        u = ab / length
        n = _unit(self.up - np.sum(self.up * u) * u)  # dorsal axis
        w = np.cross(u, n)  # width axis
        d = pts - self.a
        t = np.clip((d[:, 0] * u[0] + d[:, 1] * u[1] + d[:, 2] * u[2]) / length, 0.0, 1.0)
        ry = self.r0[0] + t * (self.r1[0] - self.r0[0])
        rz = self.r0[1] + t * (self.r1[1] - self.r0[1])
        rx = np.minimum(ry, rz)  # round end caps
        q = d - (t * length)[:, None] * u
        qx = q[:, 0] * u[0] + q[:, 1] * u[1] + q[:, 2] * u[2]
        qy = q[:, 0] * n[0] + q[:, 1] * n[1] + q[:, 2] * n[2]
        qz = q[:, 0] * w[0] + q[:, 1] * w[1] + q[:, 2] * w[2]
        return _ellipsoid_sdf(qx, qy, qz, rx, ry, rz)


@dataclass(frozen=True)
class _Ellipsoid:
    centre: np.ndarray
    axes: np.ndarray  # (3,3) rows = unit axes
    radii: tuple[float, float, float]
    bone: int

    def sdf(self, pts: np.ndarray) -> np.ndarray:
        d = pts - self.centre
        q = [d[:, 0] * a[0] + d[:, 1] * a[1] + d[:, 2] * a[2] for a in self.axes]
        return _ellipsoid_sdf(q[0], q[1], q[2], *self.radii)


def _ellipsoid_sdf(x, y, z, rx, ry, rz):
    """Approximate signed distance to an axis-aligned ellipsoid (exact on the surface, smooth,
    with the right gradient direction); enough for meshing an implicit union."""
    k0 = np.sqrt((x / rx) ** 2 + (y / ry) ** 2 + (z / rz) ** 2)
    k1 = np.sqrt((x / rx**2) ** 2 + (y / ry**2) ** 2 + (z / rz**2) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: a fillet of size ~k where two shapes meet."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def _axes_along(u: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    up = np.asarray(up, dtype=float)
    u = _unit(u)
    n = _unit(up - np.sum(up * u) * u)
    return np.stack([u, n, np.cross(u, n)])


def primitives(p: OpenHandParams) -> dict[str, list]:
    """The shapes the hand is made of, grouped: 'palm' (smooth-unioned into one body) and one
    group per finger (capsules of a finger smooth-unioned; fingers hard-min'ed among
    themselves so that neighbouring fingers never fuse, then filleted onto the palm)."""
    sk = skeleton(p)
    J, tips, dirs = sk["joints"], sk["tips"], sk["dirs"]
    r = p.finger_radius
    fl = p.finger_flatness
    groups: dict[str, list] = {"palm": []}
    for f in range(4):
        g = p.girth[f]
        # (width half-axis) at MCP, PIP, DIP, and at the start of the tip cap.
        widths = np.array([1.0, 0.92, 0.86, 0.83]) * r * g
        caps = []
        ends = [J[1 + 3 * f], J[2 + 3 * f], J[3 + 3 * f], tips[f]]
        for k in range(3):
            a, b = ends[k], ends[k + 1]
            rz0, rz1 = widths[k], widths[k + 1]
            if k == 2:  # stop the distal capsule short so its round cap ends at the tip point
                b = b - dirs[3 + 3 * f] * (rz1 * fl)
            caps.append(_Capsule(a, b, (rz0 * fl, rz0), (rz1 * fl, rz1), bone=1 + 3 * f + k))
        # Slight knuckle bulges at PIP and DIP (dorsal and lateral), part of the proximal bone.
        for k, s in ((1, 1.07), (2, 1.05)):
            c = ends[k] + np.array([0.0, 0.0015, 0.0])
            radii = (widths[k] * 0.9, widths[k] * fl * s, widths[k] * s)
            # bone -1: shapes the surface but is not used to label parts.
            caps.append(_Ellipsoid(c, _axes_along(dirs[1 + 3 * f]), radii, bone=-1))
        groups[MANO_FINGERS[f]] = caps
    # Thumb: metacarpal inside the thenar, then proximal and distal phalanges.
    tg = p.thumb_girth
    tw = np.array([1.15, 1.0, 0.92, 0.80]) * r * tg
    tends = [J[13], J[14], J[15], tips[4]]
    thumb = []
    for k in range(3):
        a, b = tends[k], tends[k + 1]
        if k == 2:
            b = b - dirs[15] * (tw[3] * 0.82)
        # The thumb's nail faces partly sideways: its "up" axis is rolled towards +z.
        up = _unit(np.array([0.0, 1.0, 0.55]))
        thumb.append(_Capsule(a, b, (tw[k] * 0.82, tw[k]), (tw[k + 1] * 0.82, tw[k + 1]), bone=13 + k, up=up))
    groups["thumb"] = thumb

    palm = groups["palm"]
    L, W, T = p.palm_length, p.palm_width, p.palm_thickness
    # Metacarpals: from a narrow carpal base to the knuckles (MCP heads: dorsal bumps).
    for f in range(4):
        head = J[1 + 3 * f] + np.array([0.0, 0.0005, 0.0])
        base = np.array([-0.17 * L, 0.0005, J[1 + 3 * f][2] * 0.45])
        rh = r * p.girth[f] * 1.05
        palm.append(_Capsule(base, head, (0.0085, 0.0075), (rh * 0.95, rh), bone=0))
    # Palm pad: the fleshy palmar body, thicker proximally; centred palmar of the joints.
    palm.append(_Ellipsoid(np.array([-0.55 * L, -0.0045, -0.01 * W]), np.eye(3),
                           (0.45 * L, 0.42 * T, 0.44 * W), bone=0))
    # Distal palmar pad along the knuckle line: the base of the fingers' webs.
    mcp_mid = np.mean(J[[1, 4, 7, 10]], axis=0)
    palm.append(_Ellipsoid(mcp_mid + np.array([-0.004, -0.0075, -0.002]),
                           _axes_along(np.array([-0.12, 0.0, -1.0])), (0.40 * W, 0.28 * T, 0.13 * L), bone=0))
    # Hypothenar eminence on the ulnar (pinky, -z) side of the palm.
    palm.append(_Ellipsoid(np.array([-0.40 * L, -0.0055, -0.30 * W]), _axes_along(np.array([-1.0, 0.0, 0.1])),
                           (0.34 * L, 0.34 * T, 0.15 * W), bone=0))
    # Forearm stub: an elliptic capsule through the wrist; the grid ends at the cut plane.
    palm.append(_Capsule(np.array([0.10, -0.002, 0.0]), np.array([-0.25 * L, -0.002, 0.0]),
                         (p.wrist_depth / 2, p.wrist_width / 2), (p.wrist_depth / 2 * 1.05, p.wrist_width / 2 * 1.12),
                         bone=0))
    # Thenar eminence: along the thumb metacarpal, palmar and towards the palm centre.
    u = dirs[13]
    thenar_c = J[13] + 0.45 * (J[14] - J[13]) + np.array([0.002, -0.004, -0.006])
    groups["thenar"] = [_Ellipsoid(thenar_c, _axes_along(u, up=(0.0, 1.0, 0.3)), (0.030, 0.013, 0.017), bone=13)]
    return groups


def hand_sdf(p: OpenHandParams, pts: np.ndarray, groups: dict | None = None) -> np.ndarray:
    """Signed distance (approximate, metres, negative inside) of the hand at points (N,3)."""
    groups = primitives(p) if groups is None else groups
    palm = None
    for prim in groups["palm"]:
        d = prim.sdf(pts)
        palm = d if palm is None else _smin(palm, d, 0.014)
    thumb = None
    for prim in groups["thumb"]:
        d = prim.sdf(pts)
        thumb = d if thumb is None else _smin(thumb, d, 0.006)
    thenar = groups["thenar"][0].sdf(pts)
    thumb = _smin(thumb, thenar, 0.012)
    palm = _smin(palm, thumb, 0.016)
    fingers = None
    for name in MANO_FINGERS[:4]:
        fd = None
        for prim in groups[name]:
            d = prim.sdf(pts)
            fd = d if fd is None else _smin(fd, d, 0.004)
        fingers = fd if fingers is None else np.minimum(fingers, fd)
    return _smin(palm, fingers, 0.011)


def primitive_bones(p: OpenHandParams, pts: np.ndarray) -> np.ndarray:
    """The bone (MANO joint id) of the primitive nearest each point: explicit part labels."""
    groups = primitives(p)
    best = np.full(len(pts), np.inf)
    bone = np.zeros(len(pts), dtype=np.int64)
    for prims in groups.values():
        for prim in prims:
            if prim.bone < 0:
                continue
            d = prim.sdf(pts)
            closer = d < best
            best = np.where(closer, d, best)
            bone = np.where(closer, prim.bone, bone)
    return bone


# ----------------------------------------------------------------------------------------------
# Surface


def _grid_axes(p: OpenHandParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid coordinates; x ends exactly on the wrist cut so marching cubes leaves it open."""
    h = p.voxel
    nx = int(np.ceil((p.wrist_cut_x + 0.205) / h)) + 1
    xs = p.wrist_cut_x - h * np.arange(nx)[::-1]
    ys = -0.050 + h * np.arange(int(np.ceil(0.085 / h)) + 1)
    zs = -0.065 + h * np.arange(int(np.ceil(0.195 / h)) + 1)
    return xs, ys, zs


def _sdf_grid(p: OpenHandParams, groups: dict) -> tuple[np.ndarray, tuple]:
    xs, ys, zs = _grid_axes(p)
    out = np.empty((len(xs), len(ys), len(zs)))
    yy, zz = np.meshgrid(ys, zs, indexing="ij")
    for i, x in enumerate(xs):  # slab by slab keeps memory small
        pts = np.stack([np.full(yy.size, x), yy.ravel(), zz.ravel()], axis=1)
        out[i] = hand_sdf(p, pts, groups).reshape(yy.shape)
    # Quantise: marching cubes and decimation make discrete choices; rounding the field to
    # 0.1 um keeps ulp-level platform differences from changing them.
    return np.round(out, 7), (xs, ys, zs)


def _marching_cubes(p: OpenHandParams, groups: dict) -> tuple[np.ndarray, np.ndarray]:
    from skimage.measure import marching_cubes

    field, (xs, ys, zs) = _sdf_grid(p, groups)
    verts, faces, _, _ = marching_cubes(field, level=0.0, spacing=(p.voxel,) * 3, allow_degenerate=False,
                                        method="lewiner")
    verts = verts + np.array([xs[0], ys[0], zs[0]])
    return verts, faces.astype(np.int64)


def _largest_component(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(verts)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, label = connected_components(adj, directed=False)
    keep_label = np.bincount(label[faces[:, 0]]).argmax()
    keep_f = faces[label[faces[:, 0]] == keep_label]
    used = np.unique(keep_f)
    remap = np.full(n, -1)
    remap[used] = np.arange(len(used))
    return verts[used], remap[keep_f]


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Ordered boundary loops (vertex ids), each following the faces' winding."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = {(int(a), int(b)) for a, b in e}
    nxt = {}
    for a, b in e:
        if (int(b), int(a)) not in key:
            nxt[int(a)] = int(b)
    loops, seen = [], set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(np.array(loop, dtype=np.int64))
    return loops


def _neighbours(n: int, faces: np.ndarray):
    from scipy.sparse import coo_matrix

    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    adj.data[:] = 1.0
    return adj


def _vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return _unit(vn)


def _project_to_surface(p, groups, pts: np.ndarray, steps: int = 3, in_plane: bool = False) -> np.ndarray:
    """Newton steps along the field's (finite-difference) gradient onto the zero level;
    `in_plane` keeps x fixed (wrist-ring vertices stay on the cut plane)."""
    eps = 1e-5
    for _ in range(steps):
        d = hand_sdf(p, pts, groups)
        g = np.stack([(hand_sdf(p, pts + eps * e, groups) - hand_sdf(p, pts - eps * e, groups)) / (2 * eps)
                      for e in np.eye(3)], axis=1)
        if in_plane:
            g[:, 0] = 0.0
        pts = pts - (d / np.maximum(np.sum(g * g, axis=1), 1e-6))[:, None] * g
    return pts


def _relax(p, groups, verts, faces, boundary: np.ndarray) -> np.ndarray:
    """Tangential Laplacian relaxation + re-projection onto the implicit surface: evens out
    decimation's slivers while keeping the shape. Boundary vertices stay on the cut plane."""
    adj = _neighbours(len(verts), faces)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    is_b = np.zeros(len(verts), dtype=bool)
    is_b[boundary] = True
    for _ in range(p.relax_iterations):
        nrm = _vertex_normals(verts, faces)
        centroid = (adj @ verts) / deg[:, None]
        step = centroid - verts
        step = step - np.sum(step * nrm, axis=1, keepdims=True) * nrm
        new = verts + 0.5 * step
        new[~is_b] = _project_to_surface(p, groups, new[~is_b])
        # Boundary: move along the loop only (average of loop neighbours), stay on the cut.
        ring = verts[boundary]
        ring_new = 0.5 * ring + 0.25 * (np.roll(ring, 1, axis=0) + np.roll(ring, -1, axis=0))
        ring_new[:, 0] = p.wrist_cut_x
        # Re-project within the cut plane onto the field's zero level.
        ring_new = _project_to_surface(p, groups, ring_new, in_plane=True)
        new[boundary] = ring_new
        verts = new
    return verts


def build_surface(p: OpenHandParams) -> tuple[np.ndarray, np.ndarray]:
    """The hand surface: (V,3) float64 vertices, (F,3) int64 faces with outward winding."""
    import fast_simplification
    import gpytoolbox

    groups = primitives(p)
    verts, faces = _marching_cubes(p, groups)
    verts, faces = _largest_component(verts, faces)
    # Coarsen first: this also thins the marching-cubes wrist loop (1 vertex per voxel) to
    # roughly the target edge length, since the remesher below keeps boundary vertices fixed.
    verts, faces = fast_simplification.simplify(verts, faces, target_count=p.predecimate_faces, agg=7.0)
    # Isotropic remeshing (split/collapse/flip/smooth) to MANO-like density and even triangles.
    verts, faces = gpytoolbox.remesh_botsch(np.asarray(verts, dtype=np.float64), np.asarray(faces, dtype=np.int32),
                                            p.remesh_iterations, p.edge_length, True)
    verts, faces = _largest_component(np.asarray(verts, dtype=np.float64), np.asarray(faces, dtype=np.int64))
    ring = max(boundary_loops(faces), key=len)
    # The remesher projected onto the coarse mesh; put the vertices back on the exact field.
    verts = _relax(p, groups, verts, faces, ring)
    # Orient outwards: skimage's winding depends on the gradient sign; check with the volume.
    if _signed_volume_capped(verts, faces, ring) < 0:
        faces = faces[:, ::-1].copy()
    return np.round(verts, 9), faces


def _signed_volume_capped(verts, faces, ring) -> float:
    c = verts[ring].mean(axis=0)
    tri = verts[faces]
    vol = np.sum(np.einsum("ij,ij->i", tri[:, 0] - c, np.cross(tri[:, 1] - c, tri[:, 2] - c)))
    return float(vol) / 6.0


# ----------------------------------------------------------------------------------------------
# Rig: skinning weights, joint regressor, fingertips, bending axes


def _children(j: int) -> list[int]:
    return [int(c) for c in np.nonzero(PARENTS == j)[0]]


def skinning_weights(p: OpenHandParams, verts: np.ndarray, faces: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """(V,16) weights: one-hot part labels diffused over the mesh (a ~1 cm blend across each
    joint, long enough that a 90 deg bend keeps the joint's volume), restricted to the part's
    own bone, its parent and its children (so a finger never pulls on its neighbour), then
    truncated to the 4 largest and renormalised."""
    n = len(verts)
    allowed = np.zeros((n, 16), dtype=bool)
    for j in range(16):
        near = [j] + _children(j) + ([int(PARENTS[j])] if j > 0 else [])
        allowed[np.ix_(parts == j, near)] = True
    w = np.zeros((n, 16))
    w[np.arange(n), parts] = 1.0
    adj = _neighbours(n, faces)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    for _ in range(p.weight_diffusion_iterations):
        w = 0.5 * w + 0.5 * (adj @ w) / deg[:, None]
        w = np.where(allowed, w, 0.0)
        w = w / w.sum(axis=1, keepdims=True)
    w = _chain_blend(p, verts, parts, w)
    # Keep the 4 largest per vertex (stable order so ties resolve the same everywhere).
    order = np.argsort(-w, axis=1, kind="stable")
    drop = order[:, 4:]
    np.put_along_axis(w, drop, 0.0, axis=1)
    w[w < 1e-4] = 0.0
    return np.round(w / w.sum(axis=1, keepdims=True), 12)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _chain_blend(p: OpenHandParams, verts: np.ndarray, parts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Within each finger, replace the diffused weights by a blend on the axial coordinate:
    half-width `joint_blend` on either side of every PIP/DIP (and thumb MCP/IP) joint. Mesh
    diffusion alone leaks the parent bone all the way to short distal phalanges (few vertex
    rings), which makes a 90 deg bend sink the skin there. The palm share (bone 0, from the
    diffusion) is kept, so the knuckles still blend into the palm."""
    sk = skeleton(p)
    J, tips, dirs = sk["joints"], sk["tips"], sk["dirs"]
    h = p.joint_blend
    w = w.copy()
    for f, root in enumerate((1, 4, 7, 10, 13)):
        chain = (root, root + 1, root + 2)
        ends = [J[root + 1], J[root + 2], tips[f]]
        for k, j in enumerate(chain):
            m = parts == j
            if not m.any():
                continue
            t = (verts[m] - J[j]) @ dirs[j]
            length = float(np.dot(ends[k] - J[j], dirs[j]))
            to_parent = (1.0 - _smoothstep((t + h) / (2 * h))) if k > 0 else np.zeros(len(t))
            to_child = (1.0 - _smoothstep((length - t + h) / (2 * h))) if k < 2 else np.zeros(len(t))
            own = np.clip(1.0 - to_parent - to_child, 0.0, 1.0)
            frac = np.stack([to_parent, own, to_child], axis=1)
            frac = frac / frac.sum(axis=1, keepdims=True)
            rest = 1.0 - w[m, 0]  # what the palm does not take
            new = np.zeros((int(m.sum()), 16))
            new[:, 0] = w[m, 0]
            if k > 0:
                new[:, chain[k - 1]] += rest * frac[:, 0]
            new[:, j] += rest * frac[:, 1]
            if k < 2:
                new[:, chain[k + 1]] += rest * frac[:, 2]
            w[m] = new
    return w


def joint_regressor(verts: np.ndarray, joints: np.ndarray, k: int = 40) -> np.ndarray:
    """(16,V) non-negative rows summing to 1 with `J_regressor @ verts == joints`: each joint
    is a weighted average of the vertices around it (so it follows shape changes), with
    weights as close as possible to a distance falloff. Solved as a small NNLS per joint and
    finished with an exact minimum-norm correction on the support."""
    from scipy.optimize import nnls

    reg = np.zeros((16, len(verts)))
    for j in range(16):
        d = np.sqrt(np.sum((verts - joints[j]) ** 2, axis=1))
        if j == 0:  # the wrist: a slab of the forearm stub around the joint (not the palm)
            d = np.where(np.abs(verts[:, 0] - joints[0, 0]) < 0.005, d, np.inf)
        idx = np.argsort(d, kind="stable")[:k]
        w0 = np.exp(-((d[idx] / d[idx].min()) ** 2) / 4.0)
        w0 = w0 / w0.sum()
        C = np.vstack([np.ones(k), (verts[idx] - joints[j]).T * 100.0])  # centimetres: balanced rows
        target = np.array([1.0, 0.0, 0.0, 0.0])
        lam = 1e3
        A = np.vstack([lam * C, np.eye(k)])
        b = np.concatenate([lam * target, w0])
        w, _ = nnls(A, b, maxiter=2000)
        for _ in range(3):  # exact constraints on the support
            s = w > 1e-9
            Cs = C[:, s]
            r = target - C @ w
            w[s] += Cs.T @ np.linalg.solve(Cs @ Cs.T, r)
            w = np.maximum(w, 0.0)
        reg[j, idx] = w
    return reg


def tip_vertices(verts: np.ndarray, parts: np.ndarray, sk: dict) -> np.ndarray:
    """Fingertip vertex per finger in OpenPose order (thumb, index, middle, ring, pinky): the
    vertex of the distal segment furthest along the finger's distal direction."""
    out = []
    for f in TIP_ORDER:
        bone = 3 + 3 * f
        cand = np.nonzero(parts == bone)[0]
        reach = (verts[cand] - sk["joints"][bone]) @ sk["dirs"][bone]
        out.append(cand[int(np.argmax(reach))])
    return np.array(out, dtype=np.int64)


def flexion_axes(p: OpenHandParams = OpenHandParams()) -> np.ndarray:
    """(16,3) unit axes, in the rest frame: a positive rotation of joint j about axes[j]
    flexes it (fingers curl towards the palm, the thumb across it). Row 0 is +z (wrist
    flexion towards the palm)."""
    sk = skeleton(p)
    axes = np.zeros((16, 3))
    axes[0] = (0.0, 0.0, 1.0)
    palmar = np.array([0.0, -1.0, 0.0])
    for j in range(1, 13):
        axes[j] = _unit(np.cross(sk["dirs"][j], palmar))
    # The thumb pad faces palmar and towards the fingers; flexion moves the tip that way.
    for j in (13, 14, 15):
        u = sk["dirs"][j]
        d = np.array([0.0, -0.55, -0.85])
        d = _unit(d - np.dot(d, u) * u)
        axes[j] = _unit(np.cross(u, d))
    return axes


def thumb_flexion_axis(p: OpenHandParams = OpenHandParams()) -> np.ndarray:
    """Unit axis about which a positive rotation flexes the thumb's MCP across the palm."""
    return flexion_axes(p)[14]


# ----------------------------------------------------------------------------------------------
# Shape space


@dataclass
class _ShapeChange:
    """One named shape change, linear in its amount: a displacement field for the palm (bone 0)
    and, per bone, an axial stretch `c` about the bone's start joint, a radial scale `g` about
    its axis, and for chain roots an extra translation. Joints below a root follow the chain."""

    palm: Callable[[np.ndarray], np.ndarray] | None = None  # (N,3) -> (N,3) displacement
    stretch: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(16))
    girth: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(16))
    root_shift: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((16, 3)))
    thenar_follows_palm: bool = False  # bone 13 (thenar) moves with the palm field
    uniform_scale: float = 0.0


CHAIN_ROOTS = (1, 4, 7, 10, 13)


def _shape_changes(p: OpenHandParams, sk: dict) -> list[_ShapeChange]:
    J = sk["joints"]
    fingers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    thumb = [13, 14, 15]
    zc = float(np.mean(J[[1, 4, 7, 10], 2]))
    ramp_len = 0.8 * float(np.min(-J[[1, 4, 7, 10], 0]))

    def width(x):  # spread in z about the palm's midline, growing from wrist to knuckles
        ramp = np.clip(-x[:, 0] / ramp_len, 0.0, 1.0)
        return np.stack([0 * ramp, 0 * ramp, (0.004 / p.palm_width) * (x[:, 2] - zc) * ramp], axis=1)

    def length(x):  # stretch in x between the wrist and the knuckles
        return np.stack([0.035 * np.minimum(x[:, 0], 0.0), 0 * x[:, 0], 0 * x[:, 0]], axis=1)

    def thickness(x):  # depth about the knuckles' plane (y = 0), so fingers stay put
        return np.stack([0 * x[:, 0], 0.08 * x[:, 1], 0 * x[:, 0]], axis=1)

    changes = [_ShapeChange(uniform_scale=0.05)]
    changes.append(_ShapeChange(palm=width))
    changes.append(_ShapeChange(palm=length))
    c = _ShapeChange()
    c.stretch[fingers] = 0.035
    changes.append(c)
    c = _ShapeChange()
    c.girth[fingers + [14, 15]] = 0.07
    changes.append(c)
    changes.append(_ShapeChange(palm=thickness, thenar_follows_palm=True))
    c = _ShapeChange()
    c.stretch[thumb] = 0.05
    changes.append(c)
    shift = np.array([-0.0020, 0.0, 0.0015])

    def thumb_base(x):  # the thumb's carpal base moves, dragging the palm around it along
        # Rigid within 2.8 cm of the thumb base, fading out by 5 cm ...
        r = np.sqrt(np.sum((x - J[13]) ** 2, axis=1))
        t = np.clip((r - 0.028) / 0.022, 0.0, 1.0)
        near = 1.0 - t * t * (3.0 - 2.0 * t)
        # ... but not at the wrist: fade out over the carpals so the wrist joint stays put.
        fade = np.clip((-x[:, 0] - 0.004) / 0.0135, 0.0, 1.0)
        return (near * fade)[:, None] * shift

    changes.append(_ShapeChange(palm=thumb_base))
    c = _ShapeChange()
    c.stretch[[1, 2, 3]] = 0.03
    c.stretch[[10, 11, 12]] = -0.03
    changes.append(c)
    c = _ShapeChange()
    c.stretch[[7, 8, 9]] = 0.06
    changes.append(c)
    return changes


def _apply_change(ch: _ShapeChange, sk: dict, verts: np.ndarray, weights: np.ndarray):
    """Displacements of vertices (V,3), joints (16,3) and tips (5,3, MANO finger order) for
    one unit of a shape change."""
    J, tips, dirs = sk["joints"], sk["tips"], sk["dirs"]
    if ch.uniform_scale:
        return ch.uniform_scale * verts, ch.uniform_scale * J, ch.uniform_scale * tips
    zero = lambda x: np.zeros_like(x)  # noqa: E731
    palm = ch.palm or zero
    start = np.zeros((16, 3))  # displacement of each bone's start joint
    for j in range(1, 16):  # parents come before children in MANO's order
        par = int(PARENTS[j])
        if par == 0:
            start[j] = palm(J[j][None])[0] + ch.root_shift[j]
        elif par == 13 and ch.thenar_follows_palm:
            start[j] = palm(J[j][None])[0]
        else:
            start[j] = start[par] + ch.stretch[par] * (J[j] - J[par])
    dtips = np.zeros((5, 3))
    for f in range(5):
        last = 3 + 3 * f
        dtips[f] = start[last] + ch.stretch[last] * (tips[f] - J[last])
    dv = weights[:, :1] * palm(verts)
    for b in range(1, 16):
        if b == 13 and ch.thenar_follows_palm:
            disp = palm(verts)
        else:
            rel = verts - J[b]
            ax = (rel @ dirs[b])[:, None] * dirs[b]
            disp = start[b] + ch.stretch[b] * ax + ch.girth[b] * (rel - ax)
        dv += weights[:, b:b + 1] * disp
    return dv, start, dtips


def shape_directions(p: OpenHandParams, sk: dict, verts: np.ndarray, weights: np.ndarray):
    """shapedirs (V,3,10), joint directions (16,3,10) and tip directions (5,3,10): what one
    standard deviation of each `SHAPE_DIRECTIONS` entry does to the mesh and skeleton."""
    out_v, out_j, out_t = [], [], []
    for ch in _shape_changes(p, sk):
        dv, dj, dt = _apply_change(ch, sk, verts, weights)
        out_v.append(dv)
        out_j.append(dj)
        out_t.append(dt)
    return np.stack(out_v, axis=2), np.stack(out_j, axis=2), np.stack(out_t, axis=2)


# ----------------------------------------------------------------------------------------------
# Pose correctives


def _rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """(N,3) axis-angle -> (N,3,3) rotation matrices."""
    angle = np.sqrt(np.sum(rotvec * rotvec, axis=1))
    axis = rotvec / np.maximum(angle, 1e-12)[:, None]
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=1).reshape(-1, 3, 3)
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return np.eye(3) + s * k + (1.0 - c) * np.einsum("nij,njk->nik", k, k)


def _global_transforms(joints: np.ndarray, rots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest-relative bone transforms (rotation (16,3,3), translation (16,3)) as in MANO."""
    grot = np.zeros((16, 3, 3))
    gpos = np.zeros((16, 3))
    for j in range(16):
        if j == 0:
            grot[j], gpos[j] = rots[0], joints[0]
        else:
            par = int(PARENTS[j])
            grot[j] = grot[par] @ rots[j]
            gpos[j] = gpos[par] + grot[par] @ (joints[j] - joints[par])
    trans = gpos - np.einsum("jab,jb->ja", grot, joints)
    return grot, trans


def _quat(r: np.ndarray) -> np.ndarray:
    """(N,3,3) rotations -> (N,4) unit quaternions (w, x, y, z)."""
    from scipy.spatial.transform import Rotation

    xyzw = Rotation.from_matrix(r).as_quat()
    return np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1)


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def _dual_quaternion_skin(verts, weights, grot, trans) -> np.ndarray:
    """Dual-quaternion skinning: blends rigid motions, so joints keep their volume."""
    qr = _quat(grot)
    qd = 0.5 * _qmul(np.concatenate([np.zeros((16, 1)), trans], axis=1), qr)
    dom = np.argmax(weights, axis=1)
    sign = np.sign(np.sum(qr[None] * qr[dom][:, None], axis=2))  # same hemisphere as the main bone
    sign[sign == 0] = 1.0
    br = np.einsum("vj,jk->vk", weights * sign, qr)
    bd = np.einsum("vj,jk->vk", weights * sign, qd)
    norm = np.sqrt(np.sum(br * br, axis=1, keepdims=True))
    br, bd = br / norm, bd / norm
    w, xyz = br[:, :1], br[:, 1:]
    rotated = verts + 2.0 * np.cross(xyz, np.cross(xyz, verts) + w * verts)
    conj = br * np.array([1.0, -1.0, -1.0, -1.0])
    t = 2.0 * _qmul(bd, conj)[:, 1:]
    return rotated + t


def _corrective_training_poses(p: OpenHandParams) -> np.ndarray:
    """(S,16,3) poses: each finger joint bent alone (a little extension to 95 deg of flexion,
    MCPs also spread), plus whole-hand curls."""
    axes = flexion_axes(p)
    poses = []
    for j in range(1, 16):
        for angle in (-0.3, 0.5, 1.0, 1.66):
            pose = np.zeros((16, 3))
            pose[j] = angle * axes[j]
            poses.append(pose)
        if PARENTS[j] == 0:
            for spread in (-0.3, 0.3):
                pose = np.zeros((16, 3))
                pose[j] = spread * np.array([0.0, 1.0, 0.0]) + 0.8 * axes[j]
                poses.append(pose)
    for level in (0.4, 0.8, 1.2, 1.5):
        poses.append(level * axes * np.r_[0.0, np.ones(15)][:, None])
    return np.stack(poses)


def pose_correctives(p: OpenHandParams, verts, weights, regressor) -> np.ndarray:
    """posedirs (V,3,135): per-vertex linear correctives on MANO's pose feature (R_j - I for
    joints 1..15) that make linear blend skinning follow dual-quaternion skinning on a set of
    single-joint bends and curls. This keeps knuckles round and stops the thinning of LBS at
    large flexion. Each vertex only uses the joints it is skinned to (local, no crosstalk)."""
    joints = regressor @ verts
    poses = _corrective_training_poses(p)
    n_s = len(poses)
    feats = np.zeros((n_s, 135))
    offsets = np.zeros((n_s, len(verts), 3))
    for s, pose in enumerate(poses):
        rots = _rodrigues(pose)
        feats[s] = (rots[1:] - np.eye(3)).reshape(135)
        grot, trans = _global_transforms(joints, rots)
        blend = np.einsum("vj,jab->vab", weights, grot)
        lbs = np.einsum("vab,vb->va", blend, verts) + weights @ trans
        target = _dual_quaternion_skin(verts, weights, grot, trans)
        # The corrective is added before skinning: undo the blended linear part.
        offsets[s] = np.linalg.solve(blend, (target - lbs)[:, :, None])[:, :, 0]
    posedirs = np.zeros((len(verts), 3, 135))
    for v in range(len(verts)):
        used = [j for j in range(1, 16) if weights[v, j] > 0 and 0 < weights[v, j] < 1]
        if not used:
            continue
        cols = np.concatenate([np.arange(9 * (j - 1), 9 * j) for j in used])
        x = feats[:, cols]
        y = offsets[:, v, :]
        # Ridge regression: the bends span only part of each joint's 9 features.
        xtx = np.einsum("si,sj->ij", x, x, optimize=False)  # einsum: no thread-dependent BLAS
        xty = np.einsum("si,sk->ik", x, y, optimize=False)
        coef = np.linalg.solve(xtx + 1e-4 * np.eye(len(cols)), xty)
        posedirs[v, :, cols] = coef
    return np.round(posedirs, 12)


# ----------------------------------------------------------------------------------------------
# UVs and pose basis


def uv_atlas(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,2) UVs in [0,1] and (F,3) UV faces from xatlas (charts cut along seams, packed
    without overlap)."""
    import xatlas

    _, ft, vt = xatlas.parametrize(verts.astype(np.float32), faces.astype(np.uint32))
    return np.round(vt.astype(np.float64), 7), ft.astype(np.int64)


def _jacobi_eigh(a: np.ndarray, sweeps: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations, using only
    elementwise arithmetic (bit-reproducible on any BLAS). Returns (values, column vectors)."""
    a = a.copy()
    n = len(a)
    v = np.eye(n)
    for _ in range(sweeps):
        off = np.sqrt(np.sum(np.triu(a, 1) ** 2))
        if off < 1e-15 * np.sqrt(np.sum(a * a)):
            break
        for i in range(n - 1):
            for j in range(i + 1, n):
                if a[i, j] == 0.0:
                    continue
                theta = (a[j, j] - a[i, i]) / (2.0 * a[i, j])
                t = np.sign(theta) / (abs(theta) + np.sqrt(theta * theta + 1.0)) if theta != 0 else 1.0
                c = 1.0 / np.sqrt(t * t + 1.0)
                s = t * c
                ai, aj = a[:, i].copy(), a[:, j].copy()
                a[:, i], a[:, j] = c * ai - s * aj, s * ai + c * aj
                ai, aj = a[i, :].copy(), a[j, :].copy()
                a[i, :], a[j, :] = c * ai - s * aj, s * ai + c * aj
                vi, vj = v[:, i].copy(), v[:, j].copy()
                v[:, i], v[:, j] = c * vi - s * vj, s * vi + c * vj
    return np.diag(a).copy(), v


def pose_basis(p: OpenHandParams) -> tuple[np.ndarray, np.ndarray]:
    """(45,45) orthonormal pose directions (rows, by decreasing variance) and the (45,) mean of
    a synthetic sample of hand poses: a grasp-closure synergy shared by all fingers, per-finger
    deviations, coupled PIP/DIP flexion, finger spread and thumb opposition, plus small
    independent noise so every direction is defined. Axis-angle per joint 1..15 as MANO."""
    rng = np.random.default_rng(p.pose_seed)
    axes = flexion_axes(p)
    n = p.pose_samples
    closure = rng.beta(2.0, 2.0, size=n)
    spread = rng.normal(0.0, 1.0, size=n)
    pose = np.zeros((n, 16, 3))
    splay_sign = np.array([1.0, 0.0, -1.5, -0.8])  # index, middle, pinky, ring
    for f in range(4):
        own = np.clip(closure + 0.18 * rng.normal(size=n), -0.15, 1.1)
        mcp, pip, dip = 1 + 3 * f, 2 + 3 * f, 3 + 3 * f
        pip_amount = 1.65 * np.clip(own + 0.1 * rng.normal(size=n), -0.05, 1.1)
        pose[:, mcp] = (1.25 * own)[:, None] * axes[mcp]
        # Spread (abduction about the palm normal), smaller when the fingers curl.
        abduction = 0.12 * splay_sign[f] * spread * (1.0 - 0.7 * np.clip(own, 0, 1))
        pose[:, mcp] += abduction[:, None] * np.array([0.0, 1.0, 0.0])
        pose[:, pip] = pip_amount[:, None] * axes[pip]
        pose[:, dip] = (0.6 * pip_amount + 0.08 * rng.normal(size=n))[:, None] * axes[dip]
    opp = np.clip(closure + 0.25 * rng.normal(size=n), -0.1, 1.1)
    pose[:, 13] = (0.55 * opp)[:, None] * axes[13] + (0.25 * rng.normal(size=n))[:, None] * np.array([1.0, 0, 0])
    pose[:, 14] = (0.6 * np.clip(opp + 0.2 * rng.normal(size=n), 0, 1))[:, None] * axes[14]
    pose[:, 15] = (0.8 * np.clip(opp + 0.25 * rng.normal(size=n), -0.1, 1))[:, None] * axes[15]
    x = pose[:, 1:].reshape(n, 45) + 0.03 * rng.normal(size=(n, 45))
    mean = x.mean(axis=0)
    # einsum without BLAS and our own Jacobi solver: threaded BLAS/LAPACK sum in an order that
    # depends on the thread count, and the asset must be reproducible bit for bit.
    xc = x - mean
    cov = np.einsum("ni,nj->ij", xc, xc, optimize=False) / (n - 1)
    evals, evecs = _jacobi_eigh(cov)
    order = np.argsort(-evals, kind="stable")
    comps = evecs[:, order].T.copy()
    # Fix each direction's sign (largest entry positive) so the basis is reproducible.
    big = np.argmax(np.abs(comps), axis=1)
    comps *= np.sign(comps[np.arange(45), big])[:, None]
    return np.round(comps, 12), np.round(mean, 12)


# ----------------------------------------------------------------------------------------------
# Assembly


def build_open_hand(params: OpenHandParams = OpenHandParams()) -> dict[str, np.ndarray]:
    """All arrays of the open hand in MANO's layout (plus UVs, tips, wrist ring, part ids)."""
    p = params
    sk = skeleton(p)
    verts, faces = build_surface(p)
    ring = max(boundary_loops(faces), key=len)
    parts = primitive_bones(p, verts)
    weights = skinning_weights(p, verts, faces, parts)
    shapedirs, _, _ = shape_directions(p, sk, verts, weights)
    regressor = joint_regressor(verts, sk["joints"])
    posedirs = pose_correctives(p, verts, weights, regressor)
    vt, ft = uv_atlas(verts, faces)
    comps, mean = pose_basis(p)
    kintree = np.stack([PARENTS, np.arange(16)]).astype(np.int64)
    kintree[0, 0] = ROOT_PARENT
    return {
        "v_template": verts.astype(np.float64),
        "f": faces.astype(np.uint32),
        "shapedirs": np.round(shapedirs, 12),
        "posedirs": posedirs,
        "J_regressor": np.round(regressor, 12),
        "weights": weights,
        "kintree_table": kintree,
        "hands_components": comps,
        "hands_mean": mean,
        "vt": vt,
        "ft": ft,
        "tip_vertex_ids": tip_vertices(verts, parts, sk),
        "wrist_ring": ring.astype(np.int64),
        "part_ids": parts.astype(np.int64),
    }


def default_asset_path() -> Path:
    return Path(__file__).resolve().parent / "assets" / "open_hand_right.npz"


def write_open_hand(path: str | Path | None = None, params: OpenHandParams = OpenHandParams()) -> Path:
    """Generate the hand and store it as a compressed `.npz` (loadable with allow_pickle=False)."""
    path = Path(path) if path is not None else default_asset_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **build_open_hand(params))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the open procedural right hand (MANO layout).")
    parser.add_argument("--out", default=None, help="output .npz (default: the packaged asset)")
    args = parser.parse_args(argv)
    print(write_open_hand(args.out))


if __name__ == "__main__":
    main()
