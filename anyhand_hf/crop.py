"""Hand-crop geometry: the one place where full-image pixels, crop pixels and cameras meet.

Used by the predictor (inference crops) and by training (crops with augmentation); every
function is pure (numpy in, numpy out; OpenCV only resamples).

Conventions
-----------
* Pixel centres lie at integer coordinates (as in :mod:`anyhand_hf.viz`): pixel ``(u, v)``
  covers ``[u - 0.5, u + 0.5) × [v - 0.5, v + 0.5)``; an image of width ``W`` spans
  ``[-0.5, W - 0.5)``. This holds for the full image, its ``K`` and the crop alike.
  OpenCV's ``warpAffine`` uses the same convention, so its matrices need no offsets.
* The model (:mod:`anyhand_hf.modeling`) writes crop pixels with centres at ``j + 0.5``
  (crop spans ``[0, W]``); its crop coordinates are ours ``+ 0.5`` (:func:`to_model_crop_pixels`).
  Its ``box`` argument is :attr:`CropParams.box`: then its ``full_to_crop_pixels`` is exactly
  :func:`transform_points_2d` ``+ 0.5`` (no rotation, no flip; tested).
* Camera frame: OpenCV (x right, y down, z forward), metres.

The crop (HaMeR / WiLoR)
------------------------
Given a hand box ``(x0, y0, x1, y1)`` with centre ``c`` and size ``(w, h)``, and the crop size
``(H, W) = (256, 192)``:

1. rescale: ``w' = r w``, ``h' = r h`` (``r = rescale = 2.0``);
2. expand to the crop's aspect ``W : H`` (never shrink): ``h'' = max(h', w' H / W)``,
   ``w'' = h'' W / H``;
3. HaMeR cuts the square of side ``b = h''`` (``max(w'', h'')``, and ``h'' >= w''``) around ``c``
   to ``H × H`` pixels, then keeps the central ``W`` columns, i.e. exactly the ``w'' × h''``
   box. We resample that box directly (same pixels);
4. augmentation (training): ``b *= scale_factor``, ``c += shift · b`` (shift in units of the
   box side), and a rotation ``θ`` of the content about ``c``.

With ``a = H / b`` and ``o = ((W - 1) / 2, (H - 1) / 2)`` (the crop's centre), a full-image point
``p`` maps to the crop point ``q = a R(θ) (p - c) + o``, ``R(θ) = [[cos θ, -sin θ], [sin θ, cos θ]]``
(pixel axes with y down: positive θ turns the content clockwise on screen). Without rotation
this is ``u = a (x - c_x) + (W - 1) / 2``: crop pixel ``j`` samples ``x = c_x - b W / (2H) + (j + 0.5) b / H``,
the box's own pixel grid.

Mirroring (left hands)
----------------------
``flip=True`` mirrors the crop: ``u → (W - 1) - u`` after the affine (matrix ``F``). A mirrored
image is the image of the mirrored world ``X → D X``, ``D = diag(-1, 1, 1)``, seen by the camera
``F A K D`` (``A`` the 3×3 affine): for ``K`` with zero skew that is again an upper-triangular
``K`` with ``c_x' = (W - 1) - (a c_x + t_x)``; 3D labels mirror by ``x → -x``
(:func:`mirror_points_3d`), axis-angle rotations by ``(r_x, r_y, r_z) → (r_x, -r_y, -r_z)``
(:func:`mirror_axis_angle`). In the full image, mirroring about the principal point's column
``u → 2 c_x - u`` keeps ``K`` (skew negated): that is how the predictor runs left hands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

CROP_HW: tuple[int, int] = (256, 192)
DEFAULT_RESCALE = 2.0

# Mirror of 3D points and of axis-angle rotations under x -> -x.
MIRROR_POINT = np.array([-1.0, 1.0, 1.0])
MIRROR_AXIS_ANGLE = np.array([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Augmentation:
    """Crop augmentation (training). Identity by default.

    Attributes:
        scale_factor: multiplies the square box side (> 1 zooms out).
        rotation: radians; content turns by ``R(rotation)`` about the box centre (clockwise on
            screen for positive values, since image y points down).
        shift: (dx, dy) added to the box centre, in units of the box side.
    """

    scale_factor: float = 1.0
    rotation: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)


def sample_augmentation(rng: np.random.Generator, scale: float = 0.3, rotation_deg: float = 30.0,
                        rotation_prob: float = 0.6, shift: float = 0.02) -> Augmentation:
    """HaMeR's crop augmentation: scale ``1 + clip(N, -1, 1) · scale``; with probability
    ``rotation_prob`` a rotation ``clip(N, -2, 2) · rotation_deg`` (±60° at most by default);
    shift ``clip(N, -1, 1) · shift`` box sides per axis."""
    s = 1.0 + float(np.clip(rng.standard_normal(), -1.0, 1.0)) * scale
    rot = float(np.clip(rng.standard_normal(), -2.0, 2.0)) * rotation_deg if rng.random() < rotation_prob else 0.0
    sh = np.clip(rng.standard_normal(2), -1.0, 1.0) * shift
    return Augmentation(scale_factor=s, rotation=math.radians(rot), shift=(float(sh[0]), float(sh[1])))


@dataclass(frozen=True)
class CropParams:
    """Geometry of one hand crop. Build with :func:`crop_params`.

    Attributes:
        center: (2,) crop centre in full-image pixels (box centre after augmentation shift).
        side: side ``b`` of the square box in full-image pixels (crop height ``H`` spans ``b``).
        rotation: radians (see :class:`Augmentation`).
        out_hw: crop size (H, W).
        matrix: (2, 3) affine full image → crop (no flip), for ``cv2.warpAffine``.
        inverse: (2, 3) affine crop → full image (no flip).
        box: (4,) the square box xyxy in full-image pixels (``center ± side / 2``): the model's
            ``box`` argument. Meaningful only without rotation.
    """

    center: np.ndarray
    side: float
    rotation: float
    out_hw: tuple[int, int]
    matrix: np.ndarray
    inverse: np.ndarray
    box: np.ndarray

    def affine(self, flip: bool = False) -> np.ndarray:
        """3×3 full → crop, including the mirror ``u → (W - 1) - u`` when ``flip``."""
        a = np.vstack([self.matrix, [0.0, 0.0, 1.0]])
        return flip_matrix(self.out_hw[1]) @ a if flip else a

    @property
    def scale(self) -> float:
        """Crop pixels per full-image pixel, ``H / side``."""
        return self.out_hw[0] / self.side


def flip_matrix(width: int) -> np.ndarray:
    """3×3 mirror ``u → (width - 1) - u`` of an image ``width`` pixels wide (pixel centres at integers)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _check_box(box_xyxy) -> np.ndarray:
    box = np.asarray(box_xyxy, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise ValueError(f"box must be 4 finite numbers (x0, y0, x1, y1), got {box_xyxy!r}")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"box must have x1 > x0 and y1 > y0, got {box.tolist()}")
    return box


