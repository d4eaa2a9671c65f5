"""The forearm: a tapered, slightly flattened limb attached at the hand's open wrist, bare or
clothed (short or long sleeve), with UVs, part labels, textures and posing.

Conventions
- Frame: the hand's rest frame (metres; fingers along -x, thumb +z, palm -y). The hand's wrist
  opening is a (near-)planar boundary loop (`wrist_ring`, at x ≈ +0.012 for the open hand); the
  forearm starts there and runs along the loop's normal away from the hand (+x for the open
  hand) for `length` metres, then closes with a rounded cap (the elbow end). Width (8 cm at
  the elbow) is along the loop's longest direction (z), depth (6.5 cm) across it (y).
- Topology: vertices `[0, k)` of a `ForearmMesh` are copies of the hand's ring vertices, in
  ring order and at exactly the same positions, so `hand + forearm` (merging those duplicates)
  is a closed, consistently oriented surface. Faces are counter-clockwise seen from outside
  (outward right-hand-rule normals), like the hand and the renderer's `MeshPart`.
- Parts: `face_part` 0 = skin, 1 = sleeve (cloth). Each part has its own UV space in [0, 1]
  (OBJ convention, v = 0 at the bottom image row); `ForearmMesh.part(...)` returns a compact
  sub-mesh with `uv = {"vt", "ft"}` for a renderer `MeshPart` (label 2, forearm).
  Skin UVs are cylindrical: u = position around the limb (u = 0 = 1 at the hand's first ring
  vertex, on the palmar side for the open hand), v = arc length along the profile from the
  wrist (v = 0) to the cap's apex (v = 1); the skin texture is a full square chart.
  Sleeve UVs: u around, v = arc length along the cloth's profile (outer surface from the far
  end, over the hem, back along the inside), scaled so the clothing texture is isotropic.
- Posing: the forearm is rigidly attached to the hand's root (wrist joint 0): a posed vertex
  is `R (v - wrist_rest) + wrist_posed` with R the global orientation. The hand's ring
  vertices are not 100 % wrist-skinned (the open hand's carry up to 14 % thumb-CMC weight, a
  few mm off rigid), so `pose_forearm` optionally takes the posed hand's ring and blends the
  difference into the first 5 cm of the forearm: the two rings then coincide exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..color import linear_to_srgb, srgb_to_linear, to_srgb8
from ..viz import vertex_normals
from .skin import SkinFields, SkinParams, bake_atlas, skin_shade

__all__ = ["ForearmMesh", "ForearmParams", "clothing_texture", "forearm_mesh", "forearm_skin_texture",
           "pose_forearm", "sleeve_texture", "STYLES"]

STYLES = ("bare", "short_sleeve", "long_sleeve")
SKIN, SLEEVE = 0, 1
# The correction that makes a posed forearm meet the posed hand's (skinned) ring fades out over
# this distance from the wrist (m): long enough to look smooth, short enough to stay rigid.
RING_BLEND_M = 0.05


@dataclass(frozen=True)
class ForearmParams:
    """Shape of the limb and its sleeve. Lengths in metres; `seed` jitters girth, sleeve
    position and looseness, and folds."""

    style: str = "bare"
    length: float = 0.22
    elbow_width: float = 0.080  # full width (along z) at the elbow end
    elbow_depth: float = 0.065  # full depth (along y) at the elbow end
    cap_height: float = 0.022  # the rounded elbow end beyond `length`
    seed: int = 0

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"forearm style must be one of {STYLES}, got {self.style!r}")
        if not 0.05 <= self.length <= 0.5:
            raise ValueError(f"forearm length must be in [0.05, 0.5] m, got {self.length}")


@dataclass
class ForearmMesh:
    """A forearm (and sleeve) mesh in the hand's rest frame. See the module docstring.

    `ring_param` (N, 2): per vertex, its position around the ring (in ring-vertex units, [0, k))
    and its distance along the limb from the wrist (m); used by `pose_forearm`.
    `sleeve_extent` (length_m, width_m): physical size the sleeve's UV square spans;
    `cuff_v` (v0, v1): the sleeve's cuff band in sleeve v (long sleeves), else None."""

    vertices: np.ndarray
    faces: np.ndarray
    vt: np.ndarray
    ft: np.ndarray
    face_part: np.ndarray
    ring: np.ndarray
    ring_param: np.ndarray
    style: str
    params: ForearmParams
    sleeve_extent: tuple[float, float] | None = None
    cuff_v: tuple[float, float] | None = None
    hem_v: float | None = None

    @property
    def uv(self) -> dict[str, np.ndarray]:
        return {"vt": self.vt, "ft": self.ft}

    def part(self, which: str | int, vertices: np.ndarray | None = None):
        """(vertices, faces, uv) of the skin ("skin"/0) or sleeve ("sleeve"/1) faces only,
        compacted; `vertices` replaces the rest positions (e.g. posed ones)."""
        code = {"skin": SKIN, "sleeve": SLEEVE}.get(which, which)
        if code not in (SKIN, SLEEVE):
            raise ValueError(f"part must be 'skin' or 'sleeve', got {which!r}")
        sel = self.face_part == code
        faces = self.faces[sel]
        used = np.unique(faces)
        remap = np.full(len(self.vertices), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        ft = self.ft[sel]
        used_t = np.unique(ft)
        remap_t = np.full(len(self.vt), -1, dtype=np.int64)
        remap_t[used_t] = np.arange(len(used_t))
        verts = self.vertices if vertices is None else np.asarray(vertices)
        return verts[used], remap[faces], {"vt": self.vt[used_t], "ft": remap_t[ft]}


# ---------------------------------------------------------------------------------------------
# Geometry


def _smoothstep(e0, e1, x):
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _ellipse_radius(theta: np.ndarray, a: float, b: float) -> np.ndarray:
    """Polar radius of an ellipse with semi-axes a (along z) and b (along y) at angle theta
    (theta = atan2(y, z))."""
    return a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)


