"""GraspXL reader: grasps from GraspXL's released MANO sequences, in the form grasp synthesis
gives them (`scene.grasp.Grasp`: MANO `hand_pose` (45) with zero = flat hand, and the object's
pose in the canonical hand frame, `global_orient` = 0 and `transl` = 0).

What the released format is, and where that was confirmed:
- Layout (GraspXL `docs/DATASET.md`, github.com/zdchan/GraspXL): ``mano_dataset_k.zip`` holds
  ``<small|medium|large>/<object_id>/mano_<n>.npy``, one motion sequence per file, and
  ``object_dataset.zip`` holds ``<small|medium|large>/<object_id>/<object_id>.obj``, the scaled
  and decimated Objaverse meshes the sequences of the same size folder use. Unpack both into
  one folder; sequences are found as ``**/mano_*.npy`` and meshes by (size folder, object id).
- File content (DATASET.md; GraspXL_visualization `scripts/visualizer_mano.py`; the released
  examples in GraspXL `dataset_example/`, inspected here): a 0-d object array holding a dict
  ``{"right_hand": {"trans": (F,3), "rot": (F,3), "pose": (F,45)}, <object_id>: {"trans":
  (F,3), "rot": (F,3), "angle": (F,1), unused}}``, float32; the object key is the object id
  (GraspXL `ours_demo/objaverse_demo.py`, which wrote the files, keys it by the object folder).
- Hand (objaverse_demo.py): `rot` is MANO's global orientation (axis-angle of the wrist's
  quaternion); `pose` is the 15 joints' axis-angle minus `rsc/mano_double/right_pose_mean.txt`,
  which is MANO_RIGHT's ``hands_mean`` (identical numbers), i.e. smplx's
  ``flat_hand_mean=False``, no PCA (visualizer_mano.py builds ``MANO(use_pca=False,
  flat_hand_mean=False)``); `trans` is the wrist position minus ``ref_r`` = (0.0957, 0.0064,
  0.0062), MANO_RIGHT's rest wrist joint, so smplx's ``vertices + trans`` places the hand
  (visualizer_mano.py; its tabletop visualizer names the same constant the wrist bias). Shape:
  ``betas`` = 0 (the visualizer poses the mean hand; the simulated hand is MANO's mean).
- Object: world = R(rot) · v + trans for mesh vertices v (visualizer_mano.py), metres (RaiSim).
- Frames (objaverse_demo.py): 155 per sequence, 85 grasping, 30 settling, 40 lifting, and a
  sequence was kept only when its object ended lifted by more than 10 cm.

Assumed, not confirmed: every released sequence has the objaverse_demo layout of phases, so
its last quarter (`HOLD_FRACTION`) is the lift, in which the hand holds the object (the older
WineGlass example has 80 frames; a hold in its last quarter is likely, not checked); the
user's MANO file is the one GraspXL used (MANO v1.2 right hand). MANO's numbers are licensed,
so users supply the file (``graspxl_mano``), as for FreiHAND and HO-3D (`data.realsets`).

Conversion: the hand keeps its wrist (position and orientation) and joint angles, so a scene
hand other than MANO holds the object where MANO's wrist did, its fingers posed by MANO's
angles (exact with MANO as the scene's hand model). Files are unpickled allowing only numpy
arrays, so a downloaded sequence cannot run code.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..hand import load_hand_arrays

HAND_KEY = "right_hand"
SEQUENCE_GLOB = "mano_*.npy"
HOLD_FRACTION = 0.25  # the lift phase: 40 of objaverse_demo.py's 155 frames
_ARRAY_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype")}


class GraspXLError(ValueError):
    """A GraspXL file or folder that cannot be used (malformed sequence, missing mesh)."""


class _ArrayUnpickler(pickle.Unpickler):
    """Builds dicts of numpy arrays and nothing else (pickles can name any callable)."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a GraspXL file holds only arrays")


@dataclass(frozen=True)
class GraspXLSequence:
    """One GraspXL MANO sequence as stored (F frames): `hand_pose` relative to MANO's mean."""

    path: str
    object_id: str
    hand_rot: np.ndarray  # (F,3) axis-angle
    hand_pose: np.ndarray  # (F,45) axis-angle minus MANO's hands_mean
    hand_trans: np.ndarray  # (F,3) wrist minus MANO's rest wrist, metres
    object_rot: np.ndarray  # (F,3) axis-angle
    object_trans: np.ndarray  # (F,3) metres

    @property
    def num_frames(self) -> int:
        return len(self.hand_rot)


