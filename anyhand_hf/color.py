"""Colour conversions shared by scene sampling, assets, rendering and drawing (IEC 61966-2-1 sRGB)."""

from __future__ import annotations

import colorsys

import numpy as np


def srgb_to_linear(c) -> np.ndarray:
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c) -> np.ndarray:
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def to_srgb8(linear: np.ndarray) -> np.ndarray:
    """Linear RGB float → uint8 sRGB (rounded)."""
    return np.round(linear_to_srgb(linear) * 255.0).astype(np.uint8)


def hsv_linear(h: float, s: float, v: float) -> np.ndarray:
    """Linear RGB of an sRGB colour given in HSV (hue wraps around 1; s, v clip to [0, 1])."""
    return srgb_to_linear(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))))


def hex_linear(hex_rgb: str) -> np.ndarray:
    """Linear RGB of an sRGB hex colour such as "f6ede4"."""
    return srgb_to_linear(np.array([int(hex_rgb[i:i + 2], 16) for i in (0, 2, 4)]) / 255.0)
