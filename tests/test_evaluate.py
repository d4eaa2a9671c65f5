"""Evaluation: metrics over predictions, left-hand mirroring, the CLI's table/JSON, benchmark submissions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.transform import Rotation

from anyhand_hf import metrics
from anyhand_hf.data.schema import encode_row
from anyhand_hf.modeling import AnyHandConfig, AnyHandNetD
from hand_rows import mirrored, synthetic_row, write_synthetic_dataset

import evaluate  # scripts/evaluate.py: hand_rows puts scripts/ on the path  # noqa: E402, I001

HW = [64, 48]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model")
    AnyHandNetD(AnyHandConfig.from_preset("tiny", use_depth=True, image_size=HW)).save_pretrained(path)
    return path


def prediction(gt_joints, gt_verts, joints, verts):
    return {"joints_3d": joints, "vertices": verts, "joints_2d": joints[:, :2] / joints[:, 2:],
            "gt_joints_3d": gt_joints, "gt_vertices": gt_verts, "gt_joints_2d": gt_joints[:, :2] / gt_joints[:, 2:]}


def test_score_perfect_and_similar_predictions():
    rows = [synthetic_row(i) for i in range(3)]
    perfect = evaluate.score([prediction(r["joints_3d"], r["vertices_3d"], r["joints_3d"], r["vertices_3d"])
                              for r in rows])
    assert perfect["num_samples"] == perfect["num_samples_vertices"] == 3
    for key in ("mpjpe", "pa_mpjpe", "sta_mpjpe", "pa_mpvpe"):
        assert perfect[key] == pytest.approx(0.0, abs=1e-9), key
    for key in ("f@5mm", "f@15mm", "f@5mm_unaligned", "pck_2d@10px"):
        assert perfect[key] == pytest.approx(1.0), key
    # Aligned errors are 0 or ~1e-17 m; the latter miss only the first threshold (0), costing 0.5 / 99.
    for key in ("auc_joints", "auc_vertices"):
        assert 1 - 0.5 / 99 - 1e-9 <= perfect[key] <= 1.0, key
    # A rotated, scaled, shifted copy: Procrustes removes all of it, the camera-frame error none of it.
    turn = Rotation.from_euler("xyz", [0.3, -0.2, 0.5]).as_matrix()
    moved = lambda x: 1.1 * (x - x.mean(0)) @ turn.T + x.mean(0) + [0.02, 0.0, 0.05]  # noqa: E731
    similar = evaluate.score([prediction(r["joints_3d"], r["vertices_3d"], moved(r["joints_3d"]),
                                         moved(r["vertices_3d"])) for r in rows])
    assert similar["pa_mpjpe"] < 1e-9 and similar["pa_mpvpe"] < 1e-9 and similar["f@5mm"] == pytest.approx(1.0)
    expected = np.mean([metrics.mpjpe(moved(r["joints_3d"])[None], r["joints_3d"][None]) for r in rows])
    assert similar["mpjpe"] == pytest.approx(expected) and similar["mpjpe"] > 0.02
    assert similar["f@5mm_unaligned"] < 0.5 and similar["sta_mpjpe"] > 0.005  # rotation stays in STA


def test_unlabelled_rows_are_predicted_but_not_scored():
    row = synthetic_row(0)
    result = evaluate.score([{**prediction(row["joints_3d"], None, row["joints_3d"], row["vertices_3d"]),
                              "gt_joints_3d": None}])
    assert result == {"num_predictions": 1, "num_samples": 0}


def test_left_hand_predictions_mirror_the_right_hands(model_dir):
    model = AnyHandNetD.from_pretrained(model_dir).eval()
    row = synthetic_row(3)
    v, u = np.mgrid[0:64, 0:64]  # smooth: mirrored crops then match to OpenCV's 1/32-pixel resampling
    row["image"] = np.stack([128 + 100 * np.sin(u / 7.0), 128 + 100 * np.cos(v / 5.0), 2 * u + v], -1).astype(np.uint8)
    right, left = evaluate.predict_rows(model, [encode_row(row), encode_row(mirrored(row))], batch_size=2)
    np.testing.assert_allclose(left["joints_3d"], right["joints_3d"] * [-1.0, 1.0, 1.0], atol=2e-3)
    np.testing.assert_allclose(left["gt_joints_3d"], right["gt_joints_3d"] * [-1.0, 1.0, 1.0], atol=1e-6)
    cx = row["K"][0, 2]
    np.testing.assert_allclose(left["joints_2d"][:, 0], 2 * cx - right["joints_2d"][:, 0], atol=0.1)


@pytest.mark.parametrize("depth", ["gt", "none", "estimated"])
def test_cli_writes_table_and_json(model_dir, tmp_path, depth, capsys):
    data = write_synthetic_dataset(tmp_path / "data", train_rows=2, test_rows=3)
    out = tmp_path / "result.json"
    evaluate.main(["--model", str(model_dir), "--data", str(data), "--config", "single_indoor", "--depth", depth,
                   "--batch-size", "2", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["num_samples"] == 3 and result["depth"] == depth and result["preset"] == "tiny"
    assert all(np.isfinite(result[k]) for k in ("mpjpe", "pa_mpjpe", "sta_mpjpe", "pa_mpvpe", "f@5mm"))
    assert "| pa_mpjpe |" in capsys.readouterr().out


def test_freihand_and_ho3d_submissions(model_dir, tmp_path):
    # FreiHAND's evaluation folder as distributed, without its (hidden) labels: 224x224 images and K.
    root = tmp_path / "FreiHAND"
    (root / "evaluation" / "rgb").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(
            root / "evaluation" / "rgb" / f"{i:08d}.jpg")
    K = [[[560.0, 0.0, 112.0], [0.0, 560.0, 112.0], [0.0, 0.0, 1.0]]] * 3
    (root / "evaluation_K.json").write_text(json.dumps(K))
    sub = tmp_path / "pred.json"
    rgb_dir = tmp_path / "rgb_model"
    AnyHandNetD(AnyHandConfig.from_preset("tiny", use_depth=False, image_size=HW)).save_pretrained(rgb_dir)
    result = evaluate.main(["--model", str(rgb_dir), "--data", str(root), "--format", "freihand", "--split", "test",
                            "--submission", str(sub), "--out", str(tmp_path / "r.json")])
    assert result["num_predictions"] == 3 and result["num_samples"] == 0
    xyz, verts = json.loads(sub.read_text())
    assert np.asarray(xyz).shape == (3, 21, 3) and np.asarray(verts).shape[0] == 3
    assert (np.asarray(xyz)[..., 2] > 0).all()  # OpenCV: in front of the camera
    # HO-3D: its joint order and OpenGL coordinates (z < 0 in front of the camera).
    preds = [{"joints_3d": np.asarray(x), "vertices": np.asarray(v)} for x, v in zip(xyz, verts)]
    ho_xyz, ho_verts = evaluate.submission(preds, "ho3d")
    np.testing.assert_allclose(metrics.from_ho3d_order(metrics.opencv_to_opengl(np.asarray(ho_xyz))), xyz, atol=1e-12)
    assert (np.asarray(ho_verts)[..., 2] < 0).all()
    with pytest.raises(ValueError, match="--submission is for --format freihand or ho3d"):
        evaluate.main(["--model", str(rgb_dir), "--data", str(root), "--submission", str(sub)])
