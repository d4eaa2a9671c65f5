"""Hand pose and mesh metrics with the benchmarks' exact definitions (FreiHAND, HO-3D).

Conventions
-----------
* Units are metres in and metres out (pixels for :func:`pck_2d`).
* Per-sample functions take batches ``(B, N, 3)`` and return ``(B,)``: the mean over the
  sample's N points. Averaging those over a test set equals FreiHAND's "mean error per
  keypoint, then averaged over keypoints" whenever every keypoint is counted in every
  sample (both benchmarks count all of them).
* Inputs may be ``numpy`` arrays or ``torch`` tensors; the output has the same kind.
  numpy inputs are computed in float64; torch inputs in their own dtype and on their own
  device (differentiable; float32 agrees with a float64 reference to ~1e-7 m on
  hand-sized data at camera distances, so no upcast is needed).
* Keypoints are in OpenPose/FreiHAND order (wrist; thumb, index, middle, ring, pinky,
  each base→tip). HO-3D stores and expects its own order: see :func:`to_ho3d_order`.

What the official evaluation scripts do, and where we match them
----------------------------------------------------------------
* Procrustes (FreiHAND ``align_w_scale``, reused by HO-3D): centre both sets, optimal
  orthogonal map and isotropic scale, done separately for joints and for vertices. The
  official code calls ``scipy.linalg.orthogonal_procrustes``, which may return a
  reflection; we solve for a proper rotation by default (``allow_reflection=True``
  reproduces the official solve). The two agree whenever the best orthogonal map is a
  rotation, which holds for any prediction that is roughly hand-shaped.
* Scale-and-translation alignment (HO-3D ``align_sc_tr``): scale the prediction so its
  wrist→middle-MCP length equals the ground truth's, then move its wrist onto the ground
  truth's wrist. No rotation, no least squares.
* F-score (both): nearest-neighbour distances between the two vertex sets, precision
  and recall with a *strict* ``d < threshold``; reported unaligned and Procrustes-aligned.
* PCK/AUC (FreiHAND ``EvalUtil``): PCK counts ``d <= threshold``; see :func:`auc_pck`.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)
Alignment = Literal["procrustes", "scale_translation"] | None

# OpenPose-order indices HO-3D's ``align_sc_tr`` uses (its own indices 0 and 4: the wrist
# and the middle finger's MCP joint).
WRIST = 0
MIDDLE_MCP = 9

# HO-3D's 21 joints: MANO's 16 in MANO order (wrist; index 1-3, middle 1-3, pinky 1-3,
# ring 1-3, thumb 1-3), then the fingertips thumb, index, middle, ring, pinky. Its
# vis_HO3D.py converts HO-3D → OpenPose with
# ``jointsMapManoToSimple = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19,
# 7, 8, 9, 20]`` (openpose = ho3d[map]); the inverse permutation below goes the other way.
HO3D_TO_OPENPOSE = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
OPENPOSE_TO_HO3D = tuple(int(i) for i in np.argsort(HO3D_TO_OPENPOSE))


def _as_tensors(*arrays: np.ndarray | torch.Tensor) -> tuple[list[torch.Tensor], bool]:
    """Convert inputs to tensors sharing the first one's dtype and device.

    Returns the tensors and whether the first input was numpy (then compute in float64
    and hand numpy back). One code path serves both kinds, so numpy and torch results
    cannot drift apart.
    """
    first = arrays[0]
    was_numpy = not isinstance(first, torch.Tensor)
    if was_numpy:
        ref = torch.as_tensor(np.asarray(first, dtype=np.float64))
    else:
        ref = first if first.is_floating_point() else first.double()
    out = [ref]
    for a in arrays[1:]:
        a = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
        out.append(a.to(dtype=ref.dtype, device=ref.device))
    return out, was_numpy


def _back(x: torch.Tensor, was_numpy: bool) -> np.ndarray | torch.Tensor:
    return x.detach().cpu().numpy() if was_numpy else x


def _check_pair(pred: torch.Tensor, gt: torch.Tensor, dim: int | None = 3) -> None:
    if pred.ndim != 3 or gt.ndim != 3 or pred.shape != gt.shape:
        raise ValueError(
            f"expected matching batched point sets (B, N, D), got {tuple(pred.shape)} and "
            f"{tuple(gt.shape)}"
        )
    if dim is not None and pred.shape[-1] != dim:
        raise ValueError(f"expected points of dimension {dim}, got {pred.shape[-1]}")


def _procrustes(pred: torch.Tensor, gt: torch.Tensor, scale: bool, allow_reflection: bool) -> torch.Tensor:
    """Similarity transform of ``pred`` onto ``gt`` (tensors, (B, N, 3)); see procrustes_align."""
    mu_p = pred.mean(dim=1, keepdim=True)
    mu_g = gt.mean(dim=1, keepdim=True)
    p = pred - mu_p
    g = gt - mu_g
    cov = g.transpose(1, 2) @ p  # Σ g_i p_iᵀ, (B, 3, 3)
    u, sigma, vh = torch.linalg.svd(cov)
    d = torch.ones_like(sigma)
    if not allow_reflection:
        # Flip the weakest axis when U Vᵀ would be a reflection (Umeyama 1991).
        d[:, -1] = torch.where(torch.linalg.det(u @ vh) < 0, -1.0, 1.0)
    rot = u @ torch.diag_embed(d) @ vh  # maps centred pred onto centred gt
    if scale:
        var_p = (p**2).sum(dim=(1, 2))
        # A collapsed prediction (all points equal) gets scale 0, i.e. every point lands
        # on the ground-truth centroid, as the official code's +1e-8 guard gives.
        s = torch.where(var_p > 0, (sigma * d).sum(-1) / var_p.clamp_min(torch.finfo(p.dtype).tiny), 0.0)
    else:
        s = torch.ones_like(sigma[:, 0])
    return s[:, None, None] * (p @ rot.transpose(1, 2)) + mu_g


def _scale_translation(pred: torch.Tensor, gt: torch.Tensor, root: int, scale_ref: int) -> torch.Tensor:
    """HO-3D's ``align_sc_tr`` on tensors (B, N, 3); see sta_mpjpe."""
    len_p = (pred[:, scale_ref] - pred[:, root]).norm(dim=-1)
    len_g = (gt[:, scale_ref] - gt[:, root]).norm(dim=-1)
    # The official code skips normalising when the predicted length is 0 and still
    # multiplies by the ground truth's length; kept so degenerate inputs score the same.
    s = len_g / torch.where(len_p > 0, len_p, torch.ones_like(len_p))
    scaled = s[:, None, None] * pred
    return scaled - scaled[:, root : root + 1] + gt[:, root : root + 1]


