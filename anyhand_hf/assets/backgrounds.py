"""Procedural indoor-like background images and the scene spec's background crop.

Conventions
- Images are (H, W, 3) uint8 sRGB; `dominant_color` is LINEAR RGB in [0, 1] (the scene spec's
  `BackgroundSpec.dominant_color`).
- "Dominant colour" is defined as the image's mean colour in linear RGB: generated images
  match it to within a few 1e-3 per channel (`background_mean`), so the scene's ambient light
  (a multiple of it) agrees with what the background shows.
- Pure functions of (seed, parameters): `numpy.random.default_rng(seed)`.

What an image holds (one-point perspective room): back wall, side walls, floor and ceiling
with a random vanishing point; floor material wood planks, tiles or carpet; wall paint; a
window with a bright sky-gradient view; shelves with books; furniture-like boxes (cabinet,
table, sofa); picture frames; then soft lighting falloff, vignetting and defocus blur (a hand
close to the camera sees the room out of focus).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from ..color import hsv_linear, linear_to_srgb, srgb_to_linear

__all__ = ["IndoorParams", "background_mean", "crop", "crop_box", "indoor_background"]


@dataclass(frozen=True)
class IndoorParams:
    """Knobs of `indoor_background` (defaults are the sampled ranges' centres)."""

    blur_px: tuple[float, float] = (0.5, 3.0)  # defocus blur sigma range, at 480 px height
    vignette: tuple[float, float] = (0.1, 0.4)
    clutter: tuple[int, int] = (2, 6)  # furniture-like boxes


def _lin_to_hsv(c) -> tuple[float, float, float]:
    return colorsys.rgb_to_hsv(*linear_to_srgb(c))


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Unit-variance Gaussian-filtered noise. Filtering costs O(HW) per call, so an image uses a
    small bank of fields (`_NoiseBank`) and re-uses them at random shifts."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return n / max(float(n.std()), 1e-9)


class _NoiseBank:
    def __init__(self, rng: np.random.Generator, shape: tuple[int, int]):
        self.rng = rng
        self.fields = {s: _noise(rng, shape, s) for s in (0.7, 1.5, 3.0, 8.0)}

    def __call__(self, rng, shape, sigma: float) -> np.ndarray:
        key = min(self.fields, key=lambda s: abs(np.log(s / sigma)))
        dy, dx = (int(v) for v in self.rng.integers(0, 10_000, size=2))
        return np.roll(self.fields[key], (dy % shape[0], dx % shape[1]), axis=(0, 1))


def _poly_mask(yy: np.ndarray, xx: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Boolean mask of a convex polygon (x, y pixel coordinates; yy, xx pixel-centre grids)."""
    inside = np.ones(yy.shape, bool)
    n = len(pts)
    area = 0.5 * sum(pts[i, 0] * pts[(i + 1) % n, 1] - pts[(i + 1) % n, 0] * pts[i, 1] for i in range(n))
    sign = 1.0 if area > 0 else -1.0
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
        inside &= sign * ((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0)) >= 0
    return inside


def indoor_background(seed: int, dominant_color, size: tuple[int, int] = (480, 640),
                      params: IndoorParams = IndoorParams()) -> np.ndarray:
    """A procedural room (H, W, 3) uint8 sRGB whose linear mean colour is `dominant_color`."""
    rng = np.random.default_rng(seed)
    h, w = size
    _noise = _NoiseBank(rng, (h, w))
    dom = np.clip(np.asarray(dominant_color, dtype=np.float64), 0.0, 1.0)
    dh, ds, dv = _lin_to_hsv(np.maximum(dom, 1e-4))

    # Palette around the dominant hue (walls carry most of the area, so they take it).
    def tone(dh_=0.0, ds_=1.0, dv_=1.0):
        return hsv_linear(dh + dh_ + rng.normal(scale=0.02), ds * ds_, min(1.0, max(0.05, dv * dv_)))

    wall = tone()
    wall_side = wall * rng.uniform(0.7, 0.9)
    ceiling = tone(0, 0.4, 1.2)
    floor_kind = rng.choice(["wood", "tiles", "carpet"])
    floor_base = {"wood": hsv_linear(0.07 + rng.normal(scale=0.02), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.7)),
                  "tiles": tone(rng.uniform(-0.1, 0.1), 0.5, rng.uniform(0.7, 1.2)),
                  "carpet": tone(rng.uniform(-0.2, 0.2), rng.uniform(0.5, 1.3), rng.uniform(0.5, 0.9))}[floor_kind]

    # Room geometry: back wall rectangle and vanishing point (one-point perspective).
    bx0, bx1 = sorted(rng.uniform([0.05, 0.55], [0.45, 0.95]) * w)
    by0, by1 = sorted(rng.uniform([0.05, 0.5], [0.4, 0.85]) * h)
    vp = np.array([(bx0 + bx1) / 2, (by0 + by1) / 2])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    img = np.zeros((h, w, 3))
    # Regions by which side of the back wall's diagonals a pixel lies (relative to vp).
    dx, dy = xx - vp[0], yy - vp[1]
    hw, hh = (bx1 - bx0) / 2, (by1 - by0) / 2
    in_back = (np.abs(dx) <= hw) & (np.abs(dy) <= hh)
    horiz = np.abs(dy) * hw >= np.abs(dx) * hh  # floor/ceiling sector vs wall sector
    floor = ~in_back & horiz & (dy > 0)
    ceil = ~in_back & horiz & (dy < 0)
    side = ~in_back & ~horiz
    # Depth-like coordinate for perspective textures: 1/distance from the vanishing point.
    with np.errstate(divide="ignore"):
        depth_f = np.where(floor, hh / np.maximum(dy, 1e-6), 1.0)  # 1 at the back wall, → 0 at the camera
    img[in_back] = wall
    img[side] = wall_side * (0.85 + 0.15 * np.clip(1 - np.abs(dx[side]) / w, 0, 1))[:, None]
    img[ceil] = ceiling
    # Floor material in perspective: u across (x on the floor plane), v along depth.
    fu = dx / np.maximum(dy, 1e-6) * hh  # floor-plane x in back-wall pixel units
    fv = 1.0 / np.maximum(depth_f, 1e-6)  # floor-plane depth, 1 at the back wall
    if floor_kind == "wood":
        plank = rng.uniform(25, 60)
        row = np.floor(fu / plank)
        grain = np.sin(fv * rng.uniform(10, 30) + row * 1.7 + 0.3 * _noise(rng, (h, w), 2))
        shade = 1 + 0.12 * np.sin(row * 12.9898) + 0.06 * grain
        gap = (np.abs((fu / plank) % 1.0 - 0.5) > 0.47)
        tex = shade * np.where(gap, 0.6, 1.0)
    elif floor_kind == "tiles":
        tile = rng.uniform(40, 90)
        gu, gv = (fu / tile) % 1.0, (fv * rng.uniform(3, 7)) % 1.0
        grout = (np.minimum(gu, 1 - gu) < 0.03) | (np.minimum(gv, 1 - gv) < 0.03 * np.clip(depth_f, 0.3, 1))
        tex = np.where(grout, 0.75, 1.0) * (1 + 0.04 * _noise(rng, (h, w), 1.5))
    else:
        tex = 1 + 0.08 * _noise(rng, (h, w), 0.8) + 0.05 * _noise(rng, (h, w), 6)
    img[floor] = floor_base * tex[floor][:, None]
    img *= (1 + 0.03 * _noise(rng, (h, w), 3))[..., None]  # paint/plaster unevenness

    # Window: a bright sky gradient on the back wall or a side wall.
    sky_top = hsv_linear(rng.uniform(0.55, 0.62), rng.uniform(0.1, 0.5), 1.0)
    sky_bot = hsv_linear(rng.uniform(0.08, 0.15), rng.uniform(0.0, 0.3), 1.0)
    for _ in range(int(rng.integers(0, 3))):
        ww, wh = rng.uniform(0.15, 0.35) * (bx1 - bx0), rng.uniform(0.3, 0.6) * (by1 - by0)
        wx = rng.uniform(bx0, bx1 - ww)
        wy = rng.uniform(by0, by1 - wh)
        m = (xx >= wx) & (xx < wx + ww) & (yy >= wy) & (yy < wy + wh)
        t = np.clip((yy - wy) / wh, 0, 1)[..., None]
        brightness = rng.uniform(1.5, 4.0)
        sky = brightness * (sky_top * (1 - t) + sky_bot * t)
        frame = m & ((np.abs(xx - wx - ww / 2) < 2.5) | (np.abs(yy - wy - wh / 2) < 2.5)
                     | (xx - wx < 4) | (wx + ww - xx < 4) | (yy - wy < 4) | (wy + wh - yy < 4))
        img[m] = sky[m]
        img[frame] = tone(0, 0.2, 1.3)
        # Light spilling on the floor beneath the window.
        spill = np.exp(-(((xx - wx - ww / 2) / ww) ** 2) - ((yy - by1) / (0.6 * h)) ** 2) * floor
        img *= (1 + 0.5 * brightness / 4 * spill)[..., None]

    # Furniture-like boxes standing on the floor (front face + top face), shelves with books.
    n_boxes = int(rng.integers(params.clutter[0], params.clutter[1] + 1))
    for _ in range(n_boxes):
        kind = rng.choice(["cabinet", "table", "sofa", "shelf"])
        bw = rng.uniform(0.15, 0.45) * w
        bh = rng.uniform(0.12, 0.45) * h * (0.6 if kind == "table" else 1.0)
        base_y = rng.uniform(by1, h * 1.05)
        x0 = rng.uniform(-0.1 * w, w - 0.5 * bw)
        col = (hsv_linear(0.07 + rng.normal(scale=0.03), rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.6))
               if kind in ("cabinet", "table", "shelf") else tone(rng.uniform(-0.5, 0.5), rng.uniform(0.5, 1.5),
                                                               rng.uniform(0.4, 1.0)))
        front = (xx >= x0) & (xx < x0 + bw) & (yy >= base_y - bh) & (yy < base_y)
        # top face: a parallelogram receding towards the vanishing point
        k = rng.uniform(0.08, 0.2)
        top_pts = np.array([[x0, base_y - bh], [x0 + bw, base_y - bh],
                            [x0 + bw + k * (vp[0] - x0 - bw), base_y - bh + k * (vp[1] - base_y + bh)],
                            [x0 + k * (vp[0] - x0), base_y - bh + k * (vp[1] - base_y + bh)]])
        top = _poly_mask(yy, xx, top_pts)
        img[top] = col * 1.15
        shade = 1 + 0.05 * _noise(rng, (h, w), 1.0)
        if kind == "sofa":
            shade = shade * (1 + 0.1 * _noise(rng, (h, w), 0.6))  # fabric
        if kind in ("cabinet", "shelf"):
            shade = shade * (1 + 0.06 * np.sin((xx - x0) / rng.uniform(3, 8)))  # wood grain
        img[front] = (col * shade[..., None])[front]
        if kind == "shelf":
            n_sh = int(rng.integers(2, 5))
            for i in range(n_sh):
                sy = base_y - bh + (i + 0.15) * bh / n_sh
                books_h = 0.7 * bh / n_sh
                bxs = x0 + 3
                while bxs < x0 + bw - 6:
                    bwid = rng.uniform(3, 10) * w / 640
                    bh_i = books_h * rng.uniform(0.7, 1.0)
                    bm = (xx >= bxs) & (xx < bxs + bwid) & (yy >= sy + books_h - bh_i) & (yy < sy + books_h)
                    img[bm] = hsv_linear(rng.uniform(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
                    bxs += bwid + rng.uniform(0, 2)
                board = (xx >= x0) & (xx < x0 + bw) & (yy >= sy + books_h) & (yy < sy + books_h + 4)
                img[board] = col * 1.2
        if kind == "table":  # legs under a table top
            legs_x = (np.abs(xx - x0 - 6) < 3) | (np.abs(xx - x0 - bw + 6) < 3)
            leg = legs_x & (yy >= base_y) & (yy < base_y + 0.15 * h)
            img[leg] = col * 0.6
    # Picture frames on the back wall.
    for _ in range(int(rng.integers(0, 3))):
        pw, ph = rng.uniform(0.05, 0.15) * w, rng.uniform(0.06, 0.15) * h
        px, py = rng.uniform(bx0, max(bx0 + 1, bx1 - pw)), rng.uniform(by0, max(by0 + 1, by1 - ph - 0.2 * h))
        m = (xx >= px) & (xx < px + pw) & (yy >= py) & (yy < py + ph)
        inner = (xx >= px + 4) & (xx < px + pw - 4) & (yy >= py + 4) & (yy < py + ph - 4)
        img[m] = hsv_linear(0.08, 0.4, rng.uniform(0.1, 0.5))
        art = np.stack([_noise(rng, (h, w), 8) for _ in range(3)], -1) * 0.15 + rng.uniform(0.1, 0.6, 3)
        img[inner] = np.clip(art[inner], 0.01, 1)

    # Lighting: falloff from a ceiling light, vignetting, defocus.
    lx, ly = rng.uniform(0.2, 0.8) * w, rng.uniform(-0.3, 0.3) * h
    falloff = 0.65 + 0.35 * np.exp(-(((xx - lx) / w) ** 2 + ((yy - ly) / h) ** 2) * 1.5)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    vig = 1 - rng.uniform(*params.vignette) * np.clip(r2 / 2, 0, 1)
    img *= (falloff * vig)[..., None]
    sigma = rng.uniform(*params.blur_px) * h / 480
    img = ndimage.gaussian_filter(img, (sigma, sigma, 0))
    img = _match_mean(img, dom)
    return np.round(linear_to_srgb(img) * 255).astype(np.uint8)


def _match_mean(img: np.ndarray, target: np.ndarray, iters: int = 6) -> np.ndarray:
    """Per-channel gains (then clipping to [0, 1]) until the linear mean equals `target`:
    iterated because clipping bright pixels (windows) lowers the mean again."""
    out = np.clip(img, 0, None)
    for _ in range(iters):
        mean = out.reshape(-1, 3).mean(0)
        out = np.clip(out * (np.maximum(target, 1e-5) / np.maximum(mean, 1e-6)), 0.0, 1.0)
    # Remaining error (channels whose target needs more than a saturated image): add a flat
    # offset to the unsaturated pixels so the mean still lands on target.
    for _ in range(3):
        mean = out.reshape(-1, 3).mean(0)
        err = target - mean
        free = (out < 1.0) & (out > 0.0)
        frac = np.maximum(free.reshape(-1, 3).mean(0), 1e-6)
        out = np.clip(out + np.where(free, err / frac, 0.0), 0.0, 1.0)
    return out


def background_mean(image: np.ndarray) -> np.ndarray:
    """Linear-RGB mean colour of a uint8 sRGB image (the dominant colour, by definition)."""
    return srgb_to_linear(np.asarray(image, dtype=np.float64) / 255.0).reshape(-1, 3).mean(0)


def crop_box(src_size: tuple[int, int], out_size: tuple[int, int], crop_scale: float,
             crop_offset) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in source pixels of the scene spec's crop: the largest window with the
    output's aspect ratio that fits the source, scaled by `crop_scale` (0, 1], placed at
    `crop_offset` = (x, y) in [0, 1] of the room left around it (0 = left/top)."""
    sh, sw = src_size
    oh, ow = out_size
    if not 0 < crop_scale <= 1:
        raise ValueError(f"crop_scale must be in (0, 1], got {crop_scale}")
    aspect = ow / oh
    full_w = min(sw, sh * aspect)
    cw, ch = full_w * crop_scale, full_w * crop_scale / aspect
    ox, oy = (float(np.clip(c, 0, 1)) for c in crop_offset)
    x0, y0 = ox * (sw - cw), oy * (sh - ch)
    return x0, y0, x0 + cw, y0 + ch


def crop(image: np.ndarray, crop_scale: float, crop_offset, out_size: tuple[int, int]) -> np.ndarray:
    """The scene spec's background window (`crop_box`) resampled to `out_size` (H, W); uint8
    in, uint8 out (antialiased when shrinking, bilinear when enlarging)."""
    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    box = crop_box(image.shape[:2], out_size, crop_scale, crop_offset)
    shrinking = (box[2] - box[0]) > out_size[1]
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(img.resize((out_size[1], out_size[0]), resample=resample, box=box))