class _Limb:
    """The skin surface as a function of (column, s): polar radius around a straight axis."""

    def __init__(self, ring_pts: np.ndarray, hand_centroid: np.ndarray, p: ForearmParams,
                 rng: np.random.Generator):
        # Local frame: the limb's axis is the ring plane's normal pointing away from the hand
        # (+x for the open hand); width along the ring's longest in-plane direction (z for the
        # open hand), depth completing a right-handed frame (y). Works for any hand layout.
        self.center = ring_pts.mean(axis=0)
        _, _, vh = np.linalg.svd(ring_pts - self.center)
        axis = vh[2] if np.dot(vh[2], self.center - hand_centroid) > 0 else -vh[2]
        e_w = vh[0] - np.dot(vh[0], axis) * axis
        e_w /= np.linalg.norm(e_w)
        e_w = e_w if e_w[np.argmax(np.abs(e_w))] > 0 else -e_w
        self.axis, self.e_w, self.e_d = axis, e_w, np.cross(e_w, axis)
        local = ring_pts - self.center
        rel = np.stack([local @ self.e_d, local @ self.e_w], axis=1)  # (depth, width)
        theta = np.unwrap(np.arctan2(rel[:, 0], rel[:, 1]))
        self.increasing = theta[-1] > theta[0]
        rho = np.hypot(rel[:, 0], rel[:, 1])
        k = len(ring_pts)
        # Columns: every ring vertex and the midpoint of every ring edge (2k around), so the
        # limb is twice as smooth as the ring while the ring row itself stays exactly the hand's.
        th_next = np.append(theta[1:], theta[0] + (2 * np.pi if self.increasing else -2 * np.pi))
        rho_next = np.roll(rho, -1)
        self.theta = np.stack([theta, 0.5 * (theta + th_next)], 1).reshape(-1)
        self.rho_ring = np.stack([rho, 0.5 * (rho + rho_next)], 1).reshape(-1)
        self.k = k
        self.length = p.length
        girth = float(np.exp(rng.normal(scale=0.05)))
        self.a0 = float(np.abs(rel[:, 1]).max())
        self.b0 = float(np.abs(rel[:, 0]).max())
        self.a1 = 0.5 * p.elbow_width * girth
        self.b1 = 0.5 * p.elbow_depth * girth
        self.cap = p.cap_height

    def axes(self, s: np.ndarray):
        # Forearms widen from the wrist to the muscle bellies in the proximal third.
        w = _smoothstep(0.0, 0.85 * self.length, s)
        return self.a0 + (self.a1 - self.a0) * w, self.b0 + (self.b1 - self.b0) * w

    def radius(self, s: float) -> np.ndarray:
        """(2k,) polar radius of every column at distance s (0 ≤ s ≤ length)."""
        a, b = self.axes(np.asarray(s))
        grow = (a + b) / (self.a0 + self.b0)
        beta = _smoothstep(0.0, 0.07, s)  # the ring's own shape fades into an ellipse
        return (1 - beta) * self.rho_ring * grow + beta * _ellipse_radius(self.theta, a, b)

    def points(self, s: float, rho: np.ndarray) -> np.ndarray:
        """(2k, 3) points at axial distance s (may exceed length: the cap) with radii rho."""
        return (self.axis_point(s)[None] + (rho * np.sin(self.theta))[:, None] * self.e_d
                + (rho * np.cos(self.theta))[:, None] * self.e_w)

    def axis_point(self, s: float) -> np.ndarray:
        return self.center + s * self.axis


