"""Image in, hand meshes out: detection (or user boxes) → crops → AnyHandNet-D → camera-frame hands.

Conventions: OpenCV camera frame (x right, y down, z forward), metres; pixel centres at integer
coordinates (:mod:`anyhand_hf.viz`, :mod:`anyhand_hf.crop`); 21 keypoints in OpenPose order.

Left hands (the model only knows right hands)
---------------------------------------------
Mirror the full image about the principal point's column, ``u → 2 c_x - u``. With
``G`` that mirror and ``D = diag(-1, 1, 1)``, the mirrored image is what the camera
``G K D`` sees of the mirrored world ``D X``, and ``G K D`` is ``K`` with its skew negated: the
intrinsics stay (``c_x`` included). So a left hand's crop is the mirrored crop (``flip=True``),
the model gets the box mirrored to ``(2 c_x - x1, y0, 2 c_x - x0, y1)`` and that ``K``; it
returns a right hand in the mirrored world, which maps back by ``X → D X`` (vertices, keypoints,
``cam_t``), ``(r_x, r_y, r_z) → (r_x, -r_y, -r_z)`` (every axis-angle of the pose) and the left
hand model's faces (reversed winding). ``HandModel.open("left")`` is the exact mirror of the right
hand, so those parameters reproduce the returned vertices with the left model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from . import viz
from .crop import (
    CROP_HW,
    DEFAULT_RESCALE,
    MIRROR_POINT,
    crop_params,
    mirror_axis_angle,
    mirrored_box_and_intrinsics,
)
from .data.transforms import crop_inputs
from .detect import HandDetector

# Default camera when K is not given: a pinhole with this field of view across the image's
# longer side, principal point at the image centre (typical of phone and webcam photos).
DEFAULT_FOV_DEG = 60.0
DEFAULT_DEPTH_MAX_METRES = 20.0
RIGHT_COLOR = (120, 170, 235)
LEFT_COLOR = (240, 165, 110)


@dataclass
class HandPrediction:
    """One hand, in the full image's camera frame (metres) and pixels.

    Attributes:
        global_orient: (3,) axis-angle; hand_pose: (45,) axis-angle (flat hand = 0);
            betas: (num_betas,). For a left hand these are the left hand model's parameters
            (``HandModel.open("left")`` or a MANO_LEFT file).
        vertices: (V, 3) mesh; keypoints_3d: (21, 3) OpenPose order; camera frame, metres.
        keypoints_2d: (21, 2) image pixels (``keypoints_3d`` projected with ``K``).
        cam_t: (3,) translation of the hand model's origin in the camera frame: the hand
            model of this side with these parameters and ``transl=cam_t`` gives ``vertices``.
        is_right, score: side, and the detector's confidence (1.0 for user boxes).
        box: (4,) hand box xyxy (the user's or the detector's); crop_box: the square crop box.
        K: (3, 3) intrinsics used. faces: (F, 3) triangles (left hands: reversed winding).
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    vertices: np.ndarray
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    cam_t: np.ndarray
    is_right: bool
    score: float
    box: np.ndarray
    crop_box: np.ndarray
    K: np.ndarray
    faces: np.ndarray


# ---- input normalisation --------------------------------------------------------------------


def _composite_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float64)[..., None]
    return rgb.astype(np.float64) * a + 255.0 * (1.0 - a)


