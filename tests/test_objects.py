"""Graspable objects: procedural shapes in hand range with exact signed distances, and a mesh
folder loader that normalises units and names bad files."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from anyhand_hf.assets.objects import (OBJECT_KINDS, MeshFolder, ObjectLoadError, load_mesh_object, object_texture,
                                       planar_uv, procedural_object, sample_object_params)


@pytest.mark.parametrize("kind", OBJECT_KINDS)
def test_procedural_objects_are_hand_sized_and_their_distance_matches_the_mesh(kind):
    rng = np.random.default_rng(3)
    for _ in range(4):
        obj = procedural_object(kind, sample_object_params(kind, rng))
        assert 0.02 <= obj.extents.max() <= 0.25
        assert np.allclose(obj.mesh.bounds.mean(0), 0, atol=1e-9)
        # Points on the outer surface: distance ~0 (tessellation error only); stepping out along
        # the outward mesh normal gives the step, stepping in gives a negative distance.
        points, faces = trimesh.sample.sample_surface(obj.mesh, 400, seed=1)
        d = obj.sdf(points)
        outer = d > -1e-4  # a union's mesh also has faces inside its other primitives
        assert outer.mean() > 0.7 and np.abs(d[outer]).max() < 3e-4
        normals = obj.mesh.face_normals[faces[outer]]
        out = obj.sdf(points[outer] + 0.003 * normals)
        assert np.median(out) == pytest.approx(0.003, abs=3e-4) and (out > 0).mean() > 0.97  # not into a neighbour
        assert (obj.sdf(points[outer] - 0.001 * normals) < 0).mean() > 0.95
        # The physics pieces cover the object: every mesh vertex is a point of some piece.
        pieces = {tuple(np.round(v, 9)) for v in np.concatenate(obj.convex_pieces)}
        assert all(tuple(np.round(v, 9)) in pieces for v in obj.mesh.vertices)


def test_planar_uv_and_pattern_texture():
    obj = procedural_object("box", {"x": 0.05, "y": 0.1, "z": 0.15})
    uv = planar_uv(np.asarray(obj.mesh.vertices), np.asarray(obj.mesh.faces))
    assert uv["ft"].shape == obj.mesh.faces.shape and uv["vt"].shape == (3 * len(obj.mesh.faces), 2)
    # A face of the box projects without distortion: its UV area equals its area / tile².
    tri = uv["vt"][uv["ft"]]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    uv_area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert np.allclose(uv_area, obj.mesh.area_faces / 0.05**2)
    for pattern in ("stripes", "checker", "dots", "noise"):
        tex = object_texture(pattern, [0.8, 0.1, 0.1], [0.1, 0.1, 0.8], seed=1, size=64)
        assert tex.shape == (64, 64, 3) and tex.dtype == np.uint8 and len(np.unique(tex.reshape(-1, 3), axis=0)) == 2


def test_mesh_in_centimetres_is_scaled_with_a_warning_and_keeps_its_distance(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=4.0)  # 8 cm across, written in cm
    path = tmp_path / "ball.ply"
    sphere.export(path)
    with pytest.warns(UserWarning, match="centimetres"):
        obj = load_mesh_object(path)
    assert obj.scale == 0.01 and obj.extents.max() == pytest.approx(0.08, rel=1e-3)
    probe = np.array([[0.05, 0, 0], [0.0, 0.0, 0.0], [0, 0.03, 0]])
    assert np.allclose(obj.sdf(probe), [0.01, -0.04, -0.01], atol=5e-4)


def test_open_mesh_warns_and_uses_its_hull(tmp_path):
    box = trimesh.creation.box(extents=[0.04, 0.06, 0.1])
    open_box = trimesh.Trimesh(box.vertices, box.faces[:-2])  # one side missing
    path = tmp_path / "open.obj"
    open_box.export(path)
    with pytest.warns(UserWarning, match="not watertight"):
        obj = load_mesh_object(path)
    assert obj.sdf(np.array([[0.0, 0.0, 0.0]]))[0] == pytest.approx(-0.02, abs=1e-4)


def test_broken_and_degenerate_files_are_named_and_a_folder_moves_on(tmp_path):
    (tmp_path / "a_broken.obj").write_text("v 0 0 0\nf 1 2 3 garbage\x00\x01")
    flat = trimesh.Trimesh([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0.1, 0.1, 0]], [[0, 1, 2], [1, 3, 2]])
    flat.export(tmp_path / "b_flat.ply")
    trimesh.creation.box(extents=[0.03, 0.05, 0.12]).export(tmp_path / "c_good.glb")
    for name, message in (("a_broken.obj", "a_broken.obj"), ("b_flat.ply", "degenerate")):
        with pytest.raises(ObjectLoadError, match=message):
            load_mesh_object(tmp_path / name)
    folder = MeshFolder(tmp_path)
    assert folder.ids == ("a_broken.obj", "b_flat.ply", "c_good.glb")
    with pytest.warns(UserWarning, match="b_flat.ply"):
        obj = folder.load("b_flat.ply")
    assert obj.object_id == "c_good.glb" and obj.extents.max() == pytest.approx(0.12)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ObjectLoadError, match="no mesh files"):
        MeshFolder(tmp_path / "empty")
