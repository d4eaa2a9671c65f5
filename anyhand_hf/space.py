"""The AnyHand Space: a Gradio app around :class:`~anyhand_hf.predictor.AnyHandPredictor`.

RGB or RGB-D in (depth uploaded, estimated with MoGe-2, or none), hand meshes out: an overlay,
a 3D view (``.glb``: hands, plus the depth as a point cloud), the depth colour-mapped, MANO
parameters and metric keypoints as JSON, and the meshes as files. ``spaces/app.py`` and
``anyhand space`` both serve :func:`build_demo`.

Everything a user can get wrong becomes an :class:`UploadError` whose message is shown in the
UI (``gr.Error``); anything else is logged with its traceback and reported in one line, and the
app keeps serving.

Pixels: as the rest of the package, pixel centres at integer coordinates. Huge photos are
downscaled to at most :data:`MAX_SIDE` pixels for the model; boxes and intrinsics the user types
are in the original photo's pixels, and so are the keypoints and ``K`` in the JSON.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import viz
from .predictor import (
    DEFAULT_FOV_DEG,
    AnyHandPredictor,
    HandPrediction,
    default_intrinsics,
    render_overlay,
    save_meshes,
    to_rgb_uint8,
)

MODEL_ENV = "ANYHAND_MODEL"
MAX_SIDE = 1024           # longer side the model sees; bigger photos are downscaled
QUEUE_SIZE = 8            # waiting requests beyond this are refused, so memory stays bounded
MAX_POINTS = 40_000       # depth pixels in the 3D view's point cloud
DEPTH_SOURCES = ("uploaded", "estimated", "none")
DEPTH_FILE_TYPES = (".png", ".tif", ".tiff", ".npy", ".npz", ".exr")
PLAUSIBLE_DEPTH_M = (0.05, 20.0)  # median depth of a photo of hands, metres
ASPECT_TOLERANCE = 0.01
OUTPUT_MAX_AGE_S = 3600.0  # request folders and gradio's cached copies are deleted after this
GLTF_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # glTF viewers: y up, looking down -z

logger = logging.getLogger(__name__)


class UploadError(ValueError):
    """Something the user gave cannot be used; the message says what and how to fix it."""


# ---- photos, pixels and cameras -----------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    """The photo at the size the model sees, and the size it was uploaded at.

    Attributes:
        rgb: (h, w, 3) uint8, EXIF rotation applied, at most ``MAX_SIDE`` on its longer side.
        original_hw: (H, W) of the upload after EXIF rotation.
    """

    rgb: np.ndarray
    original_hw: tuple[int, int]

    @property
    def scale(self) -> np.ndarray:
        """(sx, sy): original pixels per working pixel."""
        (h0, w0), (h, w) = self.original_hw, self.rgb.shape[:2]
        return np.array([w0 / w, h0 / h])

    @property
    def downscaled(self) -> bool:
        return tuple(self.rgb.shape[:2]) != tuple(self.original_hw)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Working-image pixels → original pixels (pixel centres at integers in both)."""
        return (np.asarray(points, dtype=np.float64) + 0.5) * self.scale - 0.5

    def to_working(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) + 0.5) / self.scale - 0.5

    def working_intrinsics(self, K_original: np.ndarray) -> np.ndarray:
        """K of the original photo → K of the working image (``to_working`` applied to the pixels)."""
        sx, sy = self.scale
        resize = np.array([[1.0 / sx, 0.0, 0.5 / sx - 0.5], [0.0, 1.0 / sy, 0.5 / sy - 0.5], [0.0, 0.0, 1.0]])
        return resize @ K_original