def to_rgb_uint8(image: Any) -> np.ndarray:
    """Any reasonable image → (H, W, 3) uint8 RGB.

    PIL images of any mode and arrays (H, W), (H, W, 1), (H, W, 3), (H, W, 4) are accepted:
    transparency is composited over white; 16-bit values are scaled by 255 / 65535; float
    images are taken as 0–1 when their maximum is at most 1, else 0–255; grey is repeated.
    """
    if isinstance(image, (str, Path)):
        raise TypeError("predict() takes an image (PIL.Image or array), not a path: use PIL.Image.open(path)")
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            return to_rgb_uint8(np.asarray(image))
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
            rgba = np.asarray(image.convert("RGBA"))
            return np.round(_composite_white(rgba[..., :3], rgba[..., 3] / 255.0)).astype(np.uint8)
        return np.asarray(image.convert("RGB")).copy()
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or min(arr.shape[:2]) < 1:
        raise ValueError(f"image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    if arr.dtype == bool:
        values = arr.astype(np.float64) * 255.0
    elif arr.dtype == np.uint8:
        values = arr.astype(np.float64)
    elif np.issubdtype(arr.dtype, np.integer):
        # uint16 is 16-bit; wider integers (PIL's "I" mode) are 16-bit when any value exceeds 255.
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ValueError(f"integer image values must lie in 0..65535, got {lo}..{hi}")
        sixteen = arr.dtype == np.uint16 or hi > 255
        values = arr.astype(np.float64) * (255.0 / 65535.0 if sixteen else 1.0)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError("image contains NaN or infinite values")
        values = arr.astype(np.float64)
        values = values * 255.0 if values.max() <= 1.0 else values
    else:
        raise ValueError(f"unsupported image dtype {arr.dtype}")
    if values.ndim == 2:
        values = np.repeat(values[:, :, None], 3, axis=2)
    elif values.shape[2] == 4:
        values = _composite_white(values[..., :3], np.clip(values[..., 3] / 255.0, 0.0, 1.0))
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def default_intrinsics(size: tuple[int, int], fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """K for an (H, W) image: square pixels, ``fov_deg`` across the longer side, principal point
    at the centre ``((W - 1) / 2, (H - 1) / 2)``: ``f = (max(H, W) / 2) / tan(fov / 2)``."""
    h, w = size
    f = (max(h, w) / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, (w - 1) / 2.0], [0.0, f, (h - 1) / 2.0], [0.0, 0.0, 1.0]])


def check_intrinsics(K: Any) -> np.ndarray:
    k = np.asarray(K, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise ValueError(f"K must be a finite 3x3 matrix, got shape {k.shape}")
    if not (k[0, 0] > 0 and k[1, 1] > 0) or k[1, 0] != 0 or not np.allclose(k[2], [0.0, 0.0, 1.0]):
        raise ValueError(f"K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0 (pixels), got {k.tolist()}")
    return k


def check_depth(depth: Any, size: tuple[int, int], max_metres: float = DEFAULT_DEPTH_MAX_METRES) -> np.ndarray:
    """(H, W) float depth in metres, same size as the image; 0/NaN/inf/negative → 0 (invalid)."""
    if isinstance(depth, Image.Image):
        depth = np.asarray(depth)
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2:
        raise ValueError(f"depth must be (H, W) metres, got shape {d.shape}")
    if d.shape != tuple(size):
        raise ValueError(f"depth is {d.shape[0]}x{d.shape[1]} (HxW) but the image is {size[0]}x{size[1]}; "
                         "depth must be aligned with the image, pixel for pixel")
    if np.issubdtype(d.dtype, np.integer) or d.dtype == bool:
        raise ValueError(f"depth has integer dtype {d.dtype}: that looks like millimetres (e.g. a 16-bit PNG); "
                         "pass metres as float, e.g. depth_mm.astype(np.float32) / 1000.0")
    d = d.astype(np.float32)
    d = np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0))
    valid = d[d > 0]
    if valid.size and float(np.median(valid)) > max_metres:
        raise ValueError(f"depth looks like millimetres (median valid depth {float(np.median(valid)):.1f} > "
                         f"{max_metres} m); pass metres, e.g. depth_mm / 1000.0")
    return d


def _check_boxes(boxes: Any) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be a list of (x0, y0, x1, y1), got shape {b.shape}")
    if not np.all(np.isfinite(b)) or np.any(b[:, 2] <= b[:, 0]) or np.any(b[:, 3] <= b[:, 1]):
        raise ValueError(f"boxes must be finite with x1 > x0 and y1 > y0, got {b.tolist()}")
    return b


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


