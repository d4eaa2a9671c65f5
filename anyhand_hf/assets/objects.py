"""Graspable objects: a procedural library of everyday shapes and a loader for folders of meshes.

An object lives in its own frame (metres, centred at its bounding-box centre) and carries what
the other stages need: a render mesh, a signed distance (positive outside) for grasp synthesis,
and convex pieces for the physics check. Procedural objects are unions of primitives (box,
cylinder, sphere, capsule, torus) whose signed distances are analytic, so grasp synthesis needs
no voxel grid; a union's distance is the minimum over its primitives (exact outside, a lower
bound of the depth inside where two primitives overlap). Loaded meshes use trimesh's exact
signed distance (watertight meshes) or, for open meshes, their convex hull's.

Sizes: every procedural kind keeps its longest side within 2–25 cm (a hand's range).
Materials: a base colour (sRGB), roughness, metallic, and optionally a two-colour pattern
texture mapped by per-face planar projection (works for any mesh, no UV unwrapping).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from ..color import hsv_linear, linear_to_srgb

__all__ = [
    "MESH_TYPES", "OBJECT_KINDS", "GraspObject", "MeshFolder", "ObjectLoadError", "Primitive", "load_mesh_object",
    "object_texture", "planar_uv", "procedural_object", "sample_object_params",
]

OBJECT_KINDS: tuple[str, ...] = ("box", "cylinder", "bottle", "mug", "sphere", "tool", "torus", "plate")
MESH_TYPES = (".obj", ".glb", ".gltf", ".ply", ".stl", ".off")
SIZE_RANGE_M = (0.02, 0.25)
TORUS_PIECES = 12  # convex sectors a torus is split into for physics


class ObjectLoadError(ValueError):
    """A mesh file that cannot be used as an object (unreadable, empty, degenerate)."""


@dataclass(frozen=True)
class Primitive:
    """One analytic solid in the object frame: `kind` box (`size` = half extents), cylinder
    (radius, half height; axis z), sphere (radius), capsule (radius, half length of the axis
    segment; axis z) or torus (major, minor radius; in the xy plane), placed by `pose` (4×4)."""

    kind: str
    size: tuple[float, ...]
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))

    def mesh(self) -> trimesh.Trimesh:
        s = self.size
        if self.kind == "box":
            m = trimesh.creation.box(extents=2 * np.asarray(s))
        elif self.kind == "cylinder":
            m = trimesh.creation.cylinder(radius=s[0], height=2 * s[1], sections=64)
        elif self.kind == "sphere":
            m = trimesh.creation.icosphere(subdivisions=4, radius=s[0])
        elif self.kind == "capsule":
            m = trimesh.creation.capsule(height=2 * s[1], radius=s[0], count=[48, 24])
        elif self.kind == "torus":
            m = trimesh.creation.torus(major_radius=s[0], minor_radius=s[1], major_sections=64, minor_sections=24)
        else:
            raise ValueError(f"unknown primitive kind {self.kind!r}")
        return m.apply_transform(self.pose)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """(N,3) object-frame points -> (N,) signed distance, positive outside."""
        R, t = self.pose[:3, :3], self.pose[:3, 3]
        p = (points - t) @ R  # into the primitive's frame
        s = self.size
        if self.kind == "box":
            q = np.abs(p) - np.asarray(s)
            return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
        if self.kind == "cylinder":
            q = np.stack([np.linalg.norm(p[:, :2], axis=1) - s[0], np.abs(p[:, 2]) - s[1]], 1)
            return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
        if self.kind == "sphere":
            return np.linalg.norm(p, axis=1) - s[0]
        if self.kind == "capsule":
            z = np.clip(p[:, 2], -s[1], s[1])
            return np.linalg.norm(p - np.stack([0 * z, 0 * z, z], 1), axis=1) - s[0]
        if self.kind == "torus":
            ring = np.linalg.norm(p[:, :2], axis=1) - s[0]
            return np.hypot(ring, p[:, 2]) - s[1]
        raise ValueError(f"unknown primitive kind {self.kind!r}")

    def convex_pieces(self) -> list[np.ndarray]:
        """Vertex sets whose convex hulls cover the primitive (a torus: sectors)."""
        m = self.mesh()
        if self.kind != "torus":
            return [np.asarray(m.vertices)]
        local = (np.asarray(m.vertices) - self.pose[:3, 3]) @ self.pose[:3, :3]
        angle = np.arctan2(local[:, 1], local[:, 0]) % (2 * np.pi)
        width = 2 * np.pi / TORUS_PIECES
        # Sectors overlap by a sliver so that no gap opens between neighbouring hulls.
        return [np.asarray(m.vertices)[((angle - k * width) % (2 * np.pi)) < width * 1.08]
                for k in range(TORUS_PIECES)]


@dataclass
class GraspObject:
    """An object ready for grasping, physics and rendering, in its own frame (metres).

    `sdf` maps (N,3) points to signed distances (positive outside); `convex_pieces` are the
    vertex sets of its physics shapes; `scale` is the factor applied to the source (1 for
    procedural objects; e.g. 0.01 for a mesh found to be in centimetres)."""

    object_id: str
    source: str
    mesh: trimesh.Trimesh
    sdf: Callable[[np.ndarray], np.ndarray]
    convex_pieces: list[np.ndarray]
    scale: float = 1.0
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))  # the file's origin in the object frame
    texture: np.ndarray | None = None  # (H,W,3) uint8 from the file, with `uv`
    uv: dict[str, np.ndarray] | None = None

    @property
    def extents(self) -> np.ndarray:
        return np.asarray(self.mesh.extents)


def union(primitives: list[Primitive], object_id: str) -> GraspObject:
    """A procedural object: the union of its primitives, re-centred at its bounding-box centre."""
    mesh = trimesh.util.concatenate([p.mesh() for p in primitives])
    centre = mesh.bounds.mean(0)
    shift = np.eye(4)
    shift[:3, 3] = -centre
    placed = [Primitive(p.kind, p.size, shift @ p.pose) for p in primitives]
    mesh.apply_transform(shift)
    return GraspObject(object_id=object_id, source="procedural", mesh=mesh,
                       sdf=lambda x: np.min([p.sdf(x) for p in placed], axis=0),
                       convex_pieces=[v for p in placed for v in p.convex_pieces()])


def _pose(translation=(0.0, 0.0, 0.0), rotate_x_deg: float = 0.0) -> np.ndarray:
    T = np.eye(4)
    a = np.radians(rotate_x_deg)
    T[1:3, 1:3] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    T[:3, 3] = translation
    return T


def sample_object_params(kind: str, rng: np.random.Generator) -> dict[str, float]:
    """Dimensions (metres) of a procedural object of `kind`, in hand range."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    if kind == "box":
        sides = sorted([u(0.02, 0.07), u(0.03, 0.12), u(0.04, 0.20)])
        return {"x": sides[0], "y": sides[1], "z": sides[2]}
    if kind == "cylinder":
        return {"radius": u(0.012, 0.045), "height": u(0.04, 0.22)}
    if kind == "bottle":
        return {"radius": u(0.022, 0.042), "height": u(0.09, 0.17), "neck_radius": u(0.009, 0.015),
                "neck_height": u(0.03, 0.06)}
    if kind == "mug":
        return {"radius": u(0.03, 0.045), "height": u(0.07, 0.11), "handle_radius": u(0.022, 0.032),
                "handle_thickness": u(0.005, 0.008)}
    if kind == "sphere":
        return {"radius": u(0.012, 0.05)}
    if kind == "tool":
        return {"radius": u(0.009, 0.018), "length": u(0.10, 0.20), "head": float(rng.uniform() < 0.5),
                "head_size": u(0.02, 0.035)}
    if kind == "torus":
        return {"radius": u(0.03, 0.06), "thickness": u(0.006, 0.015)}
    if kind == "plate":
        return {"radius": u(0.05, 0.11), "thickness": u(0.006, 0.02)}
    raise ValueError(f"unknown object kind {kind!r}; known: {OBJECT_KINDS}")