def read_sequence(path: str | os.PathLike) -> GraspXLSequence:
    """Read and check one ``mano_<n>.npy``; `GraspXLError` names the file and what is wrong."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise GraspXLError(f"{path}: unsupported .npy version {version}")
            shape, _, dtype = read_header(f)
            if dtype != object or shape != ():
                raise GraspXLError(f"{path}: expected a pickled dict (0-d object array), got {dtype} {shape}")
            data = _ArrayUnpickler(f).load()
    except GraspXLError:
        raise
    except Exception as e:  # numpy and pickle raise many kinds for bad files; name the file whatever it was
        raise GraspXLError(f"{path}: not a GraspXL sequence ({type(e).__name__}: {e})") from e
    data = data.item() if isinstance(data, np.ndarray) and data.shape == () else data
    if not isinstance(data, dict) or not isinstance(data.get(HAND_KEY), dict):
        raise GraspXLError(f"{path}: expected a dict with a {HAND_KEY!r} entry")
    objects = [k for k in data if k != HAND_KEY]
    if len(objects) != 1 or not isinstance(data[objects[0]], dict):
        raise GraspXLError(f"{path}: expected exactly one object entry besides {HAND_KEY!r}, got {objects}")
    hand, obj = data[HAND_KEY], data[objects[0]]
    frames = None
    arrays = {}
    for part, entry, key, width in ((HAND_KEY, hand, "rot", 3), (HAND_KEY, hand, "pose", 45),
                                    (HAND_KEY, hand, "trans", 3), (objects[0], obj, "rot", 3),
                                    (objects[0], obj, "trans", 3)):
        value = np.asarray(entry.get(key, np.empty((0, 0))), dtype=np.float64)
        frames = len(value) if frames is None else frames
        if value.shape != (frames, width) or frames == 0:
            raise GraspXLError(f"{path}: [{part!r}][{key!r}] must be (frames, {width}) with the same frames as "
                               f"[{HAND_KEY!r}]['rot'] ({frames}), got {value.shape}")
        if not np.isfinite(value).all():
            raise GraspXLError(f"{path}: [{part!r}][{key!r}] holds NaN or inf")
        arrays[f"{'hand' if part == HAND_KEY else 'object'}_{key}"] = value
    return GraspXLSequence(path=str(path), object_id=str(objects[0]), **arrays)


@dataclass(frozen=True)
class ManoReference:
    """What GraspXL's numbers are relative to: MANO_RIGHT's mean hand pose and its rest wrist
    joint at zero shape (GraspXL's ``ref_r``)."""

    hands_mean: np.ndarray  # (45,)
    wrist: np.ndarray  # (3,)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "ManoReference":
        """From the user's MANO_RIGHT file (.pkl/.npz), checked by `hand.load_hand_arrays`."""
        arrays = load_hand_arrays(Path(path))
        if "hands_mean" not in arrays:
            raise GraspXLError(f"{path}: no 'hands_mean'; GraspXL poses are relative to MANO's mean pose")
        return cls(np.asarray(arrays["hands_mean"], np.float64).reshape(45),
                   np.asarray(arrays["J_regressor"], np.float64)[0] @ np.asarray(arrays["v_template"], np.float64))


def hold_frame(num_frames: int, rng: np.random.Generator) -> int:
    """A frame uniformly from the sequence's last `HOLD_FRACTION` (the object lifted in hand)."""
    hold = max(1, round(num_frames * HOLD_FRACTION))
    return num_frames - hold + int(rng.integers(hold))


def sequence_grasp(sequence: GraspXLSequence, frame: int, mano: ManoReference, hand_wrist: np.ndarray,
                   object_origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(45,) `hand_pose` (zero = flat hand) and the (4,4) pose of the object (its frame: the mesh
    file re-centred so that the file's origin lies at `object_origin`) in the canonical frame of
    a hand whose rest wrist is `hand_wrist`: MANO's wrist and joint angles, carried over."""
    if not 0 <= frame < sequence.num_frames:
        raise IndexError(f"{sequence.path}: frame {frame} out of range [0, {sequence.num_frames})")
    hand_pose = sequence.hand_pose[frame] + mano.hands_mean
    R_hand = Rotation.from_rotvec(sequence.hand_rot[frame]).as_matrix()
    wrist = sequence.hand_trans[frame] + mano.wrist  # world
    R_object = Rotation.from_rotvec(sequence.object_rot[frame]).as_matrix()
    centre = sequence.object_trans[frame] - R_object @ object_origin  # world position of the object frame's origin
    pose = np.eye(4)
    # World to canonical hand frame: x = R_hand^T (p - wrist) + hand_wrist.
    pose[:3, :3] = R_hand.T @ R_object
    pose[:3, 3] = R_hand.T @ (centre - wrist) + hand_wrist
    return hand_pose, pose


class GraspXLFolder:
    """An unpacked GraspXL download: the MANO sequences (file ids: relative POSIX paths, sorted)
    and the object meshes they use, matched by size folder and object id."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise GraspXLError(f"GraspXL folder {self.path} does not exist or is not a directory")
        self.ids = tuple(sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob(SEQUENCE_GLOB)))
        if not self.ids:
            raise GraspXLError(f"GraspXL folder {self.path} holds no MANO sequences ({SEQUENCE_GLOB})")
        self.meshes = {(p.parent.parent.name, p.stem): p.relative_to(self.path).as_posix()
                       for p in sorted(self.path.rglob("*.obj")) if p.parent.name == p.stem}

    def sequence(self, sequence_id: str) -> GraspXLSequence:
        return read_sequence(self.path / sequence_id)

    def mesh_id(self, sequence: GraspXLSequence) -> str:
        """The mesh file id of a sequence's object: ``<size>/<object_id>/<object_id>.obj``."""
        size = Path(sequence.path).parent.parent.name
        found = self.meshes.get((size, sequence.object_id))
        if found is None:
            raise GraspXLError(f"{sequence.path}: no mesh for object {sequence.object_id!r}; expected "
                               f"{size}/{sequence.object_id}/{sequence.object_id}.obj under {self.path} "
                               "(unpack object_dataset.zip there)")
        return found