def _grid_faces(rows: list[np.ndarray]) -> list[np.ndarray]:
    """Quads (two triangles) between consecutive rows of equal length M (closed around)."""
    out = []
    for a, b in zip(rows[:-1], rows[1:]):
        a1, b1 = np.roll(a, -1), np.roll(b, -1)
        out += [np.stack([a, b, b1], 1), np.stack([a, b1, a1], 1)]
    return out


def _grid_uv(n_rows_v: np.ndarray, m: int, v0: int = 0):
    """UV vertices for rows (M + 1 per row: the seam column is duplicated) and a function
    mapping (row, column) to vt index."""
    u = np.arange(m + 1) / m
    vt = np.stack([np.tile(u, len(n_rows_v)), np.repeat(n_rows_v, m + 1)], 1)
    return vt, lambda r, c: v0 + r * (m + 1) + c


def _tube(limb: _Limb, profile: list[tuple[float, np.ndarray]], v_of_row: np.ndarray, base_index: int,
          base_vt: int, apex: tuple[float, float, float] | None):
    """Vertices, faces and UV faces for rows given as (s, radius per column) along a profile,
    optionally closed by an apex vertex (x, y, z). Returns (verts, faces, vt, ft)."""
    m = len(limb.theta)
    verts = np.concatenate([limb.points(s, rho) for s, rho in profile])
    rows = [base_index + r * m + np.arange(m) for r in range(len(profile))]
    faces = _grid_faces(rows)
    vt, vidx = _grid_uv(v_of_row[:len(profile)], m, base_vt)
    cols = np.arange(m)
    ft = []
    for r in range(len(profile) - 1):
        a, b = vidx(r, cols), vidx(r + 1, cols)
        a1, b1 = vidx(r, cols + 1), vidx(r + 1, cols + 1)
        ft += [np.stack([a, b, b1], 1), np.stack([a, b1, a1], 1)]
    if apex is not None:
        apex_id = base_index + len(verts)
        verts = np.concatenate([verts, np.array([apex])])
        last = rows[-1]
        faces.append(np.stack([last, np.full(m, apex_id), np.roll(last, -1)], 1))
        # The apex gets one UV per face (u at the face's middle): no degenerate pinch.
        apex_vt = np.stack([(cols + 0.5) / m, np.full(m, v_of_row[len(profile)])], 1)
        ft.append(np.stack([vidx(len(profile) - 1, cols), base_vt + len(vt) + cols,
                            vidx(len(profile) - 1, cols + 1)], 1))
        vt = np.concatenate([vt, apex_vt])
    return verts, np.concatenate(faces), vt, np.concatenate(ft)