def procedural_object(kind: str, params: dict[str, float], object_id: str | None = None) -> GraspObject:
    """The procedural object of `kind` with dimensions `params` (see `sample_object_params`)."""
    p = params
    if kind == "box":
        prims = [Primitive("box", (p["x"] / 2, p["y"] / 2, p["z"] / 2))]
    elif kind == "cylinder":
        prims = [Primitive("cylinder", (p["radius"], p["height"] / 2))]
    elif kind == "bottle":
        h, nh = p["height"], p["neck_height"]
        prims = [Primitive("cylinder", (p["radius"], h / 2)),
                 Primitive("capsule", (p["radius"] * 0.9, 0.0), _pose((0, 0, h / 2 - p["radius"] * 0.45))),
                 Primitive("cylinder", (p["neck_radius"], nh / 2), _pose((0, 0, h / 2 + p["radius"] * 0.3 + nh / 2)))]
    elif kind == "mug":
        r, h, hr = p["radius"], p["height"], p["handle_radius"]
        # The handle is a torus standing in the xz plane, its inner edge sunk into the wall.
        prims = [Primitive("cylinder", (r, h / 2)),
                 Primitive("torus", (hr, p["handle_thickness"]), _pose((r + hr * 0.5, 0, 0), rotate_x_deg=90))]
    elif kind == "sphere":
        prims = [Primitive("sphere", (p["radius"],))]
    elif kind == "tool":
        L = p["length"]
        prims = [Primitive("capsule", (p["radius"], L / 2 - p["radius"]))]
        if p["head"] >= 0.5:
            s = p["head_size"]
            prims.append(Primitive("box", (s * 2, s / 2, s / 2), _pose((0, 0, L / 2))))
    elif kind == "torus":
        prims = [Primitive("torus", (p["radius"], p["thickness"]))]
    elif kind == "plate":
        prims = [Primitive("cylinder", (p["radius"], p["thickness"] / 2))]
    else:
        raise ValueError(f"unknown object kind {kind!r}; known: {OBJECT_KINDS}")
    return union(prims, object_id or kind)