def procrustes_align(
    pred: Array, gt: Array, scale: bool = True, allow_reflection: bool = False
) -> Array:
    """Align each predicted point set to its ground truth by a similarity transform.

    Per sample, finds rotation ``R`` (det +1), isotropic scale ``s`` (1 when
    ``scale=False``) and translation ``t`` minimising ``Σ_i ||s R p_i + t - g_i||²``
    (Umeyama's closed form: SVD of the 3×3 cross-covariance, flipping the weakest axis
    when the orthogonal solution is a reflection) and returns ``s R p_i + t``.

    Args:
        pred, gt: (B, N, 3) corresponding points.
        scale: solve for the scale (FreiHAND/HO-3D do).
        allow_reflection: accept an improper orthogonal map, as the official
            ``scipy.linalg.orthogonal_procrustes``-based scripts do.

    Returns:
        (B, N, 3) aligned prediction, same kind as ``pred``.
    """
    (p, g), was_numpy = _as_tensors(pred, gt)
    _check_pair(p, g)
    return _back(_procrustes(p, g, scale, allow_reflection), was_numpy)


def keypoint_errors(
    pred: Array,
    gt: Array,
    align: Alignment = None,
    *,
    root: int = WRIST,
    scale_ref: int = MIDDLE_MCP,
) -> Array:
    """Per-point Euclidean distances after an optional alignment of ``pred`` to ``gt``.

    The single place where alignment happens; every error metric here is a mean of these.

    Args:
        pred, gt: (B, N, D) corresponding points (D = 3; D = 2 works without alignment).
        align: ``None`` (camera-frame error), ``"procrustes"`` (similarity transform,
            :func:`procrustes_align`) or ``"scale_translation"`` (HO-3D's, see
            :func:`sta_mpjpe`).
        root, scale_ref: indices the scale-and-translation alignment uses; the defaults
            are the wrist and middle-finger MCP in OpenPose order.

    Returns:
        (B, N) distances, same kind as ``pred``.
    """
    (p, g), was_numpy = _as_tensors(pred, gt)
    _check_pair(p, g, dim=None if align is None else 3)
    if align == "procrustes":
        p = _procrustes(p, g, scale=True, allow_reflection=False)
    elif align == "scale_translation":
        p = _scale_translation(p, g, root, scale_ref)
    elif align is not None:
        raise ValueError(f"unknown alignment {align!r}")
    return _back((p - g).norm(dim=-1), was_numpy)