def forearm_mesh(hand_vertices_rest: np.ndarray, wrist_ring: np.ndarray, style: str = "bare",
                 length: float = 0.22, seed: int = 0, params: ForearmParams | None = None) -> ForearmMesh:
    """The forearm for a hand at rest (`hand_vertices_rest` (V, 3), with its shape applied) whose
    open wrist is the ordered boundary loop `wrist_ring` (k,). See the module docstring."""
    p = params or ForearmParams(style=style, length=length, seed=seed)
    rng = np.random.default_rng(p.seed)
    ring_ids = np.asarray(wrist_ring, dtype=np.int64)
    ring_pts = np.asarray(hand_vertices_rest, dtype=np.float64)[ring_ids]
    limb = _Limb(ring_pts, np.asarray(hand_vertices_rest, dtype=np.float64).mean(axis=0), p, rng)
    k, m = limb.k, 2 * limb.k

    # --- skin: ring row (k), tube rows (2k), cap rows (2k), apex
    n_tube, n_cap = 40, 7
    s_tube = p.length * (np.arange(1, n_tube + 1) / n_tube) ** 1.25  # denser near the wrist
    phis = np.linspace(0, np.pi / 2, n_cap + 1)[1:-1]
    profile = [(float(s), limb.radius(s)) for s in s_tube]
    rim = limb.radius(p.length)
    profile += [(p.length + p.cap_height * np.sin(f), rim * np.cos(f)) for f in phis]
    apex = limb.axis_point(p.length + p.cap_height)
    # v = arc length along the profile (at the column-mean radius), wrist 0 → apex 1.
    s_all = np.concatenate([[0.0], [s for s, _ in profile], [p.length + p.cap_height]])
    r_all = np.concatenate([[limb.rho_ring.mean()], [r.mean() for _, r in profile], [0.0]])
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(s_all), np.diff(r_all)))])
    v_skin = arc / arc[-1]
    tube_v, tube_f, tube_vt, tube_ft = _tube(limb, profile, v_skin[1:], base_index=k, base_vt=k + 1, apex=apex)
    # Ring row → first tube row: each ring edge (j, j+1) meets tube columns 2j, 2j+1, 2j+2.
    j = np.arange(k)
    j1 = (j + 1) % k
    q0, q1, q2 = k + 2 * j, k + 2 * j + 1, k + (2 * j + 2) % m
    ring_faces = np.concatenate([np.stack([j, q0, q1], 1), np.stack([j, q1, j1], 1), np.stack([j1, q1, q2], 1)])
    ring_vt = np.stack([np.arange(k + 1) / k, np.zeros(k + 1)], 1)  # k + 1: seam duplicated
    t0 = k + 1  # first tube vt index; tube row 0 vt of column c is t0 + c
    ring_ft = np.concatenate([np.stack([j, t0 + 2 * j, t0 + 2 * j + 1], 1),
                              np.stack([j, t0 + 2 * j + 1, j + 1], 1),
                              np.stack([j + 1, t0 + 2 * j + 1, t0 + 2 * j + 2], 1)])
    verts = [ring_pts, tube_v]
    faces = [ring_faces, tube_f]
    vts = [ring_vt, tube_vt]
    fts = [ring_ft, tube_ft]
    parts = [np.zeros(len(ring_faces) + len(tube_f), dtype=np.int64)]
    # ring parameter (position around, distance along) of every skin vertex
    around = np.arange(m) / 2.0
    rp = [np.stack([np.arange(k, dtype=np.float64), np.zeros(k)], 1)]
    rp += [np.stack([around, np.full(m, s)], 1) for s, _ in profile]
    rp.append(np.array([[0.0, p.length + p.cap_height]]))

    sleeve_extent = cuff_v = hem_v = None
    if p.style != "bare":
        sv, sf, svt, sft, srp, sleeve_extent, cuff_v, hem_v = _sleeve(limb, p, rng, base_index=sum(map(len, verts)),
                                                                       base_vt=sum(map(len, vts)))
        verts.append(sv)
        faces.append(sf)
        vts.append(svt)
        fts.append(sft)
        parts.append(np.ones(len(sf), dtype=np.int64))
        rp.append(srp)
    mesh = ForearmMesh(vertices=np.concatenate(verts), faces=np.concatenate(faces), vt=np.concatenate(vts),
                       ft=np.concatenate(fts), face_part=np.concatenate(parts), ring=np.arange(k),
                       ring_param=np.concatenate(rp), style=p.style, params=p, sleeve_extent=sleeve_extent,
                       cuff_v=cuff_v, hem_v=hem_v)
    _orient_outward(mesh)
    return mesh