# ---- the predictor --------------------------------------------------------------------------


class AnyHandPredictor:
    """Run AnyHandNet-D on whole images.

    Args:
        model: an ``AnyHandNetD`` (or anything with its ``forward`` signature and ``config``).
        detector: a :class:`~anyhand_hf.detect.HandDetector` used when ``predict`` gets no boxes
            (e.g. :class:`~anyhand_hf.detect.MediaPipeHandDetector`, or ``"mediapipe"``).
        depth_estimator: for RGB-D models when ``predict`` gets no depth: an object with
            ``estimate(image_rgb, K) -> (H, W) metres`` or a callable ``f(image_rgb, K)``.
            Without one an RGB-D model gets all-invalid depth (zeros), which it reads as "no depth".
        device: torch device for the model.
        rescale: hand box enlargement before cropping (HaMeR/WiLoR: 2.0).
        fov_deg: field of view of the default ``K`` (see :func:`default_intrinsics`).
        batch_size: crops per forward pass.
    """

    def __init__(self, model: Any, detector: HandDetector | str | None = None, depth_estimator: Any = None,
                 device: str | torch.device = "cpu", rescale: float = DEFAULT_RESCALE,
                 fov_deg: float = DEFAULT_FOV_DEG, batch_size: int = 16):
        if isinstance(detector, str):
            if detector != "mediapipe":
                raise ValueError(f"unknown detector {detector!r}; pass 'mediapipe' or a HandDetector object")
            from .detect import MediaPipeHandDetector

            detector = MediaPipeHandDetector()
        self.device = torch.device(device)
        if hasattr(model, "to"):
            model = model.to(self.device)
        if hasattr(model, "eval"):
            model.eval()
        self.model = model
        self.detector = detector
        self.depth_estimator = depth_estimator
        self.rescale = rescale
        self.fov_deg = fov_deg
        self.batch_size = batch_size
        config = getattr(model, "config", None)
        self.image_size = tuple(int(s) for s in getattr(config, "image_size", CROP_HW))
        self.image_mean = np.asarray(getattr(config, "image_mean", (0.485, 0.456, 0.406)), dtype=np.float32)
        self.image_std = np.asarray(getattr(config, "image_std", (0.229, 0.224, 0.225)), dtype=np.float32)
        self.use_depth = bool(getattr(config, "use_depth", False))
        self.depth_max_metres = float(getattr(config, "depth_max_metres", DEFAULT_DEPTH_MAX_METRES))
        self._faces_right = self._right_faces(model)

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, detector: HandDetector | str | None = None,
                        depth_estimator: Any = None, device: str | torch.device = "cpu",
                        rescale: float = DEFAULT_RESCALE, fov_deg: float = DEFAULT_FOV_DEG, batch_size: int = 16,
                        **model_kwargs) -> "AnyHandPredictor":
        """Load ``AnyHandNetD.from_pretrained(path_or_id, **model_kwargs)`` (a folder or a Hub id)."""
        from anyhand_hf.modeling import AnyHandNetD

        model = AnyHandNetD.from_pretrained(path_or_id, **model_kwargs)
        return cls(model, detector=detector, depth_estimator=depth_estimator, device=device, rescale=rescale,
                   fov_deg=fov_deg, batch_size=batch_size)

    @staticmethod
    def _right_faces(model: Any) -> np.ndarray:
        mano = getattr(model, "mano", None)
        faces = getattr(mano, "faces", None)
        if faces is None:
            from .hand import HandModel

            faces = HandModel.open("right").faces
        return np.asarray(_numpy(faces), dtype=np.int64)

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, image: Any, depth: Any = None, K: Any = None, boxes: Any = None,
                is_right: Sequence[bool] | bool | None = None) -> list[HandPrediction]:
        """Hands in one image.

        Args:
            image: PIL image or array, any mode (see :func:`to_rgb_uint8`).
            depth: optional (H, W) float depth in metres aligned with the image (0 = invalid).
            K: 3×3 intrinsics in pixels; default :func:`default_intrinsics` (60° across the
                longer side). Metric outputs (depth, size) scale with the focal length: pass the
                real K when known.
            boxes: optional hand boxes xyxy in pixels; they bypass the detector.
            is_right: with ``boxes``, the side of each (default: all right).

        Returns:
            One :class:`HandPrediction` per hand (empty if none).
        """
        img = to_rgb_uint8(image)
        size = img.shape[:2]
        k = check_intrinsics(K) if K is not None else default_intrinsics(size, self.fov_deg)
        d = check_depth(depth, size, self.depth_max_metres) if depth is not None else None

        if boxes is None:
            if self.detector is None:
                raise ValueError("no boxes given and the predictor has no detector: pass boxes=[[x0, y0, x1, y1], ...] "
                                 "or build it with detector=MediaPipeHandDetector() (or detector='mediapipe')")
            detections = self.detector.detect(img)
            hand_boxes = np.array([det.box_xyxy for det in detections], dtype=np.float64).reshape(-1, 4)
            sides = [bool(det.is_right) for det in detections]
            scores = [float(det.score) for det in detections]
        else:
            hand_boxes = _check_boxes(boxes)
            n = len(hand_boxes)
            if is_right is None:
                sides = [True] * n
            elif isinstance(is_right, (bool, np.bool_)):
                sides = [bool(is_right)] * n
            else:
                sides = [bool(s) for s in is_right]
                if len(sides) != n:
                    raise ValueError(f"is_right has {len(sides)} entries for {n} boxes")
            scores = [1.0] * n
        if len(hand_boxes) == 0:
            return []

        if self.use_depth and d is None and self.depth_estimator is not None:
            estimate = getattr(self.depth_estimator, "estimate", self.depth_estimator)
            d = check_depth(estimate(img, k), size, self.depth_max_metres)

        out: list[HandPrediction] = []
        for start in range(0, len(hand_boxes), self.batch_size):
            sl = slice(start, start + self.batch_size)
            out += self._predict_batch(img, d, k, hand_boxes[sl], sides[sl], scores[sl])
        return out

    def _predict_batch(self, img: np.ndarray, depth: np.ndarray | None, K: np.ndarray, boxes: np.ndarray,
                       sides: list[bool], scores: list[float]) -> list[HandPrediction]:
        h, w = self.image_size
        crops, depth_crops, model_boxes, model_ks, crop_boxes = [], [], [], [], []
        for box, right in zip(boxes, sides):
            params = crop_params(box, self.rescale, (h, w))
            flip = not right
            pixels, depth_crop = crop_inputs(img, depth, params, flip, self.image_mean, self.image_std)
            crops.append(pixels)
            depth_crops.append(depth_crop if depth_crop is not None else np.zeros((1, h, w), np.float32))
            model_box, model_K = (params.box, K) if right else mirrored_box_and_intrinsics(params.box, K)
            model_boxes.append(model_box)
            model_ks.append(model_K)
            crop_boxes.append(params.box)

        dtype = next((p.dtype for p in self.model.parameters()), torch.float32) \
            if hasattr(self.model, "parameters") else torch.float32
        inputs = {
            "pixel_values": torch.from_numpy(np.stack(crops)).to(self.device, dtype),
            "K": torch.from_numpy(np.stack(model_ks)).to(self.device, torch.float32),
            "box": torch.from_numpy(np.stack(model_boxes)).to(self.device, torch.float32),
        }
        if self.use_depth:
            inputs["depth_values"] = torch.from_numpy(np.stack(depth_crops)).to(self.device, torch.float32)
        with torch.inference_mode():
            result = self.model(**inputs)

        fields = {name: _numpy(getattr(result, name)) for name in
                  ("vertices", "joints_3d", "global_orient", "hand_pose", "betas", "cam_t")}
        hands = []
        for i, (right, score) in enumerate(zip(sides, scores)):
            verts, joints, cam_t = fields["vertices"][i], fields["joints_3d"][i], fields["cam_t"][i]
            orient, pose = fields["global_orient"][i].reshape(3), fields["hand_pose"][i].reshape(-1)
            faces = self._faces_right
            if not right:  # back from the mirrored world: X -> D X
                verts, joints, cam_t = verts * MIRROR_POINT, joints * MIRROR_POINT, cam_t * MIRROR_POINT
                orient, pose = mirror_axis_angle(orient), mirror_axis_angle(pose)
                faces = faces[:, ::-1].copy()
            hands.append(HandPrediction(
                global_orient=orient, hand_pose=pose, betas=fields["betas"][i].copy(), vertices=verts,
                keypoints_3d=joints, keypoints_2d=viz.project_points(joints, K), cam_t=cam_t,
                is_right=bool(right), score=float(score), box=np.asarray(boxes[i], dtype=np.float64).copy(),
                crop_box=crop_boxes[i], K=K.copy(), faces=faces))
        return hands

    __call__ = predict


