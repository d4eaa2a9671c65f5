"""Software rasterizer and drawing helpers: geometry checked against analytic projections."""

import numpy as np
import pytest

from anyhand_hf import viz

SIZE = (48, 64)  # (H, W)


def _camera() -> np.ndarray:
    return viz.intrinsics_from_fov(np.deg2rad(40.0), SIZE)


def _backproject(K: np.ndarray, u: float, v: float, z: float) -> np.ndarray:
    return z * np.linalg.solve(K, np.array([u, v, 1.0]))


def _tilted_triangle(K: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A triangle on the plane n·X = c (not fronto-parallel), first vertex projecting exactly
    onto the centre of pixel (12, 10)."""
    normal, c = np.array([0.3, -0.2, 1.0]), 2.0
    pix = [(12.0, 10.0), (50.0, 18.0), (20.0, 40.0)]
    verts = []
    for u, v in pix:
        ray = _backproject(K, u, v, 1.0)
        verts.append(ray * c / normal.dot(ray))
    return np.array(verts), normal, np.array(c)


def test_triangle_covers_its_projection_with_exact_depth():
    K = _camera()
    verts, normal, c = _tilted_triangle(K)
    frags = viz.rasterize(verts, np.array([[0, 1, 2]]), K, SIZE)
    # The vertex projected onto pixel (12, 10) lies in the covered region (boundary counts);
    # the pixel diagonally outside it does not.
    assert frags.face_id[10, 12] == 0 and frags.face_id[9, 11] == -1
    # Interior pixel: depth equals the plane's depth along the pixel-centre ray.
    u, v = 27, 22
    ray = _backproject(K, u, v, 1.0)
    expected = (ray * c / normal.dot(ray))[2]
    assert frags.depth[v, u] == pytest.approx(expected, abs=1e-6)
    # Perspective-correct barycentrics reproduce that 3D point.
    np.testing.assert_allclose(frags.bary[v, u] @ verts, ray * expected, atol=1e-9)
    # Covered pixel count ≈ projected area (pixel-centre sampling), empty pixels are empty.
    area = 0.5 * abs(38.0 * 30.0 - 8.0 * 8.0)  # |cross(v1 - v0, v2 - v0)| / 2 in pixels
    assert abs(frags.mask.sum() - area) < 0.1 * area
    assert np.all(frags.depth[~frags.mask] == 0) and np.all(frags.bary[~frags.mask] == 0)
    assert np.all(frags.depth[frags.mask] > 0)


def test_nearer_triangle_wins_in_either_order():
    K = _camera()
    tri_px = [(10.0, 10.0), (50.0, 12.0), (30.0, 40.0)]
    near = np.array([_backproject(K, u, v, 1.0) for u, v in tri_px])
    far = np.array([_backproject(K, u + 4, v + 2, 2.0) for u, v in tri_px])
    verts = np.concatenate([near, far])
    for faces, near_id in (([[0, 1, 2], [3, 4, 5]], 0), ([[3, 4, 5], [0, 1, 2]], 1)):
        frags = viz.rasterize(verts, np.array(faces), K, SIZE)
        assert frags.face_id[20, 30] == near_id
        assert frags.depth[20, 30] == pytest.approx(1.0, abs=1e-9)
        assert frags.face_id[15, 52] == 1 - near_id  # only the far one covers this pixel


def test_backface_culling():
    K = _camera()
    verts = np.array([_backproject(K, u, v, 1.0) for u, v in [(10, 10), (30, 40), (50, 12)]])
    # Top-left, bottom, top-right: counter-clockwise as the camera sees the image, so the
    # right-hand-rule normal points towards the camera (−z): a front face.
    assert viz.rasterize(verts, np.array([[0, 1, 2]]), K, SIZE, cull_backfaces=True).mask.sum() > 100
    assert viz.rasterize(verts, np.array([[0, 2, 1]]), K, SIZE).mask.sum() > 100
    assert viz.rasterize(verts, np.array([[0, 2, 1]]), K, SIZE, cull_backfaces=True).mask.sum() == 0


def _icosphere_in_view(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    return sphere.vertices + np.array([0.02, -0.01, 0.5]), sphere.faces


def test_rendered_geometry_reprojects_onto_its_pixels():
    K = _camera()
    verts, faces = _icosphere_in_view(K)
    frags = viz.rasterize(verts, faces, K, SIZE)
    v, u = np.nonzero(frags.mask)
    assert len(u) > 200
    corners = verts[faces[frags.face_id[v, u]]]  # (P, 3, 3)
    points = np.einsum("pk,pkj->pj", frags.bary[v, u], corners)
    np.testing.assert_allclose(viz.project_points(points, K), np.stack([u, v], 1), atol=1e-9)
    np.testing.assert_allclose(points[:, 2], frags.depth[v, u], atol=1e-12)
    # Closed convex mesh: the visible surface is the front one, i.e. front faces only.
    culled = viz.rasterize(verts, faces, K, SIZE, cull_backfaces=True)
    np.testing.assert_array_equal(culled.face_id, frags.face_id)


def test_chunked_rasterization_matches(monkeypatch):
    K = _camera()
    verts, faces = _icosphere_in_view(K)
    whole = viz.rasterize(verts, faces, K, SIZE)
    monkeypatch.setattr(viz, "_MAX_FRAGMENTS", 50)
    chunked = viz.rasterize(verts, faces, K, SIZE)
    np.testing.assert_array_equal(chunked.depth, whole.depth)
    np.testing.assert_array_equal(chunked.mask, whole.mask)


def test_behind_camera_and_empty_inputs():
    K = _camera()
    verts = np.array([[0.0, 0.0, -1.0], [0.1, 0.0, -1.0], [0.0, 0.1, -1.0]])
    frags = viz.rasterize(verts, np.array([[0, 1, 2]]), K, SIZE)
    assert frags.face_id.shape == SIZE and not frags.mask.any()
    assert not viz.rasterize(np.zeros((0, 3)), np.zeros((0, 3), int), K, SIZE).mask.any()


def test_intrinsics_reproduce_fov():
    fov = np.deg2rad(35.0)
    K = viz.intrinsics_from_fov(fov, SIZE)
    h, w = SIZE
    top = np.linalg.solve(K, [(w - 1) / 2, -0.5, 1.0])
    bottom = np.linalg.solve(K, [(w - 1) / 2, h - 0.5, 1.0])
    angle = np.arccos(top @ bottom / np.linalg.norm(top) / np.linalg.norm(bottom))
    assert angle == pytest.approx(fov, abs=1e-12)
    assert K[0, 0] == K[1, 1]


def test_look_at():
    eye, target, up = np.array([0.3, -0.5, 0.8]), np.array([0.01, 0.02, -0.03]), np.array([0.0, 0.0, 1.0])
    R, t = viz.look_at(eye, target, up)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    K = _camera()
    cam = lambda p: R @ p + t  # noqa: E731
    np.testing.assert_allclose(viz.project_points(cam(target)[None], K)[0], K[:2, 2], atol=1e-9)
    assert cam(target)[2] > 0
    above = viz.project_points(cam(target + 0.05 * up)[None], K)[0]
    assert above[1] < K[1, 2]  # world up appears towards the top of the image
    with pytest.raises(ValueError):
        viz.look_at(eye, target, target - eye)


def _square(K: np.ndarray, u0: float, u1: float, v0: float, v1: float, z: float):
    corners = [(u0, v0), (u1, v0), (u1, v1), (u0, v1)]
    verts = np.array([_backproject(K, u, v, z) for u, v in corners])
    return verts, np.array([[0, 2, 1], [0, 3, 2]])


def test_render_mesh_supersampling_keeps_pixel_grid():
    K = _camera()
    # Edges exactly on pixel boundaries: no pixel is partially covered at any supersampling
    # factor, so both renders agree exactly (flat, fronto-parallel, no specular).
    verts, faces = _square(K, 9.5, 30.5, 5.5, 20.5, 1.0)
    kw = dict(color=(0.8, 0.5, 0.4), specular=0.0)
    one = viz.render_mesh(verts, faces, K, SIZE, supersample=1, **kw)
    two = viz.render_mesh(verts, faces, K, SIZE, supersample=2, **kw)
    assert one.shape == SIZE + (3,) and one.dtype == np.uint8
    np.testing.assert_array_equal(one, two)
    assert np.all(one[6:21, 10:31] != 255) and np.all(one[:5] == 255) and np.all(one[:, 31:] == 255)


def test_render_mesh_background_and_vertex_colors():
    K = _camera()
    verts, faces = _square(K, 10.2, 30.7, 5.1, 20.6, 1.0)
    bg = np.full(SIZE + (3,), 40, np.uint8)
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    img = viz.render_mesh(verts, faces, K, SIZE, color=colors, background=bg)
    assert np.all(img[40:, :] == 40)
    red, green, yellow = img[6, 11].astype(int), img[6, 30].astype(int), img[20, 11].astype(int)
    assert red[0] > red[1] and red[0] > red[2] and green[1] > green[0] and yellow[1] > yellow[2]
    edge = img[5, 15]  # row 5: one of its two subsample rows (v = 5.25) is covered
    assert 40 < edge.max() < img[10, 15].max()


def test_draw_keypoints_and_box():
    img = np.zeros((100, 120, 3), np.uint8)
    kp = np.stack([np.linspace(20, 100, 21), np.linspace(20, 80, 21)], 1)
    out = viz.draw_keypoints(img, kp)
    assert out.shape == img.shape and out.dtype == np.uint8 and not img.any()
    assert out[20, 20].any() and out[80, 100].any()  # wrist and pinky tip drawn
    assert not out[95, 5].any()  # far from the skeleton
    thumb_tip = out[int(round(kp[4, 1])), int(round(kp[4, 0]))]
    assert thumb_tip[0] > thumb_tip[2]  # thumb is red
    hidden = viz.draw_keypoints(img, kp, visible=np.arange(21) != 20)
    assert not hidden[80, 100].any() or hidden[80, 100].sum() < out[80, 100].sum()
    boxed = viz.draw_box(img, (10, 10, 60, 50), label="hand")
    assert boxed.shape == img.shape and boxed[30, 10].any() and not boxed[30, 35].any()


def test_colorize_depth():
    depth = np.tile(np.linspace(0.5, 2.0, 50), (10, 1))
    depth[:, :5] = 0.0
    rgb = viz.colorize_depth(depth)
    assert rgb.shape == (10, 50, 3) and rgb.dtype == np.uint8
    assert np.all(rgb[:, :5] == 0)
    near, far = rgb[0, 5].astype(int), rgb[0, -1].astype(int)
    assert near[0] > near[2] and far[2] > far[0]


def test_overlay_mask_and_grid():
    img = np.full((20, 30, 3), 100, np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:10] = 1
    mask[12:15, 20:25] = 3
    out = viz.overlay_mask(img, mask, alpha=0.5)
    assert np.all(out[0, 0] == 100)
    np.testing.assert_array_equal(out[6, 6], np.round(0.5 * 100 + 0.5 * np.array(viz.LABEL_COLORS[1])))
    assert not np.array_equal(out[13, 21], img[13, 21])
    with pytest.raises(ValueError):
        viz.overlay_mask(img, mask + 7)
    grid = viz.image_grid([img, out, img], cols=2, labels=["a", "b", "c"], pad=2)
    assert grid.size == (2 * 30 + 3 * 2, 2 * 20 + 3 * 2)
