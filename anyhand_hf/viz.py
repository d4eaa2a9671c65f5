"""CPU software rendering and drawing for previews and overlays (numpy + PIL only).

Conventions (DESIGN.md), stated once here and used by every function below:

* Camera frame: OpenCV, x right, y down, z forward; metres. Extrinsics map world to
  camera, ``X_cam = R @ X_world + t``.
* ``K`` is 3×3; a camera point projects to ``(u, v) = (K @ X)[:2] / Z``.
* Pixel centres lie at integer coordinates: pixel ``(u, v)`` (column u, row v) covers
  ``[u - 0.5, u + 0.5) × [v - 0.5, v + 0.5)``, so a W×H image spans ``[-0.5, W - 0.5) ×
  [-0.5, H - 0.5)`` and a centred principal point is ``((W - 1) / 2, (H - 1) / 2)``.
  PIL's drawing coordinates index pixels the same way, so 2D keypoints and boxes in
  this convention are drawn without any offset.
* Images are ``uint8`` RGB arrays (H, W, 3); PIL images are accepted as inputs too.
  Colours are RGB triples, 0–255 when given as integers, 0–1 when given as floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .color import linear_to_srgb, srgb_to_linear

ImageLike = np.ndarray | Image.Image

# OpenPose/FreiHAND 21-keypoint hand: wrist, then thumb, index, middle, ring, pinky, each
# base→tip (4 points); every finger's chain starts at the wrist.
FINGER_CHAINS: tuple[tuple[int, ...], ...] = tuple(
    (0, 4 * f + 1, 4 * f + 2, 4 * f + 3, 4 * f + 4) for f in range(5)
)
FINGER_COLORS: tuple[tuple[int, int, int], ...] = (
    (235, 64, 52),  # thumb
    (245, 166, 35),  # index
    (80, 200, 80),  # middle
    (40, 150, 235),  # ring
    (175, 90, 225),  # pinky
)
WRIST_COLOR = (245, 245, 245)

# Segmentation labels of the dataset's `mask` column.
LABEL_COLORS: dict[int, tuple[int, int, int]] = {
    1: (255, 140, 50),  # hand
    2: (60, 160, 255),  # forearm
    3: (90, 220, 90),  # object
}

# Depth colour map, near (t = 0) to far (t = 1): warm to cold, a turbo-like ramp built
# from these anchors with linear interpolation in RGB.
_DEPTH_ANCHORS_T = np.array([0.0, 0.14, 0.3, 0.45, 0.6, 0.75, 0.88, 1.0])
_DEPTH_ANCHORS_RGB = np.array(
    [
        (120, 10, 5),
        (215, 45, 20),
        (250, 135, 35),
        (235, 215, 55),
        (130, 235, 85),
        (40, 200, 200),
        (50, 110, 230),
        (50, 25, 95),
    ],
    dtype=np.float64,
)


# ---- cameras ---------------------------------------------------------------------------


def intrinsics_from_fov(fov_y_rad: float, size: tuple[int, int]) -> np.ndarray:
    """Pinhole ``K`` (square pixels, centred) whose image height spans ``fov_y_rad``.

    ``size`` is (H, W). The image's top and bottom edges lie at ``v = -0.5`` and
    ``v = H - 0.5``, half a height from the centre, hence ``f = (H / 2) / tan(fov / 2)``.
    """
    h, w = size
    f = (h / 2.0) / np.tan(fov_y_rad / 2.0)
    return np.array([[f, 0.0, (w - 1) / 2.0], [0.0, f, (h - 1) / 2.0], [0.0, 0.0, 1.0]])


def look_at(eye: Sequence[float], target: Sequence[float], up: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """World→camera extrinsics ``(R, t)`` (OpenCV axes) of a camera at ``eye`` looking at
    ``target``, with the world direction ``up`` appearing upwards (towards −y) in the image.

    Rows of ``R`` are the camera axes in world coordinates: z towards the target, y along
    the component of ``-up`` orthogonal to z, x = y × z (right-handed, det R = +1).
    """
    eye_, target_, up_ = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    z = target_ - eye_
    if np.linalg.norm(z) == 0:
        raise ValueError("eye and target coincide")
    z /= np.linalg.norm(z)
    y = -(up_ - np.dot(up_, z) * z)
    if np.linalg.norm(y) < 1e-9 * max(1.0, np.linalg.norm(up_)):
        raise ValueError("up is parallel to the viewing direction")
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    rot = np.stack([x, y, z])
    return rot, -rot @ eye_


def project_points(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixel coordinates (N, 2) of camera-frame points (N, 3) (z must be > 0)."""
    p = np.asarray(points_cam, dtype=np.float64) @ np.asarray(K, dtype=np.float64).T
    return p[:, :2] / p[:, 2:3]