def load_photo(path: str | Path, max_side: int = MAX_SIDE) -> Photo:
    """Read any image file PIL knows (grey, RGBA, 16-bit...), apply its EXIF rotation and
    downscale it so that its longer side is at most ``max_side``."""
    name = Path(path).name
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            rgb = to_rgb_uint8(im)
    except Image.DecompressionBombError as err:
        raise UploadError(f"{name} is too large to open safely ({err})") from None
    except UnidentifiedImageError:
        raise UploadError(f"{name} is not an image file (upload a PNG, JPEG or WebP photo)") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise UploadError(f"{name} could not be read as an image (truncated or corrupt?): {err}") from None
    h0, w0 = rgb.shape[:2]
    factor = max_side / max(h0, w0)
    if factor < 1.0:
        size = (max(1, round(w0 * factor)), max(1, round(h0 * factor)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
    return Photo(rgb=rgb, original_hw=(h0, w0))


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""


def camera_matrix(original_hw: tuple[int, int], fov_deg: float | None = None, fx: float | None = None,
                  fy: float | None = None, cx: float | None = None, cy: float | None = None) -> np.ndarray:
    """K in the original photo's pixels: from fx (fy, cx, cy default to fx and the centre), else
    from a field of view across the longer side (default :data:`DEFAULT_FOV_DEG`)."""
    h, w = original_hw
    if _given(fx):
        fx = float(fx)
        fy = float(fy) if _given(fy) else fx
        cx = float(cx) if _given(cx) else (w - 1) / 2.0
        cy = float(cy) if _given(cy) else (h - 1) / 2.0
        if not (fx > 0 and fy > 0 and all(map(math.isfinite, (fx, fy, cx, cy)))):
            raise UploadError(f"focal lengths must be positive pixels, got fx={fx}, fy={fy}")
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if any(_given(v) for v in (fy, cx, cy)):
        raise UploadError("intrinsics: give fx (fy, cx and cy are optional), or a field of view")
    fov = float(fov_deg) if _given(fov_deg) else DEFAULT_FOV_DEG
    if not 1.0 <= fov <= 179.0:
        raise UploadError(f"field of view must lie between 1 and 179 degrees, got {fov}")
    return default_intrinsics((h, w), fov)


_SIDES = {"r": True, "right": True, "l": False, "left": False}


def parse_boxes(text: str | None) -> tuple[np.ndarray, list[bool]] | None:
    """Boxes typed as one ``x0, y0, x1, y1[, R|L]`` per line (or separated by ``;``), in the
    original photo's pixels; the side defaults to right. None when the text is empty."""
    entries = [e.strip() for e in re.split(r"[;\n]", text or "") if e.strip()]
    if not entries:
        return None
    boxes, sides = [], []
    for entry in entries:
        parts = [p for p in re.split(r"[,\s]+", entry) if p]
        side = True
        if len(parts) == 5 and parts[4].lower() in _SIDES:
            side = _SIDES[parts.pop().lower()]
        try:
            box = [float(p) for p in parts]
        except ValueError:
            box = []
        if len(box) != 4 or not all(map(math.isfinite, box)) or box[2] <= box[0] or box[3] <= box[1]:
            raise UploadError(f"box {entry!r}: write x0, y0, x1, y1 (pixels, x1 > x0, y1 > y0), optionally "
                              "followed by R or L")
        boxes.append(box)
        sides.append(side)
    return np.array(boxes), sides


# ---- depth files ----------------------------------------------------------------------------


def read_depth_file(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """A depth file → ((H, W) float32 metres, notes). 16-bit PNG/TIFF hold millimetres; 32-bit
    float TIFF, ``.npy``, ``.npz`` (key ``depth`` or the only array) and ``.exr`` hold metres."""
    from .assets.envmaps import HDRReadError, read_exr

    path = Path(path)
    suffix, notes = path.suffix.lower(), []
    try:
        if suffix in (".png", ".tif", ".tiff"):
            with Image.open(path) as im:
                if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                    depth = np.asarray(im, dtype=np.float32) / 1000.0
                elif im.mode == "F":
                    depth = np.asarray(im, dtype=np.float32)
                else:
                    raise UploadError(f"{path.name} is an 8-bit {im.mode} image: depth must be a 16-bit greyscale "
                                      "PNG in millimetres (8 bits cannot hold metric depth), or .npy/.npz/.exr "
                                      "in metres")
        elif suffix == ".npy":
            depth = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = archive.files
                if "depth" not in keys and len(keys) != 1:
                    raise UploadError(f"{path.name} holds {keys}: name the depth array 'depth'")
                depth = archive["depth" if "depth" in keys else keys[0]]
        elif suffix == ".exr":
            depth = read_exr(path)[..., 0]  # one channel (a grey EXR repeats it in R, G, B)
        else:
            raise UploadError(f"{path.name}: depth files must be {', '.join(DEPTH_FILE_TYPES)}")
    except UploadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, EOFError, zipfile.BadZipFile, HDRReadError) as err:
        raise UploadError(f"could not read the depth file {path.name}: {err}") from None
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] in (1, 3, 4):
        if depth.shape[2] > 1:
            notes.append(f"{path.name} has {depth.shape[2]} channels; the first is taken as depth")
        depth = depth[..., 0]
    if depth.ndim != 2 or not (np.issubdtype(depth.dtype, np.number) and not np.iscomplexobj(depth)):
        raise UploadError(f"{path.name}: depth must be one (H, W) map of numbers, got {depth.dtype} {depth.shape}")
    if np.issubdtype(depth.dtype, np.integer):
        notes.append(f"{path.name} holds integers: read as millimetres")
        depth = depth.astype(np.float32) / 1000.0
    return depth.astype(np.float32), notes


def fit_depth(depth: np.ndarray, photo: Photo, name: str = "depth") -> tuple[np.ndarray, list[str]]:
    """Check a metric depth map against the photo: units (millimetres are detected and
    converted), size (same aspect ratio is resized, nearest neighbour), validity. Returns the
    depth at the working size (0 = invalid) and notes on what was done."""
    import cv2

    notes = []
    d = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
    valid = d > 0
    if not valid.any():
        raise UploadError(f"{name} has no valid depth (every value is 0, negative, NaN or infinite)")
    median = float(np.median(d[valid]))
    lo, hi = PLAUSIBLE_DEPTH_M
    if median > hi and lo <= median / 1000.0 <= hi:
        d = d / 1000.0
        notes.append(f"{name} looked like millimetres (median {median:.0f}); divided by 1000")
    elif not lo <= median <= hi:
        raise UploadError(f"{name}: median depth {median:.4g} m is not plausible for a photo of hands "
                          f"({lo}-{hi} m). 16-bit PNGs must hold millimetres; .npy/.npz/.exr metres")
    (h0, w0), (h, w) = photo.original_hw, photo.rgb.shape[:2]
    dh, dw = d.shape
    if (dh, dw) != (h, w):
        if abs(dw / dh - w0 / h0) > ASPECT_TOLERANCE * (w0 / h0):
            raise UploadError(f"{name} is {dw}x{dh} pixels but the photo is {w0}x{h0}: different aspect ratios, "
                              "so they cannot show the same view. Upload the depth aligned with the photo")
        if (dh, dw) != (h0, w0):
            notes.append(f"{name} is {dw}x{dh}, the photo {w0}x{h0}: resized to match (nearest neighbour)")
        d = cv2.resize(d, (w, h), interpolation=cv2.INTER_NEAREST)
    return d, notes


def depth_points(depth: np.ndarray, K: np.ndarray, rgb: np.ndarray,
                 max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Valid depth pixels back-projected to camera-frame points (N, 3) with their colours (N, 3),
    on a regular pixel grid thinned to at most ``max_points``."""
    valid = depth > 0
    stride = max(1, math.ceil(math.sqrt(valid.sum() / max_points)))
    v, u = np.nonzero(valid[::stride, ::stride])
    v, u = v * stride, u * stride
    z = depth[v, u].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], axis=1).astype(np.float64) @ np.linalg.inv(K).T
    return rays * z[:, None], rgb[v, u]


# ---- models ---------------------------------------------------------------------------------


@dataclass
class SpaceModels:
    """What the app runs, and a message for each part that is missing."""

    predictor: AnyHandPredictor | None
    model_problem: str | None = None
    detector_problem: str | None = None
    depth_estimator: Any = None
    estimator_problem: str | None = None

    @classmethod
    def load(cls, model: str | None = None, detector: bool = True) -> SpaceModels:
        """The model from ``model`` or ``$ANYHAND_MODEL`` (Hub id or folder), MediaPipe's hand
        detector when installed; MoGe-2 is loaded on first use (:meth:`estimator`)."""
        source = model or os.environ.get(MODEL_ENV)
        if not source:
            return cls(None, model_problem=(
                f"No model is configured. Set {MODEL_ENV} to an AnyHandNet-D checkpoint (a local folder saved with "
                "save_pretrained, or a Hub id), e.g. one written by scripts/train.py, then restart the app."))
        try:
            predictor = AnyHandPredictor.from_pretrained(source)
        except (OSError, ValueError) as err:
            return cls(None, model_problem=f"Could not load the model {source!r} (set {MODEL_ENV} to a checkpoint "
                                           f"folder or Hub id): {err}")
        detector_problem = None
        if detector:
            from .detect import MediaPipeHandDetector

            try:
                predictor.detector = MediaPipeHandDetector()
            except (ImportError, FileNotFoundError) as err:
                detector_problem = (f"No hand detector ({str(err).splitlines()[0]}); draw or type hand boxes, or "
                                    "install it with bash scripts/install_hand_detector.sh")
        else:
            detector_problem = "Hand detection is off: draw or type hand boxes"
        return cls(predictor, detector_problem=detector_problem)

    def estimator(self) -> Any:
        if self.depth_estimator is None and self.estimator_problem is None:
            from .depth import DepthEstimatorUnavailable, MoGeDepthEstimator

            try:
                self.depth_estimator = MoGeDepthEstimator()
            except DepthEstimatorUnavailable as err:
                self.estimator_problem = f"Depth estimation is unavailable: {err}"
        if self.depth_estimator is None:
            raise UploadError(f"{self.estimator_problem}. Choose 'uploaded' or 'none' as the depth source")
        return self.depth_estimator


# ---- one request ----------------------------------------------------------------------------


@dataclass
class SpaceResult:
    overlay: np.ndarray
    scene_glb: str | None
    depth_colored: np.ndarray | None
    report: dict
    files: list[str]
    status: str


def _hand_record(hand: HandPrediction, photo: Photo) -> dict:
    return {
        "side": "right" if hand.is_right else "left",
        "score": round(hand.score, 4),
        "box_xyxy": photo.to_original(hand.box.reshape(2, 2)).reshape(4).tolist(),
        "global_orient": hand.global_orient.tolist(),
        "hand_pose": hand.hand_pose.tolist(),
        "betas": hand.betas.tolist(),
        "cam_t": hand.cam_t.tolist(),
        "keypoints_3d": hand.keypoints_3d.tolist(),
        "keypoints_2d": photo.to_original(hand.keypoints_2d).tolist(),
    }


def write_scene(mesh_paths: list[Path], points: tuple[np.ndarray, np.ndarray] | None, path: Path) -> Path:
    """One ``.glb``: the hand meshes (as saved by :func:`save_meshes`) and the depth points,
    turned from the OpenCV camera frame into glTF's (y up, looking down -z)."""
    import trimesh

    scene = trimesh.Scene()
    parts = {p.stem: trimesh.load(p, process=False, force="mesh") for p in mesh_paths}
    if points is not None and len(points[0]):
        parts["depth"] = trimesh.PointCloud(points[0], colors=points[1])
    for name, geometry in parts.items():  # vertices themselves in glTF's frame: no node transform
        scene.add_geometry(geometry.apply_transform(GLTF_FROM_OPENCV), geom_name=name)
    scene.export(path, file_type="glb")
    return path


def fresh_output_dir(root: Path | None = None, max_age_s: float = OUTPUT_MAX_AGE_S) -> Path:
    """A new folder for one request's files under ``root`` (default: ``<tmp>/anyhand-space``);
    folders older than ``max_age_s`` (long since copied into gradio's cache) are removed, so a
    long-running Space keeps its disk."""
    root = root if root is not None else Path(tempfile.gettempdir()) / "anyhand-space"
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        if old.is_dir() and now - old.stat().st_mtime > max_age_s:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=root))


