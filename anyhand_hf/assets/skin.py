"""Procedural skin: a calibrated skin albedo and skin textures baked in a mesh's UV atlas.

Conventions
- Colours: `skin_albedo` returns LINEAR RGB albedo in [0, 1]; textures are uint8 sRGB images
  (H, W, 3), as the renderer's materials expect (`anyhand_hf.render.types`).
- UVs follow OBJ/OpenGL (like the renderer): (u, v) in [0, 1], u left→right, v = 0 at the
  BOTTOM row of the image (the last array row), v = 1 at its top row. Texel (row, col) has its
  centre at u = (col + 0.5) / W, v = 1 - (row + 0.5) / H.
- Geometry: the open hand's rest frame (metres; fingers along -x, thumb +z, palm faces -y,
  wrist joint at the origin, wrist opening at x ≈ +0.012, forearm along +x).
- Determinism: every function is a pure function of its arguments and `seed`
  (`numpy.random.default_rng(seed)`); no global state except small caches of atlas bakes and
  per-texel geometry (keyed by the arrays' contents).

How a texture is made (`skin_texture`): the UV atlas is rasterised (`bake_atlas`: for each
texel its triangle and barycentrics), giving each texel's 3D rest position and smooth normal;
every pattern (tone regions, mottling, creases, nails, knuckles) is then a function of 3D
position and normal, so it is continuous across UV seams and, because the forearm's skin
texture uses the same fields (`skin_shade`), across the wrist junction. Texels outside every
chart copy their nearest chart texel (full dilation), so bilinear/mip-mapped lookups at chart
borders never bleed background colour.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from ..color import linear_to_srgb, srgb_to_linear, to_srgb8
from ..viz import vertex_normals

__all__ = [
    "AtlasBake", "HandSurface", "SkinParams", "SkinFields", "bake_atlas", "skin_albedo", "skin_shade",
    "skin_texture", "texture_lookup",
]


# ---------------------------------------------------------------------------------------------
# Colour helpers


def _luminance(c: np.ndarray) -> np.ndarray:
    return c[..., 0] * 0.2126 + c[..., 1] * 0.7152 + c[..., 2] * 0.0722


def _hsv_adjust(linear: np.ndarray, hue_shift_deg: float, saturation_scale: float) -> np.ndarray:
    """Shift hue and scale saturation in sRGB HSV (the scene sampler's convention)."""
    h, s, v = colorsys.rgb_to_hsv(*linear_to_srgb(linear))
    return srgb_to_linear(colorsys.hsv_to_rgb((h + hue_shift_deg / 360.0) % 1.0, min(s * saturation_scale, 1.0), v))


# ---------------------------------------------------------------------------------------------
# Calibrated albedo

# Calibration of the Monk-scale swatches to physically plausible linear albedo.
# The Monk swatches are *display* colours: as linear albedo they run from luminance 0.86 (far
# brighter than any skin: measured diffuse albedo of very light skin is ~0.45-0.5 luminance,
# red channel ~0.6) down to 0.017 (darker than the darkest skin, ~0.03-0.04), and their light
# end is nearly grey (sRGB saturation 0.07; real light skin is ~0.25-0.3). We therefore
#   1. interpolate the swatches in linear RGB at `tone` (as the scene sampler does),
#   2. raise sRGB-HSV saturation: s' = s + 0.18 (1 - s),
#   3. remap luminance in log space, L' = exp(a + b ln L), so that L 0.86 → 0.45 and
#      L 0.017 → 0.035 (b ≈ 0.65: contrast compressed, ordering kept),
#   4. apply the per-sample hue shift and saturation scale (sRGB HSV, like the sampler),
#   5. clip every channel to [0.01, 0.65].
# Result (tone → linear RGB, luminance): 0.0 → (0.571, 0.427, 0.308), 0.449;
# 0.5 → (0.365, 0.222, 0.092), 0.243; 1.0 → (0.047, 0.032, 0.022), 0.035
# (table: `python -c "from anyhand_hf.assets.skin import _print_calibration as p; p()"`).
_LUM_SRC = (0.86, 0.017)
_LUM_DST = (0.45, 0.035)
_LUM_B = np.log(_LUM_DST[0] / _LUM_DST[1]) / np.log(_LUM_SRC[0] / _LUM_SRC[1])
_LUM_A = np.log(_LUM_DST[0]) - _LUM_B * np.log(_LUM_SRC[0])


@lru_cache(maxsize=4)
def _anchor_linear(anchors: tuple[str, ...]) -> np.ndarray:
    return np.stack([srgb_to_linear(np.array([int(a[i:i + 2], 16) for i in (0, 2, 4)]) / 255.0) for a in anchors])


@lru_cache(maxsize=4)
def _anchor_luminance(anchors: tuple[str, ...]) -> np.ndarray:
    lum = np.minimum.accumulate(_luminance(_anchor_linear(anchors)))
    return np.maximum(lum * (1.0 - 0.01 * np.arange(len(lum))), 1e-4)


def skin_albedo(tone: float, hue_shift_deg: float = 0.0, saturation_scale: float = 1.0,
                anchors: tuple[str, ...] | None = None) -> np.ndarray:
    """Calibrated linear-RGB skin albedo (3,) for `tone` in [0, 1] (light → dark, positions on
    the Monk scale by default: `anyhand_hf.scene.spec.MONK_SKIN_TONES`). Luminance falls
    strictly with `tone`. Used for the hand's dorsum and for the forearm, so the wrist junction
    is continuous."""
    if anchors is None:
        # Imported here, not at module level: `anyhand_hf.scene` may itself import this module.
        from ..scene.spec import MONK_SKIN_TONES as anchors
    colours = _anchor_linear(tuple(anchors))
    pos = float(np.clip(tone, 0.0, 1.0)) * (len(colours) - 1)
    lo = min(int(pos), len(colours) - 2)
    base = colours[lo] + (pos - lo) * (colours[lo + 1] - colours[lo])
    # Source luminance: the swatches' luminance made strictly decreasing (swatch 3 is brighter
    # than swatch 2), so the calibrated albedo darkens strictly with `tone`.
    lum = _anchor_luminance(tuple(anchors))
    lum_src = float(np.exp(np.interp(pos, np.arange(len(lum)), np.log(lum))))
    h, s, v = colorsys.rgb_to_hsv(*linear_to_srgb(base))
    c = srgb_to_linear(colorsys.hsv_to_rgb(h, s + 0.18 * (1.0 - s), v))
    c = c * np.exp(_LUM_A + _LUM_B * np.log(lum_src)) / max(float(_luminance(c)), 1e-6)
    c = _hsv_adjust(np.clip(c, 0.0, 1.0), hue_shift_deg, saturation_scale)
    return np.clip(c, 0.01, 0.65)


@dataclass(frozen=True)
class SkinParams:
    """Parameters of a procedural skin texture (`AppearanceSpec`-like).

    `tone` in [0, 1] light → dark; `hue_shift_deg`, `saturation_scale` as in the scene spec;
    `seed` the texture seed (`AppearanceSpec.texture_seed`)."""

    tone: float = 0.3
    hue_shift_deg: float = 0.0
    saturation_scale: float = 1.0
    seed: int = 0

    @classmethod
    def coerce(cls, params) -> "SkinParams":
        """A `SkinParams` from itself or from an `AppearanceSpec`-like object."""
        return params if isinstance(params, SkinParams) else cls.from_appearance(params)

    @classmethod
    def from_appearance(cls, appearance) -> "SkinParams":
        """From an `anyhand_hf.scene.AppearanceSpec` (or anything with the same fields)."""
        return cls(tone=float(appearance.skin_tone), hue_shift_deg=float(appearance.hue_shift_deg),
                   saturation_scale=float(appearance.saturation_scale), seed=int(appearance.texture_seed))


# ---------------------------------------------------------------------------------------------
# Atlas baking


@dataclass(frozen=True)
class AtlasBake:
    """The rasterised UV atlas at (H, W). `face` (H, W) int64: triangle per texel (-1 outside
    all charts); `bary` (H, W, 3): barycentrics of its corners; `nearest` (2, H, W): for every
    texel the (row, col) of the nearest covered texel (identity inside charts), for dilation."""

    face: np.ndarray
    bary: np.ndarray
    nearest: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.face >= 0

    def interpolate(self, faces: np.ndarray, attr: np.ndarray) -> np.ndarray:
        """(N, C) per-vertex attribute at the N covered texels (row-major order of `mask`)."""
        m = self.mask
        corners = np.asarray(faces, dtype=np.int64)[self.face[m]]
        b = self.bary[m]
        return b[:, 0:1] * attr[corners[:, 0]] + b[:, 1:2] * attr[corners[:, 1]] + b[:, 2:3] * attr[corners[:, 2]]

    def fill(self, values: np.ndarray, background=0.0) -> np.ndarray:
        """Scatter (N, C) texel values into an (H, W, C) image and dilate them to every texel."""
        h, w = self.face.shape
        img = np.empty((h, w, values.shape[1]), dtype=values.dtype)
        img[...] = background
        img[self.mask] = values
        return img[self.nearest[0], self.nearest[1]]


_BAKE_CACHE: dict[str, AtlasBake] = {}


def bake_atlas(vt: np.ndarray, ft: np.ndarray, size: int | tuple[int, int] = 512) -> AtlasBake:
    """Rasterise UV triangles `vt[ft]` into an (H, W) texel grid (texel centres per the module
    convention). Charts must not overlap (xatlas atlases do not). Cached by content."""
    h, w = (size, size) if np.isscalar(size) else size
    vt = np.asarray(vt, dtype=np.float64)
    ft = np.asarray(ft, dtype=np.int64)
    key = hashlib.sha1(vt.tobytes() + ft.tobytes() + np.array([h, w]).tobytes()).hexdigest()
    if key in _BAKE_CACHE:
        return _BAKE_CACHE[key]
    from ..viz import rasterize  # the project's exact scanline rasteriser (pixel centres at integers)

    # Texel centre (row, col) ↔ pixel coordinate (x = u W - 0.5, y = (1 - v) H - 0.5); depth 1
    # with K = I makes the rasteriser's perspective-correct barycentrics plain affine ones.
    pix = np.stack([vt[:, 0] * w - 0.5, (1.0 - vt[:, 1]) * h - 0.5, np.ones(len(vt))], axis=1)
    frags = rasterize(pix, ft, np.eye(3), (h, w))
    _, nearest = ndimage.distance_transform_edt(frags.face_id < 0, return_indices=True)
    bake = AtlasBake(face=frags.face_id, bary=frags.bary, nearest=nearest)
    if len(_BAKE_CACHE) > 16:
        _BAKE_CACHE.clear()
    _BAKE_CACHE[key] = bake
    return bake


def texture_lookup(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of (N, 2) UVs (module convention) in an (H, W, C) texture → (N, C) float.
    For previews and tests; wraps in u, clamps in v."""
    h, w = texture.shape[:2]
    x = np.asarray(uv[:, 0]) * w - 0.5
    y = (1.0 - np.asarray(uv[:, 1])) * h - 0.5
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    tex = texture.astype(np.float64)

    def at(yy, xx):
        return tex[np.clip(yy, 0, h - 1), np.mod(xx, w)]

    return ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
            + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))


# ---------------------------------------------------------------------------------------------
# Hand geometry needed by the patterns


@dataclass(frozen=True)
class HandSurface:
    """A hand mesh at rest with what the skin patterns need. `joints` (16, 3) MANO order,
    `tips` (5, 3) fingertip points in MANO finger order (index, middle, pinky, ring, thumb),
    `weights` (V, 16) skinning weights (only the thumb's are used: they orient the palmar side
    of the thumb), `part_ids` (V,) bone per vertex."""

    vertices: np.ndarray
    faces: np.ndarray
    vt: np.ndarray
    ft: np.ndarray
    part_ids: np.ndarray
    joints: np.ndarray
    tips: np.ndarray
    weights: np.ndarray

    @classmethod
    def open_hand(cls, vertices: np.ndarray | None = None) -> "HandSurface":
        """The shipped open hand; `vertices` (V, 3) overrides the template (e.g. with betas)."""
        a = _open_hand_arrays()
        v = a["v_template"] if vertices is None else np.asarray(vertices, dtype=np.float64)
        tips_openpose = v[a["tip_vertex_ids"]]  # OpenPose order: thumb, index, middle, ring, pinky
        tips = tips_openpose[[1, 2, 4, 3, 0]]
        return cls(vertices=v, faces=a["f"].astype(np.int64), vt=a["vt"], ft=a["ft"], part_ids=a["part_ids"],
                   joints=a["J_regressor"] @ v, tips=tips, weights=a["weights"])


@lru_cache(maxsize=1)
def _open_hand_arrays() -> dict[str, np.ndarray]:
    from ..hand.model import open_hand_path

    with np.load(open_hand_path()) as d:
        return {k: d[k] for k in d.files}


@lru_cache(maxsize=1)
def _thumb_flexion_axes() -> np.ndarray:
    from ..hand.open_hand import flexion_axes

    return flexion_axes()[13:16]


# ---------------------------------------------------------------------------------------------
# 3D noise fields


def _fourier_noise(points: np.ndarray, freqs: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Sum of random plane waves: a smooth, isotropic, roughly unit-variance 3D field. Costs
    N x waves cosines, so it is used for the low-frequency fields only."""
    return np.cos(points @ freqs + phases).sum(axis=1) * np.sqrt(2.0 / freqs.shape[1])


def _lattice_fourier_noise(points: np.ndarray, freqs: np.ndarray, phases: np.ndarray,
                           spacing_m: float = 0.006) -> np.ndarray:
    """`_fourier_noise` evaluated on the global lattice (multiples of `spacing_m`) around the
    points and interpolated trilinearly: ~10x cheaper for low-frequency fields, and still a
    pure function of 3D position (the lattice does not depend on the mesh)."""
    lo = np.floor(points.min(axis=0) / spacing_m).astype(np.int64) - 1
    hi = np.ceil(points.max(axis=0) / spacing_m).astype(np.int64) + 2
    axes = [np.arange(a, b) * spacing_m for a, b in zip(lo, hi)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    values = _fourier_noise(grid.reshape(-1, 3), freqs, phases).reshape(grid.shape[:3])
    coords = (points / spacing_m - lo).T
    return ndimage.map_coordinates(values, coords, order=1, mode="nearest")


def _draw_waves(rng: np.random.Generator, n: int, wavelength_m: float, spread: float = 0.35):
    d = rng.normal(size=(3, n))
    d /= np.linalg.norm(d, axis=0, keepdims=True)
    k = 2 * np.pi / wavelength_m * np.exp(rng.normal(scale=spread, size=n))
    return d * k, rng.uniform(0, 2 * np.pi, size=n)


_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, key: int) -> np.ndarray:
    """Deterministic lattice hash → uniform [0, 1) (splitmix64 finaliser on the packed cell)."""
    with np.errstate(over="ignore"):
        h = (ix.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             ^ iy.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
             ^ iz.astype(np.uint64) * np.uint64(0x165667B19E3779F9) ^ np.uint64(key))
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _value_noise(points: np.ndarray, cell_m: float, key: int) -> np.ndarray:
    """Smooth value noise on a lattice of spacing `cell_m` (hashed, so unbounded and a pure
    function of 3D position and `key`), normalised to roughly unit variance. Cheap (8 lattice
    lookups per point), used for the fine fields (pores, freckles, mid-scale mottling)."""
    g = points / cell_m + 1000.0  # shift keeps lattice indices positive
    i0 = np.floor(g).astype(np.int64)
    f = g - i0
    w = f * f * (3 - 2 * f)
    out = np.zeros(len(points))
    for dx in (0, 1):
        wx = w[:, 0] if dx else 1 - w[:, 0]
        for dy in (0, 1):
            wy = w[:, 1] if dy else 1 - w[:, 1]
            for dz in (0, 1):
                wz = w[:, 2] if dz else 1 - w[:, 2]
                out += wx * wy * wz * _hash01(i0[:, 0] + dx, i0[:, 1] + dy, i0[:, 2] + dz, key)
    # Uniform lattice values have sd 0.289; smoothstep-weighted trilinear averaging keeps ~0.6
    # of it: rescale to unit variance.
    return (out - 0.5) / (0.289 * 0.6)


@dataclass(frozen=True)
class SkinFields:
    """Everything random about one skin, drawn from `seed` in a fixed order so the hand and the
    forearm textures of one seed share tone, mottling, freckles and pores exactly."""

    base: np.ndarray  # (3,) linear dorsal albedo
    palm: np.ndarray  # (3,) linear palm albedo (lighter, less saturated)
    darkness: float  # 0 light … 1 dark (from the base luminance), scales tone-dependent effects
    waves: tuple  # ((freqs, phases), ...) for the low-frequency brightness and redness fields
    keys: tuple  # lattice hash keys of the value-noise fields (mid mottling, freckles, pores)
    crease_jitter: np.ndarray  # (3, 3, 2) palm crease control-point jitter (normalised palm units)
    crease_depth: float
    freckle_threshold: float
    redness: float

    @classmethod
    def draw(cls, params: SkinParams) -> "SkinFields":
        rng = np.random.default_rng(params.seed)
        base = skin_albedo(params.tone, params.hue_shift_deg, params.saturation_scale)
        darkness = float(np.clip((np.log(0.45) - np.log(_luminance(base))) / np.log(0.45 / 0.035), 0, 1))
        # Palms are lighter and less pigmented than the dorsum, much more so on dark skin
        # (palmoplantar skin has little melanin): a lighter tone, less saturated, a bit pinker.
        palm_tone = params.tone - (0.06 + 0.16 * params.tone)
        palm = skin_albedo(palm_tone, params.hue_shift_deg - 3.0, 0.8 * params.saturation_scale)
        waves = (_draw_waves(rng, 12, 0.05), _draw_waves(rng, 12, 0.03))
        keys = tuple(int(k) for k in rng.integers(0, 2**63, size=4))
        return cls(base=base, palm=palm, darkness=darkness, waves=waves, keys=keys,
                   crease_jitter=rng.normal(scale=0.035, size=(3, 3, 2)),
                   crease_depth=float(rng.uniform(0.25, 0.45)),
                   # Freckles/moles: rarer on dark skin; a threshold on a unit-variance field.
                   freckle_threshold=float(rng.uniform(2.3, 3.1) + 0.8 * darkness),
                   redness=float(rng.uniform(0.6, 1.2)))


def _smoothstep(e0, e1, x):
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# Normalised palm-crease control points (quadratic Bézier) as (a, b): a = -x / palm length
# (0 wrist joint → 1 knuckles), b = z / half palm width (+ towards the thumb).
_PALM_CREASES = np.array([
    [[0.67, -1.15], [0.76, -0.15], [0.93, 0.42]],  # distal transverse ("heart line")
    [[0.76, 0.92], [0.62, 0.10], [0.47, -0.75]],  # proximal transverse ("head line")
    [[0.76, 0.88], [0.34, -0.10], [0.04, 0.28]],  # thenar crease ("life line")
])


def _bezier(ctrl: np.ndarray, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * ctrl[0] + 2 * (1 - t) * t * ctrl[1] + t ** 2 * ctrl[2]


def _line(d: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """A soft line profile from a distance (same units as width)."""
    return np.exp(-((d / width) ** 2))


def skin_shade(points: np.ndarray, normals: np.ndarray, fields: SkinFields,
               hand: HandSurface | None = None, bones: np.ndarray | None = None,
               thumb_weight: np.ndarray | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """Linear albedo (N, 3) of skin at rest-frame `points` with unit `normals`.

    Hand-only features (creases, nails, knuckles, fingertips) need `hand` and per-point `bones`
    (MANO bone id, -1 for non-hand); without them (the forearm) only the fields shared with the
    hand apply: base tone, ventral lightening, mottling, freckles, pores."""
    n_pts = len(points)
    x = points[:, 0]
    tw = np.zeros(n_pts) if thumb_weight is None else thumb_weight * _smoothstep(0.012, -0.01, x)
    ventral_dir_y = -normals[:, 1]
    if hand is not None:
        ax = _thumb_flexion_axes()[2]
        tdir = hand.tips[4] - hand.joints[15]
        t_dorsal = np.cross(tdir, ax)
        t_dorsal /= np.linalg.norm(t_dorsal)
        ventral = (1 - tw) * ventral_dir_y - tw * (normals @ t_dorsal)
    else:
        ventral = ventral_dir_y
    # Ventral (palm / flexor) lightening: full on the palm and fingers, fading to a third at
    # the wrist and on the forearm; the same formula on both meshes keeps the junction seamless.
    region = 0.35 + 0.65 * _smoothstep(0.012, -0.015, x)
    wv = _smoothstep(-0.15, 0.55, ventral) * region
    col = fields.base[None] * (1 - wv[:, None]) + fields.palm[None] * wv[:, None]

    (f_lo, p_lo), (f_hue, p_hue) = fields.waves
    lo = _lattice_fourier_noise(points, f_lo, p_lo)
    hue = _lattice_fourier_noise(points, f_hue, p_hue)
    mid = _value_noise(points, 0.006, fields.keys[0])
    # Mottling: low-frequency brightness and redness variation (blood, pigment unevenness).
    col = col * (1 + 0.07 * lo + 0.035 * mid)[:, None]
    red_mul = np.array([1.0, 0.82, 0.80])
    blotch = np.clip(0.12 * (hue + 0.3), 0.0, 0.3) * (1 - 0.5 * fields.darkness)
    col = col * (1 + blotch[:, None] * (red_mul - 1) * 2)
    # Freckles / moles: where a fine field exceeds a high threshold, mostly on the dorsum.
    fr = 0.75 * _value_noise(points, 0.0025, fields.keys[1]) + 0.25 * _value_noise(points, 0.0011, fields.keys[2])
    fr = fr / 0.8
    spot = _smoothstep(fields.freckle_threshold, fields.freckle_threshold + 0.4, fr) * (1 - 0.8 * wv)
    col = col * (1 - 0.45 * spot[:, None] * np.array([0.8, 1.0, 1.1]))
    # Pores / micro texture: fine 3D field plus per-texel noise, a few percent.
    pore = _value_noise(points, 0.0009, fields.keys[3])
    col = col * (1 + 0.02 * pore)[:, None]
    if rng is not None:
        col = col * (1 + 0.025 * rng.standard_normal(n_pts))[:, None]

    if hand is not None and bones is not None:
        col = _hand_features(col, points, normals, fields, hand, bones, ventral, wv)
    return np.clip(col, 0.005, 0.9)


def _hand_features(col, points, normals, fields: SkinFields, hand: HandSurface, bones, ventral, wv):
    """Knuckles, fingertips, creases and nails (hand only)."""
    J, tips = hand.joints, hand.tips
    n_pts = len(points)
    red_mul = np.array([1.0, 0.74, 0.72])
    dark = fields.darkness
    finger = np.where(bones > 0, (bones - 1) // 3, -1)  # 0 index, 1 middle, 2 pinky, 3 ring, 4 thumb
    redness = np.zeros(n_pts)
    knuckle_dark = np.zeros(n_pts)
    crease = np.zeros(n_pts)
    nail = np.zeros(n_pts)
    nail_edge = np.zeros(n_pts)
    lunula = np.zeros(n_pts)
    free_edge = np.zeros(n_pts)
    thumb_axes = _thumb_flexion_axes()
    for f in range(5):
        chain = [1 + 3 * f, 2 + 3 * f, 3 + 3 * f]
        pts_chain = np.stack([J[c] for c in chain] + [tips[f]])  # (4, 3): 3 joints + tip
        # Palm-side (MCP) knuckles belong to points of the palm too; others only to the finger.
        near = (finger == f) | ((bones == 0) & (np.abs(points - J[chain[0]]).max(axis=1) < 0.022))
        idx = np.nonzero(near)[0]
        if len(idx) == 0:
            continue
        p = points[idx]
        nrm = normals[idx]
        dirs = np.diff(pts_chain, axis=0)
        lengths = np.linalg.norm(dirs, axis=1)
        dirs = dirs / lengths[:, None]
        if f < 4:
            up = np.array([0.0, 1.0, 0.0])
            dorsals = up - (dirs @ up)[:, None] * dirs
        else:
            dorsals = np.cross(dirs, thumb_axes)
        dorsals /= np.linalg.norm(dorsals, axis=1, keepdims=True)
        own = finger[idx] == f
        for k, j in enumerate(chain):
            # Joint k sits at pts_chain[k]; axial coordinate along the bone that starts there.
            d_ax = (p - pts_chain[k]) @ dirs[k]
            dorsal_k = dorsals[k]
            facing_d = _smoothstep(0.05, 0.6, nrm @ dorsal_k)
            facing_v = _smoothstep(0.05, 0.6, -(nrm @ dorsal_k))
            radial = np.linalg.norm((p - pts_chain[k]) - d_ax[:, None] * dirs[k], axis=1)
            close = np.exp(-(d_ax / 0.009) ** 2) * _smoothstep(0.016, 0.008, radial)
            if f == 4 and k == 0:
                continue  # the thumb's CMC lies deep in the thenar: no visible knuckle
            # Knuckles: redder on light skin, darker (hyperpigmented) on dark skin.
            redness[idx] = np.maximum(redness[idx], close * facing_d * (0.9 if k > 0 else 0.7))
            knuckle_dark[idx] = np.maximum(knuckle_dark[idx], close * facing_d)
            if k == 0 and f < 4:
                # Palmar digital crease: a third of the way from the knuckle to the PIP.
                c_ax = d_ax - 0.33 * lengths[0]
                crease[idx] = np.maximum(crease[idx], own * facing_v * _line(c_ax, 0.0006)
                                         * _smoothstep(0.013, 0.007, radial))
            if k >= 1 or f == 4:
                # Palmar flexion creases at the PIP/DIP (a double line at the PIP).
                prof = _line(d_ax, 0.00055)
                if k == 1 and f < 4:
                    prof = np.maximum(_line(d_ax - 0.0012, 0.0005), _line(d_ax + 0.0012, 0.0005))
                crease[idx] = np.maximum(crease[idx], own * facing_v * prof * _smoothstep(0.013, 0.006, radial))
                # Dorsal wrinkles: a few transverse lines over the joint, fading with distance.
                env = np.exp(-(d_ax / (0.0045 if k < 2 else 0.003)) ** 2)
                ripple = np.abs(np.cos(d_ax * (2 * np.pi / 0.0016))) ** 12
                crease[idx] = np.maximum(crease[idx], 0.8 * own * facing_d * env * ripple)
        # Fingertip: redder pulp and tip (all sides of the distal ~1.2 cm).
        d_tip = np.linalg.norm(p - tips[f], axis=1)
        redness[idx] = np.maximum(redness[idx], own * _smoothstep(0.016, 0.004, d_tip) * 0.8)
        # Nail: dorsal side of the distal phalanx, from ~35 % of its length to the tip.
        dist = own & (bones[idx] == chain[2])
        t = ((p - pts_chain[2]) @ dirs[2]) / lengths[2]
        rel = p - pts_chain[2] - ((p - pts_chain[2]) @ dirs[2])[:, None] * dirs[2]
        lateral_dir = np.cross(dirs[2], dorsals[2])
        lat = rel @ lateral_dir
        up_d = rel @ dorsals[2]
        radius = np.median(np.linalg.norm(rel[dist], axis=1)) if dist.any() else 0.007
        along = _smoothstep(0.35, 0.45, t) * _smoothstep(0.98, 0.91, t)
        across = _smoothstep(0.78, 0.62, np.abs(lat) / radius)
        above = _smoothstep(0.15, 0.4, up_d / radius)
        m = own * along * across * above
        nail[idx] = np.maximum(nail[idx], m)
        nail_edge[idx] = np.maximum(nail_edge[idx], own * above * np.exp(-((along * across - 0.5) / 0.22) ** 2)
                                    * _smoothstep(0.25, 0.35, t))
        lunula[idx] = np.maximum(lunula[idx], m * _smoothstep(0.55, 0.45, t)
                                 * _smoothstep(0.55, 0.3, np.abs(lat) / radius))
        free_edge[idx] = np.maximum(free_edge[idx], m * _smoothstep(0.86, 0.92, t))
    # Palm creases and the wrist crease on the palmar side.
    crease = np.maximum(crease, _palm_creases(points, normals, fields, J, bones) * _smoothstep(0.1, 0.5, ventral))

    light = 1 - dark
    redness = redness * fields.redness * (0.35 + 0.65 * light)
    col = col * (1 + redness[:, None] * (red_mul - 1))
    col = col * (1 - 0.3 * dark * knuckle_dark)[:, None]
    crease_col = np.array([0.62, 0.52, 0.52]) if dark < 0.5 else np.array([0.55, 0.5, 0.5])
    col = col * (1 - fields.crease_depth * crease[:, None] * (1 - crease_col))
    # Nail plate: translucent keratin over a pink nail bed: pinker and brighter than the
    # surrounding skin at every tone; whiter lunula and free edge; a thin darker cuticle fold.
    # Nail-bed luminance: above the dorsal skin's at every tone (dark skin: clearly lighter).
    base_l = float(_luminance(fields.base))
    pink = np.array([0.78, 0.50, 0.48])
    pink = pink * max(1.15 * base_l, 0.12 + 0.6 * base_l) / float(_luminance(pink))
    nail_col = 0.25 * col * (max(1.15 * base_l, 0.12 + 0.6 * base_l) / base_l) + 0.75 * pink[None]
    white = np.minimum(np.array([0.80, 0.74, 0.70]), 1.6 * pink + 0.1)
    nail_col = nail_col + (white - nail_col) * (0.3 * lunula + 0.5 * free_edge)[:, None]
    col = col * (1 - 0.25 * nail_edge * (1 - nail))[:, None]
    col = col + (nail_col - col) * nail[:, None]
    return col


def _palm_creases(points, normals, fields: SkinFields, J: np.ndarray, bones: np.ndarray) -> np.ndarray:
    """Major palm flexion creases (distal/proximal transverse, thenar) and the wrist crease, as
    soft lines in the palm plane (x, z) at their usual places relative to the knuckles."""
    mcps = J[[1, 4, 7, 10]]
    palm_len = float(-mcps[:, 0].mean())
    half_w = float(np.abs(mcps[:, 2] - mcps[:, 2].mean()).max() + 0.012)
    zc = float(mcps[:, 2].mean())
    from scipy.spatial import cKDTree

    sel = np.nonzero(((bones == 0) | (bones == 13)) & (normals[:, 1] < -0.1))[0]
    out = np.zeros(len(points))
    if len(sel) == 0:
        return out
    b = (points[sel, 2] - zc) / half_w
    xz = np.stack([points[sel, 0], points[sel, 2]], 1)
    for c, ctrl in enumerate(_PALM_CREASES):
        curve = _bezier(ctrl + fields.crease_jitter[c], 300) * np.array([palm_len, half_w])
        curve = np.stack([-curve[:, 0], curve[:, 1] + zc], 1)  # back to (x, z)
        d, _ = cKDTree(curve).query(xz, distance_upper_bound=0.004)
        out[sel] = np.maximum(out[sel], _line(np.minimum(d, 0.004), 0.0007 if c < 2 else 0.0008))
    # Wrist crease (rascette): a transverse line just proximal to the wrist joint.
    out[sel] = np.maximum(out[sel], 0.8 * _line(points[sel, 0] - 0.003, 0.0006)
                          * _smoothstep(1.0, 0.6, np.abs(b)))
    return out


# ---------------------------------------------------------------------------------------------
# Textures


_TEXEL_CACHE: dict[str, tuple] = {}


def _geometry_key(*arrays, size) -> str:
    h = hashlib.sha1(np.array(size).tobytes())
    for arr in arrays:
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _hand_texels(hand: HandSurface, size):
    """Per covered texel: 3D rest position, unit normal, bone and thumb weight (cached by
    geometry: textures of one hand shape differ only in their parameters)."""
    key = _geometry_key(hand.vertices, hand.faces, hand.vt, hand.ft, hand.part_ids, size=size)
    if key not in _TEXEL_CACHE:
        bake = bake_atlas(hand.vt, hand.ft, size)
        v = np.asarray(hand.vertices, dtype=np.float64)
        faces_ = np.asarray(hand.faces, dtype=np.int64)
        pts = bake.interpolate(faces_, v)
        nrm = bake.interpolate(faces_, vertex_normals(v, faces_))
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        # Bone per texel: the corner with the largest barycentric (part labels are per vertex).
        m = bake.mask
        corners = faces_[bake.face[m]]
        bones = np.asarray(hand.part_ids)[corners[np.arange(len(corners)), np.argmax(bake.bary[m], axis=1)]]
        thumb_w = bake.interpolate(faces_, np.asarray(hand.weights)[:, 13:16].sum(1, keepdims=True))[:, 0]
        if len(_TEXEL_CACHE) > 8:
            _TEXEL_CACHE.clear()
        _TEXEL_CACHE[key] = (bake, pts, nrm, bones, thumb_w)
    return _TEXEL_CACHE[key]


def skin_texture(params, vt: np.ndarray | None = None, ft: np.ndarray | None = None,
                 faces: np.ndarray | None = None, vertices: np.ndarray | None = None,
                 part_ids: np.ndarray | None = None, size: int = 512, seed: int | None = None,
                 hand: HandSurface | None = None) -> np.ndarray:
    """The hand's skin texture (size, size, 3) uint8 sRGB in its UV atlas (`vt`, `ft`).
    `params`: a `SkinParams` or an `AppearanceSpec` (skin_tone, hue_shift_deg,
    saturation_scale, texture_seed).

    Geometry comes from `hand` (a `HandSurface`), or from the arrays given (the open hand's
    joints, tips and thumb weights are taken from the shipped asset; the vertex count must be
    the open hand's), or — with nothing given — is the shipped open hand itself. `seed`
    overrides `params.seed`. The texture lives in UV space, so one made on the template fits
    every shape (betas) of the hand: baking on the template (the default) lets the per-texel
    geometry be cached (~0.5-0.7 s per 512² texture, ~0.3 s at 256², on a shared 2-core box)."""
    params = SkinParams.coerce(params)
    if seed is not None:
        params = SkinParams(params.tone, params.hue_shift_deg, params.saturation_scale, int(seed))
    if hand is None:
        default = HandSurface.open_hand(vertices)
        given = dict(vt=vt, ft=ft, faces=faces, part_ids=part_ids)
        overrides = {k: np.asarray(v) for k, v in given.items() if v is not None}
        if vertices is not None and len(vertices) != len(default.weights):
            raise ValueError(f"procedural skin needs the open hand's topology ({len(default.weights)} vertices); "
                             f"got {len(vertices)}: pass a HandSurface with joints, tips and weights")
        hand = HandSurface(**{**default.__dict__, **overrides})
    fields = SkinFields.draw(params)
    bake, pts, nrm, bones, thumb_w = _hand_texels(hand, size)
    # Per-texel noise from a generator derived from the seed (not from `fields`' stream, so the
    # shared fields stay identical between the hand and forearm textures).
    rng = np.random.default_rng([params.seed, 1])
    col = skin_shade(pts, nrm, fields, hand=hand, bones=bones, thumb_weight=thumb_w, rng=rng)
    return bake.fill(to_srgb8(col))


def _print_calibration() -> None:
    for t in np.linspace(0, 1, 11):
        c = skin_albedo(float(t))
        print(f"tone {t:.1f}: linear {np.round(c, 3)}  luminance {_luminance(c):.3f}  sRGB {to_srgb8(c)}")


if __name__ == "__main__":
    _print_calibration()
