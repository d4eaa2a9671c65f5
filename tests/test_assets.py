"""Procedural assets: skin textures, forearm, backgrounds, environment maps, asset folders."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from anyhand_hf.assets import (AssetFolder, AssetFolderError, HDRReadError, SkinParams, background_folder,
                               background_mean, bake_atlas, clothing_texture, crop, crop_box, envmap_folder,
                               envmap_mean, forearm_mesh, forearm_skin_texture, indoor_background, pose_forearm,
                               procedural_envmap, read_hdr_image, rotate_yaw, skin_albedo, skin_texture,
                               sleeve_texture, texture_folder, texture_lookup, write_exr, write_hdr)
from anyhand_hf.assets.forearm import RING_BLEND_M, STYLES
from anyhand_hf.assets.skin import HandSurface
from anyhand_hf.viz import vertex_normals
from anyhand_hf.color import srgb_to_linear
from anyhand_hf.hand import HandModel
from anyhand_hf.hand.lbs import axis_angle_to_matrix


def _lum(c):
    c = np.asarray(c, dtype=np.float64)
    return c[..., 0] * 0.2126 + c[..., 1] * 0.7152 + c[..., 2] * 0.0722


@pytest.fixture(scope="module")
def hand() -> HandSurface:
    return HandSurface.open_hand()


def _texels(hand: HandSurface, size: int):
    """Per covered texel: (row, col), 3D point, normal, bone, in bake order."""
    bake = bake_atlas(hand.vt, hand.ft, size)
    f = hand.faces
    pts = bake.interpolate(f, hand.vertices)
    nrm = bake.interpolate(f, vertex_normals(hand.vertices, f))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    corners = f[bake.face[bake.mask]]
    bones = hand.part_ids[corners[np.arange(len(corners)), np.argmax(bake.bary[bake.mask], 1)]]
    return np.nonzero(bake.mask), pts, nrm, bones


# ---------------------------------------------------------------------------------------------
# Skin


def test_skin_albedo_is_calibrated_and_monotone():
    tones = np.linspace(0, 1, 41)
    albedo = np.stack([skin_albedo(t) for t in tones])
    lum = _lum(albedo)
    assert np.all(np.diff(lum) < 0), "luminance must fall strictly with tone"
    assert 0.4 < lum[0] < 0.5 and 0.025 < lum[-1] < 0.05
    assert albedo.max() <= 0.65 and albedo.min() >= 0.01
    assert np.all(albedo[:, 0] > albedo[:, 2]), "skin is red > blue at every tone"
    shifted = skin_albedo(0.4, hue_shift_deg=8.0, saturation_scale=1.2)
    assert shifted.shape == (3,) and not np.allclose(shifted, skin_albedo(0.4))


def test_bake_atlas_uv_convention():
    # One triangle in the top-left corner of UV space (v near 1 = the TOP image row).
    vt = np.array([[0.0, 1.0], [0.5, 1.0], [0.0, 0.5]])
    bake = bake_atlas(vt, np.array([[0, 1, 2]]), (8, 8))
    assert bake.mask[0, 0] and not bake.mask[7, 7] and not bake.mask[7, 0]
    tex = np.zeros((8, 8, 3))
    tex[0, 0] = 1.0
    assert texture_lookup(tex, np.array([[0.5 / 8, 1 - 0.5 / 8]]))[0, 0] == pytest.approx(1.0)


def test_skin_texture_deterministic():
    a = skin_texture(SkinParams(tone=0.4, seed=5), size=128)
    b = skin_texture(SkinParams(tone=0.4, seed=5), size=128)
    c = skin_texture(SkinParams(tone=0.4, seed=6), size=128)
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_skin_tones_span_light_to_dark():
    lum = [_lum(srgb_to_linear(skin_texture(SkinParams(tone=t, seed=1), size=128) / 255.0)).mean()
           for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert np.all(np.diff(lum) < 0), lum
    assert lum[0] > 4 * lum[-1]


def test_palm_lighter_than_dorsum_more_on_dark_skin(hand):
    idx, pts, nrm, bones = _texels(hand, 256)
    palm = (bones == 0) & (nrm[:, 1] < -0.8) & (pts[:, 0] < -0.02)
    back = (bones == 0) & (nrm[:, 1] > 0.8) & (pts[:, 0] < -0.02)
    ratios = []
    for tone in (0.1, 0.9):
        lin = srgb_to_linear(skin_texture(SkinParams(tone=tone, seed=2), size=256)[idx] / 255.0)
        ratios.append(_lum(lin[palm]).mean() / _lum(lin[back]).mean())
    assert ratios[0] > 1.0 and ratios[1] > ratios[0] > 0, ratios


@pytest.mark.parametrize("tone", [0.1, 0.5, 0.95])
def test_nails_brighter_and_pinker(hand, tone):
    idx, pts, nrm, bones = _texels(hand, 256)
    tex = srgb_to_linear(skin_texture(SkinParams(tone=tone, seed=4), size=256)[idx] / 255.0)
    for finger in range(4):  # MANO order: index, middle, pinky, ring
        dip = distal_bone = 3 + 3 * finger  # the DIP joint starts the distal bone of the same id
        tip = hand.tips[finger]
        d = tip - hand.joints[dip]
        length = np.linalg.norm(d)
        d /= length
        rel = pts - hand.joints[dip]
        t = rel @ d / length
        up = rel[:, 1]  # fingers: dorsal = +y
        own = bones == distal_bone
        lateral = np.abs(rel[:, 2] - t * length * d[2])
        nail = own & (t > 0.55) & (t < 0.8) & (up > 0.002) & (nrm[:, 1] > 0.6) & (lateral < 0.003)
        skin = own & (t > 0.0) & (t < 0.2) & (nrm[:, 1] > 0.6)
        assert nail.sum() > 5 and skin.sum() > 5
        n_col, s_col = tex[nail].mean(0), tex[skin].mean(0)
        assert _lum(n_col) > _lum(s_col), (finger, n_col, s_col)
        # Pinker: a rosier, less yellow-orange colour than skin (more blue relative to red).
        assert n_col[2] / n_col[0] > 1.1 * s_col[2] / s_col[0], (finger, n_col, s_col)


# ---------------------------------------------------------------------------------------------
# Forearm


def _edges(faces):
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def _closed_oriented(faces) -> bool:
    """Every directed edge once, and its reverse present: a closed, consistently oriented
    2-manifold (up to non-manifold vertices)."""
    e = _edges(faces)
    key = e[:, 0].astype(np.int64) * (1 << 32) + e[:, 1]
    rev = e[:, 1].astype(np.int64) * (1 << 32) + e[:, 0]
    return len(np.unique(key)) == len(key) and np.isin(rev, key).all()


def _volume(v, f):
    return np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6.0


@pytest.fixture(scope="module")
def open_hand_arrays():
    from anyhand_hf.assets.skin import _open_hand_arrays

    return _open_hand_arrays()


@pytest.mark.parametrize("style", STYLES)
def test_forearm_attaches_and_closes_the_hand(open_hand_arrays, style):
    a = open_hand_arrays
    v, f, ring = a["v_template"], a["f"].astype(np.int64), a["wrist_ring"]
    fm = forearm_mesh(v, ring, style, seed=3)
    assert np.array_equal(fm.vertices[fm.ring], v[ring])  # duplicated ring, same positions
    skin = fm.face_part == 0
    # Forearm skin alone: its only boundary is the ring.
    e = _edges(fm.faces[skin])
    key = np.sort(e, 1)
    uniq, counts = np.unique(key, axis=0, return_counts=True)
    boundary = uniq[counts == 1]
    assert set(np.unique(boundary)) == set(fm.ring.tolist())
    # Hand + forearm skin, ring merged: closed, consistently oriented, outward (volume > 0).
    remap = np.arange(len(fm.vertices)) + len(v)
    remap[fm.ring] = ring
    joined = np.concatenate([f, remap[fm.faces[skin]]])
    allv = np.concatenate([v, fm.vertices])
    assert _closed_oriented(joined)
    assert 0.0005 < _volume(allv, joined) < 0.003  # litres: hand + forearm
    # Shape: along +x, ~length long, ~8 x 6.5 cm at the elbow end.
    skin_v = fm.vertices[np.unique(fm.faces[skin])]
    x_ring = v[ring, 0].mean()
    assert skin_v[:, 0].max() == pytest.approx(x_ring + 0.22 + fm.params.cap_height, abs=1e-6)
    far = skin_v[np.abs(skin_v[:, 0] - (x_ring + 0.2)) < 0.01]
    assert 0.07 < np.ptp(far[:, 2]) < 0.09 and 0.055 < np.ptp(far[:, 1]) < 0.075
    if style != "bare":
        sleeve = fm.face_part == 1
        assert _closed_oriented(fm.faces[sleeve]) and _volume(fm.vertices, fm.faces[sleeve]) > 0
        sv, sf, suv = fm.part("sleeve")
        assert suv["vt"].min() >= 0 and suv["vt"].max() <= 1 and sf.max() < len(sv)


def test_sleeve_outside_skin(open_hand_arrays):
    a = open_hand_arrays
    for style in ("short_sleeve", "long_sleeve"):
        fm = forearm_mesh(a["v_template"], a["wrist_ring"], style, seed=7)
        sleeve_v = np.unique(fm.faces[fm.face_part == 1])
        skin_v = np.unique(fm.faces[fm.face_part == 0])
        # Same (column, s) parametrisation: compare distances from the limb's axis per row.
        centre = fm.vertices[fm.ring, 1:].mean(0)
        r_sleeve = np.linalg.norm(fm.vertices[sleeve_v, 1:] - centre, axis=1)
        key_s = fm.ring_param[sleeve_v]
        key_k = fm.ring_param[skin_v]
        r_skin = np.linalg.norm(fm.vertices[skin_v, 1:] - centre, axis=1)
        lookup = {(round(c * 2), round(s, 6)): r for (c, s), r in zip(key_k, r_skin)}
        checked = 0
        for (c, s), r, x in zip(key_s, r_sleeve, fm.vertices[sleeve_v, 0]):
            k = (round(c * 2), round(s, 6))
            if k in lookup and x - fm.vertices[fm.ring, 0].mean() <= fm.params.length + 1e-9:
                assert r > lookup[k] + 0.001
                checked += 1
        assert checked > 100


def test_forearm_follows_posed_hand(open_hand_arrays):
    a = open_hand_arrays
    model = HandModel.open()
    gen = torch.Generator().manual_seed(0)
    betas = torch.randn(1, 10, generator=gen)
    rest = model(betas=betas)  # zero pose = the flat rest hand of this shape
    fm = forearm_mesh(rest.vertices[0].double().numpy(), a["wrist_ring"], "long_sleeve", seed=1)
    ring = torch.as_tensor(a["wrist_ring"])
    go = torch.randn(4, 3, generator=gen)
    hp = 0.4 * torch.randn(4, 45, generator=gen)
    tr = 0.1 * torch.randn(4, 3, generator=gen)
    out = model(go, hp, betas.expand(4, -1), transl=tr)
    rot = axis_angle_to_matrix(go).numpy()
    j0 = rest.joints[0, 0].numpy()
    far = fm.ring_param[:, 1] > RING_BLEND_M
    for b in range(4):
        posed_ring = out.vertices[b, ring].double().numpy()
        rigid = pose_forearm(fm, rot[b], out.joints[b, 0].numpy(), wrist_rest=j0)
        assert np.abs(rigid[fm.ring] - posed_ring).max() < 0.006  # the ring is almost wrist-rigid
        posed = pose_forearm(fm, rot[b], out.joints[b, 0].numpy(), wrist_rest=j0, posed_ring=posed_ring)
        assert np.array_equal(posed[fm.ring], posed_ring)
        assert np.allclose(posed[far], rigid[far])
        # A rigid motion: distances between far vertices are preserved.
        i, k = np.nonzero(far)[0][[0, -1]]
        assert np.linalg.norm(posed[i] - posed[k]) == pytest.approx(np.linalg.norm(fm.vertices[i] - fm.vertices[k]))


def test_forearm_skin_continuous_with_hand(hand, open_hand_arrays):
    params = SkinParams(tone=0.6, seed=9)
    fm = forearm_mesh(hand.vertices, open_hand_arrays["wrist_ring"], "bare")
    hand_tex = skin_texture(params, size=256)
    arm_tex = forearm_skin_texture(fm, params, size=256)
    assert arm_tex.shape == (256, 256, 3) and np.array_equal(arm_tex, forearm_skin_texture(fm, params, size=256))
    x_ring = hand.vertices[open_hand_arrays["wrist_ring"], 0].mean()
    idx, pts, nrm, _ = _texels(hand, 256)
    near_h = (pts[:, 0] > x_ring - 0.004) & (nrm[:, 1] > 0.5)
    col_h = srgb_to_linear(hand_tex[idx][near_h] / 255.0).mean(0)
    v, f, uv = fm.part("skin")
    bake = bake_atlas(uv["vt"], uv["ft"], 256)
    p = bake.interpolate(f, v)
    n = bake.interpolate(f, vertex_normals(v, f))
    near_a = (p[:, 0] < x_ring + 0.004) & (n[:, 1] > 0.5)
    col_a = srgb_to_linear(arm_tex[np.nonzero(bake.mask)][near_a] / 255.0).mean(0)
    assert np.allclose(col_h, col_a, rtol=0.12), (col_h, col_a)


def test_clothing_textures(open_hand_arrays):
    for pattern in ("solid", "stripes", "checks", "knit"):
        t = clothing_texture((0.3, 0.1, 0.05), 11, (128, 128), pattern=pattern)
        assert t.shape == (128, 128, 3) and t.dtype == np.uint8
        assert np.array_equal(t, clothing_texture((0.3, 0.1, 0.05), 11, (128, 128), pattern=pattern))
        # Seamless across the u wrap (the sleeve's seam): the last→first column step is no
        # larger than the largest step between neighbouring columns inside the image.
        lin = t.astype(float)
        inner = np.abs(np.diff(lin, axis=1)).mean(axis=(0, 2)).max()
        wrap = np.abs(lin[:, 0] - lin[:, -1]).mean()
        assert wrap <= 1.1 * inner + 1
    fm = forearm_mesh(open_hand_arrays["v_template"], open_hand_arrays["wrist_ring"], "long_sleeve", seed=2)
    assert sleeve_texture(fm, (0.1, 0.2, 0.5), 3, size=128).shape == (128, 128, 3)


# ---------------------------------------------------------------------------------------------
# Backgrounds and environment maps


@pytest.mark.parametrize("dominant", [(0.3, 0.25, 0.2), (0.02, 0.05, 0.3), (0.7, 0.7, 0.6), (0.01, 0.01, 0.01)])
def test_indoor_background_dominant_colour(dominant):
    img = indoor_background(3, dominant, size=(120, 160))
    assert img.shape == (120, 160, 3) and img.dtype == np.uint8
    assert np.allclose(background_mean(img), dominant, atol=0.01)
    assert np.array_equal(img, indoor_background(3, dominant, size=(120, 160)))
    assert not np.array_equal(img, indoor_background(4, dominant, size=(120, 160)))


def test_crop():
    img = np.arange(100 * 200 * 3, dtype=np.uint8).reshape(100, 200, 3)
    assert crop_box((100, 200), (64, 64), 1.0, (0.0, 0.0)) == (0.0, 0.0, 100.0, 100.0)
    assert crop_box((100, 200), (64, 64), 1.0, (1.0, 1.0)) == (100.0, 0.0, 200.0, 100.0)
    x0, y0, x1, y1 = crop_box((100, 200), (32, 64), 0.5, (0.5, 0.5))
    assert (x1 - x0) / (y1 - y0) == pytest.approx(2.0) and x1 - x0 == pytest.approx(100.0)
    assert crop(img, 0.3, (0.2, 0.9), (48, 64)).shape == (48, 64, 3)
    with pytest.raises(ValueError):
        crop(img, 0.0, (0.5, 0.5), (10, 10))


def test_procedural_envmap():
    for seed, dom in enumerate([(0.3, 0.25, 0.2), (0.05, 0.1, 0.3), (0.8, 0.8, 0.8)]):
        env = procedural_envmap(seed, dom, size=(64, 128))
        assert env.dtype == np.float32 and env.shape == (64, 128, 3) and np.isfinite(env).all() and env.min() >= 0
        assert np.allclose(envmap_mean(env), dom, rtol=1e-4)
        # A smooth key light, no tiny sun: the peak is a modest multiple of the mean.
        assert _lum(env).max() < 25 * _lum(np.asarray(dom))
        assert np.array_equal(env, procedural_envmap(seed, dom, size=(64, 128)))
        assert np.allclose(envmap_mean(rotate_yaw(env, 37.0)), dom, rtol=1e-3)


def test_exr_and_hdr_round_trip(tmp_path):
    env = procedural_envmap(1, (0.4, 0.3, 0.2), size=(32, 64))
    write_exr(tmp_path / "a.exr", env)
    assert np.array_equal(read_hdr_image(tmp_path / "a.exr"), env)
    write_exr(tmp_path / "h.exr", env, half=True)
    assert np.array_equal(read_hdr_image(tmp_path / "h.exr"), env.astype(np.float16).astype(np.float32))
    write_hdr(tmp_path / "a.hdr", env)
    back = read_hdr_image(tmp_path / "a.hdr")
    assert np.all(np.abs(back - env) <= 0.008 * env.max(-1, keepdims=True) + 1e-6)


def test_exr_zip_reader(tmp_path):
    """A ZIP-compressed EXR (the common HDRI-download format), encoded here by the spec."""
    import struct
    import zlib

    img = procedural_envmap(2, (0.3, 0.3, 0.3), size=(20, 40))  # smooth: compresses
    write_exr(tmp_path / "raw.exr", img)
    raw = (tmp_path / "raw.exr").read_bytes()
    h, w = img.shape[:2]
    header = bytearray(raw[:len(raw) - (8 * h + h * (8 + 3 * w * 4))])
    tag = b"compression\0compression\0"
    header[header.index(tag) + len(tag) + 4] = 3  # ZIP: 16-line zlib blocks
    header = bytes(header)
    blocks = []
    for y0 in range(0, h, 16):
        planar = np.ascontiguousarray(img[y0:y0 + 16, :, ::-1].transpose(0, 2, 1)).astype("<f4").tobytes()
        d = np.frombuffer(planar, np.uint8)
        inter = np.concatenate([d[0::2], d[1::2]]).astype(np.int64)
        pred = inter.copy()
        pred[1:] = (inter[1:] - inter[:-1] + 128) % 256
        packed = zlib.compress(pred.astype(np.uint8).tobytes())
        blocks.append((y0, packed if len(packed) < len(planar) else planar))  # spec: raw if no gain
    n = len(blocks)
    start = len(header) + 8 * n
    offsets, body = [], b""
    for y0, data in blocks:
        offsets.append(start + len(body))
        body += struct.pack("<ii", y0, len(data)) + data
    (tmp_path / "zip.exr").write_bytes(header + struct.pack(f"<{n}Q", *offsets) + body)
    assert np.array_equal(read_hdr_image(tmp_path / "zip.exr"), img)


def test_hdr_read_errors(tmp_path):
    (tmp_path / "bad.exr").write_bytes(b"not an exr at all")
    (tmp_path / "bad.hdr").write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 4 +X 4\n\x01")
    write_exr(tmp_path / "cut.exr", np.ones((8, 8, 3), np.float32))
    data = (tmp_path / "cut.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[:-40])
    for name in ("bad.exr", "bad.hdr", "cut.exr", "missing.exr"):
        with pytest.raises(HDRReadError, match=name):
            read_hdr_image(tmp_path / name)


# ---------------------------------------------------------------------------------------------
# Asset folders


def test_folders(tmp_path):
    from PIL import Image

    with pytest.raises(AssetFolderError, match=r"empty.*\.png"):
        (tmp_path / "empty").mkdir()
        background_folder(tmp_path / "empty")
    with pytest.raises(AssetFolderError, match="nowhere"):
        AssetFolder(tmp_path / "nowhere")
    d = tmp_path / "bg"
    (d / "sub").mkdir(parents=True)
    for i, name in enumerate(["b.png", "a.jpg", "sub/c.png"]):
        Image.fromarray(np.full((40, 50, 3), 40 * i, np.uint8)).save(d / name)
    (d / "0_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (d / "notes.txt").write_text("ignored")
    folder = background_folder(d)
    assert folder.ids == ("0_corrupt.png", "a.jpg", "b.png", "sub/c.png")
    assert folder.choose(123) == background_folder(d).choose(123)
    with pytest.warns(UserWarning, match="0_corrupt.png"):
        got = folder.load(file_id="0_corrupt.png")
    assert got.file_id == "a.jpg" and got.data.shape == (40, 50, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert folder.load(index=2).file_id == "b.png"
    bad = tmp_path / "allbad"
    bad.mkdir()
    (bad / "x.jpg").write_bytes(b"nope")
    with pytest.warns(UserWarning), pytest.raises(AssetFolderError, match="allbad"):
        texture_folder(bad).load(seed=0)
    hd = tmp_path / "hdr"
    hd.mkdir()
    (hd / "a_bad.hdr").write_bytes(b"#?RADIANCE\n\n-Y 2 +X 2\n")
    write_exr(hd / "b.exr", np.ones((4, 8, 3), np.float32))
    with pytest.warns(UserWarning, match="a_bad.hdr"):
        env = envmap_folder(hd).load(seed=None)
    assert env.file_id == "b.exr" and env.data.dtype == np.float32
