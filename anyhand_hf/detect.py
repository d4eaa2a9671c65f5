"""Hand detection for the predictor: a small protocol, and MediaPipe's hand landmarker offline.

MediaPipe 1.x wheels run with numpy 2 but ship no models; the 0.10.21 wheel ships the palm
detector and hand-landmark ``.tflite`` files (but needs numpy < 2). :func:`prepare_mediapipe_bundle`
downloads the 0.10.21 wheel (no install), takes those two files out, and writes the
``hand_landmarker.task`` bundle that MediaPipe Tasks loads (a zip holding
``hand_detector.tflite`` and ``hand_landmarks_detector.tflite``) into the cache directory
(``$ANYHAND_CACHE``, default ``~/.cache/anyhand``), never into the repository. Set-up::

    bash scripts/install_hand_detector.sh        # or, by hand:
    pip install --no-deps mediapipe==1.2.3 && pip install 'absl-py~=2.3' 'flatbuffers~=25.9' matplotlib
    python -m anyhand_hf.detect prepare

(``--no-deps`` because mediapipe asks for ``opencv-contrib-python``, which would clash with
``opencv-python-headless``'s ``cv2``; its audio dependency ``sounddevice`` is not needed here.)

Pixel convention: as :mod:`anyhand_hf.viz` (pixel centres at integer coordinates), so a
MediaPipe normalised coordinate ``x`` is the pixel ``x · W - 0.5``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

MEDIAPIPE_MODEL_WHEEL = "mediapipe==0.10.21"
BUNDLE_NAME = "hand_landmarker.task"
# Wheel member (suffix) -> name inside the .task bundle (MediaPipe's hand_landmarker_graph.cc).
BUNDLE_MEMBERS = {
    "modules/palm_detection/palm_detection_full.tflite": "hand_detector.tflite",
    "modules/hand_landmark/hand_landmark_full.tflite": "hand_landmarks_detector.tflite",
}
INSTALL_HINT = ("bash scripts/install_hand_detector.sh  (or: pip install --no-deps mediapipe==1.2.3 && "
                "pip install 'absl-py~=2.3' 'flatbuffers~=25.9' matplotlib && python -m anyhand_hf.detect prepare)")


@dataclass
class Detection:
    """One detected hand.

    Attributes:
        box_xyxy: (4,) hand box in image pixels (pixel centres at integers).
        is_right: right hand (in the image as given, not a selfie mirror).
        score: detector confidence in [0, 1].
        keypoints_2d: (21, 2) OpenPose-order keypoints in pixels, when the detector gives them.
    """

    box_xyxy: np.ndarray
    is_right: bool
    score: float
    keypoints_2d: np.ndarray | None = field(default=None)


@runtime_checkable
class HandDetector(Protocol):
    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Hands in an (H, W, 3) uint8 RGB image."""
        ...


# ---- the model bundle -------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$ANYHAND_CACHE`` or ``~/.cache/anyhand``."""
    return Path(os.environ.get("ANYHAND_CACHE") or Path.home() / ".cache" / "anyhand")


def default_bundle_path() -> Path:
    return cache_dir() / "mediapipe" / BUNDLE_NAME


def _download_wheel(dest: Path) -> Path:
    base = [sys.executable, "-m", "pip", "download", MEDIAPIPE_MODEL_WHEEL, "--no-deps", "--only-binary=:all:",
            "-d", str(dest), "--quiet"]
    # The models are the same in every wheel; fall back to a cp311 Linux wheel when this
    # interpreter or platform has none.
    fallback = ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"]
    errors = []
    for extra in ([], fallback):
        proc = subprocess.run(base + extra, capture_output=True, text=True)
        wheels = sorted(dest.glob("mediapipe-*.whl"))
        if proc.returncode == 0 and wheels:
            return wheels[0]
        errors.append(proc.stderr.strip()[-2000:])
    raise RuntimeError(f"could not download {MEDIAPIPE_MODEL_WHEEL} from the package index:\n" + "\n".join(errors))