def mpjpe(pred: Array, gt: Array) -> Array:
    """Mean per-joint position error, camera frame: (B, N, 3) → (B,) metres."""
    return keypoint_errors(pred, gt).mean(-1)


def pa_mpjpe(pred: Array, gt: Array) -> Array:
    """Procrustes-aligned (with scale) MPJPE, aligned on the joints alone: (B,) metres."""
    return keypoint_errors(pred, gt, "procrustes").mean(-1)


def pa_mpvpe(pred_verts: Array, gt_verts: Array) -> Array:
    """Procrustes-aligned mean per-vertex error, aligned on the vertices alone (as
    FreiHAND does, independently of the joints): (B, V, 3) → (B,) metres."""
    return keypoint_errors(pred_verts, gt_verts, "procrustes").mean(-1)


def sta_mpjpe(pred: Array, gt: Array, *, root: int = WRIST, scale_ref: int = MIDDLE_MCP) -> Array:
    """Scale-and-translation aligned MPJPE, HO-3D's definition: (B, 21, 3) → (B,) metres.

    The prediction is scaled so that its ``root``→``scale_ref`` bone (wrist → middle
    MCP) has the ground truth's length, then translated so its root coincides with the
    ground truth's. Rotation errors remain. This is not a least-squares
    fit: it is what HO-3D's ``align_sc_tr`` computes (its indices 0 and 4 are our 0 and 9).
    """
    return keypoint_errors(pred, gt, "scale_translation", root=root, scale_ref=scale_ref).mean(-1)


