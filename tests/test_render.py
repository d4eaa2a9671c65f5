"""SAPIEN renderer: geometry against analytic ground truth, conventions, determinism, memory,
the missing-device error.

Needs a Vulkan device (lavapipe: `bash scripts/install_vulkan.sh`); without one every test
that renders is skipped with that reason. Costs on lavapipe: the raster renderer's first
frame compiles shaders (~10–25 s, once per test session); the rt renderer warms Mesa's shader
cache once per machine (a subprocess, ~1–2 min the very first time, then nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from anyhand_hf.render import Camera, Light, MeshPart, RenderSettings
from anyhand_hf.assets.envmaps import write_exr
from anyhand_hf.render.sapien_renderer import split_uv_seams

pytest.importorskip("sapien", reason="SAPIEN not installed (pip install 'anyhand-hf[render]')")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_renderers: dict[str, object] = {}


def _renderer(mode: str):
    from anyhand_hf.render.sapien_renderer import RenderDeviceError, SapienRenderer

    if mode not in _renderers:
        try:
            _renderers[mode] = SapienRenderer(RenderSettings(mode=mode, spp=4))
        except RenderDeviceError as e:
            _renderers[mode] = e
    r = _renderers[mode]
    if isinstance(r, Exception):
        pytest.skip(f"no Vulkan device can be created: {r}")
    return r


@pytest.fixture(scope="module")
def raster():
    return _renderer("raster")


@pytest.fixture(scope="module")
def rt():
    return _renderer("rt")


# ---------------------------------------------------------------------------------------------
# geometry helpers


def _rot(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _box(half, Rb, tb):
    """Closed box mesh (outward CCW faces) of half-extents `half`, posed X = Rb x + tb."""
    import trimesh

    m = trimesh.creation.box(extents=2 * np.asarray(half, float))
    return m.vertices @ Rb.T + tb, np.asarray(m.faces)


def _ray_box(camera: Camera, half, Rb, tb):
    """Analytic depth (camera z, 0 = miss) and box-frame hit points at every pixel centre
    (integer pixel coordinates, the package's convention)."""
    H, W = camera.height, camera.width
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    d_cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(camera.K).T  # z = 1
    origin_w = -camera.R.T @ camera.t
    d_w = d_cam @ camera.R  # R^T d
    o_b = Rb.T @ (origin_w - tb)
    d_b = d_w @ Rb
    half = np.asarray(half, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - o_b) / d_b
        t2 = (half - o_b) / d_b
    tnear = np.nanmax(np.minimum(t1, t2), axis=-1)
    tfar = np.nanmin(np.maximum(t1, t2), axis=-1)
    hit = (tnear <= tfar) & (tnear > 0)
    depth = np.where(hit, tnear, 0.0)  # ray z-component is 1, so t is camera z
    pts = o_b + tnear[..., None] * d_b
    return depth, hit, pts


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


BOX_HALF = (0.1, 0.07, 0.05)
BOX_R = _rot([1, 2, 3], 0.7)
BOX_T = np.array([0.02, -0.01, 0.03])


def _box_scene(width=96, height=80):
    v, f = _box(BOX_HALF, BOX_R, BOX_T)
    cam = Camera.look_at([0.35, 0.45, 0.55], [0.0, 0.0, 0.0], 0.7, width, height)
    K = cam.K.copy()
    K[0, 2] += 3.3  # off-centre principal point: catches half-pixel and axis mistakes
    K[1, 2] -= 2.1
    cam = Camera(K, cam.R, cam.t, width, height)
    lights = [Light("point", position=(0.5, 0.5, 1.0), color=(2.0, 2.0, 2.0))]
    return [MeshPart("box", v, f, label=3, color=(0.7, 0.6, 0.5))], cam, lights


def _check_box(res, cam):
    depth_gt, hit, pts = _ray_box(cam, BOX_HALF, BOX_R, BOX_T)
    assert res.depth.dtype == np.float32 and res.labels.dtype == np.uint8 and res.rgb.dtype == np.uint8
    assert res.rgb.shape == (cam.height, cam.width, 3)
    mask = res.labels > 0
    assert set(np.unique(res.labels)) <= {0, 3}
    assert _iou(mask, hit) > 0.98, _iou(mask, hit)
    assert np.all(res.depth[~mask] == 0)
    # pixels well inside a face: hit point >= 1 cm from every edge of its face
    half = np.asarray(BOX_HALF)
    margin = half[None, None, :] - np.abs(pts)  # 0 on the face's own axis
    face_axis = np.argmin(np.abs(margin), axis=-1)
    inner = np.ones(hit.shape, bool)
    for ax in range(3):
        inner &= (face_axis == ax) | (margin[..., ax] > 0.01)
    inner &= hit & mask
    assert inner.sum() > 200
    err = np.abs(res.depth[inner] - depth_gt[inner])
    assert err.max() < 2e-3, err.max()
    return err


# ---------------------------------------------------------------------------------------------
# unit tests without rendering


def test_split_uv_seams():
    faces = np.array([[0, 1, 2], [2, 1, 3]])
    ft = np.array([[0, 1, 2], [4, 1, 3]])  # vertex 2 has two UVs (2 and 4): a seam
    vi, ti, f2 = split_uv_seams(faces, ft)
    assert len(vi) == 5
    np.testing.assert_array_equal(vi[f2], faces)
    np.testing.assert_array_equal(ti[f2], ft)


def test_write_exr_header(tmp_path):
    img = np.random.default_rng(0).random((4, 6, 3)).astype(np.float32) * 5
    write_exr(tmp_path / "a.exr", img)
    data = (tmp_path / "a.exr").read_bytes()
    assert data[:4] == bytes([0x76, 0x2F, 0x31, 0x01])
    # last scanline's data is the last W*3 floats, B, G, R planes
    last = np.frombuffer(data[-6 * 3 * 4:], "<f4").reshape(3, 6)
    np.testing.assert_array_equal(last[::-1].T, img[-1])


def test_bad_inputs():
    with pytest.raises(ValueError):
        MeshPart("x", np.zeros((3, 2)), [[0, 1, 2]])
    with pytest.raises(ValueError):
        MeshPart("x", np.full((3, 3), np.nan), [[0, 1, 2]])
    with pytest.raises(ValueError):
        MeshPart("x", np.zeros((3, 3)), [[0, 1, 5]])
    with pytest.raises(ValueError):
        MeshPart("x", np.zeros((3, 3)), [[0, 1, 2]], texture=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError):
        Camera(np.eye(3), np.eye(3) * 2, np.zeros(3), 8, 8)
    with pytest.raises(ValueError):
        RenderSettings(mode="eevee")


# ---------------------------------------------------------------------------------------------
# rendering


def test_box_depth_and_mask_raster(raster):
    parts, cam, lights = _box_scene()
    res = raster.render(parts, cam, lights, ambient=(0.2, 0.2, 0.2))
    _check_box(res, cam)
    np.testing.assert_array_equal(res.alpha, (res.labels > 0).astype(np.float32))


def test_box_depth_and_mask_rt(rt):
    parts, cam, lights = _box_scene()
    res = rt.render(parts, cam, lights, ambient=(0.2, 0.2, 0.2))
    _check_box(res, cam)
    # the path tracer's own coverage agrees with the raster labels up to edge pixels
    assert _iou(res.alpha > 0.5, res.labels > 0) > 0.95
    assert res.rgb[res.labels > 0].mean() > 20  # lit


def test_pixel_centre_convention(raster):
    """SAPIEN's Position picture re-projects with K onto each pixel's integer coordinates."""
    parts, cam, lights = _box_scene()
    res = raster.render(parts, cam, lights)
    geo_cam = raster._cameras[(cam.width, cam.height)][0]
    pos = np.asarray(geo_cam.get_picture("Position"))
    fg = res.labels > 0
    p = np.stack([pos[..., 0], -pos[..., 1], -pos[..., 2]], -1)[fg]  # OpenGL -> OpenCV
    uv = p @ cam.K.T
    uv = uv[:, :2] / uv[:, 2:]
    rows, cols = np.nonzero(fg)
    assert np.abs(uv[:, 0] - cols).max() < 1e-3
    assert np.abs(uv[:, 1] - rows).max() < 1e-3
    # and the camera pose: back-projected depth lands on the box surface (world frame)
    Xw = (p - cam.t) @ cam.R
    xb = (Xw - BOX_T) @ BOX_R
    assert np.abs(np.abs(xb / BOX_HALF).max(1) - 1).max() < 1e-3


def test_projected_vertices_land_on_mask(raster):
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.08)
    v = sphere.vertices + [0.01, 0.02, -0.01]
    cam = Camera.look_at([0.0, -0.5, 0.2], [0.0, 0.0, 0.0], 0.6, 96, 96)
    res = raster.render([MeshPart("hand", v, sphere.faces, label=1)], cam,
                        [Light("directional", direction=(0, 1, -1))], ambient=(0.3, 0.3, 0.3))
    uv, z = cam.project(v)
    centre_cam = cam.R @ np.array([0.01, 0.02, -0.01]) + cam.t
    normals_cam = (v - [0.01, 0.02, -0.01]) @ cam.R.T / 0.08
    to_cam = -(v @ cam.R.T + cam.t)
    cos = np.einsum("ij,ij->i", normals_cam, to_cam / np.linalg.norm(to_cam, axis=1, keepdims=True))
    facing = cos > 0.3
    px = np.round(uv[facing]).astype(int)
    assert facing.sum() > 50
    assert np.all(res.labels[px[:, 1], px[:, 0]] == 1)
    # rendered depth at vertices facing the camera equals their z (the nearest pixel centre
    # is up to 0.7 px away; with the slope and the sphere's faceting: < 2 mm)
    front = cos > 0.8
    pxf = np.round(uv[front]).astype(int)
    assert np.abs(res.depth[pxf[:, 1], pxf[:, 0]] - z[front]).max() < 2e-3
    assert centre_cam[2] > 0


