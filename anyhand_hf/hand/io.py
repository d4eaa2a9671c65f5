"""Read, check and mirror MANO-layout hand model files (.pkl / .npz).

A MANO-layout file is a dict of arrays: v_template (V,3), shapedirs (V,3,S), posedirs
(V,3,9(J-1)), J_regressor (J,V) dense or scipy-sparse, weights (V,J), kintree_table (2,J),
f (F,3), and optionally hands_components (45,45), hands_mean (45,). Extra keys are kept.

The official MANO pickles are Python 2 pickles whose arrays are `chumpy` objects. chumpy is
unmaintained and breaks on current numpy, so `load_hand_arrays` unpickles those objects into
plain stand-ins and takes the array each one holds: no chumpy import ever happens.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


class HandFileError(ValueError):
    """A hand model file is unreadable or does not hold a valid MANO layout."""


class _ChumpyStandIn:
    """Takes the pickled state of a chumpy object; its array lives in `x` (terminal Ch)."""

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _ChumpyFreeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module.split(".")[0] == "chumpy":
            return _ChumpyStandIn
        if module.startswith("scipy.sparse"):
            # Old pickles name private scipy modules (scipy.sparse.csc) that moved or vanished.
            import scipy.sparse

            if hasattr(scipy.sparse, name):
                return getattr(scipy.sparse, name)
        return super().find_class(module, name)


def _plain_array(key: str, value, path: Path):
    if isinstance(value, _ChumpyStandIn):
        state = value.state if isinstance(value.state, dict) else {}
        if not isinstance(state.get("x"), np.ndarray):
            raise HandFileError(f"{path}: key {key!r} is a derived chumpy expression, not a stored array; "
                                "re-export the file with plain numpy arrays")
        return state["x"]
    return value


def _read_raw(path: Path) -> dict:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
            raise HandFileError(f"{path}: not a readable .npz hand model ({err})") from err
    if path.suffix == ".pkl":
        try:
            raw = _ChumpyFreeUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError) as err:
            raise HandFileError(f"{path}: not a readable MANO pickle ({type(err).__name__}: {err})") from err
        if not isinstance(raw, dict):
            raise HandFileError(f"{path}: expected a dict of arrays, got {type(raw).__name__}")
        return {k: _plain_array(k, v, path) for k, v in raw.items()}
    raise HandFileError(f"{path}: unknown hand model format {path.suffix!r} (expected .pkl or .npz)")


def _dense(value) -> np.ndarray:
    return np.asarray(value.toarray() if hasattr(value, "toarray") else value)


def load_hand_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Load a MANO-layout file into a dict of numpy arrays and check it (see `check_hand_arrays`)."""
    path = Path(path)
    if not path.is_file():
        raise HandFileError(f"{path}: no such hand model file")
    arrays = {k: _dense(v) for k, v in _read_raw(path).items() if not isinstance(v, str)}
    check_hand_arrays(arrays, source=str(path))
    return arrays


def check_hand_arrays(arrays: dict[str, np.ndarray], source: str = "hand model") -> None:
    """Raise `HandFileError` naming the problem unless `arrays` is a consistent MANO layout."""
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise HandFileError(f"{source}: missing key(s) {missing}; a MANO-layout file needs {list(REQUIRED_KEYS)}")
    v = arrays["v_template"]
    if v.ndim != 2 or v.shape[1] != 3:
        raise HandFileError(f"{source}: v_template must be (V,3), got {v.shape}")
    n_verts, n_joints = v.shape[0], arrays["kintree_table"].shape[-1]
    expected = {
        "shapedirs": (n_verts, 3, None),
        "posedirs": (n_verts, 3, 9 * (n_joints - 1)),
        "J_regressor": (n_joints, n_verts),
        "weights": (n_verts, n_joints),
        "kintree_table": (2, n_joints),
        "f": (None, 3),
        "hands_components": (None, 3 * (n_joints - 1)),
        "hands_mean": (3 * (n_joints - 1),),
    }
    for key, shape in expected.items():
        if key not in arrays:
            continue
        got = arrays[key].shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
            want = "(" + ",".join("*" if s is None else str(s) for s in shape) + ")"
            raise HandFileError(f"{source}: {key} has shape {got}, expected {want} for V={n_verts}, J={n_joints}")
    for key, value in arrays.items():
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            raise HandFileError(f"{source}: {key} contains NaN or infinite values")
    faces = arrays["f"]
    if faces.size and (faces.min() < 0 or faces.max() >= n_verts):
        raise HandFileError(f"{source}: f indexes vertices outside [0, {n_verts})")
    parents = arrays["kintree_table"][0].astype(np.int64)
    if any(not 0 <= parents[j] < j for j in range(1, n_joints)):
        raise HandFileError(f"{source}: kintree_table parents must precede their children")


# Mirroring x: a right-hand pose rotation R acts on the left hand as M R M with M = diag(-1,1,1),
# i.e. axis-angle (x, y, z) -> (x, -y, -z), and the matrix entry (a,b) flips sign with m_a m_b.
_MIRROR = np.array([-1.0, 1.0, 1.0])
_AXIS_ANGLE_MIRROR = np.array([1.0, -1.0, -1.0])


def mirror_hand_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Turn a right-hand MANO layout into the left hand (or back) by mirroring x."""
    out = dict(arrays)
    out["v_template"] = arrays["v_template"] * _MIRROR
    out["shapedirs"] = arrays["shapedirs"] * _MIRROR[None, :, None]
    entry_sign = np.outer(_MIRROR, _MIRROR).reshape(9)
    n_rot = arrays["posedirs"].shape[-1] // 9
    out["posedirs"] = arrays["posedirs"] * _MIRROR[None, :, None] * np.tile(entry_sign, n_rot)[None, None]
    out["f"] = arrays["f"][:, ::-1].copy()  # mirroring flips orientation; keep normals outward
    if "ft" in arrays:
        out["ft"] = arrays["ft"][:, ::-1].copy()
    pose_sign = np.tile(_AXIS_ANGLE_MIRROR, n_rot)
    if "hands_mean" in arrays:
        out["hands_mean"] = arrays["hands_mean"] * pose_sign
    if "hands_components" in arrays:
        out["hands_components"] = arrays["hands_components"] * pose_sign[None]
    return out