def expand_box(box_xyxy, rescale: float = DEFAULT_RESCALE, out_hw: tuple[int, int] = CROP_HW
               ) -> tuple[np.ndarray, float]:
    """Centre and square side ``b`` of the HaMeR crop of a hand box (steps 1–3 above)."""
    box = _check_box(box_xyxy)
    h_out, w_out = out_hw
    center = 0.5 * (box[:2] + box[2:])
    w, h = rescale * (box[2] - box[0]), rescale * (box[3] - box[1])
    side = max(h, w * h_out / w_out)
    return center, float(side)


def crop_params(box_xyxy, rescale: float = DEFAULT_RESCALE, out_hw: tuple[int, int] = CROP_HW,
                augmentation: Augmentation | None = None) -> CropParams:
    """Crop geometry for a hand box ``(x0, y0, x1, y1)`` in full-image pixels (see the module doc)."""
    if rescale <= 0:
        raise ValueError(f"rescale must be > 0, got {rescale}")
    aug = augmentation or Augmentation()
    if not aug.scale_factor > 0:
        raise ValueError(f"augmentation scale_factor must be > 0, got {aug.scale_factor}")
    center, side = expand_box(box_xyxy, rescale, out_hw)
    side *= aug.scale_factor
    center = center + np.asarray(aug.shift, dtype=np.float64) * side
    h_out, w_out = out_hw
    a = h_out / side
    cos, sin = math.cos(aug.rotation), math.sin(aug.rotation)
    lin = a * np.array([[cos, -sin], [sin, cos]])
    offset = np.array([(w_out - 1) / 2.0, (h_out - 1) / 2.0])
    matrix = np.hstack([lin, (offset - lin @ center)[:, None]])
    inv_lin = np.array([[cos, sin], [-sin, cos]]) / a
    inverse = np.hstack([inv_lin, (center - inv_lin @ offset)[:, None]])
    box = np.concatenate([center - side / 2.0, center + side / 2.0])
    return CropParams(center=center, side=side, rotation=float(aug.rotation), out_hw=(int(h_out), int(w_out)),
                      matrix=matrix, inverse=inverse, box=box)


