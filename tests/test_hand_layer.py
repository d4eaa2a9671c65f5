"""HandModel equals smplx.MANO on the same file; loaders read .npz and chumpy pickles; bad input is refused."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from anyhand_hf.hand import HandFileError, HandModel, load_hand_arrays, mirror_hand_arrays, open_hand_path
from anyhand_hf.hand.skeleton import OPENPOSE_FROM_MANO

smplx = pytest.importorskip("smplx")


def random_params(batch: int, seed: int = 0, pose_scale: float = 0.6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "global_orient": torch.randn(batch, 3, generator=g) * 1.5,
        "hand_pose": torch.randn(batch, 45, generator=g) * pose_scale,
        "betas": torch.randn(batch, 10, generator=g),
        "transl": torch.randn(batch, 3, generator=g) * 0.3,
    }


def write_npz(arrays: dict, folder, side: str = "RIGHT"):
    path = folder / f"MANO_{side}.npz"
    np.savez(path, **arrays)
    return path


def smplx_mano(folder, is_right: bool = True, **kwargs):
    return smplx.MANO(str(folder), is_rhand=is_right, use_pca=False, flat_hand_mean=True, ext="npz",
                      batch_size=1, **kwargs)


def assert_matches_smplx(ours: HandModel, ref, params: dict, atol: float = 1e-6) -> None:
    with torch.no_grad():
        a = ours(**params)
        b = ref(**params)
    assert torch.allclose(a.vertices, b.vertices, atol=atol, rtol=0), (a.vertices - b.vertices).abs().max()
    assert torch.allclose(a.joints, b.joints, atol=atol, rtol=0), (a.joints - b.joints).abs().max()


@pytest.mark.parametrize("seed", [0, 1])
def test_equals_smplx_on_random_mano_layout_file(tmp_path, seed):
    from conftest import random_mano_arrays

    write_npz(random_mano_arrays(seed), tmp_path)
    ours = HandModel.from_file(tmp_path / "MANO_RIGHT.npz")
    assert_matches_smplx(ours, smplx_mano(tmp_path), random_params(64, seed))


def test_equals_smplx_on_open_hand(tmp_path):
    write_npz(load_hand_arrays(open_hand_path()), tmp_path)
    assert_matches_smplx(HandModel.open(), smplx_mano(tmp_path), random_params(64, 3))


def test_left_open_hand_equals_smplx_and_mirrors_right(tmp_path):
    left_arrays = mirror_hand_arrays(load_hand_arrays(open_hand_path()))
    write_npz(left_arrays, tmp_path, "LEFT")
    left, right = HandModel.open("left"), HandModel.open("right")
    params = random_params(16, 4)
    assert_matches_smplx(left, smplx_mano(tmp_path, is_right=False), params)
    # A left hand posed with the mirrored pose is the mirror image of the right hand.
    flip = torch.tensor([1.0, -1.0, -1.0])
    mirrored = {"global_orient": params["global_orient"] * flip,
                "hand_pose": (params["hand_pose"].view(-1, 15, 3) * flip).view(-1, 45),
                "betas": params["betas"]}
    with torch.no_grad():
        r = right(**{k: params[k] for k in ("global_orient", "hand_pose", "betas")})
        l = left(**mirrored)
    m = torch.tensor([-1.0, 1.0, 1.0])
    assert torch.allclose(l.vertices, r.vertices * m, atol=1e-6)
    assert not left.is_right and right.is_right


def test_pca_and_hand_mean_match_smplx(tmp_path, mano_arrays):
    write_npz(mano_arrays, tmp_path)
    ref = smplx.MANO(str(tmp_path), is_rhand=True, use_pca=True, num_pca_comps=6, flat_hand_mean=False,
                     ext="npz")
    ours = HandModel.from_file(tmp_path / "MANO_RIGHT.npz", use_pca=True, num_pca_comps=6, flat_hand_mean=False)
    params = random_params(8, 5)
    params["hand_pose"] = params["hand_pose"][:, :6]
    assert_matches_smplx(ours, ref, params)


def test_rotation_matrix_input_equals_axis_angle(mano_arrays):
    model = HandModel(mano_arrays)
    params = random_params(4, 6)
    from anyhand_hf.hand.lbs import axis_angle_to_matrix

    with torch.no_grad():
        a = model(**params)
        b = model(global_orient=axis_angle_to_matrix(params["global_orient"])[:, None],
                  hand_pose=axis_angle_to_matrix(params["hand_pose"].view(4, 15, 3)),
                  betas=params["betas"], transl=params["transl"])
    assert torch.allclose(a.vertices, b.vertices, atol=1e-6)


def test_keypoints_are_joints_plus_tips_in_openpose_order(mano_arrays):
    model = HandModel(mano_arrays)
    out = model(**random_params(2, 7))
    tips = out.vertices[:, [744, 320, 443, 554, 671]]
    full = torch.cat([out.joints, tips], dim=1)
    assert out.keypoints.shape == (2, 21, 3)
    assert torch.equal(out.keypoints, full[:, list(OPENPOSE_FROM_MANO)])
    # wrist first, then thumb base..tip: MANO thumb joints 13,14,15 then the thumb tip
    assert list(OPENPOSE_FROM_MANO[:5]) == [0, 13, 14, 15, 16]


def test_gradients_flow_to_all_parameters(mano_arrays):
    model = HandModel(mano_arrays)
    params = {k: v.requires_grad_() for k, v in random_params(3, 8).items()}
    model(**params).vertices.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values())


# -- loading -------------------------------------------------------------------------------------

def _pickle_with_fake_chumpy(arrays: dict, path) -> None:
    """Write a pickle shaped like the official MANO file: arrays wrapped in chumpy.ch.Ch objects
    (state dict with the array under 'x'), a scipy-sparse J_regressor, protocol 2."""
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __getstate__(self):
            return self.__dict__

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    chumpy.ch = ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch
    try:
        wrapped = {}
        for key, value in arrays.items():
            if key in ("v_template", "shapedirs", "posedirs", "weights"):
                obj = Ch()
                obj.__dict__.update({"x": value, "_dirty_vars": set(), "_itr": None})
                wrapped[key] = obj
            elif key == "J_regressor":
                wrapped[key] = scipy.sparse.csc_matrix(value)
            else:
                wrapped[key] = value
        path.write_bytes(pickle.dumps(wrapped, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def test_chumpy_pickle_loads_without_chumpy(tmp_path, mano_arrays):
    path = tmp_path / "MANO_RIGHT.pkl"
    _pickle_with_fake_chumpy(mano_arrays, path)
    assert "chumpy" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(path.read_bytes())  # a plain unpickle needs chumpy
    loaded = load_hand_arrays(path)
    for key, value in mano_arrays.items():
        np.testing.assert_array_equal(loaded[key], value)
    model = HandModel.from_file(path)
    assert model.is_right
    params = random_params(4, 9)
    with torch.no_grad():
        assert torch.allclose(model(**params).vertices, HandModel(mano_arrays)(**params).vertices)


def test_left_file_name_sets_side(tmp_path, mano_arrays):
    assert not HandModel.from_file(write_npz(mano_arrays, tmp_path, "LEFT")).is_right


@pytest.mark.parametrize("corruption, message", [
    ("truncate", "not a readable"),
    ("garbage", "not a readable"),
    ("missing_key", "missing key"),
    ("bad_shape", "shapedirs has shape"),
    ("nan", "NaN"),
    ("bad_faces", "outside"),
])
def test_bad_files_raise_clear_errors(tmp_path, mano_arrays, corruption, message):
    arrays = dict(mano_arrays)
    if corruption == "missing_key":
        del arrays["J_regressor"]
    elif corruption == "bad_shape":
        arrays["shapedirs"] = arrays["shapedirs"][:-1]
    elif corruption == "nan":
        arrays["v_template"] = arrays["v_template"].copy()
        arrays["v_template"][3, 1] = np.nan
    elif corruption == "bad_faces":
        arrays["f"] = arrays["f"].astype(np.int64) + 1000
    path = write_npz(arrays, tmp_path)
    if corruption == "truncate":
        path.write_bytes(path.read_bytes()[:500])
    elif corruption == "garbage":
        path = tmp_path / "MANO_RIGHT.pkl"
        path.write_bytes(b"\x80\x02not really a pickle")
    with pytest.raises(HandFileError, match=message) as err:
        HandModel.from_file(path)
    assert str(path) in str(err.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(HandFileError, match="no such"):
        HandModel.from_file(tmp_path / "nope.npz")
    (tmp_path / "hand.obj").write_text("v 0 0 0")
    with pytest.raises(HandFileError, match="unknown hand model format"):
        HandModel.from_file(tmp_path / "hand.obj")


@pytest.mark.parametrize("bad, message", [
    ({"hand_pose": torch.zeros(2, 44)}, r"hand_pose has shape \(2, 44\), expected \(2, 45\)"),
    ({"betas": torch.zeros(3, 10)}, "mismatched batch sizes"),
    ({"global_orient": torch.full((2, 3), float("nan"))}, "global_orient contains NaN"),
    ({"transl": torch.tensor([[0.0, float("inf"), 0.0]] * 2)}, "transl contains NaN or infinite"),
    ({"betas": torch.zeros(2, 7)}, r"betas has shape"),
])
def test_bad_parameters_raise_clear_errors(mano_arrays, bad, message):
    model = HandModel(mano_arrays)
    params = {"global_orient": torch.zeros(2, 3), "hand_pose": torch.zeros(2, 45)} | bad
    with pytest.raises(ValueError, match=message):
        model(**params)
