"""The v1 row of the AnyHand dataset (DESIGN.md "Dataset (v1 rows)") as `datasets.Features`,
and the two conversions every reader and writer shares:

- `encode_row`: a numpy row as `anyhand_hf.generate.render_scene` returns it → a record for
  `FEATURES` (pictures encoded by `anyhand_hf.data.codecs`: `Image()` would store a uint16 depth
  array as an uncompressed TIFF, so depth and mask are PNG bytes we make ourselves).
- `decode_row`: an example read back (`load_dataset(..., streaming=True)` decodes pictures to
  PIL; with decoding off they are `{"bytes": ...}` dicts) → numpy arrays or torch tensors in the
  row's units: image uint8 (H,W,3), depth float32 metres (0 = invalid), mask uint8 labels.

Every column is nullable: readers of real datasets (FreiHAND, HO-3D) leave absent ones None.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from datasets import Features, Image, List, Value
from PIL import Image as PILImage

from .codecs import depth_from_image, encode_depth_png, encode_image, encode_mask_png

PICTURES = ("image", "depth", "mask")
# (name, shape) of every numeric label, shapes as stored; None = per-row length (vertex count).
ARRAYS: tuple[tuple[str, tuple[int | None, ...]], ...] = (
    ("bbox", (4,)), ("K", (3, 3)), ("R", (3, 3)), ("t", (3,)), ("global_orient", (3,)), ("hand_pose", (45,)),
    ("betas", (10,)), ("hand_transl", (3,)), ("joints_3d", (21, 3)), ("joints_2d", (21, 2)), ("vertices_3d", (None, 3)),
)


def _array_feature(shape: tuple[int | None, ...]) -> Value | List:
    """Fixed-length nested lists, not `Array2D`: `datasets` re-parses an `Array2D`'s type for
    every streamed row, which halved row-by-row decoding speed (scripts/bench_data.py)."""
    feature = Value("float32")
    for length in reversed(shape):
        feature = List(feature, length=-1 if length is None else length)
    return feature


FEATURES = Features({
    **{name: Image() for name in PICTURES},
    **{name: _array_feature(shape) for name, shape in ARRAYS},
    "is_right": Value("bool"),
    "scene_id": Value("string"),
    "view_id": Value("int32"),
    "meta": Value("string"),
})
COLUMNS: tuple[str, ...] = tuple(FEATURES)
_SHAPES = dict(ARRAYS)


def _picture(data: bytes) -> dict:
    return {"bytes": data, "path": None}


def _check_shape(name: str, value: np.ndarray) -> np.ndarray:
    expected = _SHAPES[name]
    if value.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, value.shape)):
        shown = tuple("V" if e is None else e for e in expected)
        raise ValueError(f"column {name!r}: expected shape {shown}, got {value.shape}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"column {name!r}: non-finite values")
    return value


def encode_row(row: dict[str, Any], image_format: str = "jpeg") -> dict[str, Any]:
    """A numpy row → a record for `FEATURES`; absent or None columns become None.
    `image_format` is "jpeg" (quality 95) or "png" (lossless)."""
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)}; the v1 row has {list(COLUMNS)}")
    encoders = {"image": lambda x: encode_image(np.asarray(x), image_format),
                "depth": lambda x: encode_depth_png(np.asarray(x, np.float32)),
                "mask": lambda x: encode_mask_png(np.asarray(x))}
    record: dict[str, Any] = dict.fromkeys(COLUMNS)
    for name, value in row.items():
        if value is None:
            continue
        if name in encoders:
            record[name] = _picture(encoders[name](value))
        elif name in _SHAPES:
            array = _check_shape(name, np.asarray(value, dtype=np.float32))
            record[name] = array.tolist()
        elif name == "is_right":
            record[name] = bool(value)
        elif name == "view_id":
            record[name] = int(value)
        else:
            record[name] = str(value)
    return record


def _open_picture(value: Any) -> PILImage.Image:
    """A picture as `datasets` hands it over: PIL (decoded), `{"bytes", "path"}` (not decoded)."""
    if isinstance(value, PILImage.Image):
        return value
    if isinstance(value, dict):
        value = value["bytes"] if value.get("bytes") is not None else value["path"]
    return PILImage.open(io.BytesIO(value) if isinstance(value, bytes) else value)


_PICTURE_DECODERS = {
    "image": lambda picture: np.array(picture.convert("RGB"), dtype=np.uint8),  # writable, for torch
    "depth": depth_from_image,
    "mask": lambda picture: np.array(picture, dtype=np.uint8),
}


def decode_row(example: dict[str, Any], as_torch: bool = False) -> dict[str, Any]:
    """An example read back → arrays in the row's units (see the module docstring)."""
    out = dict(example)
    for name, value in example.items():
        if value is None:
            continue
        if name in _PICTURE_DECODERS:
            out[name] = _PICTURE_DECODERS[name](_open_picture(value))
        elif name in _SHAPES:
            out[name] = np.asarray(value, dtype=np.float32)
    if as_torch:
        import torch

        out = {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v for k, v in out.items()}
    return out