# ---- output helpers -------------------------------------------------------------------------


def render_overlay(image: Any, hands: Sequence[HandPrediction], mesh_alpha: float = 0.85,
                   keypoints: bool = True, K: Any = None) -> np.ndarray:
    """The image with the hands' meshes (shaded, right hands blue, left orange, blended at
    ``mesh_alpha``) and their 2D keypoints drawn over it; (H, W, 3) uint8.

    Meshes are rendered with the real ``K`` (``hands[0].K`` unless given), so they sit where
    the predicted geometry projects.
    """
    img = to_rgb_uint8(image)
    if not hands:
        return img
    k = check_intrinsics(K if K is not None else hands[0].K)
    verts, faces, colors, offset = [], [], [], 0
    for hand in hands:
        verts.append(hand.vertices)
        faces.append(hand.faces + offset)
        colors.append(np.tile(np.asarray(RIGHT_COLOR if hand.is_right else LEFT_COLOR, np.float64) / 255.0,
                              (len(hand.vertices), 1)))
        offset += len(hand.vertices)
    rendered = viz.render_mesh(np.concatenate(verts), np.concatenate(faces), k, img.shape[:2],
                               color=np.concatenate(colors), background=img)
    out = np.round(mesh_alpha * rendered.astype(np.float64) + (1.0 - mesh_alpha) * img).astype(np.uint8)
    if keypoints:
        for hand in hands:
            out = viz.draw_keypoints(out, hand.keypoints_2d)
    return out