# ---- rasterizer --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fragments:
    """Per-pixel rasterization result for an (H, W) image.

    Attributes:
        face_id: (H, W) int64 index of the visible face, −1 on background.
        bary: (H, W, 3) float64 perspective-correct barycentric weights of that face's
            three vertices (they reproduce the 3D surface point); 0 on background.
        depth: (H, W) float64 camera z in metres of the visible surface, 0 on background.
    """

    face_id: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.face_id >= 0


# Upper bound on the pixels one chunk of triangles may cover (by bounding box); bounds
# memory when a few triangles come close to the camera and fill the image.
_MAX_FRAGMENTS = 1 << 22
# Span ends are widened by this many pixels so that pixel centres exactly on an edge (a
# vertex projected onto a pixel centre) stay covered despite rounding.
_EDGE_EPS = 1e-7


def rasterize(
    vertices_cam: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    size: tuple[int, int],
    cull_backfaces: bool = False,
    near: float = 1e-3,
) -> Fragments:
    """Rasterize a triangle mesh given in camera coordinates, with a z-buffer.

    A pixel is covered by a triangle when its centre (integer coordinates) lies inside the
    projected triangle or on its boundary; the nearest covering triangle wins. Depth and
    barycentrics are perspective-correct (1/z and attributes/z interpolate linearly on
    the image), so ``depth`` at a pixel equals the exact depth of the triangle's plane
    along that pixel's centre ray. Vectorised scanline: for every (triangle, pixel row)
    pair the covered column span is solved in closed form, then only covered pixels are
    generated; no Python loop over pixels or triangles.

    Args:
        vertices_cam: (V, 3) vertices in the OpenCV camera frame, metres.
        faces: (F, 3) vertex indices.
        K: 3×3 intrinsics.
        size: (H, W).
        cull_backfaces: drop faces whose front side (counter-clockwise vertex order as the
            camera sees it, i.e. the right-hand-rule normal) points away from the camera.
        near: faces with any vertex at z <= near are dropped (no near-plane clipping).
    """
    h, w = size
    verts = np.asarray(vertices_cam, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tri3 = verts[faces]  # (F, 3, 3)
    keep = np.all(tri3[:, :, 2] > near, axis=1)
    if cull_backfaces:
        normal = np.cross(tri3[:, 1] - tri3[:, 0], tri3[:, 2] - tri3[:, 0])
        keep &= np.einsum("fi,fi->f", normal, tri3[:, 0]) < 0  # camera sits at the origin
    face_index = np.nonzero(keep)[0]
    tri3 = tri3[keep]
    proj = tri3 @ np.asarray(K, dtype=np.float64).T
    x, y = proj[:, :, 0] / proj[:, :, 2], proj[:, :, 1] / proj[:, :, 2]  # (F, 3) each

    # Edge functions: l_i(u, v) = (a_i u + b_i v + c_i) / area is the barycentric weight
    # of vertex i (its opposite edge runs from vertex i+1 to i+2). Dividing by z_i gives
    # q_i, affine on the image too; q_i >= 0 is the inside test, 1/z = Σ q_i, and the
    # perspective-correct barycentrics are q_i z.
    x1, y1, x2, y2 = np.roll(x, -1, 1), np.roll(y, -1, 1), np.roll(x, -2, 1), np.roll(y, -2, 1)
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (y[:, 1] - y[:, 0]) * (x[:, 2] - x[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1.0 / (area[:, None] * tri3[:, :, 2])
    qa, qb, qc = (y1 - y2) * scale, (x2 - x1) * scale, (x1 * y2 - x2 * y1) * scale  # (F, 3)

    # Integer pixel rows/columns inside each projected bounding box, clipped to the image;
    # edge-on (zero-area) faces cover nothing.
    x_lo = np.clip(np.ceil(x.min(1) - _EDGE_EPS), 0, w).astype(np.int64)
    x_hi = np.clip(np.floor(x.max(1) + _EDGE_EPS), -1, w - 1).astype(np.int64)
    y_lo = np.clip(np.ceil(y.min(1) - _EDGE_EPS), 0, h).astype(np.int64)
    y_hi = np.clip(np.floor(y.max(1) + _EDGE_EPS), -1, h - 1).astype(np.int64)
    rows = np.where((area != 0) & (x_hi >= x_lo), np.maximum(y_hi - y_lo + 1, 0), 0)
    box = rows * (x_hi - x_lo + 1)

    zbuf = np.full(h * w, np.inf)
    face_id = np.full(h * w, -1, dtype=np.int64)
    bary = np.zeros((h * w, 3))
    owner = np.zeros(h * w, dtype=np.int64)
    ends = np.cumsum(box)
    start = 0
    while start < len(box):
        # Whole triangles per chunk, at least one.
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - box[start] + _MAX_FRAGMENTS, "right")))
        n_rows = rows[start:stop]
        t_row = np.repeat(np.arange(start, stop), n_rows)  # one entry per (triangle, row)
        py_row = y_lo[t_row] + np.arange(n_rows.sum()) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
        # Along a row, q_i(u) = A u + D with A = qa, D = qb v + qc; q_i >= 0 bounds u from
        # below (A > 0) or above (A < 0); A = 0 leaves all or nothing.
        qa_r = qa[t_row]
        qd_r = qb[t_row] * py_row[:, None] + qc[t_row]
        coef_r = np.concatenate([qa_r, qd_r], 1)  # gathered once per pixel below
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -qd_r / qa_r
        blocked = (qa_r == 0) & (qd_r < 0)
        lower = np.where(qa_r > 0, bound, np.where(blocked, np.inf, -np.inf))
        upper = np.where(qa_r < 0, bound, np.where(blocked, -np.inf, np.inf))
        lower = np.maximum(np.maximum(lower[:, 0], lower[:, 1]), lower[:, 2])
        upper = np.minimum(np.minimum(upper[:, 0], upper[:, 1]), upper[:, 2])
        span_lo = np.maximum(np.ceil(lower - _EDGE_EPS), x_lo[t_row]).astype(np.int64)
        span_hi = np.minimum(np.floor(upper + _EDGE_EPS), x_hi[t_row]).astype(np.int64)
        n_px = np.maximum(span_hi - span_lo + 1, 0)
        r = np.repeat(np.arange(len(t_row)), n_px)  # one entry per covered pixel
        px = span_lo[r] + np.arange(n_px.sum()) - np.repeat(np.cumsum(n_px) - n_px, n_px)
        # Clamp: pixels admitted by the edge tolerance sit on the boundary (q ≈ −1e-16).
        coef = coef_r[r]
        q = np.maximum(coef[:, :3] * px[:, None] + coef[:, 3:], 0.0)
        inv_z = q[:, 0] + q[:, 1] + q[:, 2]
        depth = 1.0 / inv_z
        pix = py_row[r] * w + px
        t = t_row[r]
        # Earlier chunks win ties; within the chunk, the nearest fragment per pixel.
        closer = depth < zbuf[pix]
        if not closer.all():
            t, pix, depth, q, inv_z = t[closer], pix[closer], depth[closer], q[closer], inv_z[closer]
        np.minimum.at(zbuf, pix, depth)
        best = np.nonzero(depth == zbuf[pix])[0]
        # Exact depth ties (shared edges) leave several bests on a pixel: let one of them
        # claim it, and keep only the claimants, so face id and barycentrics agree.
        owner[pix[best]] = best
        winner = best[owner[pix[best]] == best]
        face_id[pix[winner]] = face_index[t[winner]]
        bary[pix[winner]] = q[winner] / inv_z[winner, None]
        start = stop

    depth_out = np.where(face_id >= 0, zbuf, 0.0)
    return Fragments(face_id.reshape(h, w), bary.reshape(h, w, 3), depth_out.reshape(h, w))