def _nn_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """For each point of ``a`` (B, N, 3), the distance to its nearest point of ``b`` (B, M, 3)."""
    # Chunk the batch so the (chunk, N, M) distance matrix stays ≲ 16M entries. The
    # explicit-difference mode avoids the matmul mode's |x|²+|y|²-2xy cancellation, which
    # in float32 at camera distances (~0.7 m) errs by up to ~0.2 mm for close points.
    chunk = max(1, (1 << 24) // max(1, a.shape[1] * b.shape[1]))
    return torch.cat(
        [
            torch.cdist(a[i : i + chunk], b[i : i + chunk], compute_mode="donot_use_mm_for_euclid_dist").amin(-1)
            for i in range(0, a.shape[0], chunk)
        ]
    )


def f_score(pred: Array, gt: Array, threshold: float, aligned: bool = True) -> Array:
    """F-score of two point sets at ``threshold`` metres (F@5: 0.005, F@15: 0.015).

    Precision: fraction of predicted points whose nearest ground-truth point is closer than
    ``threshold`` (strictly, as the official scripts); recall: the same from ground truth to
    prediction; ``F = 2PR / (P + R)``, 0 when both are 0. With ``aligned=True`` the
    prediction is first Procrustes-aligned (with scale) to the ground truth, which needs
    corresponding points (same N, e.g. MANO's 778 vertices); papers report this one.

    Args:
        pred, gt: (B, N, 3) and (B, M, 3) point sets.

    Returns:
        (B,) F-scores in [0, 1], same kind as ``pred``.
    """
    (p, g), was_numpy = _as_tensors(pred, gt)
    if p.ndim != 3 or g.ndim != 3 or p.shape[0] != g.shape[0] or p.shape[-1] != 3 or g.shape[-1] != 3:
        raise ValueError(f"expected (B, N, 3) and (B, M, 3), got {tuple(p.shape)} and {tuple(g.shape)}")
    if aligned:
        _check_pair(p, g)
        p = _procrustes(p, g, scale=True, allow_reflection=False)
    precision = (_nn_distances(p, g) < threshold).to(p.dtype).mean(-1)
    recall = (_nn_distances(g, p) < threshold).to(p.dtype).mean(-1)
    denom = precision + recall
    f = 2 * precision * recall / torch.where(denom > 0, denom, torch.ones_like(denom))  # 0 when P = R = 0
    return _back(f, was_numpy)


def auc_pck(
    errors: Array, lo: float = 0.0, hi: float = 0.05, steps: int = 100, *, return_curve: bool = False
) -> float | tuple[float, Array]:
    """Area under the 3D PCK curve, FreiHAND's definition (0–50 mm, 100 thresholds).

    Definition: thresholds ``τ_k = linspace(lo, hi, steps)``. For keypoint j, its PCK
    curve is ``PCK_j(τ) = mean over samples of [e_ij <= τ]`` (``<=`` as FreiHAND's
    ``EvalUtil``). Its AUC is the trapezoid integral of ``PCK_j`` over the thresholds
    divided by ``hi - lo``, so a perfect predictor scores 1. The result is the mean of the
    per-keypoint AUCs, and the returned curve is the mean of the per-keypoint curves.

    Why per keypoint: that is how FreiHAND's and HO-3D's scripts compute it. With every
    keypoint present in every sample it equals the AUC of the pooled curve (the integral
    is linear); it differs when some keypoints are missing, which is expressed here by
    NaN errors: a NaN entry is left out of its keypoint's PCK (FreiHAND's visibility
    flag), and a keypoint with no valid entry is left out of the mean.

    Args:
        errors: (B, N) per-keypoint distances in metres (from :func:`keypoint_errors`),
            or (N_total,), treated as one keypoint.
        lo, hi, steps: threshold range in metres and number of thresholds.
        return_curve: also return the mean PCK at each threshold, shape (steps,), same
            kind as ``errors``.

    Returns:
        The AUC as a float, or ``(auc, curve)``.
    """
    (e,), was_numpy = _as_tensors(errors)
    if e.ndim == 1:
        e = e[:, None]
    if e.ndim != 2:
        raise ValueError(f"expected errors of shape (B, N) or (N_total,), got {tuple(e.shape)}")
    if not hi > lo or steps < 2:
        raise ValueError("need hi > lo and steps >= 2")
    thresholds = torch.linspace(lo, hi, steps, dtype=e.dtype, device=e.device)
    valid = ~torch.isnan(e)
    hits = (e[None] <= thresholds[:, None, None]) & valid[None]  # (steps, B, N)
    counts = valid.sum(0)
    keep = counts > 0
    pck = hits.sum(1)[:, keep].to(e.dtype) / counts[keep].to(e.dtype)  # (steps, N_kept)
    auc_per_kp = torch.trapezoid(pck, thresholds, dim=0) / (hi - lo)
    auc = float(auc_per_kp.mean())
    if not return_curve:
        return auc
    return auc, _back(pck.mean(1), was_numpy)


def pck_2d(pred_2d: Array, gt_2d: Array, threshold_px: float, visible: Array | None = None) -> Array:
    """Fraction of (visible) keypoints within ``threshold_px`` pixels (``<=``) per sample.

    Args:
        pred_2d, gt_2d: (B, N, 2) pixel coordinates.
        visible: optional (B, N) boolean mask; samples with no visible keypoint get NaN.

    Returns:
        (B,) fractions, same kind as ``pred_2d``.
    """
    (p, g), was_numpy = _as_tensors(pred_2d, gt_2d)
    _check_pair(p, g, dim=2)
    hit = ((p - g).norm(dim=-1) <= threshold_px).to(p.dtype)
    if visible is None:
        return _back(hit.mean(-1), was_numpy)
    vis = _as_tensors(visible)[0][0].to(p)
    return _back((hit * vis).sum(-1) / vis.sum(-1), was_numpy)


def to_ho3d_order(joints_21_openpose: Array) -> Array:
    """Reorder (..., 21, C) OpenPose-order joints into HO-3D's order (see OPENPOSE_TO_HO3D).

    HO-3D's order (from its public vis_HO3D.py ``jointsMapManoToSimple``, and the same
    permutation used by published HO-3D submission code): wrist; index, middle, pinky,
    ring, thumb MANO joints 1-3 each; then the tips of thumb, index, middle, ring, pinky.
    Submissions also need OpenGL coordinates: apply :func:`opencv_to_opengl`.
    """
    return joints_21_openpose[..., list(OPENPOSE_TO_HO3D), :]


def from_ho3d_order(joints_21_ho3d: Array) -> Array:
    """Inverse of :func:`to_ho3d_order`: HO-3D annotations (``handJoints3D``) → OpenPose order."""
    return joints_21_ho3d[..., list(HO3D_TO_OPENPOSE), :]


def opencv_to_opengl(points: Array) -> Array:
    """Camera-frame points (..., 3) from OpenCV (x right, y down, z forward) to OpenGL
    (x right, y up, z backward): negate y and z. Its own inverse.

    HO-3D's annotations and submissions use OpenGL camera coordinates (the hand lies at
    negative z; its pred.py rejects predictions with all z > 0).
    """
    sign = [1.0, -1.0, -1.0]
    if isinstance(points, torch.Tensor):
        return points * torch.tensor(sign, dtype=points.dtype, device=points.device)
    return np.asarray(points) * np.array(sign)