def save_meshes(hands: Sequence[HandPrediction], out_dir: str | Path, fmt: str = "obj",
                prefix: str = "hand", opengl: bool = False) -> list[Path]:
    """Write one mesh per hand (``{prefix}_{i:02d}_{right|left}.{fmt}``, ``fmt`` "obj" or "glb")
    with trimesh. Vertices are in the OpenCV camera frame (metres) unless ``opengl`` (x, -y, -z:
    y up, looking down -z, as glTF viewers expect)."""
    import trimesh

    fmt = fmt.lower().lstrip(".")
    if fmt not in ("obj", "glb"):
        raise ValueError(f"fmt must be 'obj' or 'glb', got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, hand in enumerate(hands):
        verts = np.asarray(hand.vertices, dtype=np.float64)
        if opengl:
            verts = verts * np.array([1.0, -1.0, -1.0])
        color = RIGHT_COLOR if hand.is_right else LEFT_COLOR
        mesh = trimesh.Trimesh(vertices=verts, faces=np.asarray(hand.faces), process=False,
                               vertex_colors=np.tile(np.array([*color, 255], np.uint8), (len(verts), 1)))
        path = out / f"{prefix}_{i:02d}_{'right' if hand.is_right else 'left'}.{fmt}"
        mesh.export(path, file_type=fmt)
        paths.append(path)
    return paths
