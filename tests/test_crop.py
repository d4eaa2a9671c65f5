"""Crop geometry (anyhand_hf.crop): exact maps between image, crop and crop camera."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anyhand_hf import viz
from anyhand_hf.crop import (
    Augmentation,
    crop_camera,
    crop_intrinsics,
    crop_params,
    expand_box,
    flip_matrix,
    inverse_transform_points_2d,
    mirror_axis_angle,
    mirror_points_3d,
    sample_augmentation,
    to_model_crop_pixels,
    transform_points_2d,
    warp_depth,
    warp_image,
)

BOXES = [(100.0, 80.0, 180.0, 200.0), (310.5, 40.25, 500.0, 90.0), (-30.0, 400.0, 20.0, 470.0)]
AUGS = [Augmentation(), Augmentation(1.3, math.radians(35.0), (0.02, -0.01)), Augmentation(0.8, -1.0, (-0.02, 0.02))]


def _K(skew: float = 0.0) -> np.ndarray:
    return np.array([[610.0, skew, 331.7], [0.0, 598.0, 236.2], [0.0, 0.0, 1.0]])


def test_expand_box_is_hamer_crop():
    # Tall box: the side is 2 h; wide box: the width grows to 3:4 first.
    c, side = expand_box((0, 0, 30, 100))
    assert np.allclose(c, [15, 50]) and side == pytest.approx(200.0)
    c, side = expand_box((0, 0, 120, 60))
    assert side == pytest.approx(240.0 * 256 / 192)
    p = crop_params((10, 20, 50, 100))
    assert np.allclose(p.box, [-50, -20, 110, 140]) and p.scale == pytest.approx(256 / 160)


@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("aug", AUGS)
@pytest.mark.parametrize("flip", [False, True])
def test_points_round_trip(box, aug, flip):
    p = crop_params(box, augmentation=aug)
    pts = np.random.default_rng(0).uniform(-100, 700, size=(50, 2))
    back = inverse_transform_points_2d(transform_points_2d(pts, p, flip), p, flip)
    assert np.abs(back - pts).max() < 1e-6
    # And the stored inverse is the inverse.
    m = np.vstack([p.matrix, [0, 0, 1]]) @ np.vstack([p.inverse, [0, 0, 1]])
    assert np.allclose(m, np.eye(3), atol=1e-12)


def test_box_maps_onto_crop_grid():
    """The square box's edges are the crop's edges (pixel centres at integers, no rotation)."""
    p = crop_params((100, 100, 160, 180))
    h, w = p.out_hw
    b, x0, y0 = p.side, p.box[0], p.box[1]
    # Crop pixel (j, i) samples the full-image point x0 + (j + 0.5 + (H - W) / 2) b / H, y0 + (i + 0.5) b / H.
    j, i = np.array([0.0, w - 1.0]), np.array([0.0, h - 1.0])
    full = np.stack([x0 + (j + 0.5 + (h - w) / 2) * b / h, y0 + (i + 0.5) * b / h], 1)
    assert np.allclose(transform_points_2d(full, p), np.stack([j, i], 1), atol=1e-9)
    assert np.allclose(transform_points_2d(p.center, p), [(w - 1) / 2, (h - 1) / 2])


@pytest.mark.parametrize("skew", [0.0, 3.5])
@pytest.mark.parametrize("aug", AUGS)
@pytest.mark.parametrize("flip", [False, True])
def test_crop_intrinsics_project_onto_crop_points(skew, aug, flip):
    K = _K(skew)
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(-0.3, 0.3, 40), rng.uniform(-0.2, 0.2, 40), rng.uniform(0.3, 1.5, 40)])
    p = crop_params((250, 180, 330, 300), augmentation=aug)
    expected = transform_points_2d(viz.project_points(X, K), p, flip)
    pts3 = mirror_points_3d(X) if flip else X
    P = crop_intrinsics(K, p, flip)
    assert np.abs(viz.project_points(pts3, P) - expected).max() < 1e-6
    # RQ form: an upper-triangular K and a rotation about the optical axis.
    k_crop, rot = crop_camera(K, p, flip)
    assert np.allclose(k_crop @ rot, P, atol=1e-9)
    assert k_crop[1, 0] == 0 and k_crop[0, 0] > 0 and k_crop[1, 1] > 0 and np.allclose(k_crop[2], [0, 0, 1])
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-12) and np.linalg.det(rot) == pytest.approx(1.0)
    assert np.abs(viz.project_points(pts3 @ rot.T, k_crop) - expected).max() < 1e-6
    if aug.rotation == 0:
        assert np.allclose(rot, np.eye(3))
        assert abs(P[1, 0]) < 1e-12 and abs(P[0, 1] - (-skew if flip else skew) * p.scale) < 1e-9
    # With square pixels and no skew, R is the augmentation's rotation itself (mirrored when flipped).
    iso = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
    _, rot_iso = crop_camera(iso, p, flip)
    angle = math.atan2(rot_iso[1, 0], rot_iso[0, 0])
    assert angle == pytest.approx(-aug.rotation if flip else aug.rotation, abs=1e-12)


def test_flip_twice_is_identity():
    p = crop_params(BOXES[0], augmentation=AUGS[1])
    f = flip_matrix(p.out_hw[1])
    assert np.array_equal(f @ f, np.eye(3))
    yy, xx = np.mgrid[0:300, 0:400]
    smooth = 127.5 + 120 * np.sin(xx / 7.0)[..., None] * np.cos(yy[..., None] / 9.0 + np.arange(3))
    img = np.round(smooth).astype(np.uint8)
    # A mirrored crop is the crop mirrored (up to OpenCV's 1/32-pixel bilinear weights).
    diff = warp_image(img, p, flip=True)[:, ::-1].astype(int) - warp_image(img, p, flip=False)
    # (differences > 2 only where the crop meets the image's edge)
    assert np.abs(diff).mean() < 0.1 and np.mean(np.abs(diff) > 2) < 1e-3
    p0 = crop_params(BOXES[0])  # without rotation the sample grid is mirror-symmetric: exact
    assert np.array_equal(warp_image(img, p0, flip=True)[:, ::-1], warp_image(img, p0, flip=False))
    depth = np.random.default_rng(3).uniform(0.2, 2.0, size=(300, 400)).astype(np.float32)
    assert np.array_equal(warp_depth(depth, p, flip=True)[:, ::-1], warp_depth(depth, p, flip=False))
    pts = np.random.default_rng(4).normal(size=(10, 2)) * 100
    assert np.allclose(transform_points_2d(pts, p, True), transform_points_2d(pts, p, False) * [-1, 1] + [191, 0])
    X = np.random.default_rng(5).normal(size=(7, 3))
    assert np.array_equal(mirror_points_3d(mirror_points_3d(X)), X)
    aa = np.random.default_rng(6).normal(size=(4, 48))
    assert np.array_equal(mirror_axis_angle(mirror_axis_angle(aa)), aa)


def test_warp_image_pixel_centres_and_hamer_trim():
    """Bilinear sampling of a linear ramp returns the exact source coordinate (pixel centres
    at integers, OpenCV's convention matches ours); the 256x192 crop is the central columns of
    HaMeR's 256x256 square crop."""
    h, w = 480, 640
    ramp = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    for aug in AUGS:
        p = crop_params((200, 150, 300, 260), augmentation=aug)
        crop = warp_image(ramp, p, antialias=False)
        v, u = np.mgrid[0:256, 0:192]
        src = inverse_transform_points_2d(np.stack([u, v], -1).astype(np.float64), p)
        inside = (src[..., 0] > 1) & (src[..., 0] < w - 2) & (src[..., 1] > 1) & (src[..., 1] < h - 2)
        assert inside.mean() > 0.9
        assert np.abs(crop[inside] - src[inside]).max() < 2e-2  # OpenCV's fixed-point bilinear weights
    img = np.random.default_rng(0).integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    tall = (200, 150, 260, 290)  # a tall box: the square side is 2 h for both aspects
    narrow, square = crop_params(tall), crop_params(tall, out_hw=(256, 256))
    assert narrow.side == square.side
    assert np.array_equal(warp_image(img, square)[:, 32:-32], warp_image(img, narrow))


def test_warp_image_channels_and_dtypes():
    p = crop_params((10, 10, 60, 90))
    for img in (np.zeros((100, 120), np.uint8), np.zeros((100, 120, 1), np.float32),
                np.zeros((100, 120, 4), np.uint16)):
        out = warp_image(img, p)
        assert out.shape[:2] == (256, 192) and out.dtype == img.dtype and out.ndim == img.ndim


@pytest.mark.parametrize("aug", AUGS)
def test_depth_warp_keeps_invalid(aug):
    rng = np.random.default_rng(7)
    depth = rng.uniform(0.4, 1.2, size=(240, 320)).astype(np.float32)
    holes = rng.random((240, 320)) < 0.3
    depth[holes] = 0.0
    depth[5:9, 5:9] = np.nan
    p = crop_params((120, 90, 170, 160), augmentation=aug)
    crop = warp_depth(depth, p)
    assert crop.shape == (256, 192) and crop.dtype == np.float32 and np.all(np.isfinite(crop))
    # Nearest sampling: every crop value is its source pixel's value, invalid stays exactly 0.
    v, u = np.mgrid[0:256, 0:192]
    src = np.floor(inverse_transform_points_2d(np.stack([u, v], -1).astype(np.float64), p) + 0.5).astype(int)
    inside = (src[..., 0] >= 0) & (src[..., 0] < 320) & (src[..., 1] >= 0) & (src[..., 1] < 240)
    expected = np.zeros_like(crop)
    clean = np.nan_to_num(depth, nan=0.0)
    expected[inside] = clean[src[..., 1][inside], src[..., 0][inside]]
    assert np.array_equal(crop, expected)
    assert np.all(crop[~inside] == 0)
    assert set(np.unique(crop[crop > 0])) <= set(np.unique(depth[depth > 0]))  # no new values
    assert (crop == 0).any() and (crop > 0).any()


def test_sample_augmentation_ranges():
    rng = np.random.default_rng(0)
    augs = [sample_augmentation(rng) for _ in range(500)]
    s = np.array([a.scale_factor for a in augs])
    r = np.degrees([a.rotation for a in augs])
    sh = np.array([a.shift for a in augs])
    assert s.min() >= 0.7 - 1e-12 and s.max() <= 1.3 + 1e-12
    assert np.abs(r).max() <= 60 + 1e-9 and 0.3 < np.mean(r == 0) < 0.5
    assert np.abs(sh).max() <= 0.02 + 1e-12


def test_bad_inputs():
    with pytest.raises(ValueError, match="x1 > x0"):
        crop_params((10, 10, 5, 20))
    with pytest.raises(ValueError, match="4 finite"):
        crop_params((0, 0, np.nan, 1))
    with pytest.raises(ValueError, match="upper triangular"):
        crop_intrinsics(np.eye(3) * [1, 1, 2], crop_params(BOXES[0]))


def test_matches_the_model_crop_convention():
    """The model's crop pixels are ours + 0.5 for the box we hand it (its `full_to_crop_pixels`)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from anyhand_hf.modeling import crop_to_full_pixels, full_to_crop_pixels

    p = crop_params((123.4, 77.7, 201.0, 190.5))
    pts = np.random.default_rng(8).uniform(0, 400, size=(30, 2))
    ours = to_model_crop_pixels(transform_points_2d(pts, p))
    theirs = full_to_crop_pixels(torch.tensor(pts)[None], torch.tensor(p.box)[None], (256, 192))[0].numpy()
    assert np.abs(ours - theirs).max() < 1e-9
    back = crop_to_full_pixels(torch.tensor(ours)[None], torch.tensor(p.box)[None], (256, 192))[0].numpy()
    assert np.abs(back - pts).max() < 1e-9


def test_mirrored_box_and_intrinsics_see_the_mirrored_world():
    from anyhand_hf.crop import mirrored_box_and_intrinsics

    rng = np.random.default_rng(5)
    K = np.array([[500.0, 3.0, 140.0], [0.0, 510.0, 120.0], [0.0, 0.0, 1.0]])
    points = rng.uniform([-0.2, -0.2, 0.5], [0.2, 0.2, 1.5], (50, 3))
    uv = (points @ K.T)[:, :2] / points[:, 2:]
    box = np.array([*uv.min(0), *uv.max(0)])
    mirrored_box, mirrored_K = mirrored_box_and_intrinsics(box, K)
    mirrored_points = points * [-1.0, 1.0, 1.0]  # D X
    mirrored_uv = (mirrored_points @ mirrored_K.T)[:, :2] / mirrored_points[:, 2:]
    np.testing.assert_allclose(mirrored_uv, np.c_[2 * K[0, 2] - uv[:, 0], uv[:, 1]], atol=1e-9)
    np.testing.assert_allclose(mirrored_box, [*mirrored_uv.min(0), *mirrored_uv.max(0)], atol=1e-9)
    np.testing.assert_allclose(mirrored_box_and_intrinsics(mirrored_box, mirrored_K)[1], K)