def _sleeve(limb: _Limb, p: ForearmParams, rng: np.random.Generator, base_index: int, base_vt: int):
    """A closed cloth shell (a thick "sock"): outer surface from the far end to the hem, a
    rounded hem of the cloth's thickness, the inner surface back to the far end, both closed by
    domes over the elbow cap. The gap to the skin is always > 1 mm (no intersections)."""
    m = len(limb.theta)
    thick = float(rng.uniform(0.0025, 0.0035))
    if p.style == "short_sleeve":
        # Short sleeves end above the elbow: only their edge shows, near the far end.
        hem = p.length - float(rng.uniform(0.03, 0.06))
        loose = float(rng.uniform(0.010, 0.016))

        def offset(s):  # gap skin → inner cloth surface
            return loose * (0.8 + 0.2 * _smoothstep(hem, p.length, s))

        cuff = None
    else:
        # Long sleeves reach near the wrist; a snug ribbed cuff, then the looser sleeve.
        hem = float(rng.uniform(0.02, 0.05))
        cuff_len = float(rng.uniform(0.03, 0.06))
        snug, loose = float(rng.uniform(0.0025, 0.004)), float(rng.uniform(0.008, 0.016))

        def offset(s):
            return snug + (loose - snug) * _smoothstep(hem + cuff_len, hem + cuff_len + 0.03, s)

        cuff = (hem, hem + cuff_len)
    # Folds: low-order waves around the limb (periodic in theta), amplitude below the gap.
    n_f = 4
    orders = rng.integers(2, 7, size=n_f)
    omegas = rng.uniform(20, 60, size=n_f)
    phases = rng.uniform(0, 2 * np.pi, size=n_f)

    def folds(s: float) -> np.ndarray:
        amp = 0.0015 if p.style == "long_sleeve" else 0.001
        if cuff is not None:
            amp = amp * _smoothstep(cuff[1], cuff[1] + 0.02, s)
        w = sum(np.cos(o * limb.theta + om * s + ph) for o, om, ph in zip(orders, omegas, phases)) / np.sqrt(n_f)
        return amp * w

    def section(s: float, extra: float) -> np.ndarray:
        s_skin = min(s, p.length)
        return limb.radius(s_skin) + offset(s_skin) + extra + folds(s_skin)

    n_body = 30 if p.style == "long_sleeve" else 8
    s_body = np.linspace(p.length, hem, n_body)
    cap = p.cap_height
    phis = np.linspace(0, np.pi / 2, 7)[1:-1][::-1]  # from near the apex down to the rim
    rows: list[tuple[float, np.ndarray]] = []

    def dome(extra: float, ph: np.ndarray):
        r = limb.radius(p.length) + offset(p.length) + extra + folds(p.length)
        h = cap + offset(p.length) + extra
        return [(p.length + h * np.sin(f), r * np.cos(f)) for f in ph]

    # outer: apex side dome → far rim → body to the hem
    rows += dome(thick, phis)
    rows += [(float(s), section(float(s), thick)) for s in s_body]
    # hem: a half roll from the outer to the inner surface, bulging towards the wrist
    for psi in np.linspace(0, np.pi, 6)[1:-1]:
        rows.append((hem - 0.5 * thick * np.sin(psi), section(hem, 0.5 * thick + 0.5 * thick * np.cos(psi))))
    rows += [(float(s), section(float(s), 0.0)) for s in s_body[::-1]]
    rows += dome(0.0, phis[::-1])
    s_apex_out = p.length + cap + offset(p.length) + thick
    s_apex_in = p.length + cap + offset(p.length)
    # v: arc length along the profile; the sleeve's UV square spans (arc length, circumference)
    s_all = np.array([s_apex_out] + [s for s, _ in rows] + [s_apex_in])
    r_all = np.array([0.0] + [r.mean() for _, r in rows] + [0.0])
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(s_all), np.diff(r_all)))])
    v = 1.0 - arc / arc[-1]  # the outer apex at the top of the texture
    # Rows, then the two apex vertices with fans (first row ↔ outer apex, last ↔ inner apex).
    verts, faces, vt, ft = _tube(limb, rows, v[1:], base_index, base_vt, apex=limb.axis_point(s_apex_in))
    out_apex = base_index + len(verts)
    verts = np.concatenate([verts, limb.axis_point(s_apex_out)[None]])
    first = base_index + np.arange(m)
    faces = np.concatenate([faces, np.stack([first, np.roll(first, -1), np.full(m, out_apex)], 1)])
    cols = np.arange(m)
    apex_vt0 = base_vt + len(vt)
    vt = np.concatenate([vt, np.stack([(cols + 0.5) / m, np.full(m, v[0])], 1)])
    ft = np.concatenate([ft, np.stack([base_vt + cols, base_vt + cols + 1, apex_vt0 + cols], 1)])
    around = np.arange(m) / 2.0
    rp = np.concatenate([np.stack([around, np.full(m, min(s, p.length))], 1) for s, _ in rows]
                        + [np.array([[0.0, p.length + cap], [0.0, p.length + cap]])])
    circumference = float(np.mean([2 * np.pi * r.mean() for _, r in rows]))
    extent = (float(arc[-1]), circumference)

    def v_at(s: float) -> float:  # v of the outer surface at axial distance s
        outer = [i for i, (ss, _) in enumerate(rows) if i < len(phis) + n_body]
        ss = np.array([rows[i][0] for i in outer])
        return float(np.interp(s, ss[::-1], v[1:][outer][::-1]))

    cuff_v = (v_at(cuff[1]), v_at(cuff[0])) if cuff is not None else None
    return verts, faces, vt, ft, rp, extent, cuff_v, v_at(hem)


