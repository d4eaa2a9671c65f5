"""Folders of real assets that replace the procedural ones: hand textures (in the hand's UV
layout), background images (e.g. MIT Indoor) and HDR environment maps.

Conventions
- A folder is listed recursively, files filtered by extension (case-insensitive) and sorted by
  their POSIX path relative to the folder: the listing, file ids (those relative paths) and
  seeded choices are identical on every machine.
- Loading never crashes a run on a bad file: a corrupt image or unreadable HDR gives a
  `UserWarning` naming the file and the next file (in sorted order, wrapping) is tried; only
  when every file fails is an `AssetFolderError` raised. An empty folder (or a missing one)
  raises `AssetFolderError` naming the folder and the expected file types.
- Images load as uint8 sRGB (H, W, 3); HDRs as float32 linear (H, W, 3) (`read_hdr_image`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .envmaps import HDRReadError, read_hdr_image

__all__ = ["AssetFolder", "AssetFolderError", "IMAGE_TYPES", "HDR_TYPES", "LoadedAsset", "background_folder",
           "envmap_folder", "load_image", "texture_folder"]

IMAGE_TYPES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
HDR_TYPES = (".exr", ".hdr")


class AssetFolderError(RuntimeError):
    """A folder with no usable asset (empty, missing, or every file unreadable)."""


@dataclass(frozen=True)
class LoadedAsset:
    """A loaded file: its id (path relative to the folder), absolute path and data."""

    file_id: str
    path: Path
    data: np.ndarray


def load_image(path: str | os.PathLike, min_size: int = 16) -> np.ndarray:
    """An image file → uint8 sRGB (H, W, 3) (alpha dropped, grey expanded). Raises ValueError
    for unreadable, truncated or tiny images (PIL decodes fully here, so truncation shows)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I", "F"):
                arr = np.asarray(im, dtype=np.float64)
                arr = np.clip(arr / max(arr.max(), 1.0) * 255.0, 0, 255).astype(np.uint8)
                arr = np.repeat(arr[..., None], 3, axis=-1)
            else:
                arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{path}: unreadable image ({type(e).__name__}: {e})") from None
    if arr.shape[0] < min_size or arr.shape[1] < min_size:
        raise ValueError(f"{path}: image too small ({arr.shape[1]}x{arr.shape[0]} px, need >= {min_size})")
    return arr


def _load_texture(path: Path) -> np.ndarray:
    """A hand texture in the hand's UV layout: any readable image of at least 64 px; UVs are
    normalised, so non-square textures are fine (they are used as they are)."""
    return load_image(path, min_size=64)


def _load_hdr(path: Path) -> np.ndarray:
    img = read_hdr_image(path)
    if img.shape[1] != 2 * img.shape[0]:
        warnings.warn(f"{path}: {img.shape[1]}x{img.shape[0]} is not a 2:1 equirectangular map; used as is",
                      stacklevel=3)
    return img


class AssetFolder:
    """A deterministic listing of `path`'s files with extensions `kinds`, with seeded choice and
    validated loading (see the module docstring). `loader` maps a path to an array and raises
    on a bad file (default: images as uint8 sRGB)."""

    def __init__(self, path: str | os.PathLike, kinds: tuple[str, ...] = IMAGE_TYPES,
                 loader: Callable[[Path], np.ndarray] | None = None, what: str = "asset"):
        self.path = Path(path)
        self.kinds = tuple(k.lower() if k.startswith(".") else "." + k.lower() for k in kinds)
        self.loader = loader or load_image
        self.what = what
        if not self.path.is_dir():
            raise AssetFolderError(f"{what} folder {self.path} does not exist or is not a directory "
                                   f"(expected a folder of {', '.join(self.kinds)} files)")
        files = [p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in self.kinds
                 and not any(part.startswith(".") for part in p.relative_to(self.path).parts)]
        self.files = sorted(files, key=lambda p: p.relative_to(self.path).as_posix())
        if not self.files:
            raise AssetFolderError(f"{what} folder {self.path} holds no usable files: expected "
                                   f"{', '.join(self.kinds)} (searched recursively, hidden files skipped)")

    def __len__(self) -> int:
        return len(self.files)

    @property
    def ids(self) -> tuple[str, ...]:
        """File ids: POSIX paths relative to the folder, sorted (what `SceneConfig` stores)."""
        return tuple(p.relative_to(self.path).as_posix() for p in self.files)

    def index_of(self, file_id: str) -> int:
        try:
            return self.ids.index(file_id)
        except ValueError:
            raise AssetFolderError(f"{self.what} folder {self.path} has no file {file_id!r}") from None

    def choose(self, seed: int) -> int:
        """The index a seed picks (uniform over the sorted files)."""
        return int(np.random.default_rng(seed).integers(len(self.files)))

    def load(self, seed: int | None = None, file_id: str | None = None, index: int | None = None) -> LoadedAsset:
        """Load the file named by `file_id`, `index` or chosen by `seed`; if it is unreadable,
        warn (naming it) and try the following files in order, wrapping around."""
        if file_id is not None:
            start = self.index_of(file_id)
        elif index is not None:
            start = int(index) % len(self.files)
        elif seed is not None:
            start = self.choose(seed)
        else:
            start = 0
        errors = []
        for k in range(len(self.files)):
            p = self.files[(start + k) % len(self.files)]
            try:
                data = self.loader(p)
            except (ValueError, OSError, HDRReadError) as e:
                warnings.warn(f"skipping unreadable {self.what} file {p}: {e}", stacklevel=2)
                errors.append(str(p))
                continue
            return LoadedAsset(file_id=p.relative_to(self.path).as_posix(), path=p, data=data)
        raise AssetFolderError(f"no readable {self.what} file in {self.path}: all {len(errors)} failed "
                               f"(expected {', '.join(self.kinds)})")


def texture_folder(path: str | os.PathLike) -> AssetFolder:
    """Hand textures (PNG/JPG, in the hand's UV layout, OBJ convention v = 0 at the bottom):
    they replace `skin_texture` when `SceneConfig.skin_texture_files` is set."""
    return AssetFolder(path, IMAGE_TYPES, _load_texture, what="hand texture")


def background_folder(path: str | os.PathLike) -> AssetFolder:
    """Background photographs (e.g. MIT Indoor): they replace `indoor_background`; crop them
    with `backgrounds.crop`."""
    return AssetFolder(path, IMAGE_TYPES, lambda p: load_image(p, min_size=32), what="background image")


def envmap_folder(path: str | os.PathLike) -> AssetFolder:
    """Equirectangular HDR environment maps (.exr, .hdr): they replace `procedural_envmap`."""
    return AssetFolder(path, HDR_TYPES, _load_hdr, what="environment map")
