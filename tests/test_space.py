"""The Gradio Space: input handling as functions, then the served app through gradio_client.

There is no trained checkpoint in the repository, so the app serves a randomly initialised
`tiny` AnyHandNet-D saved with save_pretrained: its hands are not meaningful, but their geometry
(mesh, keypoints, projection, overlay) is, and that is what is checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from anyhand_hf import viz
from anyhand_hf.assets.envmaps import write_exr
from anyhand_hf.data.codecs import decode_depth_png, encode_depth_png
from anyhand_hf.space import (
    QUEUE_SIZE,
    Photo,
    SpaceModels,
    UploadError,
    add_box_corner,
    build_demo,
    camera_matrix,
    depth_points,
    fit_depth,
    fresh_output_dir,
    launch,
    load_photo,
    parse_boxes,
    read_depth_file,
    run_request,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "spaces" / "examples"
EXAMPLE_PHOTO = EXAMPLES / "anyhand_1.jpg"
EXAMPLE_DEPTH = EXAMPLES / "anyhand_1_depth.png"
EXAMPLE_BOX = (EXAMPLES / "anyhand_1_box.txt").read_text().strip()


# ---- shared with test_space_browser.py ------------------------------------------------------


def save_tiny_checkpoint(folder: Path) -> Path:
    from anyhand_hf.modeling import AnyHandConfig, AnyHandNetD

    torch.manual_seed(0)
    AnyHandNetD(AnyHandConfig.from_preset("tiny", use_depth=True)).save_pretrained(folder)
    return folder


def serve(models: SpaceModels):
    """Launch the app on a free loopback port; returns (demo, url)."""
    demo = build_demo(models, examples_dir=EXAMPLES)
    _, url, _ = launch(demo, port=None, prevent_thread_lock=True, quiet=True)
    return demo, url


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


# ---- inputs as functions --------------------------------------------------------------------


def test_load_photo_modes_exif_and_downscale(tmp_path):
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:10, :20] = (200, 10, 10)  # a red block in the top-left corner
    # EXIF orientation 6 (rotate 90° clockwise to display): the block ends up top-right.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", exif=exif, quality=98)
    photo = load_photo(tmp_path / "rot.jpg")
    assert photo.rgb.shape == (40, 30, 3) and photo.original_hw == (40, 30)
    assert photo.rgb[2, -2, 0] > 150 and photo.rgb[-2, 2, 0] < 50

    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    assert np.array_equal(load_photo(tmp_path / "grey.png").rgb, np.repeat(rgb[..., :1], 3, 2))
    rgba = np.dstack([rgb, np.where(np.arange(40) < 20, 255, 0).astype(np.uint8)[None].repeat(30, 0)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    loaded = load_photo(tmp_path / "rgba.png").rgb
    assert np.array_equal(loaded[:, :20], rgb[:, :20]) and np.all(loaded[:, 20:] == 255)  # transparent → white

    Image.new("RGB", (3000, 1500), (90, 90, 90)).save(tmp_path / "huge.png")
    big = load_photo(tmp_path / "huge.png", max_side=600)
    assert big.rgb.shape == (300, 600, 3) and big.downscaled
    np.testing.assert_allclose(big.scale, [5.0, 5.0])
    # The original's pixel centres and edges map onto the working image's and back.
    np.testing.assert_allclose(big.to_working([[-0.5, -0.5], [2999.5, 1499.5], [2.0, 2.0]]),
                               [[-0.5, -0.5], [599.5, 299.5], [0.0, 0.0]])
    pts = np.array([[10.0, 20.0], [2500.3, 1000.7]])
    np.testing.assert_allclose(big.to_original(big.to_working(pts)), pts)

    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(UploadError, match="notes.txt is not an image file"):
        load_photo(tmp_path / "notes.txt")
    (tmp_path / "cut.png").write_bytes((tmp_path / "grey.png").read_bytes()[:60])
    with pytest.raises(UploadError, match="cut.png could not be read"):
        load_photo(tmp_path / "cut.png")


def test_intrinsics_follow_the_downscale():
    photo = Photo(rgb=np.zeros((300, 400, 3), np.uint8), original_hw=(1500, 2000))
    K = camera_matrix(photo.original_hw, fx=1800.0, cx=990.0)
    np.testing.assert_allclose(K, [[1800, 0, 990], [0, 1800, 749.5], [0, 0, 1]])
    points = np.array([[0.1, -0.05, 0.7], [-0.2, 0.1, 1.3]])
    # Projecting with the working K is projecting with the original K, then mapping the pixels.
    np.testing.assert_allclose(viz.project_points(points, photo.working_intrinsics(K)),
                               photo.to_working(viz.project_points(points, K)), atol=1e-9)
    assert camera_matrix((100, 200), fov_deg=90.0)[0, 0] == pytest.approx(100.0)
    with pytest.raises(UploadError, match="give fx"):
        camera_matrix((100, 200), cy=50.0)
    with pytest.raises(UploadError, match="between 1 and 179"):
        camera_matrix((100, 200), fov_deg=200.0)
    with pytest.raises(UploadError, match="positive"):
        camera_matrix((100, 200), fx=-5.0)


def test_parse_boxes_and_clicks():
    assert parse_boxes("  ") is None
    boxes, sides = parse_boxes("10, 20, 110, 140\n5 6 50 60 L; 1,2,3,4,right")
    np.testing.assert_allclose(boxes, [[10, 20, 110, 140], [5, 6, 50, 60], [1, 2, 3, 4]])
    assert sides == [True, False, True]
    for bad in ("10, 20, 5, 40", "1, 2, 3", "a, b, c, d", "1, 2, 3, 4, X"):
        with pytest.raises(UploadError, match="write x0, y0, x1, y1"):
            parse_boxes(bad)
    text, corner = add_box_corner("", None, (50, 60), "a.png")
    assert (text, corner) == ("", [50.0, 60.0, "a.png"])
    text, corner = add_box_corner(text, corner, (20, 90), "a.png")
    assert corner is None and parse_boxes(text)[0].tolist() == [[20, 60, 50, 90]]
    _, corner = add_box_corner(text, [5.0, 5.0, "a.png"], (20, 90), "b.png")  # a new photo: a new first corner
    assert corner == [20.0, 90.0, "b.png"]


def test_depth_files_and_units(tmp_path):
    depth = np.full((24, 32), 0.6, np.float32)
    depth[:4] = 0.0  # invalid rows stay invalid
    (tmp_path / "d.png").write_bytes(encode_depth_png(depth))
    np.save(tmp_path / "d.npy", depth)
    np.savez(tmp_path / "d.npz", depth=depth, other=np.zeros(3))
    write_exr(tmp_path / "d.exr", np.repeat(depth[..., None], 3, 2))
    for name in ("d.png", "d.npy", "d.npz", "d.exr"):
        read, notes = read_depth_file(tmp_path / name)
        np.testing.assert_allclose(read, depth, atol=5e-4, err_msg=name)
        assert notes == []

    photo = Photo(rgb=np.zeros((48, 64, 3), np.uint8), original_hw=(48, 64))
    fitted, notes = fit_depth(depth, photo, "d.npy")  # half the size, same aspect ratio
    assert fitted.shape == (48, 64) and set(np.unique(fitted)) == {0.0, np.float32(0.6)}
    assert "resized" in notes[0]
    fitted, notes = fit_depth(depth * 1000.0, Photo(np.zeros((24, 32, 3), np.uint8), (24, 32)), "mm.npy")
    np.testing.assert_allclose(fitted, depth, rtol=1e-6)
    assert "looked like millimetres" in notes[0]
    with pytest.raises(UploadError, match="different aspect ratios"):
        fit_depth(np.full((24, 24), 0.6, np.float32), photo, "square.npy")
    with pytest.raises(UploadError, match="not plausible"):
        fit_depth(np.full((24, 32), 0.0006, np.float32), photo, "km.npy")
    with pytest.raises(UploadError, match="no valid depth"):
        fit_depth(np.full((24, 32), np.nan, np.float32), photo, "nan.npy")

    Image.fromarray((depth * 255).astype(np.uint8)).save(tmp_path / "eight.png")
    with pytest.raises(UploadError, match="8-bit L image: depth must be a 16-bit"):
        read_depth_file(tmp_path / "eight.png")
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    with pytest.raises(UploadError, match="could not read the depth file bad.npy"):
        read_depth_file(tmp_path / "bad.npy")
    (tmp_path / "notes.txt").write_text("not a depth map")
    with pytest.raises(UploadError, match="depth files must be"):
        read_depth_file(tmp_path / "notes.txt")


def test_depth_points_back_project_to_the_depth():
    K = np.array([[100.0, 0, 31.5], [0, 100.0, 23.5], [0, 0, 1]])
    depth = np.linspace(0.4, 0.9, 48 * 64, dtype=np.float32).reshape(48, 64)
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    points, colors = depth_points(depth, K, rgb, max_points=500)
    assert len(points) <= 500
    uv = viz.project_points(points, K)
    u, v = np.round(uv).astype(int).T
    np.testing.assert_allclose(uv, np.stack([u, v], 1), atol=1e-9)  # on the pixel grid
    np.testing.assert_allclose(points[:, 2], depth[v, u], rtol=1e-6)
    assert np.array_equal(colors, rgb[v, u])


def test_run_request_on_a_huge_photo_maps_pixels_back(checkpoint, tmp_path):
    models = SpaceModels.load(str(checkpoint), detector=False)
    small = np.asarray(Image.open(EXAMPLE_PHOTO))
    Image.fromarray(small).resize((1536, 768), Image.Resampling.NEAREST).save(tmp_path / "big.png")
    box = np.array([float(v) for v in EXAMPLE_BOX.split(",")[:4]]) * [6, 3, 6, 3]
    result = run_request(models, str(tmp_path / "big.png"), None, "none",
                         boxes_text=", ".join(f"{v:.1f}" for v in box), out_dir=tmp_path / "out")
    assert "downscaled from 1536x768 to 1024x512" in result.status
    assert result.overlay.shape == (512, 1024, 3)
    hand = result.report["hands"][0]
    K = np.array(result.report["K"])
    np.testing.assert_allclose(K[:2, 2], [767.5, 383.5])  # the original's centre
    np.testing.assert_allclose(viz.project_points(np.array(hand["keypoints_3d"]), K), hand["keypoints_2d"],
                               atol=1e-6)
    np.testing.assert_allclose(hand["box_xyxy"], box, atol=1e-6)

    with pytest.raises(UploadError, match="box 1 lies outside"):
        run_request(models, str(tmp_path / "big.png"), None, "none", boxes_text="2000, 2000, 2100, 2100")
    with pytest.raises(UploadError, match="Hand detection is off: draw or type hand boxes"):
        run_request(models, str(tmp_path / "big.png"), None, "none")


def test_estimated_depth_is_used_like_uploaded_depth(checkpoint, tmp_path):
    from anyhand_hf.depth import PlaneDepthEstimator

    models = SpaceModels.load(str(checkpoint), detector=False)
    models.depth_estimator = PlaneDepthEstimator()  # MoGe-2's weights are not here; the plane is real
    photo = load_photo(EXAMPLE_PHOTO)
    plane = PlaneDepthEstimator().estimate(photo.rgb, camera_matrix(photo.original_hw))
    np.save(tmp_path / "plane.npy", plane)
    estimated = run_request(models, str(EXAMPLE_PHOTO), None, "estimated", boxes_text=EXAMPLE_BOX,
                            out_dir=tmp_path / "estimated")
    uploaded = run_request(models, str(EXAMPLE_PHOTO), str(tmp_path / "plane.npy"), "uploaded",
                           boxes_text=EXAMPLE_BOX, out_dir=tmp_path / "uploaded")
    assert estimated.report["depth_source"] == "estimated"
    assert estimated.report["hands"][0]["keypoints_3d"] == uploaded.report["hands"][0]["keypoints_3d"]
    assert np.array_equal(estimated.depth_colored, uploaded.depth_colored)


def test_no_model_configured_says_what_to_set(monkeypatch):
    monkeypatch.delenv("ANYHAND_MODEL", raising=False)
    models = SpaceModels.load()
    assert models.predictor is None and "Set ANYHAND_MODEL" in models.model_problem
    demo = build_demo(models, examples_dir=EXAMPLES)  # the page builds and shows the note
    assert "No model is configured. Set ANYHAND_MODEL" in json.dumps(demo.get_config_file(), default=str)
    with pytest.raises(UploadError, match="Set ANYHAND_MODEL"):
        run_request(models, str(EXAMPLE_PHOTO), None, "none", boxes_text=EXAMPLE_BOX)


def test_a_folder_without_a_checkpoint_is_named(tmp_path):
    models = SpaceModels.load(str(tmp_path))
    assert models.predictor is None and f"Could not load the model {str(tmp_path)!r}" in models.model_problem


# ---- the served app -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(checkpoint):
    from gradio_client import Client

    demo, url = serve(SpaceModels.load(str(checkpoint), detector=False))  # boxes are typed
    yield demo, Client(url, verbose=False)
    demo.close()


@pytest.fixture
def client(app):
    return app[1]


def test_requests_queue_one_at_a_time_with_a_bounded_queue(app):
    demo = app[0]
    assert demo._queue.max_size == QUEUE_SIZE
    assert demo._queue.default_concurrency_limit == 1


def call(client, photo, depth=None, source="uploaded", boxes=EXAMPLE_BOX, fov=None):
    from gradio_client import handle_file

    return client.predict(handle_file(str(photo)), handle_file(str(depth)) if depth else None, source, fov, None,
                          None, None, None, boxes, api_name="/predict")


def check_geometry(result, photo_path):
    """The meshes and keypoints the API returns are where the overlay draws them."""
    import trimesh

    overlay_path, glb_path, _, report, files, _ = result
    overlay = np.asarray(Image.open(overlay_path).convert("RGB")).astype(int)
    photo = np.asarray(Image.open(photo_path).convert("RGB")).astype(int)
    assert overlay.shape == photo.shape
    changed = np.abs(overlay - photo).max(-1) > 8
    K = np.array(report["K"])
    hand = report["hands"][0]
    kp3d, kp2d = np.array(hand["keypoints_3d"]), np.array(hand["keypoints_2d"])
    np.testing.assert_allclose(viz.project_points(kp3d, K), kp2d, atol=1e-6)

    obj = next(f for f in files if f.endswith("_right.obj"))
    verts = np.asarray(trimesh.load(obj, process=False, force="mesh").vertices)
    assert verts.shape[1] == 3 and np.all(verts[:, 2] > 0)
    lo, hi = verts.min(0) - 0.01, verts.max(0) + 0.01
    assert np.all((kp3d >= lo) & (kp3d <= hi))  # the keypoints belong to this mesh
    h, w = changed.shape
    uv = np.round(viz.project_points(verts, K)).astype(int)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    assert inside.mean() > 0.5
    assert changed[uv[inside, 1], uv[inside, 0]].mean() > 0.9  # the mesh is drawn where it projects
    kp = np.round(kp2d).astype(int)
    kp_inside = (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h)
    assert changed[kp[kp_inside, 1], kp[kp_inside, 0]].all()
    # ...and nothing is drawn far from the mesh, the keypoints and the box (with its label).
    extent = np.concatenate([uv[inside], kp[kp_inside], np.reshape(hand["box_xyxy"], (2, 2))])
    (x0, y0), (x1, y1) = extent.min(0) - 4, extent.max(0) + 4
    y0 -= 20
    ys, xs = np.nonzero(changed)
    assert ((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)).mean() > 0.99

    scene = trimesh.load(glb_path)
    glb_hand = scene.geometry["hand_00_right"]
    np.testing.assert_allclose(glb_hand.vertices, verts * [1, -1, -1], atol=1e-5)  # glTF: y up, -z forward
    return verts, scene


def test_api_rgb_only_and_rgbd(client):
    rgb_only = call(client, EXAMPLE_PHOTO, source="none")
    verts_rgb, scene = check_geometry(rgb_only, EXAMPLE_PHOTO)
    assert "depth" not in scene.geometry and rgb_only[2] is None
    assert rgb_only[5].startswith("**1 hand** (1 right, 0 left), depth: none")

    rgbd = call(client, EXAMPLE_PHOTO, EXAMPLE_DEPTH, source="uploaded")
    verts_rgbd, scene = check_geometry(rgbd, EXAMPLE_PHOTO)
    assert rgbd[3]["depth_source"] == "uploaded"
    assert not np.allclose(verts_rgb, verts_rgbd)  # the RGB-D model used the depth
    depth = decode_depth_png(EXAMPLE_DEPTH.read_bytes())
    cloud = scene.geometry["depth"]
    np.testing.assert_allclose(np.median(-cloud.vertices[:, 2]), np.median(depth[depth > 0]), rtol=0.02)
    assert np.asarray(Image.open(rgbd[2])).shape == depth.shape + (3,)  # colour-mapped depth
    report = json.loads(Path(next(f for f in rgbd[4] if f.endswith(".json"))).read_text())
    assert report["hands"][0]["keypoints_3d"] == rgbd[3]["hands"][0]["keypoints_3d"]
    assert len(report["hands"][0]["hand_pose"]) == 45 and len(report["hands"][0]["betas"]) == 10


def test_bad_uploads_get_messages_and_the_app_keeps_serving(client, tmp_path):
    from gradio_client.exceptions import AppError

    (tmp_path / "notes.txt").write_text("hello")
    depth = decode_depth_png(EXAMPLE_DEPTH.read_bytes())
    Image.fromarray((depth * 100).astype(np.uint8)).save(tmp_path / "eight_bit.png")
    np.save(tmp_path / "square.npy", depth[:, :200])
    np.save(tmp_path / "kilometres.npy", depth / 1000.0)
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY broken")
    cases = [
        ({"photo": tmp_path / "notes.txt", "source": "none"}, "notes.txt is not an image file"),
        ({"depth": tmp_path / "eight_bit.png"}, "8-bit L image: depth must be a 16-bit greyscale PNG"),
        ({"depth": tmp_path / "square.npy"}, "square.npy is 200x256 pixels but the photo is 256x256"),
        ({"depth": tmp_path / "kilometres.npy"}, "not plausible"),
        ({"depth": tmp_path / "notes.txt"}, "depth files must be"),
        ({"depth": tmp_path / "broken.npy"}, "could not read the depth file broken.npy"),
        ({"depth": None}, "no depth file was given"),
        ({"source": "estimated"}, "Depth estimation is unavailable"),
        ({"boxes": "10, 10, 5, 5", "source": "none"}, "write x0, y0, x1, y1"),
        ({"fov": 500.0, "source": "none"}, "between 1 and 179"),
    ]
    for overrides, message in cases:
        kwargs = {"photo": EXAMPLE_PHOTO, "depth": EXAMPLE_DEPTH, "source": "uploaded"} | overrides
        with pytest.raises(AppError, match=message):
            call(client, kwargs.pop("photo"), **kwargs)
    # Millimetres in a float .npy are detected, converted and explained; then a normal request.
    np.save(tmp_path / "millimetres.npy", depth * 1000.0)
    result = call(client, EXAMPLE_PHOTO, tmp_path / "millimetres.npy")
    assert "looked like millimetres" in result[5] and len(result[3]["hands"]) == 1
    check_geometry(call(client, EXAMPLE_PHOTO, EXAMPLE_DEPTH), EXAMPLE_PHOTO)


def test_detector_finds_no_hands_in_a_blank_photo(checkpoint, tmp_path):
    models = SpaceModels.load(str(checkpoint))
    if models.predictor.detector is None:
        pytest.skip(models.detector_problem)
    Image.new("RGB", (128, 96), (128, 128, 128)).save(tmp_path / "blank.png")
    result = run_request(models, str(tmp_path / "blank.png"), None, "none")
    assert result.status.startswith("**No hands found.**") and result.report["hands"] == []
    assert result.scene_glb is None and np.array_equal(result.overlay, load_photo(tmp_path / "blank.png").rgb)


def test_request_folders_are_pruned(tmp_path):
    old, recent = tmp_path / "old", tmp_path / "recent"
    old.mkdir()
    recent.mkdir()
    os.utime(old, (0, 0))
    new = fresh_output_dir(tmp_path, max_age_s=60)
    assert new.parent == tmp_path and new.is_dir() and recent.is_dir() and not old.exists()


@pytest.mark.slow  # a fresh interpreter imports torch, transformers and gradio: ~10-30 s here
def test_cli_serves_on_the_loopback(checkpoint):
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "anyhand_hf.cli", "space", "--model", str(checkpoint), "--port", str(port),
           "--no-detector"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, config = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None and config is None:
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=5).json()
            except httpx.HTTPError:
                time.sleep(0.5)
        assert config is not None, proc.stderr.read() if proc.poll() is not None else "no answer in 120 s"
        assert "Hand detection is off" in json.dumps(config)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
