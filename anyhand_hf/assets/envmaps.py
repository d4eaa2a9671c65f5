"""Procedural HDR environment maps and plain-numpy HDR image I/O (OpenEXR, Radiance RGBE).

Conventions
- Maps are float32 (H, W, 3) LINEAR RGB radiance, equirectangular (latitude-longitude), z up
  (the scene's world up): row 0 is the zenith, the last row the nadir; the pixel (row, col)
  centre looks along elevation el = pi/2 - pi (row + 0.5) / H and azimuth
  az = 2 pi (col + 0.5) / W, direction (cos el cos az, cos el sin az, sin el) (`envmap_directions`).
  The renderer owns the mapping to its own cubemap axes; `rotate_yaw` applies the scene spec's
  `yaw_deg` (a rotation about +z: azimuths increase by yaw).
- Dominant colour: the solid-angle-weighted mean radiance equals `dominant_color` (linear RGB)
  exactly (`envmap_mean`), so the scene's ambient term (a multiple of it) agrees with the map.
- The key light is a smooth lobe (tens of degrees wide, peak a few times the mean), never a
  small bright sun: tiny suns make ray-traced fireflies (REFERENCE.md "Rendering"); scenes
  carry explicit lights for the key light.
- SAPIEN reads HDR only from single-file equirectangular `.exr` (`.hdr` is clamped to 1):
  `write_exr` writes uncompressed scanline EXR (HALF or FLOAT). `read_hdr_image` reads `.exr`
  (uncompressed, RLE, ZIPS, ZIP; HALF/FLOAT/UINT) and `.hdr` (Radiance RGBE, flat or RLE).
"""

from __future__ import annotations

import colorsys
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..color import hsv_linear, linear_to_srgb

__all__ = ["HDRReadError", "envmap_directions", "envmap_mean", "procedural_envmap", "read_exr", "read_hdr",
           "read_hdr_image", "rotate_yaw", "write_exr", "write_hdr"]


class HDRReadError(ValueError):
    """An HDR file that cannot be read (corrupt, truncated, or an unsupported variant)."""


# ---------------------------------------------------------------------------------------------
# Geometry