def run_request(models: SpaceModels, image_path: str | None, depth_path: str | None, depth_source: str,
                fov_deg: float | None = None, fx: float | None = None, fy: float | None = None,
                cx: float | None = None, cy: float | None = None, boxes_text: str | None = None,
                out_dir: str | Path | None = None) -> SpaceResult:
    """Everything one click does; raises :class:`UploadError` for what the user must fix."""
    if models.predictor is None:
        raise UploadError(models.model_problem)
    if not image_path:
        raise UploadError("Upload a photo (RGB image) first")
    if depth_source not in DEPTH_SOURCES:
        raise UploadError(f"depth source must be one of {DEPTH_SOURCES}, got {depth_source!r}")
    photo = load_photo(image_path)
    notes = []
    if photo.downscaled:
        (h0, w0), (h, w) = photo.original_hw, photo.rgb.shape[:2]
        notes.append(f"photo downscaled from {w0}x{h0} to {w}x{h} for the model; the JSON's pixels are the original's")
    K_original = camera_matrix(photo.original_hw, fov_deg, fx, fy, cx, cy)
    K = photo.working_intrinsics(K_original)

    depth = None
    if depth_source == "uploaded":
        if not depth_path:
            raise UploadError("Depth source is 'uploaded' but no depth file was given: upload one, or choose "
                              "'estimated' or 'none'")
        raw, read_notes = read_depth_file(depth_path)
        depth, fit_notes = fit_depth(raw, photo, Path(depth_path).name)
        notes += read_notes + fit_notes
    elif depth_source == "estimated":
        depth, fit_notes = fit_depth(models.estimator().estimate(photo.rgb, K), photo, "estimated depth")
        notes += fit_notes
    if depth is not None and not models.predictor.use_depth:
        notes.append("this model is RGB-only: the depth is shown but not used for the hands")

    predictor, boxes, sides = models.predictor, None, None
    typed = parse_boxes(boxes_text)
    if typed is None and predictor.detector is None:
        raise UploadError(models.detector_problem or "There is no hand detector: draw or type hand boxes")
    if typed is not None:
        boxes, sides = photo.to_working(typed[0].reshape(-1, 2)).reshape(-1, 4), typed[1]
        h, w = photo.rgb.shape[:2]
        outside = [i for i, b in enumerate(boxes) if b[2] < 0 or b[3] < 0 or b[0] > w - 1 or b[1] > h - 1]
        if outside:
            raise UploadError(f"box {outside[0] + 1} lies outside the {photo.original_hw[1]}x"
                              f"{photo.original_hw[0]} photo")
    hands = predictor.predict(photo.rgb, depth=depth if predictor.use_depth else None, K=K, boxes=boxes,
                              is_right=sides)

    out = Path(out_dir) if out_dir is not None else fresh_output_dir()
    out.mkdir(parents=True, exist_ok=True)
    depth_colored = viz.colorize_depth(depth) if depth is not None else None
    report = {"image_size_wh": [photo.original_hw[1], photo.original_hw[0]], "K": K_original.tolist(),
              "depth_source": depth_source, "units": "metres (3D), original photo pixels (2D)",
              "hands": [_hand_record(hand, photo) for hand in hands]}
    if not hands:
        status = ("**No hands found.** Draw or type a box around each hand (x0, y0, x1, y1), or try a photo "
                  "where the hands are larger and well lit.")
        return SpaceResult(photo.rgb, None, depth_colored, report, [], _status(status, notes))

    overlay = render_overlay(photo.rgb, hands)
    for hand in hands:
        overlay = viz.draw_box(overlay, hand.box, label=f"{'R' if hand.is_right else 'L'} {hand.score:.2f}")
    mesh_paths = save_meshes(hands, out)
    points = depth_points(depth, K, photo.rgb) if depth is not None else None
    scene = write_scene(mesh_paths, points, out / "scene.glb")
    report_path = out / "hands.json"
    report_path.write_text(json.dumps(report, indent=1))
    n_right = sum(h.is_right for h in hands)
    status = (f"**{len(hands)} hand{'s' * (len(hands) > 1)}** ({n_right} right, {len(hands) - n_right} left), "
              f"depth: {depth_source}")
    return SpaceResult(overlay, str(scene), depth_colored, report,
                       [str(p) for p in (*mesh_paths, scene, report_path)], _status(status, notes))