# ---- images -------------------------------------------------------------------------------


def warp_image(image: np.ndarray, params: CropParams, flip: bool = False, antialias: bool = True,
               border_value: float | tuple[float, ...] = 0) -> np.ndarray:
    """Resample the crop (bilinear) from an (H, W) or (H, W, C) image (uint8, uint16 or float).

    Outside the image is ``border_value``. With ``antialias`` a crop that shrinks the image
    (``scale < 1``) is taken from a Gaussian-blurred copy, sigma ``(1 / scale - 1) / 2``
    (as HaMeR's demo does), so thin structures do not alias.
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got {img.shape}")
    h_out, w_out = params.out_hw
    if antialias and params.scale < 1.0:
        sigma = (1.0 / params.scale - 1.0) / 2.0
        if sigma > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    out = cv2.warpAffine(img, params.affine(flip)[:2], (w_out, h_out), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
    if img.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[:, :, None]
    return out


def warp_depth(depth: np.ndarray, params: CropParams, flip: bool = False) -> np.ndarray:
    """Crop a depth map (H, W) by nearest-neighbour sampling, so no value is ever interpolated
    across invalid pixels. 0 (and NaN/inf/negative, written as 0) means invalid; outside the
    image is 0. Returns float32 (H_out, W_out) in the input's units."""
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2:
        raise ValueError(f"depth must be (H, W), got {d.shape}")
    d = d.astype(np.float32)
    d = np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0))
    h_out, w_out = params.out_hw
    inv = np.linalg.inv(params.affine(flip))
    v, u = np.mgrid[0:h_out, 0:w_out].astype(np.float64)
    src = np.einsum("ij,jhw->ihw", inv[:2], np.stack([u, v, np.ones_like(u)]))
    # Nearest pixel centre; ties (exact half-pixels) go up, deterministically.
    col, row = np.floor(src[0] + 0.5).astype(np.int64), np.floor(src[1] + 0.5).astype(np.int64)
    inside = (col >= 0) & (col < d.shape[1]) & (row >= 0) & (row < d.shape[0])
    out = np.zeros((h_out, w_out), np.float32)
    out[inside] = d[row[inside], col[inside]]
    return out


# ---- points and cameras -------------------------------------------------------------------


def _apply(m: np.ndarray, pts) -> np.ndarray:
    p = np.asarray(pts, dtype=np.float64)
    if p.shape[-1] != 2:
        raise ValueError(f"points must be (..., 2), got {p.shape}")
    return p @ m[:2, :2].T + m[:2, 2]


def transform_points_2d(pts, params: CropParams, flip: bool = False) -> np.ndarray:
    """Full-image pixels (..., 2) → crop pixels (mirrored crop when ``flip``)."""
    return _apply(params.affine(flip), pts)


def inverse_transform_points_2d(pts, params: CropParams, flip: bool = False) -> np.ndarray:
    """Crop pixels (..., 2) (of the mirrored crop when ``flip``) → full-image pixels."""
    return _apply(np.linalg.inv(params.affine(flip)), pts)


def to_model_crop_pixels(pts) -> np.ndarray:
    """Our crop pixels (centres at integers) → the model's crop pixels (centres at ``j + 0.5``)."""
    return np.asarray(pts, dtype=np.float64) + 0.5


