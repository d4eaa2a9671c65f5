"""End to end, one scene rendered by SAPIEN: labels agree with pixels (DESIGN.md, issue 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from anyhand_hf.generate import mesh_parts, pose_hand, render_scene
from anyhand_hf.hand import HandModel
from anyhand_hf.scene import SceneConfig, sample_scene
from anyhand_hf.scene.sampling import float64_hand
from anyhand_hf.viz import rasterize, vertex_normals

SIZE = 256


@pytest.fixture(scope="module")
def hand():
    return HandModel.open()


@pytest.fixture(scope="module")
def renderer():
    from anyhand_hf.render import RenderSettings, SapienRenderer

    with SapienRenderer(RenderSettings(mode="raster")) as r:
        yield r


@pytest.fixture(scope="module")
def scene(hand, renderer):
    torch.set_num_threads(1)
    spec = sample_scene(SceneConfig(width=SIZE, height=SIZE), 0, "single_indoor", "train", 3, hand)
    return spec, render_scene(spec, renderer, hand, texture_size=256)


def visible_hand_vertices(spec, hand, row):
    """Hand vertices on the visible surface, by an independent z-buffer (our numpy rasterizer)
    over every rendered part (the forearm and sleeve can hide the hand)."""
    posed, rest = pose_hand(spec, hand)
    parts = mesh_parts(spec, hand, posed, rest, texture_size=16)
    R, t, K = row["R"].astype(np.float64), row["t"].astype(np.float64), row["K"].astype(np.float64)
    verts = np.concatenate([p.vertices for p in parts]) @ R.T + t
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets)])
    frags = rasterize(verts, faces, K, (SIZE, SIZE))
    cam = row["vertices_3d"].astype(np.float64)
    uv = cam @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    px = np.clip(np.round(uv).astype(int), 0, SIZE - 1)
    zbuf = frags.depth[px[:, 1], px[:, 0]]
    visible = (zbuf > 0) & (cam[:, 2] <= zbuf + 0.002)
    return visible, uv, cam


@pytest.mark.parametrize("view", [0, 1])
def test_visible_vertices_land_on_the_hand_mask(hand, scene, view):
    spec, rows = scene
    row = rows[view]
    visible, uv, _ = visible_hand_vertices(spec, hand, row)
    assert visible.sum() > 100
    # "On the mask": the vertex's pixel, or a neighbour (a silhouette vertex sits on a pixel edge).
    hand_mask = row["mask"] == 1
    grown = hand_mask.copy()
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        grown |= np.roll(hand_mask, (dy, dx), axis=(0, 1))
    px = np.clip(np.round(uv[visible]).astype(int), 0, SIZE - 1)
    assert grown[px[:, 1], px[:, 0]].mean() >= 0.99


@pytest.mark.parametrize("view", [0, 1])
def test_rendered_depth_equals_vertex_depth(hand, scene, view):
    spec, rows = scene
    row = rows[view]
    visible, uv, cam = visible_hand_vertices(spec, hand, row)
    normals = vertex_normals(cam, hand.faces.numpy())
    facing = -(normals * cam).sum(1) / np.linalg.norm(cam, axis=1) > 0.3  # not grazing
    u0, v0 = np.floor(uv).astype(int).T
    inside = (u0 >= 0) & (v0 >= 0) & (u0 < SIZE - 1) & (v0 < SIZE - 1)
    keep = visible & facing & inside
    u0, v0, fu, fv = u0[keep], v0[keep], uv[keep, 0] - u0[keep], uv[keep, 1] - v0[keep]
    corners = [(v0, u0), (v0, u0 + 1), (v0 + 1, u0), (v0 + 1, u0 + 1)]
    d = row["depth"]
    # Interpolate only inside one surface: all four pixels hand, and no depth edge between them
    # (a finger in front of another is hand on both sides of the edge).
    all_hand = np.all([row["mask"][c] == 1 for c in corners], axis=0)
    all_hand &= np.ptp([d[c] for c in corners], axis=0) < 0.004
    bilinear = ((1 - fu) * (1 - fv) * d[corners[0]] + fu * (1 - fv) * d[corners[1]]
                + (1 - fu) * fv * d[corners[2]] + fu * fv * d[corners[3]])
    error = np.abs(bilinear - cam[keep, 2])[all_hand]
    assert len(error) > 50 and np.median(error) < 0.0005 and np.quantile(error, 0.99) <= 0.002


def test_box_projection_intrinsics_and_camera_frame_mano(hand, scene):
    spec, rows = scene
    for view, row in zip(spec.views, rows):
        ys, xs = np.nonzero(row["mask"] == 1)
        assert np.allclose(row["bbox"], [xs.min(), ys.min(), xs.max(), ys.max()], atol=1)
        uvw = row["joints_3d"].astype(np.float64) @ row["K"].astype(np.float64).T
        assert np.allclose(row["joints_2d"], uvw[:, :2] / uvw[:, 2:], atol=1e-3)
        fov = np.degrees(2 * np.arctan((SIZE / 2) / row["K"][1, 1]))
        assert fov == pytest.approx(view.fov_y_deg, abs=1e-4) and 30 <= fov <= 40
        with torch.no_grad():
            out = float64_hand(hand)(**{k: torch.as_tensor(row[k], dtype=torch.float64)[None]
                                        for k in ("global_orient", "hand_pose", "betas")},
                                     transl=torch.as_tensor(row["hand_transl"], dtype=torch.float64)[None])
        assert np.abs(out.vertices[0].numpy() - row["vertices_3d"]).max() < 1e-5
        assert np.abs(out.keypoints[0].numpy() - row["joints_3d"]).max() < 1e-5


def test_depth_is_fused_behind_the_foreground_and_meta_is_json(scene):
    _, rows = scene
    for row in rows:
        rendered = row["mask"] > 0
        background = ~rendered & (row["depth"] > 0)
        assert background.any() and row["depth"][background].min() > row["depth"][rendered].max()
        meta = json.loads(row["meta"])
        assert meta["config"] == "single_indoor" and meta["depth_background"] == "PlaneDepthEstimator"


def test_same_inputs_same_pixels_and_neighbours_differ(hand, renderer, scene):
    spec, rows = scene
    again = render_scene(spec, renderer, hand, texture_size=256)
    for a, b in zip(rows, again):
        for key in ("image", "depth", "mask", "joints_2d", "vertices_3d"):
            assert np.array_equal(a[key], b[key]), key
    neighbour = sample_scene(SceneConfig(width=SIZE, height=SIZE), 0, "single_indoor", "train", 4, hand)
    other = render_scene(neighbour, renderer, hand, texture_size=256)
    assert not np.array_equal(other[0]["image"], rows[0]["image"])
    assert not np.allclose(other[0]["joints_3d"], rows[0]["joints_3d"])


def test_render_cli_writes_rows_and_preview(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    from anyhand_hf.data import decode_depth_png, decode_mask_png

    out = tmp_path / "render"
    done = subprocess.run([sys.executable, "-m", "anyhand_hf.cli", "render", "--config", "single_envmap",
                           "--num-scenes", "1", "--out", str(out), "--mode", "raster", "--size", "128",
                           "--texture-size", "128"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    stems = sorted(p.name[: -len(".jpg")] for p in out.glob("*.jpg"))
    assert stems == ["single_envmap-train-00000000_v0", "single_envmap-train-00000000_v1"]
    for stem in stems:
        labels = json.loads((out / f"{stem}_labels.json").read_text())
        mask = decode_mask_png((out / f"{stem}_mask.png").read_bytes())
        depth = decode_depth_png((out / f"{stem}_depth.png").read_bytes())
        assert mask.shape == depth.shape == (128, 128) and (mask == 1).any()
        assert len(labels["joints_2d"]) == 21 and labels["scene_id"] == "single_envmap-train-00000000"
    assert Image.open(out / "preview.png").size[0] > 128


def test_real_background_folder_skips_a_corrupt_file_and_says_so(hand, renderer, tmp_path):
    from PIL import Image

    from anyhand_hf.generate import AssetLibrary

    folder = tmp_path / "backgrounds"
    folder.mkdir()
    (folder / "a_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[:, :, 2] = 200  # a blue wall
    Image.fromarray(photo).save(folder / "b_wall.png")
    assets = AssetLibrary.from_dirs(backgrounds=folder)
    config = assets.scene_config(SceneConfig(width=128, height=128))
    spec = next(s for s in (sample_scene(config, 0, "single_indoor", "train", i, hand) for i in range(20))
                if s.background.source == "a_broken.jpg")
    with pytest.warns(UserWarning, match="a_broken.jpg"):
        rows = render_scene(spec, renderer, hand, texture_size=64, assets=assets)
    assert json.loads(rows[0]["meta"])["background_file"] == "b_wall.png"
    background = rows[0]["image"][rows[0]["mask"] == 0]
    assert background[:, 2].mean() > 150 and background[:, 0].mean() < 30


def test_empty_or_missing_asset_folder_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    from anyhand_hf.assets import AssetFolderError
    from anyhand_hf.generate import AssetLibrary

    (tmp_path / "empty").mkdir()
    with pytest.raises(AssetFolderError, match="holds no usable files"):
        AssetLibrary.from_dirs(envmaps=tmp_path / "empty")
    done = subprocess.run([sys.executable, "-m", "anyhand_hf.cli", "render", "--backgrounds", str(tmp_path / "nope"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "does not exist" in done.stderr and "Traceback" not in done.stderr
