"""Row encodings round-trip: depth to 0.5 mm with invalid kept, masks exactly, RGB within JPEG tolerance."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from anyhand_hf.data import decode_depth_png, decode_mask_png, encode_depth_png, encode_image, encode_mask_png


def test_depth_round_trip_within_half_a_millimetre_and_invalid_stays_zero():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.2, 5.0, size=(64, 48)).astype(np.float32)
    depth[0, 0], depth[1, 1], depth[2, 2], depth[3, 3] = 0.0, np.nan, -1.0, 70.0
    back = decode_depth_png(encode_depth_png(depth))
    valid = np.isfinite(depth) & (depth > 0) & (depth < 65)
    assert np.abs(back[valid] - depth[valid]).max() <= 0.0005 + 1e-6  # half a millimetre, float32 rounding
    assert (back[~valid] == 0).all()
    assert Image.open(io.BytesIO(encode_depth_png(depth))).mode == "I;16"


def test_mask_round_trip_is_exact():
    labels = np.random.default_rng(1).integers(0, 4, size=(32, 40)).astype(np.uint8)
    assert np.array_equal(decode_mask_png(encode_mask_png(labels)), labels)


def test_rgb_png_exact_and_jpeg_close():
    rgb = (np.random.default_rng(2).random((32, 32, 3)) * 10 + np.linspace(0, 200, 32)[:, None, None]).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_image(rgb, "png")))), rgb)
    jpeg = np.asarray(Image.open(io.BytesIO(encode_image(rgb))), dtype=np.int16)
    assert np.abs(jpeg - rgb).mean() < 3


@pytest.mark.parametrize("call, match", [
    (lambda: encode_image(np.zeros((4, 4), np.uint8)), "RGB"),
    (lambda: encode_depth_png(np.zeros((4, 4, 1))), "depth map"),
    (lambda: encode_mask_png(np.zeros((4, 4), np.int32)), "label mask"),
    (lambda: decode_depth_png(encode_mask_png(np.zeros((4, 4), np.uint8))), "16-bit"),
])
def test_bad_inputs_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