def _textured_quad():
    # texture image (rows top->bottom): top half red, bottom half blue; a green left strip
    tex = np.zeros((32, 32, 3), np.uint8)
    tex[:16] = (255, 0, 0)
    tex[16:] = (0, 0, 255)
    tex[:, :6] = (0, 255, 0)
    # a quad in the plane y = 0 facing -y, world +z up; OBJ UVs: v = 1 at the top
    s = 0.1
    v = np.array([[-s, 0, -s], [s, 0, -s], [s, 0, s], [-s, 0, s]])
    f = np.array([[0, 1, 2], [0, 2, 3]])  # normal = -y (towards the camera)
    vt = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    part = MeshPart("quad", v, f, label=3, texture=tex, uv={"vt": vt, "ft": f}, roughness=1.0, specular=0.0)
    cam = Camera.look_at([0.0, -0.4, 0.0], [0.0, 0.0, 0.0], 0.8, 64, 64)  # image up = world +z
    return part, cam


@pytest.mark.parametrize("mode", ["raster", "rt"])
def test_texture_right_way_up(mode):
    r = _renderer(mode)
    part, cam = _textured_quad()
    res = r.render([part], cam, [], ambient=(1.0, 1.0, 1.0))
    rgb = res.rgb.astype(int)
    assert (res.labels == 3).sum() > 400
    top, bottom = rgb[22:28, 36:44], rgb[36:42, 36:44]
    assert np.all(top[..., 0] > top[..., 2] + 80), top.mean((0, 1))  # red on top
    assert np.all(bottom[..., 2] > bottom[..., 0] + 80), bottom.mean((0, 1))  # blue below
    rows, cols = np.nonzero(res.labels == 3)
    left = rgb[rows.mean().astype(int), cols.min() + 2]
    assert left[1] > left[0] + 80 and left[1] > left[2] + 80, left  # green strip on the left