def from_model_crop_pixels(pts) -> np.ndarray:
    """Inverse of :func:`to_model_crop_pixels`."""
    return np.asarray(pts, dtype=np.float64) - 0.5


def mirror_points_3d(points) -> np.ndarray:
    """Camera-frame points (..., 3) mirrored ``x → -x`` (the world a mirrored image shows)."""
    return np.asarray(points, dtype=np.float64) * MIRROR_POINT


def mirror_axis_angle(rotations) -> np.ndarray:
    """Axis-angle rotations (..., 3k) under the mirror ``x → -x``: ``D R D`` is
    ``(r_x, -r_y, -r_z)``. Maps right-hand MANO poses to the mirrored left hand's and back."""
    r = np.asarray(rotations, dtype=np.float64)
    if r.shape[-1] % 3:
        raise ValueError(f"axis-angle arrays must have a multiple of 3 entries last, got {r.shape}")
    return r * np.tile(MIRROR_AXIS_ANGLE, r.shape[-1] // 3)


def mirrored_box_and_intrinsics(box, K) -> tuple[np.ndarray, np.ndarray]:
    """The box and intrinsics the model gets for a left hand, seen as a right hand in the image
    mirrored about the principal point's column: that image is what the camera `G K D` sees of
    the mirrored world `D X` (`D = diag(-1, 1, 1)`), and `G K D` is `K` with its skew negated;
    the box becomes `(2 cx - x1, y0, 2 cx - x0, y1)`."""
    box, K = np.asarray(box, np.float64), np.array(K, np.float64)
    cx = K[0, 2]
    K[0, 1] *= -1.0
    return np.array([2.0 * cx - box[2], box[1], 2.0 * cx - box[0], box[3]]), K


def _check_K(K) -> np.ndarray:
    k = np.asarray(K, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise ValueError(f"K must be a finite 3x3 matrix, got shape {k.shape}")
    if not (k[0, 0] > 0 and k[1, 1] > 0) or not np.allclose(k[2], [0.0, 0.0, 1.0]) or k[1, 0] != 0:
        raise ValueError(f"K must be upper triangular with fx, fy > 0 and last row (0, 0, 1), got {k.tolist()}")
    return k


def crop_intrinsics(K, params: CropParams, flip: bool = False) -> np.ndarray:
    """The crop camera's 3×3 projection ``P`` with ``project(P, X)`` = the crop pixel of the
    camera-frame point ``X`` (``flip=False``), or of the mirrored point ``D X`` in the mirrored
    crop (``flip=True``; ``P = F A K D``, so project :func:`mirror_points_3d` points).

    ``P = A K`` is an ordinary upper-triangular K when the crop has no rotation; with a
    rotation it is not (use :func:`crop_camera` for a K and the rotation of the crop camera).
    """
    k = _check_K(K)
    if flip:
        return params.affine(True) @ k @ np.diag(MIRROR_POINT)
    return params.affine(False) @ k


def crop_camera(K, params: CropParams, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Crop camera as intrinsics and a rotation: ``(K_crop, R)`` with ``K_crop @ R`` equal to
    :func:`crop_intrinsics` (RQ decomposition). ``K_crop`` is upper triangular with positive
    focal lengths; ``R`` rotates about the optical axis (identity without augmentation
    rotation). Labels for the crop: ``X_crop = R @ X`` (after :func:`mirror_points_3d` when
    ``flip``), and the global orientation ``R @ R_global``. Exact for any skew and fx ≠ fy.
    """
    p = crop_intrinsics(K, params, flip)
    m = p[:2, :2]
    n1 = float(np.hypot(*m[1]))
    q1 = m[1] / n1  # second row of the rotation
    q0 = np.array([q1[1], -q1[0]])  # first row, det = +1
    q = np.stack([q0, q1])
    upper = m @ q.T  # m = upper @ q
    upper[1, 0] = 0.0
    if upper[0, 0] <= 0:
        raise ValueError("crop affine reverses orientation; a flipped crop needs flip=True")
    k_crop = np.eye(3)
    k_crop[:2, :2] = upper
    k_crop[:2, 2] = p[:2, 2]
    rot = np.eye(3)
    rot[:2, :2] = q
    return k_crop, rot