# ---- shading -----------------------------------------------------------------------------


def _colors01(color: Sequence[float] | np.ndarray) -> np.ndarray:
    c = np.asarray(color)
    return c.astype(np.float64) / 255.0 if np.issubdtype(c.dtype, np.integer) else c.astype(np.float64)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of (N, 3) arrays (einsum: numpy's small-axis sums are slow)."""
    return np.einsum("ij,ij->i", a, b)


def _normalized(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt(_dot(v, v)), v.dtype.type(1e-12))[:, None]


def _interpolate(bary: np.ndarray, corners: np.ndarray, attr: np.ndarray) -> np.ndarray:
    """Per-pixel attribute Σ_k bary_k · attr[corners_k]: (P, 3), (P, 3), (V, C) → (P, C)."""
    return (
        bary[:, 0:1] * attr[corners[:, 0]] + bary[:, 1:2] * attr[corners[:, 1]] + bary[:, 2:3] * attr[corners[:, 2]]
    )


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit per-vertex normals: area-weighted sums of the right-hand-rule face normals."""
    verts = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 × area
    vn = np.stack([np.bincount(faces.ravel(), np.repeat(fn[:, k], 3), len(verts)) for k in range(3)], 1)
    return _normalized(vn)


def render_mesh(
    vertices_cam: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    size: tuple[int, int],
    color: Sequence[float] | np.ndarray = (226, 180, 155),
    background: ImageLike | None = None,
    light_dir: Sequence[float] = (-0.4, -0.6, -1.0),
    ambient: float = 0.3,
    specular: float = 0.12,
    shininess: float = 40.0,
    supersample: int = 2,
    cull_backfaces: bool = False,
) -> np.ndarray:
    """Shade a mesh with smooth normals and composite it over a background.

    Lambert diffuse + ambient + Blinn-Phong specular from one directional light, with
    per-vertex normals interpolated per pixel. Shading and edge anti-aliasing (the image is
    rendered ``supersample`` times larger and box-filtered; coverage becomes alpha) happen
    in linear light; the result is sRGB. Faces are lit on both sides, so open meshes look
    right from behind.

    Args:
        vertices_cam, faces, K, size: as :func:`rasterize`; ``size`` is the output (H, W).
        color: one RGB colour or per-vertex colours (V, 3).
        background: (H, W, 3) image to composite over; white when None.
        light_dir: direction from the surface towards the light, camera frame. The
            default light comes from the upper left, slightly behind the camera.
        ambient, specular, shininess: shading weights.
        supersample: anti-aliasing factor (1 disables it).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    h, w = size
    s = int(supersample)
    # Pixel (u, v) of the output covers s×s pixels of the large image; with centres at
    # integers, large-image coordinates are s·(u + 0.5) − 0.5.
    k_big = np.diag([s, s, 1.0]) @ np.asarray(K, dtype=np.float64)
    k_big[:2, 2] += (s - 1) / 2.0
    verts = np.asarray(vertices_cam, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    frags = rasterize(verts, faces, k_big, (h * s, w * s), cull_backfaces=cull_backfaces)
    ys, xs = np.nonzero(frags.mask)
    corners = faces[frags.face_id[ys, xs]]  # (P, 3) vertex ids of the visible face per subpixel
    # Shading runs in float32: plenty for 8-bit output, and twice as fast as float64.
    bary = frags.bary[ys, xs].astype(np.float32)
    point = _interpolate(bary, corners, verts.astype(np.float32))
    normal = _normalized(_interpolate(bary, corners, vertex_normals(verts, faces).astype(np.float32)))
    view = _normalized(-point)
    normal *= np.where(_dot(normal, view) < 0, -1.0, 1.0).astype(np.float32)[:, None]  # lit on both sides
    light = _normalized(np.asarray(light_dir, dtype=np.float32)[None])[0]
    diffuse = np.clip(normal @ light, 0.0, None)
    spec = np.clip(_dot(normal, _normalized(light + view)), 0.0, None) ** np.float32(shininess)

    albedo = srgb_to_linear(_colors01(color)).astype(np.float32)
    if albedo.ndim == 2:  # per-vertex colours, interpolated like the normals
        albedo = _interpolate(bary, corners, albedo)
    shaded = albedo * (ambient + (1.0 - ambient) * diffuse)[:, None] + (specular * spec)[:, None]

    # Box filter onto the output grid: premultiplied colour and coverage per output pixel,
    # accumulated over covered subpixels only.
    out_pix = (ys // s) * w + xs // s
    cover = np.bincount(out_pix, minlength=h * w) / float(s * s)
    premult = np.stack([np.bincount(out_pix, shaded[:, k], h * w) for k in range(3)], 1) / float(s * s)
    if background is None:
        out = np.full((h, w, 3), 255, np.uint8)
    else:
        out = _as_array(background)
        if out.shape[:2] != (h, w):
            raise ValueError(f"background is {out.shape[:2]}, expected {(h, w)}")
    # Composite in linear light, touching only pixels the mesh reaches: the rest keep the
    # background's exact values.
    hit = np.nonzero(cover)[0]
    flat = out.reshape(-1, 3)
    alpha = cover[hit, None]
    bg_lin = srgb_to_linear(flat[hit] / 255.0)
    flat[hit] = np.round(linear_to_srgb(premult[hit] + (1.0 - alpha) * bg_lin) * 255.0).astype(np.uint8)
    return out


# ---- 2D drawing --------------------------------------------------------------------------


def _as_array(image: ImageLike) -> np.ndarray:
    """uint8 RGB array copy of an array or PIL image (grey images are expanded)."""
    arr = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {arr.dtype} {arr.shape}")
    return arr.copy()


# Drawing happens on a 4× copy (see _draw_supersampled); callbacks get the ImageDraw and
# the map from image coordinates to that copy.
_DRAW_SUPERSAMPLE = 4
ToBig = Callable[[float, float], tuple[float, float]]


def _draw_supersampled(
    image: ImageLike, draw: Callable[[ImageDraw.ImageDraw, ToBig], None], factor: int = _DRAW_SUPERSAMPLE
) -> np.ndarray:
    """Run ``draw`` on a ``factor``× nearest-upsampled copy, then box-downsample.

    This anti-aliases PIL's drawing; pixels nothing was drawn on come back unchanged
    (the box filter averages identical copies). ``draw`` receives the ImageDraw and a
    function mapping image coordinates (pixel-centre convention) to the big image.
    """
    arr = _as_array(image)
    h, w = arr.shape[:2]
    big = Image.fromarray(arr).resize((w * factor, h * factor), Image.Resampling.NEAREST)
    draw(ImageDraw.Draw(big), lambda x, y: (factor * (x + 0.5) - 0.5, factor * (y + 0.5) - 0.5))
    return np.asarray(big.resize((w, h), Image.Resampling.BOX))


def draw_keypoints(
    image: ImageLike,
    keypoints_2d: np.ndarray,
    visible: np.ndarray | None = None,
    radius: float | None = None,
    width: float | None = None,
) -> np.ndarray:
    """Draw the 21 OpenPose-order hand keypoints and bones, coloured per finger.

    Args:
        image: (H, W, 3) uint8 array or PIL image (not modified).
        keypoints_2d: (21, 2) pixel coordinates.
        visible: optional (21,) booleans; hidden points and their bones are skipped.
        radius, width: joint radius and bone width in pixels (default: scaled to the image).

    Returns:
        (H, W, 3) uint8 copy with the skeleton drawn.
    """
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    if kp.shape != (21, 2):
        raise ValueError(f"expected (21, 2) keypoints, got {kp.shape}")
    vis = np.ones(21, bool) if visible is None else np.asarray(visible, dtype=bool)
    h, w = _as_array(image).shape[:2]
    radius = radius if radius is not None else max(1.5, min(h, w) / 110.0)
    width = width if width is not None else max(1.0, min(h, w) / 200.0)
    factor = _DRAW_SUPERSAMPLE

    def draw(d: ImageDraw.ImageDraw, to_big: ToBig) -> None:
        r, lw = radius * factor, max(1, round(width * factor))
        for chain, color in zip(FINGER_CHAINS, FINGER_COLORS):
            for a, b in zip(chain[:-1], chain[1:]):
                if vis[a] and vis[b]:
                    d.line([to_big(*kp[a]), to_big(*kp[b])], fill=color, width=lw)
        for j in range(21):
            if vis[j]:
                x, y = to_big(*kp[j])
                color = WRIST_COLOR if j == 0 else FINGER_COLORS[(j - 1) // 4]
                d.ellipse([x - r, y - r, x + r, y + r], fill=color, outline=(20, 20, 20), width=max(1, factor // 2))

    return _draw_supersampled(image, draw, factor)


def draw_box(
    image: ImageLike,
    xyxy: Sequence[float],
    color: Sequence[int] = (0, 220, 90),
    width: float = 2.0,
    label: str | None = None,
) -> np.ndarray:
    """Draw a box ``(x0, y0, x1, y1)`` in pixel coordinates, optionally labelled above it."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    factor = _DRAW_SUPERSAMPLE
    rgb = tuple(int(c) for c in color)

    def draw(d: ImageDraw.ImageDraw, to_big: ToBig) -> None:
        (a, b), (c, e) = to_big(x0, y0), to_big(x1, y1)
        d.rectangle([a, b, c, e], outline=rgb, width=max(1, round(width * factor)))
        if label:
            font = ImageFont.load_default(size=12 * factor)
            # Above the box's top-left corner, or just inside it when that leaves the image.
            anchor = "lb" if d.textbbox((a, b), label, font=font, anchor="lb")[1] >= 0 else "lt"
            left, top, right, bottom = d.textbbox((a, b), label, font=font, anchor=anchor)
            d.rectangle([left - factor, top - factor, right + factor, bottom + factor], fill=rgb)
            d.text((a, b), label, fill=(0, 0, 0), font=font, anchor=anchor)

    return _draw_supersampled(image, draw, factor)


def colorize_depth(
    depth_m: np.ndarray,
    valid: np.ndarray | None = None,
    near: float | None = None,
    far: float | None = None,
) -> np.ndarray:
    """Colour a metric depth map: near is warm (dark red → yellow), far is cold (→ indigo).

    Args:
        depth_m: (H, W) depth in metres.
        valid: (H, W) booleans; default: finite and > 0 (the dataset's "0 = invalid").
        near, far: depth range mapped to the colour ramp (default: the valid min and max).

    Returns:
        (H, W, 3) uint8; invalid pixels are black.
    """
    d = np.asarray(depth_m, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0) if valid is None else np.asarray(valid, dtype=bool) & np.isfinite(d)
    out = np.zeros(d.shape + (3,), dtype=np.uint8)
    if not ok.any():
        return out
    lo = float(d[ok].min()) if near is None else near
    hi = float(d[ok].max()) if far is None else far
    t = np.clip((d[ok] - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    out[ok] = np.stack([np.interp(t, _DEPTH_ANCHORS_T, _DEPTH_ANCHORS_RGB[:, k]) for k in range(3)], 1).round()
    return out


def overlay_mask(image: ImageLike, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Tint labelled pixels (1 hand, 2 forearm, 3 object; 0 background stays) with
    :data:`LABEL_COLORS` at opacity ``alpha``."""
    arr = _as_array(image).astype(np.float64)
    labels = np.asarray(mask)
    if labels.shape != arr.shape[:2]:
        raise ValueError(f"mask is {labels.shape}, image is {arr.shape[:2]}")
    unknown = set(np.unique(labels).tolist()) - {0, *LABEL_COLORS}
    if unknown:
        raise ValueError(f"unknown mask labels {sorted(unknown)}")
    for label, color in LABEL_COLORS.items():
        sel = labels == label
        arr[sel] = (1.0 - alpha) * arr[sel] + alpha * np.asarray(color, dtype=np.float64)
    return np.round(arr).astype(np.uint8)


def image_grid(
    images: Sequence[ImageLike],
    cols: int,
    labels: Sequence[str] | None = None,
    pad: int = 4,
    background: Sequence[int] = (255, 255, 255),
) -> Image.Image:
    """Tile images row-major into one PIL image; cells take the largest image's size and
    smaller images are centred. ``labels`` (one per image) are written in each cell's
    top-left corner on a dark band."""
    if not images:
        raise ValueError("no images")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    tiles = [Image.fromarray(_as_array(im)) for im in images]
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles)
    rows = -(-len(tiles) // cols)
    grid = Image.new("RGB", (cols * cell_w + (cols + 1) * pad, rows * cell_h + (rows + 1) * pad), tuple(background))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=max(10, cell_h // 18))
    for i, tile in enumerate(tiles):
        x = pad + (i % cols) * (cell_w + pad)
        y = pad + (i // cols) * (cell_h + pad)
        grid.paste(tile, (x + (cell_w - tile.width) // 2, y + (cell_h - tile.height) // 2))
        if labels is not None and labels[i]:
            left, top, right, bottom = draw.textbbox((x + 4, y + 3), labels[i], font=font)
            draw.rectangle([x, y, right + 4, bottom + 3], fill=(25, 25, 25))
            draw.text((x + 4, y + 3), labels[i], fill=(255, 255, 255), font=font)
    return grid