def _orient_outward(mesh: ForearmMesh) -> None:
    """Make every face counter-clockwise from outside. Each part is consistently oriented by
    construction; flip a part whose enclosed signed volume (the skin closed by a fan over the
    ring) is negative."""
    v = mesh.vertices
    for code in (SKIN, SLEEVE):
        sel = np.nonzero(mesh.face_part == code)[0]
        if len(sel) == 0:
            continue
        f = mesh.faces[sel]
        # signed volume of the part closed by the ring's fan (skin) or itself (sleeve)
        vol = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6.0
        if code == SKIN:
            centroid = v[mesh.ring].mean(axis=0)
            r = mesh.ring
            r1 = np.roll(r, -1)
            # fan triangles (r, r1, centroid): the ring edges in the opposite direction to the
            # ring faces' (a consistent closure whichever way the ring runs)
            fan = np.einsum("ij,ij->i", v[r], np.cross(v[r1], np.broadcast_to(centroid, (len(r), 3)))).sum() / 6.0
            vol += fan
        if vol < 0:
            mesh.faces[sel] = f[:, ::-1]
            mesh.ft[sel] = mesh.ft[sel][:, ::-1]


# ---------------------------------------------------------------------------------------------
# Posing


def pose_forearm(forearm: ForearmMesh, rotation: np.ndarray, wrist_posed: np.ndarray,
                 wrist_rest: np.ndarray = (0.0, 0.0, 0.0), posed_ring: np.ndarray | None = None) -> np.ndarray:
    """Posed forearm vertices (N, 3): rigidly attached to the hand's root,
    `R (v - wrist_rest) + wrist_posed`, with R the hand's global orientation (3, 3) and the
    wrist joint (MANO joint 0) at rest and posed (the hand output's `joints[0]`).

    With `posed_ring` (k, 3) — the posed hand's ring vertices, `hand_vertices[wrist_ring]` —
    the gap between them and the rigidly posed ring (a few mm: the ring is partly skinned to
    the thumb) is blended into the forearm over `RING_BLEND_M`, so the rings coincide exactly.

    With the project's `HandModel`: build the forearm from `rest = model(betas=b)` (zero pose)
    as `forearm_mesh(rest.vertices[0], wrist_ring, ...)`, then for `out = model(go, hp, b, t)`:
    `pose_forearm(fm, axis_angle_to_matrix(go)[0], out.joints[0, 0], rest.joints[0, 0],
    out.vertices[0, wrist_ring])`."""
    R = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    out = (forearm.vertices - np.asarray(wrist_rest, dtype=np.float64)) @ R.T + np.asarray(wrist_posed, np.float64)
    if posed_ring is not None:
        k = len(forearm.ring)
        delta = np.asarray(posed_ring, dtype=np.float64) - out[forearm.ring]
        t = forearm.ring_param[:, 0]
        j0 = np.floor(t).astype(np.int64) % k
        frac = (t - np.floor(t))[:, None]
        d = (1 - frac) * delta[j0] + frac * delta[(j0 + 1) % k]
        w = _smoothstep(RING_BLEND_M, 0.0, forearm.ring_param[:, 1])[:, None]
        out = out + w * d
        out[forearm.ring] = posed_ring  # exact (no rounding from the blend)
    return out