def _write_aligned_zip(path: Path, members: dict[str, bytes], align: int = 64) -> None:
    """Stored (uncompressed) zip whose member data start on ``align``-byte boundaries, so
    TFLite can use the flatbuffers in place (zipalign-style padding extra field 0xD935)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 31, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            offset = zf.fp.tell() + 30 + len(name.encode()) + 4
            pad = (-offset) % align
            info.extra = (0xD935).to_bytes(2, "little") + pad.to_bytes(2, "little") + b"\0" * pad
            zf.writestr(info, data)


def prepare_mediapipe_bundle(cache: str | Path | None = None, wheel: str | Path | None = None,
                             force: bool = False) -> Path:
    """Write ``hand_landmarker.task`` into ``cache/mediapipe/`` (default :func:`cache_dir`) and return its path.

    Downloads ``mediapipe==0.10.21`` with ``pip download --no-deps`` (nothing is installed)
    unless ``wheel`` points at that wheel already. An existing bundle is kept unless ``force``.
    """
    target = (Path(cache) if cache is not None else cache_dir()) / "mediapipe" / BUNDLE_NAME
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="anyhand-mediapipe-") as tmp:
        wheel_path = Path(wheel) if wheel is not None else _download_wheel(Path(tmp))
        members: dict[str, bytes] = {}
        with zipfile.ZipFile(wheel_path) as whl:
            names = whl.namelist()
            for suffix, bundle_name in BUNDLE_MEMBERS.items():
                found = [n for n in names if n.endswith(suffix)]
                if not found:
                    raise RuntimeError(f"{wheel_path.name} has no member ending in {suffix!r}; "
                                       f"use the {MEDIAPIPE_MODEL_WHEEL} wheel")
                members[bundle_name] = whl.read(found[0])
        part = target.with_suffix(".part")
        _write_aligned_zip(part, members)
        part.replace(target)
        meta = {"source": wheel_path.name,
                "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}}
        target.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return target


# ---- MediaPipe ----------------------------------------------------------------------------


def _import_mediapipe():
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions
    except ImportError as err:
        raise ImportError(f"MediaPipeHandDetector needs the mediapipe package ({err}). Install it with:\n  "
                          f"{INSTALL_HINT}") from err
    return mp, vision, BaseOptions


def box_from_keypoints(keypoints_2d: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Tight box of the keypoints grown by ``margin`` × its larger side on every side."""
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    lo, hi = kp.min(0), kp.max(0)
    pad = margin * float(max(hi - lo))
    return np.concatenate([lo - pad, hi + pad])


class MediaPipeHandDetector:
    """MediaPipe Tasks hand landmarker (palm detector + 21 landmarks), CPU, offline.

    Args:
        bundle_path: the ``.task`` bundle (default: :func:`default_bundle_path`).
        num_hands: most hands returned.
        min_detection_confidence, min_presence_confidence: MediaPipe thresholds.
        box_margin: box = landmarks' tight box grown by this fraction of its larger side.
        mirrored_input: the image is a selfie-mirrored frame; ``is_right`` is then swapped so
            that it names the hand of the person, not of the mirror image.

    Handedness: the legacy ``mp.solutions.hands`` documented labels for mirrored (selfie)
    input; the Tasks hand landmarker of mediapipe 1.2.3 labels the hand as it appears in the
    image as given. Checked on renders of our right and left hand models in several poses
    (palm and back views): right renders came back "Right", left renders "Left" (a few
    palm-side renders of the untextured hand were ambiguous), so ``is_right`` is the label
    as reported for ordinary (unmirrored) images.
    """

    def __init__(self, bundle_path: str | Path | None = None, num_hands: int = 2,
                 min_detection_confidence: float = 0.5, min_presence_confidence: float = 0.5,
                 box_margin: float = 0.1, mirrored_input: bool = False):
        mp, vision, base_options = _import_mediapipe()
        path = Path(bundle_path) if bundle_path is not None else default_bundle_path()
        if not path.is_file():
            raise FileNotFoundError(f"MediaPipe hand model bundle not found at {path}. Make it with:\n  "
                                    f"python -m anyhand_hf.detect prepare   (or {INSTALL_HINT})")
        self._mp = mp
        options = vision.HandLandmarkerOptions(
            base_options=base_options(model_asset_path=str(path)), running_mode=vision.RunningMode.IMAGE,
            num_hands=num_hands, min_hand_detection_confidence=min_detection_confidence,
            min_hand_presence_confidence=min_presence_confidence)
        self._landmarker = vision.HandLandmarker.create_from_options(options)
        self.box_margin = box_margin
        self.mirrored_input = mirrored_input

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        img = np.asarray(image_rgb)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"detect() takes an (H, W, 3) uint8 RGB image, got {img.dtype} {img.shape}")
        h, w = img.shape[:2]
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(img))
        result = self._landmarker.detect(mp_image)
        out = []
        for landmarks, handedness in zip(result.hand_landmarks, result.handedness):
            kp = np.array([[lm.x * w - 0.5, lm.y * h - 0.5] for lm in landmarks], dtype=np.float64)
            label = handedness[0].category_name.lower()
            says_right = label == "right"
            is_right = not says_right if self.mirrored_input else says_right
            out.append(Detection(box_xyxy=box_from_keypoints(kp, self.box_margin), is_right=bool(is_right),
                                 score=float(handedness[0].score), keypoints_2d=kp))
        return out

    def close(self) -> None:
        if getattr(self, "_landmarker", None) is not None:
            try:
                self._landmarker.close()
            finally:
                self._landmarker = None

    def __enter__(self) -> "MediaPipeHandDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # mediapipe's own __del__ can fail at interpreter exit
        try:
            self.close()
        except Exception:
            pass


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m anyhand_hf.detect",
                                     description="Prepare MediaPipe's hand_landmarker.task bundle offline.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    prep = sub.add_parser("prepare", help="download mediapipe 0.10.21 (no install) and write the .task bundle")
    prep.add_argument("--cache-dir", default=None, help="default: $ANYHAND_CACHE or ~/.cache/anyhand")
    prep.add_argument("--wheel", default=None, help="use this mediapipe 0.10.21 wheel instead of downloading")
    prep.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    path = prepare_mediapipe_bundle(args.cache_dir, wheel=args.wheel, force=args.force)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