def test_occlusion_labels(raster):
    import trimesh

    back = trimesh.creation.box(extents=[0.2, 0.02, 0.2])
    front = trimesh.creation.box(extents=[0.1, 0.02, 0.1])
    cam = Camera.look_at([0.0, -0.5, 0.0], [0.0, 0.0, 0.0], 0.7, 80, 80)
    parts = [MeshPart("forearm", back.vertices + [0, 0.05, 0], back.faces, label=2),
             MeshPart("hand", front.vertices + [0.05, -0.05, 0.05], front.faces, label=1)]
    for order in (parts, parts[::-1]):
        res = raster.render(order, cam, [], ambient=(0.5, 0.5, 0.5))
        d_back, hit_back, _ = _ray_box(cam, (0.1, 0.01, 0.1), np.eye(3), np.array([0, 0.05, 0]))
        d_front, hit_front, _ = _ray_box(cam, (0.05, 0.01, 0.05), np.eye(3), np.array([0.05, -0.05, 0.05]))
        assert _iou(res.labels == 1, hit_front) > 0.98
        assert _iou(res.labels == 2, hit_back & ~hit_front) > 0.98
        both = hit_front & hit_back
        assert both.sum() > 100 and np.mean(res.labels[both] == 1) > 0.98


def test_determinism_raster(raster):
    parts, cam, lights = _box_scene()
    a = raster.render(parts, cam, lights)
    part, cam2 = _textured_quad()
    raster.render([part], cam2, [], ambient=(1, 1, 1))  # something else in between
    b = raster.render(parts, cam, lights)
    for k in ("rgb", "alpha", "depth", "labels"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


def test_determinism_rt(rt):
    """SAPIEN's path tracer seeds each pixel from a fixed constant (camera.rgen), so the same
    inputs give the same pixels, also after other scenes were rendered in between."""
    parts, cam, lights = _box_scene(48, 40)
    a = rt.render(parts, cam, lights)
    part, cam2 = _textured_quad()
    rt.render([part], cam2, [], ambient=(1, 1, 1))
    b = rt.render(parts, cam, lights)
    for k in ("rgb", "alpha", "depth", "labels"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


@pytest.mark.slow
def test_lights_and_envmap_rt(rt):
    parts, cam, _ = _box_scene(48, 40)
    lights = [Light("point", position=(0.4, 0.4, 0.6), color=(1, 0.8, 0.6), shadow=True),
              Light("directional", direction=(-1, -1, -2), color=(0.5, 0.5, 0.5), shadow=True),
              Light("spot", position=(0.3, 0.3, 0.5), direction=(-0.3, -0.3, -0.5), color=(3, 3, 3),
                    inner_angle=0.3, outer_angle=0.5)]
    dark = rt.render(parts, cam, [], ambient=(0.0, 0.0, 0.0))
    lit = rt.render(parts, cam, lights, ambient=(0.0, 0.0, 0.0))
    fg = lit.labels > 0
    assert lit.rgb[fg].mean() > dark.rgb[fg].mean() + 20
    # an equirectangular HDR array: lights the box and backs the image
    h, w = 16, 32
    env = np.zeros((h, w, 3), np.float32)
    env[..., 0] = 0.8
    env[..., 2] = np.linspace(0.1, 1.5, h)[:, None]
    res = rt.render(parts, cam, [], ambient=(0.0, 0.0, 0.0), envmap=env)
    bg = res.labels == 0
    assert res.rgb[bg][:, 0].mean() > 100  # backdrop shows the map (red channel 0.8)
    assert res.rgb[fg].mean() > dark.rgb[fg].mean() + 10
    again = rt.render(parts, cam, [], ambient=(0.0, 0.0, 0.0), envmap=None)
    assert again.rgb[bg].max() == 0


@pytest.mark.slow
def test_oidn_denoiser():
    pytest.importorskip("pyoidn")
    from anyhand_hf.render.sapien_renderer import SapienRenderer

    _renderer("rt")  # skip without a device
    r = SapienRenderer(RenderSettings(mode="rt", spp=1, denoiser="oidn"))
    parts, cam, lights = _box_scene(48, 40)
    res = r.render(parts, cam, lights, ambient=(0.2, 0.2, 0.2))
    assert res.rgb.shape == (40, 48, 3) and res.rgb[res.labels > 0].mean() > 20
    assert "denoise" in res.timings
    r.close()


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _memory_growth(r, n, size, warmup=10):
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    cam = Camera.look_at([0.0, -0.4, 0.1], [0.0, 0.0, 0.0], 0.6, size, size)
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    vt = rng.random((len(sphere.vertices), 2))

    def one(i):
        v = sphere.vertices * (1 + 0.2 * rng.random()) + rng.normal(scale=0.01, size=3)
        parts = [MeshPart("hand", v, sphere.faces, label=1, texture=tex, uv={"vt": vt, "ft": sphere.faces}),
                 MeshPart("obj", v + [0.05, -0.05, 0], sphere.faces, label=3, color=(0.2, 0.4, 0.9))]
        r.render(parts, cam, [Light("point", position=(0.2, -0.3, 0.3))], ambient=(0.2, 0.2, 0.2))

    for i in range(warmup):
        one(i)
    start = _rss_mb()
    for i in range(n):
        one(i)
    return _rss_mb() - start


def test_memory_bounded_raster(raster):
    growth = _memory_growth(raster, 100, 64)
    assert growth < 40, f"RSS grew {growth:.1f} MB over 100 raster renders"


@pytest.mark.slow
def test_memory_bounded_rt(rt):
    """Steady-state growth of a fresh rt worker whose scene changes are all warm (on
    lavapipe the first cold pipeline compile of a process adds a one-time ~170 MB of LLVM
    memory, and every change past the warmed ones compiles for ~30 s: see
    warm_shader_cache). ANYHAND_TEST_RT_RENDERS renders (default 20) after 4 warm-ups."""
    from anyhand_hf.render.sapien_renderer import warm_shader_cache

    n = int(os.environ.get("ANYHAND_TEST_RT_RENDERS", "20"))
    warm_shader_cache(n_changes=n + 4)
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {os.path.join(ROOT, "tests")!r})
        from test_render import _memory_growth
        from anyhand_hf.render import RenderSettings
        from anyhand_hf.render.sapien_renderer import SapienRenderer
        r = SapienRenderer(RenderSettings(mode="rt", spp=1), warm=False)
        print("GROWTH", json.dumps(_memory_growth(r, {n}, 32, warmup=4)))
    """)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("GROWTH ")]
    assert line, proc.stderr[-2000:]
    growth = json.loads(line[-1][7:])
    assert growth < 40, f"RSS grew {growth:.1f} MB over {n} ray-traced renders"


def test_missing_vulkan_device_error():
    code = textwrap.dedent("""
        import json
        from anyhand_hf.render import RenderSettings
        from anyhand_hf.render.sapien_renderer import RenderDeviceError, SapienRenderer
        try:
            SapienRenderer(RenderSettings(mode="raster"))
        except RenderDeviceError as e:
            print(json.dumps({"error": str(e)}))
        else:
            print(json.dumps({"error": None}))
    """)
    env = dict(os.environ, VK_ICD_FILENAMES="/nonexistent.json")
    env.pop("VK_DRIVER_FILES", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    # SAPIEN 3.0.3 may segfault at interpreter exit after a failed device creation; the error
    # itself was raised and handled cleanly (the JSON line), which is what callers see
    assert proc.stdout.strip(), proc.stderr[-2000:]
    msg = json.loads(proc.stdout.strip().splitlines()[-1])["error"]
    assert msg is not None, "expected RenderDeviceError"
    assert "install_vulkan.sh" in msg and "lavapipe" in msg and "25" in msg