# ---------------------------------------------------------------------------------------------
# Textures


def forearm_skin_texture(forearm: ForearmMesh, params, size: int = 512) -> np.ndarray:
    """(size, size, 3) uint8 sRGB skin texture of the forearm's skin part (`params`: a
    `SkinParams` or an `AppearanceSpec`): the same tone and
    3D fields (mottling, freckles, ventral lightening) as the hand's `skin_texture` with the
    same params, evaluated on the forearm's rest surface: continuous at the wrist."""
    params = SkinParams.coerce(params)
    verts, faces, uv = forearm.part("skin")
    bake = bake_atlas(uv["vt"], uv["ft"], size)
    fields = SkinFields.draw(params)
    pts = bake.interpolate(faces, verts)
    nrm = bake.interpolate(faces, vertex_normals(verts, faces))
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng([params.seed, 2])
    col = skin_shade(pts, nrm, fields, rng=rng)
    return bake.fill(to_srgb8(col))


def _periodic_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Unit-variance noise, smooth at `scale_px`, periodic in both axes (FFT-filtered)."""
    h, w = shape
    white = rng.standard_normal((h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None]
    filt = np.exp(-0.5 * ((fx ** 2 + fy ** 2) * (2 * np.pi * scale_px) ** 2))
    out = np.fft.irfft2(np.fft.rfft2(white) * filt, s=(h, w))
    return out / max(float(out.std()), 1e-12)


CLOTH_PATTERNS = ("solid", "stripes", "checks", "knit")


def clothing_texture(color, pattern_seed: int, size: tuple[int, int] = (512, 512),
                     extent_m: tuple[float, float] = (0.25, 0.25), pattern: str | None = None) -> np.ndarray:
    """A fabric texture (H, W, 3) uint8 sRGB: solid (with weave grain), stripes, checks or
    knit, chosen by `pattern_seed` unless `pattern` is given. `color` is the dominant linear RGB
    colour; `extent_m` = (height, width) in metres that the image covers on the garment, so
    pattern sizes are physical. Periodic in both axes (a seamless tile: the sleeve's u seam is
    invisible)."""
    rng = np.random.default_rng(pattern_seed)
    h, w = size
    kind = pattern or CLOTH_PATTERNS[int(rng.integers(len(CLOTH_PATTERNS)))]
    if kind not in CLOTH_PATTERNS:
        raise ValueError(f"pattern must be one of {CLOTH_PATTERNS}, got {kind!r}")
    base = np.clip(np.asarray(color, dtype=np.float64), 0.0, 1.0)
    px_per_m = np.array([h / extent_m[0], w / extent_m[1]])
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")  # [0, 1) periodic

    def periods(axis: int, period_m: float) -> int:  # a whole number of repeats: seamless
        return max(1, int(round(extent_m[axis] / period_m)))

    # Second colour: a contrasting or tonal partner of the dominant one.
    hsv_shift = rng.uniform(0.25, 0.6) if rng.uniform() < 0.5 else 0.0
    partner = np.roll(base, 1) * hsv_shift + (1 - hsv_shift) * base * rng.uniform(0.25, 0.6)
    if rng.uniform() < 0.3:
        partner = np.full(3, 0.8) if base.mean() < 0.3 else np.full(3, 0.03)
    img = np.broadcast_to(base, (h, w, 3)).copy()
    if kind == "stripes":
        along = rng.uniform() < 0.7  # stripes around the arm (rows) are the common case
        axis = 0 if along else 1
        n = periods(axis, float(rng.uniform(0.006, 0.03)))
        t = (yy if along else xx) * n % 1.0
        duty = rng.uniform(0.2, 0.5)
        m = _smoothstep(duty - 0.02, duty, t) - _smoothstep(1.0 - 0.02, 1.0, t)
        img = img * (1 - m[..., None]) + partner * m[..., None]
    elif kind == "checks":
        ny, nx = periods(0, float(rng.uniform(0.01, 0.04))), periods(1, float(rng.uniform(0.01, 0.04)))
        band_y = _smoothstep(0.45, 0.5, (yy * ny) % 1.0) * _smoothstep(1.0, 0.95, (yy * ny) % 1.0)
        band_x = _smoothstep(0.45, 0.5, (xx * nx) % 1.0) * _smoothstep(1.0, 0.95, (xx * nx) % 1.0)
        # Plaid: the two band sets overlap as in woven checks (their crossings darkest).
        m = np.clip(0.55 * band_x + 0.55 * band_y, 0, 1)
        img = img * (1 - m[..., None]) + partner * m[..., None]
    elif kind == "knit":
        # Knit: columns of V-shaped stitches (wales) with per-stitch shading.
        ny, nx = periods(0, 0.003), periods(1, 0.0035)
        u = (xx * nx) % 1.0
        vv = (yy * ny + 0.35 * np.abs(u - 0.5)) % 1.0
        stitch = 0.75 + 0.25 * np.sin(np.pi * vv) * (1 - 0.6 * np.abs(2 * u - 1) ** 4)
        img = img * stitch[..., None]
    # Weave grain and slight dye unevenness (all patterns).
    grain = _periodic_noise(rng, (h, w), 0.7)
    blotch = _periodic_noise(rng, (h, w), 0.04 * min(px_per_m))
    img = img * (1 + 0.05 * grain + 0.04 * blotch)[..., None]
    return np.round(linear_to_srgb(np.clip(img, 0, 1)) * 255).astype(np.uint8)


def sleeve_texture(forearm: ForearmMesh, color, pattern_seed: int, size: int = 512) -> np.ndarray:
    """The sleeve part's texture: `clothing_texture` over the sleeve's physical UV extent, with
    a ribbed cuff band (long sleeves) and a stitched hem line."""
    if forearm.sleeve_extent is None:
        raise ValueError("a bare forearm has no sleeve")
    tex = clothing_texture(color, pattern_seed, (size, size), forearm.sleeve_extent)
    lin = srgb_to_linear(tex / 255.0)
    h, w = tex.shape[:2]
    v = 1.0 - (np.arange(h) + 0.5) / h  # v of each row (v = 0 at the bottom)
    if forearm.cuff_v is not None:
        v0, v1 = sorted(forearm.cuff_v)
        band = (_smoothstep(v0 - 0.003, v0, v) * _smoothstep(v1 + 0.003, v1, v))[:, None]
        ribs = max(1, int(round(forearm.sleeve_extent[1] / 0.004)))
        rib = 0.8 + 0.2 * np.abs(np.sin(np.pi * ribs * np.arange(w) / w))[None]
        lin = lin * (1 - band[..., None] + band[..., None] * rib[..., None])
    if forearm.hem_v is not None:
        stitch_v = forearm.hem_v + 0.008  # a stitch line just above the hem, on the outside
        line = np.exp(-((v - stitch_v) / 0.0015) ** 2)[:, None]
        dashes = (np.sin(2 * np.pi * np.arange(w) / w * max(1, int(forearm.sleeve_extent[1] / 0.004))) > 0)[None]
        lin = lin * (1 - 0.35 * line * dashes)[..., None]
    return np.round(linear_to_srgb(lin) * 255).astype(np.uint8)
