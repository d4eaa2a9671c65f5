"""Plain, typed inputs and outputs of the renderer (numpy only; no SAPIEN import here).

Conventions (see ``sapien_renderer`` for the full statement and how they are tested):

* World units are metres. Cameras are OpenCV: ``X_cam = R @ X_world + t``, x right, y down,
  z forward; ``K`` is 3×3 with pixel centres at integer coordinates (``anyhand_hf.viz``).
* Texture coordinates follow OBJ/OpenGL: ``(u, v)`` in [0, 1], ``u`` left→right, ``v = 0`` at
  the **bottom** row of the texture image (the last row of the ``(H, W, 3)`` array), ``v = 1``
  at its top row.
* Colours of materials and textures are sRGB-encoded (like image pixels); light colours and
  the ambient term are linear RGB intensities (radiance scale, may exceed 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "LABEL_BACKGROUND",
    "LABEL_HAND",
    "LABEL_FOREARM",
    "LABEL_OBJECT",
    "MeshPart",
    "Light",
    "Camera",
    "RenderSettings",
    "RenderResult",
]

LABEL_BACKGROUND = 0
LABEL_HAND = 1
LABEL_FOREARM = 2
LABEL_OBJECT = 3


def _as_array(x, dtype, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    a = np.asarray(x, dtype=dtype)
    if a.ndim != len(shape_tail) + 1 or a.shape[1:] != shape_tail:
        raise ValueError(f"{name} must have shape (N, {', '.join(map(str, shape_tail))}), got {a.shape}")
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or inf")
    return a


@dataclass
class MeshPart:
    """One triangle mesh with one material and one segmentation label.

    ``vertices`` (V,3) world metres; ``faces`` (F,3) vertex indices, counter-clockwise seen
    from outside (the outward normal follows the right-hand rule). Appearance: either a
    ``color`` (3,) sRGB in [0,1] (or 0–255 ints), or a ``texture`` (H,W,3|4) uint8 sRGB image
    with ``uv`` = {"vt": (T,2), "ft": (F,3)} (OBJ convention, v = 0 at the image bottom);
    vertices are split along UV seams by the renderer.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    label: int = LABEL_HAND
    color: np.ndarray | tuple[float, float, float] | None = (0.8, 0.8, 0.8)
    texture: np.ndarray | None = None
    uv: dict[str, np.ndarray] | None = None
    roughness: float = 0.6
    metallic: float = 0.0
    specular: float = 0.3

    def __post_init__(self) -> None:
        self.vertices = _as_array(self.vertices, np.float64, (3,), f"{self.name}.vertices")
        self.faces = _as_array(self.faces, np.int64, (3,), f"{self.name}.faces")
        if len(self.faces) and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError(f"{self.name}.faces index outside 0..{len(self.vertices) - 1}")
        if not 0 <= int(self.label) <= 255:
            raise ValueError(f"{self.name}.label must be in 0..255, got {self.label}")
        if self.texture is not None:
            tex = np.asarray(self.texture)
            if tex.ndim != 3 or tex.shape[2] not in (3, 4) or tex.dtype != np.uint8:
                raise ValueError(f"{self.name}.texture must be (H,W,3|4) uint8, got {tex.shape} {tex.dtype}")
            if self.uv is None or "vt" not in self.uv or "ft" not in self.uv:
                raise ValueError(f"{self.name}: a texture needs uv={{'vt': (T,2), 'ft': (F,3)}}")
            vt = _as_array(self.uv["vt"], np.float64, (2,), f"{self.name}.uv['vt']")
            ft = _as_array(self.uv["ft"], np.int64, (3,), f"{self.name}.uv['ft']")
            if ft.shape != self.faces.shape:
                raise ValueError(f"{self.name}.uv['ft'] must match faces {self.faces.shape}, got {ft.shape}")
            if len(ft) and (ft.min() < 0 or ft.max() >= len(vt)):
                raise ValueError(f"{self.name}.uv['ft'] index outside 0..{len(vt) - 1}")
            self.texture, self.uv = tex, {"vt": vt, "ft": ft}
        elif self.color is None:
            raise ValueError(f"{self.name}: give a color or a texture")