def _status(head: str, notes: list[str]) -> str:
    return "\n".join([head] + [f"- {n}" for n in notes])


# ---- the Gradio app -------------------------------------------------------------------------


def add_box_corner(text: str | None, corner: list | None, point: tuple[float, float],
                   photo: str | None = None) -> tuple[str, list | None]:
    """Two clicks on the same photo make one box: the first click is kept (as ``[x, y, photo]``),
    the second appends ``x0, y0, x1, y1`` to the boxes text."""
    x, y = (float(v) for v in point)
    if corner is None or corner[2] != photo:
        return text or "", [x, y, photo]
    x0, x1 = sorted((corner[0], x))
    y0, y1 = sorted((corner[1], y))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return text or "", None
    line = f"{x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}"
    return ((text or "").rstrip() + "\n" + line).strip(), None


def build_demo(models: SpaceModels, examples_dir: str | Path | None = None):
    """The Blocks app; launch it with :func:`launch`."""
    import gradio as gr

    # Raw payloads (preprocess=False below): gr.Image's own decoding would fail on a non-image
    # upload with gradio's generic error instead of ours, and gr.File would refuse other types.
    def predict(image, depth_file, depth_source, fov, fx, fy, cx, cy, boxes):
        try:
            result = run_request(models, _payload_path(image), _payload_path(depth_file), depth_source,
                                 fov, fx, fy, cx, cy, boxes)
        except UploadError as err:
            raise gr.Error(str(err), print_exception=False) from None
        except Exception as err:  # a bug or an out-of-memory: log it, tell the user, keep serving
            logger.exception("request failed")
            raise gr.Error(f"Something went wrong on our side ({type(err).__name__}: {err}). "
                           "The app is still running; try another photo.", print_exception=False) from None
        return (result.overlay, result.scene_glb, result.depth_colored, result.report, result.files or None,
                result.status)

    def click(text, corner, photo, evt):
        text, corner = add_box_corner(text, corner, evt.index, photo)
        hint = f"Corner at ({corner[0]:.0f}, {corner[1]:.0f}): click the opposite corner" if corner else ""
        return text, corner, hint

    # Gradio passes the click's SelectData to a parameter annotated with it; set here because
    # this module's annotations are strings and gradio is imported lazily.
    click.__annotations__["evt"] = gr.SelectData

    with gr.Blocks(title="AnyHand: hand meshes from RGB or RGB-D", analytics_enabled=False,  # no telemetry calls
                   delete_cache=(int(OUTPUT_MAX_AGE_S), int(OUTPUT_MAX_AGE_S))) as demo:
        gr.Markdown("# AnyHand: hand meshes from RGB or RGB-D\nUpload a photo, optionally its depth map, "
                    "and get MANO hand meshes in metres. Model: AnyHandNet-D.")
        for problem in (models.model_problem, models.detector_problem):
            if problem:
                gr.Markdown(f"> **Note:** {problem}", elem_id="setup-note")
        corner = gr.State(None)
        with gr.Row():
            with gr.Column():
                image = gr.Image(label="Photo (RGB); click two corners to draw a hand box", type="filepath",
                                 image_mode=None, sources=["upload", "clipboard"], elem_id="photo")
                corner_hint = gr.Markdown(elem_id="corner-hint")
                depth_file = gr.File(label="Depth map: 16-bit PNG in mm, or .npy/.npz/.exr in metres (optional)",
                                     type="filepath", file_types=list(DEPTH_FILE_TYPES), elem_id="depth-file")
                depth_source = gr.Radio(list(DEPTH_SOURCES), value="none", label="Depth source",
                                        info="uploaded file, estimated from the photo (MoGe-2), or none (RGB only)",
                                        elem_id="depth-source")
                boxes = gr.Textbox(label="Hand boxes (optional; override the detector)", lines=2,
                                   placeholder="x0, y0, x1, y1[, R|L] per line, in the photo's pixels",
                                   elem_id="boxes")
                with gr.Accordion("Camera intrinsics (optional)", open=False):
                    fov = gr.Number(value=None, label=f"Field of view across the longer side, degrees "
                                                      f"(default {DEFAULT_FOV_DEG:g})")
                    with gr.Row():
                        fx = gr.Number(value=None, label="fx (px)")
                        fy = gr.Number(value=None, label="fy (px)")
                        cx = gr.Number(value=None, label="cx (px)")
                        cy = gr.Number(value=None, label="cy (px)")
                run = gr.Button("Reconstruct hands", variant="primary", elem_id="run")
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                overlay = gr.Image(label="Meshes and keypoints", type="numpy", format="png", interactive=False,
                                   elem_id="overlay")
                scene = gr.Model3D(label="3D view (hands; depth as points)", clear_color=(0.95, 0.95, 0.95, 1.0),
                                   elem_id="scene")
                depth_view = gr.Image(label="Depth", type="numpy", format="png", interactive=False,
                                      elem_id="depth-view")
                params = gr.JSON(label="MANO parameters and metric 3D keypoints", elem_id="params")
                files = gr.File(label="Meshes (.obj in the camera frame, metres), scene .glb, JSON",
                                file_count="multiple", interactive=False, elem_id="files")
        image.select(click, inputs=[boxes, corner, image], outputs=[boxes, corner, corner_hint])
        depth_file.upload(lambda: "uploaded", outputs=[depth_source])
        run.click(predict, inputs=[image, depth_file, depth_source, fov, fx, fy, cx, cy, boxes],
                  outputs=[overlay, scene, depth_view, params, files, status], api_name="predict",
                  preprocess=False)
        examples = example_rows(examples_dir)
        if examples:
            gr.Examples(examples, inputs=[image, depth_file, depth_source, boxes], label="Rendered AnyHand samples")
    return demo


def _payload_path(payload: Any) -> str | None:
    """The uploaded file's path from a raw gradio file payload (model or dict), or None."""
    if payload is None:
        return None
    return payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", None)


def example_rows(examples_dir: str | Path | None) -> list[list]:
    """``<name>.jpg`` (or ``.png``) + ``<name>_depth.png`` (+ ``<name>_box.txt``) → rows of
    (photo, depth, "uploaded", boxes)."""
    if examples_dir is None or not Path(examples_dir).is_dir():
        return []
    rows = []
    for depth in sorted(Path(examples_dir).glob("*_depth.png")):
        stem = depth.name[: -len("_depth.png")]
        photos = [depth.with_name(stem + ext) for ext in (".jpg", ".png") if depth.with_name(stem + ext).is_file()]
        box = depth.with_name(stem + "_box.txt")
        if photos:
            rows.append([str(photos[0]), str(depth), "uploaded", box.read_text().strip() if box.is_file() else ""])
    return rows


def launch(demo, host: str = "127.0.0.1", port: int | None = None, **kwargs):
    """Serve with a bounded queue (one request at a time, :data:`QUEUE_SIZE` waiting)."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return demo.launch(server_name=host, server_port=port, **kwargs)