# ---------------------------------------------------------------------------------------------
# Materials


def planar_uv(vertices: np.ndarray, faces: np.ndarray, tile_m: float = 0.05) -> dict[str, np.ndarray]:
    """Per-face planar projection UVs: each face is projected along its dominant normal axis,
    one texture tile per `tile_m` metres (`vt` has 3 entries per face, so seams are free)."""
    tri = vertices[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    axis = np.abs(normal).argmax(1)
    keep = np.array([[1, 2], [0, 2], [0, 1]])[axis]  # the two coordinates across the dominant axis
    uv = np.take_along_axis(tri, keep[:, None, :].repeat(3, 1), axis=2) / tile_m
    return {"vt": uv.reshape(-1, 2), "ft": np.arange(3 * len(faces)).reshape(-1, 3)}


def object_texture(pattern: str, color, pattern_color, seed: int, size: int = 128) -> np.ndarray:
    """A tileable two-colour texture (uint8 sRGB): "stripes", "checker", "dots" or "noise".
    Colours are linear RGB."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    n = int(rng.integers(2, 6))  # periods per tile: integer, so the pattern tiles
    if pattern == "stripes":
        mask = np.sin(2 * np.pi * n * (x if rng.uniform() < 0.5 else y)) > 0
    elif pattern == "checker":
        mask = (np.floor(n * x) + np.floor(n * y)) % 2 == 0
    elif pattern == "dots":
        mask = np.hypot((n * x) % 1 - 0.5, (n * y) % 1 - 0.5) < rng.uniform(0.15, 0.35)
    elif pattern == "noise":
        k = rng.normal(size=(n, n))
        mask = np.kron(k, np.ones((size // n + 1, size // n + 1)))[:size, :size] > 0
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    linear = np.where(mask[..., None], np.asarray(pattern_color), np.asarray(color))
    return np.round(linear_to_srgb(linear) * 255).astype(np.uint8)


def material_colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A base and a pattern colour (linear RGB)."""
    return (hsv_linear(rng.uniform(), rng.uniform(0.0, 0.9), rng.uniform(0.15, 0.95)),
            hsv_linear(rng.uniform(), rng.uniform(0.0, 0.9), rng.uniform(0.15, 0.95)))


# ---------------------------------------------------------------------------------------------
# Mesh folders


def load_mesh_object(path: str | os.PathLike, object_id: str | None = None) -> GraspObject:
    """A mesh file (.obj/.glb/.ply/...) as an object in metres, centred at its bounding-box centre
    (`origin`: where the file's origin lands, for poses given in the file's frame).

    Units: a mesh whose longest side exceeds 2.5 m is taken to be in millimetres (> 250) or
    centimetres (> 2.5) and scaled, with a warning; one that is still outside 2–25 cm after that
    gets a warning too (it is used as is). Raises `ObjectLoadError` naming the file when it is
    unreadable, empty, or degenerate (zero area or a flat, zero-thickness bounding box). An open
    (non-watertight) mesh is rendered as is, with a warning, but its signed distance and physics
    use its convex hull (a mesh with holes has no inside to measure)."""
    path = Path(path)
    object_id = object_id or path.name
    try:
        loaded = trimesh.load(path, force="mesh", process=True)
    except Exception as e:  # trimesh raises many kinds for bad files; name the file whatever it was
        raise ObjectLoadError(f"{path}: unreadable mesh ({type(e).__name__}: {e})") from e
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ObjectLoadError(f"{path}: no triangles in the file")
    mesh = loaded
    mesh.remove_unreferenced_vertices()
    if not np.isfinite(mesh.vertices).all():
        raise ObjectLoadError(f"{path}: vertices hold NaN or inf")
    if mesh.area <= 0 or np.sort(mesh.extents)[0] <= 1e-6 * max(mesh.extents.max(), 1e-12):
        raise ObjectLoadError(f"{path}: degenerate mesh (extents {np.round(mesh.extents, 6).tolist()}, "
                              f"area {mesh.area:.3g})")
    longest = float(mesh.extents.max())
    scale = 1e-3 if longest > 250 else 1e-2 if longest > 2.5 else 1.0
    if scale != 1.0:
        warnings.warn(f"{path}: longest side {longest:.4g} is too large for metres; assuming "
                      f"{'millimetres' if scale == 1e-3 else 'centimetres'} (scale {scale})", stacklevel=2)
    if not SIZE_RANGE_M[0] <= longest * scale <= SIZE_RANGE_M[1]:
        warnings.warn(f"{path}: longest side {longest * scale:.3f} m is outside the hand range "
                      f"{SIZE_RANGE_M} m; used as is", stacklevel=2)
    mesh.apply_scale(scale)
    origin = -mesh.bounds.mean(0)
    mesh.apply_translation(origin)
    texture, uv = _mesh_texture(mesh)
    solid = mesh if mesh.is_watertight else mesh.convex_hull
    if not mesh.is_watertight:
        warnings.warn(f"{path}: mesh is not watertight; its convex hull stands in for grasping and physics",
                      stacklevel=2)
    query = trimesh.proximity.ProximityQuery(solid)
    pieces = [np.asarray(solid.convex_hull.vertices)]
    render_mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    return GraspObject(object_id=object_id, source=object_id, mesh=render_mesh,
                       sdf=lambda x: -query.signed_distance(x), convex_pieces=pieces, scale=scale,
                       origin=origin, texture=texture, uv=uv)


def _mesh_texture(mesh: trimesh.Trimesh) -> tuple[np.ndarray | None, dict | None]:
    """The file's own texture and UVs when it has both, else (None, None)."""
    visual = mesh.visual
    image = getattr(getattr(visual, "material", None), "image", None)
    if image is None:
        image = getattr(getattr(visual, "material", None), "baseColorTexture", None)
    uv = getattr(visual, "uv", None)
    if image is None or uv is None or len(uv) != len(mesh.vertices):
        return None, None
    return np.asarray(image.convert("RGB")), {"vt": np.asarray(uv, np.float64), "ft": np.asarray(mesh.faces)}


class MeshFolder:
    """A folder of mesh files (e.g. YCB or Objaverse exports), listed recursively and sorted by
    their relative POSIX path (the file ids). `load` skips an unusable file with a warning
    naming it and moves on to the next, so one bad file does not stop a build."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ObjectLoadError(f"object folder {self.path} does not exist or is not a directory")
        files = [p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in MESH_TYPES]
        self.files = sorted(files, key=lambda p: p.relative_to(self.path).as_posix())
        if not self.files:
            raise ObjectLoadError(f"object folder {self.path} holds no mesh files ({', '.join(MESH_TYPES)})")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.relative_to(self.path).as_posix() for p in self.files)

    def load(self, file_id: str) -> GraspObject:
        ids = self.ids
        if file_id not in ids:
            raise ObjectLoadError(f"object folder {self.path} has no file {file_id!r}")
        start = ids.index(file_id)
        for k in range(len(ids)):
            p = self.files[(start + k) % len(ids)]
            try:
                return load_mesh_object(p, ids[(start + k) % len(ids)])
            except ObjectLoadError as e:
                warnings.warn(f"skipping object file: {e}", stacklevel=2)
        raise ObjectLoadError(f"no usable mesh in object folder {self.path}: all {len(ids)} files failed")
