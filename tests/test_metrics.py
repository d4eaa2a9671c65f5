"""Metrics: constructed cases with known values, and agreement with a plain-loop float64
reference written independently of the implementation (normalised-Procrustes form as in
FreiHAND's script, scipy KD-trees for nearest neighbours)."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from anyhand_hf import metrics as M


def _hand_like(rng: np.random.Generator, b: int, n: int = 21) -> np.ndarray:
    """Random point sets of hand size (~5 cm spread) at camera distance (~0.7 m)."""
    return rng.normal(0.0, 0.04, (b, n, 3)) + np.array([0.05, -0.02, 0.7])


def _similar_copy(gt: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    rots = Rotation.random(len(gt), random_state=1).as_matrix()
    s = rng.uniform(0.7, 1.4, (len(gt), 1, 1))
    t = rng.normal(0, 0.1, (len(gt), 1, 3))
    return s * gt @ rots.transpose(0, 2, 1) + t + rng.normal(0, noise, gt.shape)


# ---- independent reference: per sample, float64, plain loops ----------------------------


def _ref_procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """FreiHAND-style: centre, normalise by Frobenius norm, orthogonal Procrustes (with a
    determinant fix), scale = sum of (sign-fixed) singular values, undo the normalisation."""
    out = np.empty_like(pred)
    for i, (p, g) in enumerate(zip(pred, gt)):
        pc, gc = p - p.mean(0), g - g.mean(0)
        sp, sg = np.linalg.norm(pc), np.linalg.norm(gc)
        pn, gn = pc / sp, gc / sg
        u, sv, vt = np.linalg.svd(pn.T @ gn)  # pnᵀ gn = U S Vᵀ; best R (row form) = U Vᵀ
        fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
        r = u @ fix @ vt
        s = np.sum(sv * np.diag(fix))
        out[i] = (pn @ r) * s * sg + g.mean(0)
    return out


def _ref_sta(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    out = np.empty_like(pred)
    for i, (p, g) in enumerate(zip(pred, gt)):
        p = p / np.linalg.norm(p[9] - p[0]) * np.linalg.norm(g[9] - g[0])
        out[i] = p - p[0] + g[0]
    return out


def _ref_mean_err(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.array([np.mean([np.linalg.norm(a - b) for a, b in zip(p, g)]) for p, g in zip(pred, gt)])


def _ref_fscore(pred: np.ndarray, gt: np.ndarray, th: float) -> np.ndarray:
    out = []
    for p, g in zip(pred, gt):
        prec = np.mean(cKDTree(g).query(p)[0] < th)
        rec = np.mean(cKDTree(p).query(g)[0] < th)
        out.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    return np.array(out)


def _ref_auc(errors: np.ndarray, lo: float, hi: float, steps: int) -> float:
    ths = np.linspace(lo, hi, steps)
    aucs = []
    for j in range(errors.shape[1]):
        pck = [np.mean(errors[:, j] <= t) for t in ths]
        aucs.append(sum((pck[k] + pck[k + 1]) / 2 * (ths[k + 1] - ths[k]) for k in range(steps - 1)) / (hi - lo))
    return float(np.mean(aucs))


# ---- constructed cases -------------------------------------------------------------------


def test_translation_offset_gives_its_length():
    gt = _hand_like(np.random.default_rng(0), 3)
    offset = np.array([0.003, -0.004, 0.012])  # length 0.013
    np.testing.assert_allclose(M.mpjpe(gt + offset, gt), 0.013, atol=1e-12)
    np.testing.assert_allclose(M.pa_mpjpe(gt + offset, gt), 0.0, atol=1e-12)
    np.testing.assert_allclose(M.sta_mpjpe(gt + offset, gt), 0.0, atol=1e-12)


def test_similarity_copy_is_removed_by_procrustes_only():
    rng = np.random.default_rng(1)
    gt = _hand_like(rng, 4)
    pred = _similar_copy(gt, rng, noise=0.0)
    assert np.all(M.mpjpe(pred, gt) > 0.01)
    np.testing.assert_allclose(M.pa_mpjpe(pred, gt), 0.0, atol=1e-12)
    np.testing.assert_allclose(M.pa_mpvpe(pred, gt), 0.0, atol=1e-12)
    np.testing.assert_allclose(M.procrustes_align(pred, gt), gt, atol=1e-12)


def test_sta_removes_scale_and_translation_not_rotation():
    rng = np.random.default_rng(2)
    gt = _hand_like(rng, 2)
    scaled = 1.3 * gt + np.array([0.02, 0.01, -0.05])
    np.testing.assert_allclose(M.sta_mpjpe(scaled, gt), 0.0, atol=1e-12)
    rot = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    rotated = (gt - gt[:, :1]) @ rot.T + gt[:, :1]
    assert np.all(M.sta_mpjpe(rotated, gt) > 0.005)
    np.testing.assert_allclose(M.pa_mpjpe(rotated, gt), 0.0, atol=1e-12)


def test_reflection_is_not_removed_unless_allowed():
    gt = _hand_like(np.random.default_rng(3), 2)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert np.all(M.pa_mpjpe(mirrored, gt) > 0.005)
    np.testing.assert_allclose(M.procrustes_align(mirrored, gt, allow_reflection=True), gt, atol=1e-12)


def test_procrustes_without_scale_keeps_size():
    rng = np.random.default_rng(4)
    gt = _hand_like(rng, 2)
    aligned = M.procrustes_align(2.0 * gt, gt, scale=False)
    spread = lambda x: np.linalg.norm(x - x.mean(1, keepdims=True), axis=(1, 2))  # noqa: E731
    np.testing.assert_allclose(spread(aligned), 2.0 * spread(gt), rtol=1e-12)


def test_collapsed_prediction_lands_on_centroid():
    gt = _hand_like(np.random.default_rng(5), 2)
    aligned = M.procrustes_align(np.zeros_like(gt), gt)
    np.testing.assert_allclose(aligned, np.broadcast_to(gt.mean(1, keepdims=True), gt.shape), atol=1e-15)


def test_fscore_half_of_points_beyond_threshold():
    # Points on a 1 cm grid; moving half of them 1 m away leaves those unmatched both ways.
    grid = np.stack(np.meshgrid(*[np.arange(4) * 0.01] * 3, indexing="ij"), -1).reshape(1, -1, 3)
    pred = grid.copy()
    pred[0, ::2] += 1.0
    np.testing.assert_allclose(M.f_score(pred, grid, 0.005, aligned=False), [0.5])
    np.testing.assert_allclose(M.f_score(grid, grid, 0.005, aligned=False), [1.0])
    np.testing.assert_allclose(M.f_score(grid + 0.1, grid, 0.005, aligned=False), [0.0])
    # A copy shifted by exactly the threshold fails: the official comparison is strict.
    one, shifted = np.zeros((1, 1, 3)), np.array([[[0.25, 0.0, 0.0]]])  # distance exactly 0.25
    assert M.f_score(shifted, one, 0.25, aligned=False)[0] == 0.0
    assert M.f_score(shifted, one, 0.2501, aligned=False)[0] == 1.0
    np.testing.assert_allclose(M.f_score(grid + 0.1, grid, 0.005, aligned=True), [1.0])


def test_auc_pck_known_values():
    uniform = np.linspace(0.0, 0.05, 10001)[:, None].repeat(3, 1)
    assert abs(M.auc_pck(uniform) - 0.5) < 1e-3
    assert M.auc_pck(np.zeros((5, 21))) == pytest.approx(1.0, abs=1e-12)
    assert M.auc_pck(np.full((5, 21), 0.2)) == 0.0
    auc, curve = M.auc_pck(np.zeros(7), return_curve=True)
    assert curve.shape == (100,) and np.all(curve == 1.0)


def test_auc_pck_is_per_keypoint_with_missing_entries():
    # Keypoint 0: one valid error 0 (AUC 1); keypoint 1: errors 0 and 1 m (AUC 0.5).
    errors = np.array([[0.0, 0.0], [np.nan, 1.0]])
    assert M.auc_pck(errors) == pytest.approx(0.75, abs=1e-12)


def test_pck_2d():
    gt = np.zeros((2, 4, 2))
    pred = np.array([[[0, 0], [3, 4], [6, 8], [0, 1]], [[10, 0], [0, 0], [0, 0], [0, 0]]], float)
    np.testing.assert_allclose(M.pck_2d(pred, gt, 5.0), [0.75, 0.75])
    vis = np.array([[True, True, True, True], [True, False, False, False]])
    np.testing.assert_allclose(M.pck_2d(pred, gt, 5.0, visible=vis), [0.75, 0.0])


def test_ho3d_order_and_opengl():
    fingers = ["thumb", "index", "middle", "ring", "pinky"]
    openpose = ["wrist"] + [f"{f}{k}" for f in fingers for k in (1, 2, 3, 4)]  # 4 = tip
    # HO-3D: wrist; MANO joints 1-3 of index, middle, pinky, ring, thumb; tips T I M R P.
    ho3d_names = ["wrist"] + [f"{f}{k}" for f in ["index", "middle", "pinky", "ring", "thumb"] for k in (1, 2, 3)]
    ho3d_names += [f"{f}4" for f in fingers]
    joints = np.arange(21 * 3, dtype=float).reshape(1, 21, 3)
    ho3d = M.to_ho3d_order(joints)
    assert [openpose[int(v) // 3] for v in ho3d[0, :, 0]] == ho3d_names
    np.testing.assert_array_equal(M.from_ho3d_order(ho3d), joints)
    gl = M.opencv_to_opengl(torch.tensor([[0.1, 0.2, 0.7]]))
    assert isinstance(gl, torch.Tensor) and gl[0].tolist() == pytest.approx([0.1, -0.2, -0.7])
    np.testing.assert_array_equal(M.opencv_to_opengl(M.opencv_to_opengl(joints)), joints)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        M.mpjpe(np.zeros((2, 21, 3)), np.zeros((2, 20, 3)))
    with pytest.raises(ValueError):
        M.pa_mpjpe(np.zeros((21, 3)), np.zeros((21, 3)))
    with pytest.raises(ValueError):
        M.keypoint_errors(np.zeros((1, 21, 3)), np.zeros((1, 21, 3)), align="rigid")


# ---- agreement with the reference on random batches --------------------------------------


@pytest.mark.parametrize("kind", ["numpy", "torch64", "torch32"])
def test_agrees_with_reference(kind):
    rng = np.random.default_rng(6)
    gt = _hand_like(rng, 8)
    pred = _similar_copy(gt, rng, noise=0.008)
    gt_v = _hand_like(rng, 4, 300)
    pred_v = _similar_copy(gt_v, rng, noise=0.004)
    wrap = {
        "numpy": lambda x: x,
        "torch64": lambda x: torch.tensor(x),
        "torch32": lambda x: torch.tensor(x, dtype=torch.float32),
    }[kind]
    unwrap = lambda y: y if isinstance(y, np.ndarray) else y.double().numpy()  # noqa: E731
    atol = 1e-6

    np.testing.assert_allclose(unwrap(M.mpjpe(wrap(pred), wrap(gt))), _ref_mean_err(pred, gt), atol=atol)
    np.testing.assert_allclose(
        unwrap(M.pa_mpjpe(wrap(pred), wrap(gt))), _ref_mean_err(_ref_procrustes(pred, gt), gt), atol=atol
    )
    np.testing.assert_allclose(
        unwrap(M.pa_mpvpe(wrap(pred_v), wrap(gt_v))), _ref_mean_err(_ref_procrustes(pred_v, gt_v), gt_v), atol=atol
    )
    np.testing.assert_allclose(
        unwrap(M.sta_mpjpe(wrap(pred), wrap(gt))), _ref_mean_err(_ref_sta(pred, gt), gt), atol=atol
    )
    for th in (0.005, 0.015):
        np.testing.assert_allclose(
            unwrap(M.f_score(wrap(pred_v), wrap(gt_v), th, aligned=False)), _ref_fscore(pred_v, gt_v, th), atol=atol
        )
        np.testing.assert_allclose(
            unwrap(M.f_score(wrap(pred_v), wrap(gt_v), th)),
            _ref_fscore(_ref_procrustes(pred_v, gt_v), gt_v, th),
            atol=atol,
        )
    errors = M.keypoint_errors(wrap(pred), wrap(gt), "procrustes")
    ref_errors = np.linalg.norm(_ref_procrustes(pred, gt) - gt, axis=-1)
    np.testing.assert_allclose(unwrap(errors), ref_errors, atol=atol)
    assert M.auc_pck(ref_errors) == pytest.approx(_ref_auc(ref_errors, 0.0, 0.05, 100), abs=1e-12)


def test_output_kind_and_dtype_follow_input():
    rng = np.random.default_rng(7)
    gt = _hand_like(rng, 2)
    out_np = M.pa_mpjpe(gt.astype(np.float32), gt)
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.float64 and out_np.shape == (2,)
    out_t = M.pa_mpjpe(torch.tensor(gt, dtype=torch.float32), gt)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32 and out_t.shape == (2,)
    pred = torch.tensor(gt + 0.01, requires_grad=True)
    M.pa_mpjpe(pred, torch.tensor(gt)).sum().backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