def envmap_directions(size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) unit view directions of the pixel centres (module convention)."""
    h, w = size
    el = np.pi / 2 - np.pi * (np.arange(h) + 0.5) / h
    az = 2 * np.pi * (np.arange(w) + 0.5) / w
    el, az = np.meshgrid(el, az, indexing="ij")
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def _solid_angle_weights(h: int) -> np.ndarray:
    """(H,) relative solid angle per row (exact integral of cos(el) over the row's band)."""
    edges = np.pi / 2 - np.pi * np.arange(h + 1) / h
    return np.sin(edges[:-1]) - np.sin(edges[1:])


def envmap_mean(image: np.ndarray) -> np.ndarray:
    """Solid-angle-weighted mean radiance (3,) of an equirectangular map."""
    w = _solid_angle_weights(image.shape[0])
    return (image.astype(np.float64).mean(axis=1) * w[:, None]).sum(0) / w.sum()


def rotate_yaw(image: np.ndarray, yaw_deg: float) -> np.ndarray:
    """The map rotated by `yaw_deg` about +z (a content at azimuth az moves to az + yaw):
    a periodic column shift with linear interpolation for fractional pixels."""
    w = image.shape[1]
    shift = (yaw_deg / 360.0) * w
    k = int(np.floor(shift))
    f = shift - k
    a = np.roll(image, k, axis=1)
    return ((1 - f) * a + f * np.roll(a, 1, axis=1)).astype(image.dtype)


# ---------------------------------------------------------------------------------------------
# Procedural maps


def procedural_envmap(seed: int, dominant_color, size: tuple[int, int] = (128, 256)) -> np.ndarray:
    """A smooth sky- or room-like HDR map (float32 (H, W, 3), linear) whose solid-angle mean is
    `dominant_color`. Sky: zenith-to-horizon gradient, a bright hazy horizon band, a darker
    ground, clouds and a soft sun lobe. Room: walls and floor tinted by the dominant colour,
    soft-edged window and lamp panels and a broad light lobe."""
    rng = np.random.default_rng(seed)
    h, w = size
    dom = np.clip(np.asarray(dominant_color, dtype=np.float64), 1e-4, None)
    d = envmap_directions(size)
    z = d[..., 2]
    hue, sat, val = colorsys.rgb_to_hsv(*linear_to_srgb(np.clip(dom, 0, 1)))

    def tint(dh=0.0, ds=1.0, dv=1.0):
        return hsv_linear(hue + dh, sat * ds, min(1.0, max(0.05, val * dv)))

    kind = "sky" if rng.uniform() < 0.5 else "room"
    img = np.zeros((h, w, 3))
    if kind == "sky":
        zenith = tint(rng.normal(scale=0.03), 1.1, 0.8)
        horizon = tint(rng.normal(scale=0.05), 0.5, 1.3)
        ground = tint(rng.uniform(-0.1, 0.1), 0.7, 0.5) * rng.uniform(0.3, 0.8)
        up = np.clip(z, 0, 1)[..., None]
        sky = horizon + (zenith - horizon) * up ** 0.6
        img = np.where(z[..., None] >= 0, sky, ground * (0.7 + 0.3 * np.clip(1 + z, 0, 1))[..., None])
        # Clouds: smooth noise on the upper hemisphere, brightening and greying the sky.
        clouds = _sphere_noise(rng, d, 6, 3.0)
        cover = np.clip(clouds - rng.uniform(-0.5, 1.0), 0, 1) * (z > 0)
        img = img * (1 - 0.5 * cover[..., None]) + 0.5 * cover[..., None] * horizon * 1.2
        lobe_el = np.radians(rng.uniform(10, 70))
    else:
        wall = tint(rng.normal(scale=0.03))
        floor = tint(rng.uniform(-0.1, 0.1), rng.uniform(0.5, 1.2), rng.uniform(0.4, 0.8))
        ceiling = tint(0, 0.3, 1.2)
        img = np.where((z < -0.35)[..., None], floor, np.where((z > 0.6)[..., None], ceiling, wall))
        img = img * (1 + 0.08 * _sphere_noise(rng, d, 8, 4.0))[..., None]
        # Soft windows / lamp panels: rounded rectangles in (azimuth, elevation).
        el_map = np.arcsin(np.clip(z, -1, 1))
        az_map = np.arctan2(d[..., 1], d[..., 0])
        for _ in range(int(rng.integers(1, 4))):
            c_az, c_el = rng.uniform(-np.pi, np.pi), rng.uniform(-0.1, 0.9)
            half_az, half_el = rng.uniform(0.15, 0.5), rng.uniform(0.1, 0.35)
            daz = np.angle(np.exp(1j * (az_map - c_az)))
            soft = 0.08
            m = (_soft_box(daz, half_az, soft) * _soft_box(el_map - c_el, half_el, soft))[..., None]
            glow = hsv_linear(rng.uniform(0.05, 0.6), rng.uniform(0.0, 0.3), 1.0) * rng.uniform(2.0, 5.0) * val
            img = img * (1 - m) + glow * m
        lobe_el = np.radians(rng.uniform(20, 80))
    # A smooth key-light lobe (von Mises-Fisher, 15-35 degrees wide).
    lobe_az = rng.uniform(0, 2 * np.pi)
    axis = np.array([np.cos(lobe_el) * np.cos(lobe_az), np.cos(lobe_el) * np.sin(lobe_az), np.sin(lobe_el)])
    width = np.radians(rng.uniform(15, 35))
    lobe = np.exp((d @ axis - 1) / width ** 2)
    warm = hsv_linear(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.4), 1.0)
    share = rng.uniform(0.2, 0.5)  # fraction of the map's energy in the lobe
    base_mean = envmap_mean(img)
    lobe_mean = envmap_mean(lobe[..., None] * warm)
    img = img / np.maximum(base_mean, 1e-6) * (1 - share) + lobe[..., None] * warm / np.maximum(lobe_mean, 1e-9) * share
    # Exact dominant colour: per-channel gains on the solid-angle mean.
    img = img * (dom / np.maximum(envmap_mean(img), 1e-9))
    return np.ascontiguousarray(img.astype(np.float32))


def _soft_box(x: np.ndarray, half: float, soft: float) -> np.ndarray:
    t = np.clip((half + soft - np.abs(x)) / (2 * soft), 0, 1)
    return t * t * (3 - 2 * t)


def _sphere_noise(rng: np.random.Generator, d: np.ndarray, n: int, freq: float) -> np.ndarray:
    """Smooth noise on the sphere (a function of direction: no seam at the map's edges)."""
    k = rng.normal(size=(3, n))
    k *= freq / np.linalg.norm(k, axis=0, keepdims=True) * np.exp(rng.normal(scale=0.3, size=n))
    return np.cos(d @ k + rng.uniform(0, 2 * np.pi, n)).sum(-1) * np.sqrt(2.0 / n)


# ---------------------------------------------------------------------------------------------
# OpenEXR