@dataclass
class Light:
    """A light. ``direction`` is where the light travels (directional, spot); ``position``
    is used by point and spot lights (and centres a directional light's shadow box).
    ``color`` is linear RGB radiant intensity (W/sr-like scale; a point light of 1 at 1 m
    lights a white diffuse surface to about 1/π). Spot cone: ``inner_angle`` and
    ``outer_angle`` are half-angles from the axis in radians (full falloff outside outer)."""

    kind: Literal["point", "directional", "spot"]
    position: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 1.0)
    direction: np.ndarray | tuple[float, float, float] = (0.0, 0.0, -1.0)
    color: np.ndarray | tuple[float, float, float] = (1.0, 1.0, 1.0)
    shadow: bool = False
    inner_angle: float = 0.3
    outer_angle: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("point", "directional", "spot"):
            raise ValueError(f"Light.kind must be point, directional or spot, got {self.kind!r}")
        self.position = np.asarray(self.position, dtype=np.float64).reshape(3)
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(3)
        self.color = np.asarray(self.color, dtype=np.float64).reshape(3)
        n = np.linalg.norm(self.direction)
        if self.kind != "point" and not n > 0:
            raise ValueError("Light.direction must be non-zero")
        if not 0 <= self.inner_angle <= self.outer_angle < np.pi / 2 + 1e-9:
            raise ValueError("spot angles must satisfy 0 <= inner_angle <= outer_angle < pi/2")


@dataclass
class Camera:
    """OpenCV pinhole camera: ``X_cam = R @ X_world + t``; ``K`` 3×3, pixel centres at
    integer coordinates (a centred principal point is ((W-1)/2, (H-1)/2))."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(3)
        self.width, self.height = int(self.width), int(self.height)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=1e-5) or np.linalg.det(self.R) < 0:
            raise ValueError("Camera.R must be a rotation matrix")

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,3) world points → ((N,2) pixels, (N,) camera z)."""
        pc = np.asarray(points_world, np.float64) @ self.R.T + self.t
        uvw = pc @ self.K.T
        return uvw[:, :2] / uvw[:, 2:3], pc[:, 2]

    @classmethod
    def look_at(cls, eye, target, fov_y: float, width: int, height: int,
                up=(0.0, 0.0, 1.0)) -> "Camera":
        """A camera at ``eye`` looking at ``target`` (vertical FOV in radians), image y down
        aligned with ``-up`` as far as possible; centred principal point."""
        eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
        z = target - eye
        z /= np.linalg.norm(z)
        x = np.cross(-up, z)  # image right; then y = z × x points down, towards -up
        if np.linalg.norm(x) < 1e-8:
            x = np.cross([1.0, 0.0, 0.0] if abs(z[0]) < 0.9 else [0.0, 1.0, 0.0], z)
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        f = 0.5 * height / np.tan(0.5 * fov_y)
        K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
        return cls(K=K, R=R, t=-R @ eye, width=width, height=height)


@dataclass
class RenderSettings:
    """``mode``: "rt" (SAPIEN's path tracer; colour) or "raster" (SAPIEN's default deferred
    shader). ``spp`` samples per pixel and ``max_depth`` path bounces apply to "rt".
    ``denoiser`` "oidn" runs Intel Open Image Denoise on the CPU (``pyoidn``) over colour,
    albedo and normal. ``near``/``far`` clip planes in metres."""

    mode: Literal["rt", "raster"] = "rt"
    spp: int = 16
    denoiser: Literal["none", "oidn"] = "none"
    max_depth: int = 4
    near: float = 0.01
    far: float = 50.0
    shadow_map_size: int = 1024
    exposure: float = 1.0
    # "rt" only: pad every scene to this many mesh slots (each with its own persistent,
    # always-textured material), so that every render has the same structure and the
    # ray-tracing pipelines compiled by warm_shader_cache are reused; 0 disables it.
    max_parts: int = 4

    def __post_init__(self) -> None:
        if self.mode not in ("rt", "raster"):
            raise ValueError(f"RenderSettings.mode must be 'rt' or 'raster', got {self.mode!r}")
        if self.denoiser not in ("none", "oidn"):
            raise ValueError(f"RenderSettings.denoiser must be 'none' or 'oidn', got {self.denoiser!r}")
        if self.spp < 1 or self.max_depth < 1:
            raise ValueError("spp and max_depth must be >= 1")
        if not 0 < self.near < self.far:
            raise ValueError("need 0 < near < far")


@dataclass
class RenderResult:
    """``rgb`` (H,W,3) uint8 display sRGB; ``alpha`` (H,W) float32 coverage in [0,1];
    ``depth`` (H,W) float32 metres along the optical axis (camera z), 0 where empty;
    ``labels`` (H,W) uint8 (0 background, 1 hand, 2 forearm, 3 object)."""

    rgb: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray
    labels: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
