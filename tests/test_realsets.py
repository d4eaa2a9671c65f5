"""FreiHAND and HO-3D readers on tiny folders in the official layouts, with labels made here.

FreiHAND's labels come from a stand-in "MANO" file (random MANO layout, non-zero mean hand pose)
driven the way FreiHAND's own code drives MANO (pose relative to the mean hand); HO-3D's from the
open hand posed in the OpenGL camera frame, with depth packed the way HO-3D packs it. The reader's
rows must then rebuild the stored geometry through `HandModel` in AnyHand's conventions.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy.spatial.transform import Rotation

from anyhand_hf.data import decode_row, load_freihand, load_ho3d
from anyhand_hf.data.realsets import HO3D_DEPTH_SCALE
from anyhand_hf.hand import HandModel, open_hand_path
from anyhand_hf.metrics import opencv_to_opengl, to_ho3d_order
from conftest import random_mano_arrays

SIZE = 64
K = np.array([[80.0, 0, 32], [0, 80.0, 30], [0, 0, 1]])


def _posed(hand: HandModel, go, pose, betas, transl):
    t = lambda x: torch.as_tensor(np.asarray(x, np.float64)[None])
    with torch.no_grad():
        out = hand.double()(global_orient=t(go), hand_pose=t(pose), betas=t(betas), transl=t(transl))
    return out.vertices[0].numpy(), out.keypoints[0].numpy()


def _project(points):
    uvw = points @ K.T
    return uvw[:, :2] / uvw[:, 2:]


def _jpeg(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


# -- FreiHAND -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def freihand(tmp_path_factory):
    root = tmp_path_factory.mktemp("FreiHAND_pub_v2")
    arrays = random_mano_arrays(seed=3)
    np.savez(root / "MANO_RIGHT.npz", **arrays)
    # FreiHAND's MANO: flat_hand_mean=False, i.e. the stored hand pose is relative to the mean.
    mano = HandModel(arrays, flat_hand_mean=False, dtype=torch.float64)
    rng = np.random.default_rng(0)
    n = 3
    thetas, xyz, verts = [], [], []
    for i in range(n):
        go, pose_rel, betas = rng.normal(0, 0.5, 3), rng.normal(0, 0.2, 45), rng.normal(0, 1, 10)
        v, kp = _posed(mano, go, pose_rel, betas, [0.01 * i, -0.02, 0.6])
        uv_root, scale = _project(kp[9:10])[0], K[0, 0] / kp[9, 2]  # FreiHAND's own root encoding
        thetas.append([np.concatenate([go, pose_rel, betas, uv_root, [scale]]).tolist()])
        xyz.append(kp.tolist())
        verts.append(v.tolist())
        mask = Image.new("L", (SIZE, SIZE))
        ImageDraw.Draw(mask).ellipse((10 + i, 12, 40, 50), fill=255)
        (root / "training" / "mask").mkdir(parents=True, exist_ok=True)
        mask.save(root / "training" / "mask" / f"{i:08d}.jpg")
    for image_id in range(4 * n):
        _jpeg(root / "training" / "rgb" / f"{image_id:08d}.jpg", image_id)
    for name, value in (("K", [K.tolist()] * n), ("mano", thetas), ("xyz", xyz), ("verts", verts)):
        (root / f"training_{name}.json").write_text(json.dumps(value))
    # The evaluation set as first released: images and K only.
    for i in range(2):
        _jpeg(root / "evaluation" / "rgb" / f"{i:08d}.jpg", 100 + i)
    (root / "evaluation_K.json").write_text(json.dumps([K.tolist()] * 2))
    return root, np.array(xyz), np.array(verts)


def test_freihand_rows_rebuild_the_labels_through_the_hand_model(freihand):
    root, xyz, verts = freihand
    rows = [decode_row(r) for r in load_freihand(root, "train", mano=root / "MANO_RIGHT.npz")]
    assert len(rows) == 12  # 3 samples x 4 image versions
    flat = HandModel.from_file(root / "MANO_RIGHT.npz", dtype=torch.float64)  # zero = flat hand
    for k, row in enumerate(rows):
        i, version = k % 3, k // 3
        assert (row["scene_id"], row["view_id"]) == (f"freihand-training-{i:08d}", version)
        assert json.loads(row["meta"])["image"] == f"training/rgb/{i + 3 * version:08d}.jpg"
        file_pixels = np.asarray(Image.open(root / "training" / "rgb" / f"{i + 3 * version:08d}.jpg"))
        np.testing.assert_array_equal(row["image"], file_pixels)  # the JPEG as distributed
        np.testing.assert_allclose(row["joints_3d"], xyz[i], atol=1e-6)
        np.testing.assert_allclose(row["vertices_3d"], verts[i], atol=1e-6)
        np.testing.assert_allclose(row["joints_2d"], _project(xyz[i]), atol=1e-3)
        box = _project(verts[i])
        np.testing.assert_allclose(row["bbox"], [*box.min(0), *box.max(0)], atol=1e-3)
        # Flat-mean pose + recovered translation give back FreiHAND's own vertices.
        v, kp = _posed(flat, row["global_orient"], row["hand_pose"], row["betas"], row["hand_transl"])
        np.testing.assert_allclose(v, verts[i], atol=2e-6)
        np.testing.assert_allclose(kp, xyz[i], atol=2e-6)
        assert set(np.unique(row["mask"])) == {0, 1} and row["mask"][30, 25] == 1 and row["mask"][0, 0] == 0
        assert row["depth"] is None and row["R"] is None and row["is_right"]


def test_freihand_without_mano_and_evaluation_set(freihand):
    root, _, _ = freihand
    assert load_freihand(root, "train").num_shards == 4  # image versions x blocks of SHARD_ROWS samples
    row = decode_row(next(iter(load_freihand(root, "train", versions=("auto",)))))
    assert row["view_id"] == 3 and row["hand_pose"] is None and row["hand_transl"] is None
    assert row["global_orient"].shape == (3,) and row["betas"].shape == (10,)
    test = [decode_row(r) for r in load_freihand(root, "test")]
    assert len(test) == 2 and test[1]["joints_3d"] is None and test[1]["mask"] is None
    np.testing.assert_allclose(test[1]["K"], K)
    with pytest.raises(ValueError, match="versions"):
        load_freihand(root, "train", versions=("gray",))
    with pytest.raises(FileNotFoundError, match="training_K.json"):
        load_freihand(root / "missing", "train")


# -- HO-3D ----------------------------------------------------------------------------------------
def _ho3d_depth_png(path, vertices_cv):
    """A z-buffer of the vertices (nearest per pixel), packed the way HO-3D packs depth."""
    depth = np.zeros((SIZE, SIZE))
    for (u, v), z in zip(np.round(_project(vertices_cv)).astype(int), vertices_cv[:, 2]):
        if 0 <= u < SIZE and 0 <= v < SIZE and (depth[v, u] == 0 or z < depth[v, u]):
            depth[v, u] = z
    units = np.round(depth / HO3D_DEPTH_SCALE).astype(np.uint32)
    packed = np.stack([units & 255, units >> 8, np.zeros_like(units)], -1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(packed).save(path)


def _pickle(path, meta):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(meta, protocol=2))


@pytest.fixture(scope="module")
def ho3d(tmp_path_factory):
    root = tmp_path_factory.mktemp("HO3D_v3")
    hand = HandModel.open(dtype=torch.float64)
    rng = np.random.default_rng(1)
    frames = [("ABF10", "0000", "jpg"), ("ABF10", "0001", "jpg"), ("ABF10", "0002", "jpg"), ("MC1", "0007", "png")]
    truth = {}
    for seq, frame, ext in frames:
        seq_dir = root / "train" / seq
        if frame == "0002":  # an unannotated frame, as HO-3D has
            _pickle(seq_dir / "meta" / f"{frame}.pkl", {"handPose": None, "camMat": K, "objName": "006_mustard_bottle"})
            _jpeg(seq_dir / "rgb" / f"{frame}.jpg", 0)
            continue
        # Posed in OpenGL camera coordinates (the hand in front of the camera has z < 0).
        go_gl = Rotation.from_euler("xyz", rng.normal(0, 0.4, 3) + [np.pi, 0, 0]).as_rotvec()
        pose, betas = rng.normal(0, 0.15, 45), rng.normal(0, 1, 10)
        centred, _ = _posed(hand, go_gl, pose, betas, np.zeros(3))
        trans = np.array([0.0, 0.0, -0.5]) + rng.normal(0, 0.01, 3) - centred.mean(0)
        v_gl, kp_gl = _posed(hand, go_gl, pose, betas, trans)
        _pickle(seq_dir / "meta" / f"{frame}.pkl", {
            "handPose": np.concatenate([go_gl, pose]), "handBeta": betas, "handTrans": trans,
            "handJoints3D": to_ho3d_order(kp_gl), "camMat": K, "objName": "006_mustard_bottle", "objLabel": 5})
        _ho3d_depth_png(seq_dir / "depth" / f"{frame}.png", opencv_to_opengl(v_gl))
        _jpeg(seq_dir / "rgb" / f"{frame}.{ext}", int(frame))
        truth[(seq, frame)] = opencv_to_opengl(v_gl), opencv_to_opengl(kp_gl)
    (root / "train.txt").write_text("".join(f"{seq}/{frame}\n" for seq, frame, _ in frames))
    _pickle(root / "evaluation" / "SM1" / "meta" / "0003.pkl", {
        "handJoints3D": np.array([0.01, 0.02, -0.45]), "handBoundingBox": np.array([5.0, 6.0, 50.0, 40.0]),
        "camMat": K, "objName": "004_sugar_box"})
    _jpeg(root / "evaluation" / "SM1" / "rgb" / "0003.jpg", 3)
    _ho3d_depth_png(root / "evaluation" / "SM1" / "depth" / "0003.png", np.array([[0.0, 0.0, 0.45]]))
    return root, truth


def test_ho3d_rows_are_in_opencv_openpose_conventions(ho3d):
    root, truth = ho3d
    rows = [decode_row(r) for r in load_ho3d(root, "train", mano=open_hand_path())]
    assert [(r["scene_id"], r["view_id"]) for r in rows] == [
        ("ho3d-train-ABF10", 0), ("ho3d-train-ABF10", 1), ("ho3d-train-MC1", 7)]  # unannotated 0002 skipped
    hand = HandModel.open(dtype=torch.float64)
    for row in rows:
        meta = json.loads(row["meta"])
        vertices, keypoints = truth[(meta["sequence"], meta["frame"])]
        np.testing.assert_allclose(row["joints_3d"], keypoints, atol=1e-6)  # OpenPose order, OpenCV frame
        np.testing.assert_allclose(row["vertices_3d"], vertices, atol=1e-5)
        # Converted MANO parameters rebuild the same hand in the OpenCV frame.
        v, kp = _posed(hand, row["global_orient"], row["hand_pose"], row["betas"], row["hand_transl"])
        np.testing.assert_allclose(v, vertices, atol=1e-5)
        np.testing.assert_allclose(kp, keypoints, atol=1e-5)
        np.testing.assert_allclose(row["joints_2d"], _project(keypoints), atol=1e-3)
        assert (row["joints_3d"][:, 2] > 0).all() and meta["object"] == "006_mustard_bottle"
        # HO-3D's packed depth, decoded and re-stored in millimetres: the vertex z-buffer again.
        uv = np.round(_project(vertices)).astype(int)
        inside = ((uv >= 0) & (uv < SIZE)).all(1)
        assert inside.all()
        for u, v_ in uv[inside]:
            hit = (uv == (u, v_)).all(1)
            assert abs(row["depth"][v_, u] - vertices[hit, 2].min()) < 6e-4
        assert (row["depth"] > 0).sum() <= len(vertices)
        assert row["image"].shape == (SIZE, SIZE, 3) and row["mask"] is None and row["R"] is None


def test_ho3d_without_mano_and_evaluation_set(ho3d):
    root, truth = ho3d
    stream = load_ho3d(root, "train")
    assert stream.num_shards == 2  # one per sequence: what DataLoader workers and ranks split
    assert [r["view_id"] for r in stream.shard(2, 1)] == [7]
    row = decode_row(next(iter(stream)))
    assert row["hand_transl"] is None and row["vertices_3d"] is None
    np.testing.assert_allclose(row["joints_3d"], truth[("ABF10", "0000")][1], atol=1e-6)
    (test,) = [decode_row(r) for r in load_ho3d(root, "test")]
    assert test["scene_id"] == "ho3d-evaluation-SM1" and test["joints_3d"] is None
    np.testing.assert_allclose(test["bbox"], [5, 6, 50, 40])
    np.testing.assert_allclose(json.loads(test["meta"])["root_joint_3d"], [0.01, -0.02, 0.45])
    assert abs(test["depth"][30, 32] - 0.45) < 6e-4
    with pytest.raises(ValueError, match="HO-3D split"):
        load_ho3d(root, "val")