_EXR_MAGIC = 20000630
_PIXEL_TYPES = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}
_COMPRESSIONS = {0: ("none", 1), 1: ("rle", 1), 2: ("zips", 1), 3: ("zip", 16)}


def write_exr(path: str | os.PathLike, image: np.ndarray, half: bool = False) -> None:
    """Write (H, W, 3) linear RGB as a single-part, scanline, uncompressed OpenEXR file with
    FLOAT (default) or HALF channels. Non-finite values are an error."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"write_exr expects an (H, W, 3) image, got {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ValueError("write_exr: image holds NaN or inf")
    if half and np.abs(img).max() > 65504:
        raise ValueError("write_exr: values exceed the HALF range; use half=False")
    h, w, _ = img.shape
    ptype, dtype = (1, np.dtype("<f2")) if half else (2, np.dtype("<f4"))

    def attr(name: str, typ: str, data: bytes) -> bytes:
        return name.encode() + b"\0" + typ.encode() + b"\0" + struct.pack("<i", len(data)) + data

    # Channels must be listed (and stored) in alphabetical order: B, G, R.
    chlist = b"".join(c.encode() + b"\0" + struct.pack("<iB3xii", ptype, 0, 1, 1) for c in "BGR") + b"\0"
    box = struct.pack("<iiii", 0, 0, w - 1, h - 1)
    header = (struct.pack("<ii", _EXR_MAGIC, 2)
              + attr("channels", "chlist", chlist)
              + attr("compression", "compression", b"\0")
              + attr("dataWindow", "box2i", box)
              + attr("displayWindow", "box2i", box)
              + attr("lineOrder", "lineOrder", b"\0")
              + attr("pixelAspectRatio", "float", struct.pack("<f", 1.0))
              + attr("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0))
              + attr("screenWindowWidth", "float", struct.pack("<f", 1.0))
              + b"\0")
    line_bytes = 3 * w * dtype.itemsize
    start = len(header) + 8 * h
    offsets = np.arange(h, dtype="<u8") * (8 + line_bytes) + start
    planar = np.ascontiguousarray(img[:, :, ::-1].transpose(0, 2, 1)).astype(dtype)  # (H, [B,G,R], W)
    rows = np.empty((h, 8 + line_bytes), dtype=np.uint8)
    rows[:, :4] = np.arange(h, dtype="<i4").view(np.uint8).reshape(h, 4)
    rows[:, 4:8] = np.frombuffer(struct.pack("<i", line_bytes), np.uint8)
    rows[:, 8:] = planar.reshape(h, -1).view(np.uint8)
    with open(path, "wb") as fh:
        fh.write(header + offsets.tobytes() + rows.tobytes())


def _read_str(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(b"\0", pos)
    return buf[pos:end].decode("latin-1"), end + 1


def read_exr(path: str | os.PathLike) -> np.ndarray:
    """Read a single-part scanline OpenEXR file → float32 (H, W, 3) (R, G, B; a single Y
    channel is repeated). Supports NONE, RLE, ZIPS and ZIP compression; raises `HDRReadError`
    for anything else (tiled, multi-part, PIZ/PXR24/B44/DWA...)."""
    path = Path(path)
    buf = path.read_bytes()
    try:
        if len(buf) < 8 or struct.unpack_from("<i", buf, 0)[0] != _EXR_MAGIC:
            raise HDRReadError("not an OpenEXR file (bad magic number)")
        flags = struct.unpack_from("<i", buf, 4)[0]
        if flags & 0x200 or flags & 0x1000 or flags & 0x800:
            raise HDRReadError("tiled, multi-part or deep EXR files are not supported")
        pos, attrs = 8, {}
        while buf[pos] != 0:
            name, pos = _read_str(buf, pos)
            typ, pos = _read_str(buf, pos)
            size = struct.unpack_from("<i", buf, pos)[0]
            attrs[name] = (typ, buf[pos + 4:pos + 4 + size])
            pos += 4 + size
        pos += 1
        channels = []
        data = attrs["channels"][1]
        p = 0
        while data[p] != 0:
            cname, p = _read_str(data, p)
            ptype, _, xs, ys = struct.unpack_from("<iB3xii", data, p)
            p += 16
            if (xs, ys) != (1, 1):
                raise HDRReadError(f"subsampled channel {cname!r} is not supported")
            channels.append((cname, _PIXEL_TYPES[ptype]))
        comp = attrs["compression"][1][0]
        if comp not in _COMPRESSIONS:
            raise HDRReadError(f"EXR compression {comp} (e.g. PIZ/PXR24/B44/DWA) is not supported: "
                               "re-save the file uncompressed or ZIP-compressed")
        x0, y0, x1, y1 = struct.unpack("<iiii", attrs["dataWindow"][1])
        w, h = x1 - x0 + 1, y1 - y0 + 1
        kind, lines_per_block = _COMPRESSIONS[comp]
        n_blocks = (h + lines_per_block - 1) // lines_per_block
        offsets = np.frombuffer(buf, dtype="<u8", count=n_blocks, offset=pos)
        out = {c: np.zeros((h, w), np.float32) for c, _ in channels}
        for off in offsets:
            y, size = struct.unpack_from("<ii", buf, int(off))
            raw = buf[int(off) + 8:int(off) + 8 + size]
            n_lines = min(lines_per_block, y1 - y + 1)
            expect = n_lines * w * sum(dt.itemsize for _, dt in channels)
            if len(raw) != size:
                raise HDRReadError("truncated EXR file")
            if size < expect:
                raw = _exr_decompress(raw, kind, expect)
            if len(raw) != expect:
                raise HDRReadError("EXR block size mismatch (corrupt file)")
            q = 0
            for line in range(n_lines):
                for cname, dt in channels:
                    n = w * dt.itemsize
                    out[cname][y - y0 + line] = np.frombuffer(raw[q:q + n], dtype=dt).astype(np.float32)
                    q += n
    except HDRReadError as e:
        raise HDRReadError(f"{path}: {e}") from None
    except (KeyError, IndexError, struct.error, ValueError, zlib.error) as e:
        raise HDRReadError(f"{path}: corrupt or unsupported OpenEXR file ({type(e).__name__}: {e})") from None
    names = {c.split(".")[-1].upper(): c for c in out}
    if all(c in names for c in "RGB"):
        rgb = np.stack([out[names[c]] for c in "RGB"], axis=-1)
    elif "Y" in names:
        rgb = np.repeat(out[names["Y"]][..., None], 3, axis=-1)
    else:
        raise HDRReadError(f"{path}: no R, G, B (or Y) channels (has {sorted(out)})")
    return rgb


def _exr_decompress(raw: bytes, kind: str, expect: int) -> bytes:
    if kind == "zip" or kind == "zips":
        data = np.frombuffer(zlib.decompress(raw), dtype=np.uint8)
    elif kind == "rle":
        data = _rle_decode(raw)
    else:
        raise HDRReadError("unexpected compressed block in an uncompressed file")
    # Undo the predictor (running byte differences) and the two-half interleave.
    t = _undo_predictor(data)
    half = (len(t) + 1) // 2
    out = np.empty(len(t), dtype=np.uint8)
    out[0::2] = t[:half]
    out[1::2] = t[half:]
    return out.tobytes()


def _undo_predictor(d: np.ndarray) -> np.ndarray:
    # t[i] = d[i] + t[i-1] - 128 (mod 256): a cumulative sum of (d - 128), first byte as is.
    x = d.astype(np.int64)
    x[1:] -= 128
    return (np.cumsum(x) % 256).astype(np.uint8)


def _rle_decode(raw: bytes) -> np.ndarray:
    out = bytearray()
    i = 0
    while i < len(raw):
        n = struct.unpack_from("b", raw, i)[0]
        i += 1
        if n < 0:
            out += raw[i:i - n]
            i += -n
        else:
            out += bytes([raw[i]]) * (n + 1)
            i += 1
    return np.frombuffer(bytes(out), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Radiance RGBE (.hdr)


def write_hdr(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write (H, W, 3) linear RGB as Radiance RGBE with new-style run-length scanlines (so the
    reader's RLE path is exercised). Values below 1e-32 become black."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 3 or img.shape[2] != 3 or not np.all(np.isfinite(img)) or (img < 0).any():
        raise ValueError("write_hdr expects a finite, non-negative (H, W, 3) image")
    h, w, _ = img.shape
    rgbe = _float_to_rgbe(img)
    with open(path, "wb") as fh:
        fh.write(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {h} +X {w}\n".encode())
        for y in range(h):
            if not 8 <= w < 32768:
                fh.write(rgbe[y].tobytes())
                continue
            fh.write(bytes([2, 2, w >> 8, w & 255]))
            for c in range(4):
                fh.write(_rle_encode_channel(rgbe[y, :, c]))


def _float_to_rgbe(img: np.ndarray) -> np.ndarray:
    m = img.max(axis=-1)
    mant, exp = np.frexp(m)
    scale = np.where(m > 1e-32, mant * 256.0 / np.maximum(m, 1e-300), 0.0)
    out = np.zeros(img.shape[:2] + (4,), np.uint8)
    out[..., :3] = np.clip(np.floor(img * scale[..., None]), 0, 255)
    out[..., 3] = np.where(m > 1e-32, exp + 128, 0)
    return out


def _rle_encode_channel(ch: np.ndarray) -> bytes:
    out = bytearray()
    i, n = 0, len(ch)
    while i < n:
        j = i
        while j < n and j - i < 127 and ch[j] == ch[i]:
            j += 1
        if j - i >= 3:
            out += bytes([128 + j - i, int(ch[i])])
            i = j
            continue
        j = i
        while j < n and j - i < 128 and not (j + 2 < n and ch[j] == ch[j + 1] == ch[j + 2]):
            j += 1
        j = max(j, i + 1)
        out += bytes([j - i]) + ch[i:j].tobytes()
        i = j
    return bytes(out)


def read_hdr(path: str | os.PathLike) -> np.ndarray:
    """Read a Radiance RGBE (.hdr/.pic) file → float32 (H, W, 3) linear RGB. Supports flat and
    new-style run-length scanlines, orientation "-Y H +X W"; raises `HDRReadError` otherwise."""
    path = Path(path)
    buf = path.read_bytes()
    try:
        if not (buf.startswith(b"#?RADIANCE") or buf.startswith(b"#?RGBE")):
            raise HDRReadError("not a Radiance HDR file (missing '#?RADIANCE' signature)")
        pos = buf.index(b"\n\n") + 2
        header = buf[:pos].decode("latin-1")
        if "FORMAT=" in header and "32-bit_rle_rgbe" not in header:
            raise HDRReadError("only the 32-bit_rle_rgbe format is supported (not XYZE)")
        end = buf.index(b"\n", pos)
        res = buf[pos:end].decode("latin-1").split()
        pos = end + 1
        if len(res) != 4 or res[0] != "-Y" or res[2] != "+X":
            raise HDRReadError(f"unsupported orientation {' '.join(res)!r} (need '-Y H +X W')")
        h, w = int(res[1]), int(res[3])
        data = np.frombuffer(buf, dtype=np.uint8, offset=pos)
        rgbe = np.empty((h, w, 4), np.uint8)
        p = 0
        for y in range(h):
            if 8 <= w < 32768 and len(data) >= p + 4 and data[p] == 2 and data[p + 1] == 2 and data[p + 2] < 128:
                if (int(data[p + 2]) << 8 | int(data[p + 3])) != w:
                    raise HDRReadError("scanline width mismatch (corrupt file)")
                p += 4
                for c in range(4):
                    x = 0
                    while x < w:
                        n = int(data[p])
                        if n > 128:
                            n -= 128
                            rgbe[y, x:x + n, c] = data[p + 1]
                            p += 2
                        else:
                            if n == 0 or x + n > w:
                                raise HDRReadError("bad run length (corrupt file)")
                            rgbe[y, x:x + n, c] = data[p + 1:p + 1 + n]
                            p += 1 + n
                        x += n
                    if x != w:
                        raise HDRReadError("run overruns the scanline (corrupt file)")
            else:
                rgbe[y] = data[p:p + 4 * w].reshape(w, 4)
                p += 4 * w
    except HDRReadError as e:
        raise HDRReadError(f"{path}: {e}") from None
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        raise HDRReadError(f"{path}: corrupt or truncated Radiance HDR file ({type(e).__name__}: {e})") from None
    e = rgbe[..., 3].astype(np.int32)
    scale = np.where(e > 0, np.ldexp(1.0, e - 136), 0.0)  # (mantissa + 0.5) / 256 * 2^(e-128)
    return ((rgbe[..., :3].astype(np.float64) + 0.5) * scale[..., None] * (e > 0)[..., None]).astype(np.float32)


def read_hdr_image(path: str | os.PathLike) -> np.ndarray:
    """Read an HDR environment map (`.exr` or `.hdr`/`.pic`) → float32 (H, W, 3) linear RGB.
    Raises `HDRReadError` (naming the file) for missing, corrupt or unsupported files."""
    path = Path(path)
    if not path.is_file():
        raise HDRReadError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".exr":
        img = read_exr(path)
    elif suffix in (".hdr", ".pic"):
        img = read_hdr(path)
    else:
        raise HDRReadError(f"{path}: unsupported HDR extension {suffix!r} (expected .exr or .hdr)")
    if img.shape[0] < 2 or img.shape[1] < 2 or not np.all(np.isfinite(img)):
        raise HDRReadError(f"{path}: empty image or non-finite values")
    return img
