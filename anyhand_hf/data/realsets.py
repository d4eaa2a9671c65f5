"""FreiHAND and HO-3D, read from their folders as distributed, as streams of v1 rows.

Both readers convert to the AnyHand conventions (DESIGN.md): OpenCV camera frame, metres,
21 keypoints in OpenPose order, `global_orient` + `hand_pose` full axis-angle with zero = flat
hand, pictures encoded by the v1 schema. Columns a dataset lacks are None (`R`/`t`: there is no
world frame, labels are in the camera frame).

MANO parameters only mean something with the MANO model they were fitted with, which users
supply (licence): pass ``mano=path/to/MANO_RIGHT.pkl`` and the readers also fill what needs the
model: FreiHAND's `hand_pose` (stored relative to MANO's mean hand pose) and `hand_transl`
(stored as a 2D root and scale), HO-3D's `hand_transl` (its camera flip moves MANO's pivot) and
`vertices_3d`. Without it those columns are None.

- FreiHAND (v2): ``training/rgb/%08d.jpg`` (4 versions of each of the N labelled samples: image
  ``i + N * v`` for the versions green screen, homogenised, sample, auto), ``training/mask``
  (the green-screen foreground as JPEG; stored as label 1, not split into hand and forearm),
  ``training_{K,mano,xyz,verts}.json``; ``evaluation/rgb``, ``evaluation_K.json`` and, when the
  evaluation labels are unpacked alongside, ``evaluation_{mano,xyz,verts}.json``.
- HO-3D (v2 PNG / v3 JPEG RGB): ``train|evaluation/<seq>/{rgb,depth,meta}/<frame>`` with
  ``train.txt``/``evaluation.txt`` listing ``seq/frame``; meta pickles in OpenGL camera
  coordinates and HO-3D's joint order; depth packed in the PNG's red (low) and green (high)
  bytes; evaluation frames carry only the root joint and a hand box (plus, when present,
  the released ``evaluation_{xyz,verts}.json``).
"""

from __future__ import annotations

import functools
import json
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from datasets import IterableDataset
from PIL import Image
from scipy.spatial.transform import Rotation

from ..hand import HandModel, load_hand_arrays
from ..metrics import from_ho3d_order, opencv_to_opengl
from .schema import FEATURES, encode_row

FREIHAND_VERSIONS = ("gs", "hom", "sample", "auto")  # order of the image blocks in training/rgb
HO3D_DEPTH_SCALE = 0.00012498664727900177  # metres per unit of HO-3D's packed depth (its vis_utils.py)
FREIHAND_SPLITS = {"train": "training", "test": "evaluation"}
HO3D_SPLITS = {"train": "train", "test": "evaluation"}
SHARD_ROWS = 1000  # rows per shard of a FreiHAND stream (what workers and ranks split)


# -- shared helpers ------------------------------------------------------------------------------
def _folder_split(split: str, names: dict[str, str], dataset: str) -> str:
    if split not in names:
        raise ValueError(f"{dataset} split must be one of {sorted(names)}, got {split!r}")
    return names[split]


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: is this the dataset's folder as distributed?")
    return path


@functools.lru_cache(maxsize=8)
def _json_array(path: str) -> np.ndarray:
    """A label file as float32, parsed once per process (FreiHAND's are hundreds of MB)."""
    with open(path) as f:
        return np.asarray(json.load(f), dtype=np.float32)


@functools.lru_cache(maxsize=2)
def _mano(path: str) -> tuple[HandModel, np.ndarray]:
    """The user's MANO model (zero = flat hand) and its mean hand pose."""
    arrays = load_hand_arrays(Path(path))
    return HandModel(arrays, dtype=torch.float64), np.asarray(arrays["hands_mean"], dtype=np.float64)


def _posed(hand: HandModel, global_orient, hand_pose, betas, transl=None):
    f64 = lambda x: None if x is None else torch.as_tensor(np.asarray(x, np.float64)[None])  # noqa: E731
    with torch.no_grad():
        out = hand(global_orient=f64(global_orient), hand_pose=f64(hand_pose), betas=f64(betas), transl=f64(transl))
    return out.vertices[0].numpy(), out.keypoints[0].numpy(), out.joints[0].numpy()


def _project(K: np.ndarray, points: np.ndarray) -> np.ndarray:
    uvw = points @ K.T
    return uvw[:, :2] / uvw[:, 2:]


def _box(points_2d: np.ndarray) -> np.ndarray:
    return np.concatenate([points_2d.min(0), points_2d.max(0)])


def _stream(generate, shards: list) -> IterableDataset:
    """One stream whose shards (what DataLoader workers and ranks split) are `shards`."""
    return IterableDataset.from_generator(generate, features=FEATURES, gen_kwargs={"shards": shards})


def _with_file_bytes(record: dict, image_path: Path) -> dict:
    """The RGB as distributed: the file's own bytes, never re-compressed."""
    record["image"] = {"bytes": image_path.read_bytes(), "path": None}
    return record


# -- FreiHAND ------------------------------------------------------------------------------------
def load_freihand(root: str | Path, split: str = "train", mano: str | Path | None = None,
                  versions: Sequence[str] = FREIHAND_VERSIONS) -> IterableDataset:
    """FreiHAND (v2) as a stream of v1 rows; ``split`` "train" (FreiHAND's training set, every
    image version in ``versions``) or "test" (its evaluation set, green screen only)."""
    root = Path(root)
    folder = _folder_split(split, FREIHAND_SPLITS, "FreiHAND")
    unknown = [v for v in versions if v not in FREIHAND_VERSIONS]
    if unknown or not versions:
        raise ValueError(f"FreiHAND versions must be a non-empty subset of {FREIHAND_VERSIONS}, got {list(versions)}")
    if folder == "evaluation":
        versions = ("gs",)
    count = len(_json_array(str(_require(root / f"{folder}_K.json"))))
    shards = [(v, start, min(start + SHARD_ROWS, count)) for v in versions for start in range(0, count, SHARD_ROWS)]
    return _stream(functools.partial(_freihand_rows, root=str(root), folder=folder, count=count,
                                     mano=None if mano is None else str(mano)), shards)


def _freihand_rows(shards, root: str, folder: str, count: int, mano: str | None) -> Iterator[dict]:
    base = Path(root)
    labels = {name: _json_array(str(base / f"{folder}_{name}.json"))
              for name in ("K", "mano", "xyz", "verts") if (base / f"{folder}_{name}.json").exists()}
    for name, values in labels.items():
        if len(values) != count:
            raise ValueError(f"{base / f'{folder}_{name}.json'} has {len(values)} entries, "
                             f"{folder}_K.json has {count}")
    hand, hands_mean = _mano(mano) if mano else (None, None)
    for version, start, stop in shards:
        block = FREIHAND_VERSIONS.index(version)
        for i in range(start, stop):
            image_path = _require(base / folder / "rgb" / f"{i + block * count:08d}.jpg")
            mask_path = base / folder / "mask" / f"{i:08d}.jpg"
            row = {"K": labels["K"][i], "is_right": True, "scene_id": f"freihand-{folder}-{i:08d}", "view_id": block,
                   "meta": json.dumps({"source": "freihand", "split": folder, "index": i, "version": version,
                                       "image": str(image_path.relative_to(base))})}
            if mask_path.exists():  # training set: the recording's foreground (JPEG) → label 1
                row["mask"] = (np.asarray(Image.open(mask_path).convert("L")) > 127).astype(np.uint8)
            if "xyz" in labels:
                row["joints_3d"] = labels["xyz"][i]  # OpenCV camera frame, metres, OpenPose order already
                row["joints_2d"] = _project(labels["K"][i], labels["xyz"][i])
                row["bbox"] = _box(row["joints_2d"])
            if "verts" in labels:
                row["vertices_3d"] = labels["verts"][i]
                row["bbox"] = _box(_project(labels["K"][i], labels["verts"][i]))
            if "mano" in labels:
                xyz = labels["xyz"][i] if "xyz" in labels else None
                row.update(_freihand_mano(labels["mano"][i].reshape(-1), xyz, hand, hands_mean))
            yield _with_file_bytes(encode_row(row), image_path)


def _freihand_mano(theta: np.ndarray, xyz: np.ndarray | None, hand: HandModel | None,
                   hands_mean: np.ndarray | None) -> dict:
    """FreiHAND's 61 numbers: pose (48, hand part relative to MANO's mean pose), betas (10), 2D
    root and scale (3, FreiHAND's own translation code). With the model: the flat-mean pose and
    the translation that puts the model's wrist on the labelled wrist."""
    out = {"global_orient": theta[:3], "betas": theta[48:58]}
    if hand is None:
        return out
    out["hand_pose"] = theta[3:48] + hands_mean
    if xyz is not None:
        _, keypoints, _ = _posed(hand, theta[:3], out["hand_pose"], theta[48:58])
        out["hand_transl"] = xyz[0] - keypoints[0]  # the wrist is a skeleton joint: model-exact
    return out


# -- HO-3D ---------------------------------------------------------------------------------------
def decode_ho3d_depth(path: Path) -> np.ndarray:
    """HO-3D's depth PNG (red = low byte, green = high byte, units of HO3D_DEPTH_SCALE) → metres."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint32)
    return ((rgb[..., 0] + 256 * rgb[..., 1]) * HO3D_DEPTH_SCALE).astype(np.float32)


def _ho3d_frames(root: Path, folder: str) -> list[tuple[str, str]]:
    listing = root / f"{folder}.txt"
    if listing.exists():
        return [tuple(line.strip().split("/")) for line in listing.read_text().splitlines() if line.strip()]
    return [(seq.name, meta.stem) for seq in sorted(_require(root / folder).iterdir()) if seq.is_dir()
            for meta in sorted((seq / "meta").glob("*.pkl"))]


def load_ho3d(root: str | Path, split: str = "train", mano: str | Path | None = None) -> IterableDataset:
    """HO-3D (v2 or v3) as a stream of v1 rows, one shard per sequence; ``split`` "train" or
    "test" (HO-3D's evaluation set). Training frames without hand annotation are skipped."""
    root = Path(root)
    folder = _folder_split(split, HO3D_SPLITS, "HO-3D")
    by_sequence: dict[str, list[tuple[int, str]]] = {}
    for index, (sequence, frame) in enumerate(_ho3d_frames(root, folder)):
        by_sequence.setdefault(sequence, []).append((index, frame))
    if not by_sequence:
        raise FileNotFoundError(f"no HO-3D frames under {root / folder}")
    return _stream(functools.partial(_ho3d_rows, root=str(root), folder=folder,
                                     mano=None if mano is None else str(mano)), sorted(by_sequence.items()))


def _ho3d_rows(shards, root: str, folder: str, mano: str | None) -> Iterator[dict]:
    base = Path(root)
    hand = _mano(mano)[0] if mano else None
    released = {name: _json_array(str(base / f"{folder}_{name}.json"))
                for name in ("xyz", "verts") if (base / f"{folder}_{name}.json").exists()}
    for sequence, frames in shards:
        seq = base / folder / sequence
        for index, frame in frames:
            meta_path = _require(seq / "meta" / f"{frame}.pkl")
            with open(meta_path, "rb") as f:
                meta = pickle.load(f, encoding="latin1")  # written by Python 2
            if folder == "train" and meta.get("handPose") is None:
                continue
            image_path = next((p for p in (seq / "rgb" / f"{frame}.jpg", seq / "rgb" / f"{frame}.png") if p.exists()),
                              None)
            if image_path is None:
                raise FileNotFoundError(f"{seq / 'rgb' / frame}.jpg/.png is missing (meta {meta_path})")
            K = np.asarray(meta["camMat"], np.float64)
            row = {"K": K, "is_right": True, "scene_id": f"ho3d-{folder}-{sequence}", "view_id": int(frame)}
            depth_path = seq / "depth" / f"{frame}.png"
            if depth_path.exists():
                row["depth"] = decode_ho3d_depth(depth_path)
            info = {"source": "ho3d", "split": folder, "sequence": sequence, "frame": frame,
                    "image": str(image_path.relative_to(base)), "object": meta.get("objName")}
            if folder == "train":
                row.update(_ho3d_hand(meta, K, hand))
            else:
                row["bbox"] = np.asarray(meta["handBoundingBox"], np.float32)
                info["root_joint_3d"] = opencv_to_opengl(np.asarray(meta["handJoints3D"], np.float64)).tolist()
                if "xyz" in released:
                    row["joints_3d"] = opencv_to_opengl(from_ho3d_order(released["xyz"][index]))
                    row["joints_2d"] = _project(K, row["joints_3d"])
                if "verts" in released:
                    row["vertices_3d"] = opencv_to_opengl(released["verts"][index])
            row["meta"] = json.dumps(info)
            yield _with_file_bytes(encode_row(row), image_path)


def _ho3d_hand(meta: dict, K: np.ndarray, hand: HandModel | None) -> dict:
    """HO-3D's MANO fit (flat mean, OpenGL camera frame) and joints → the OpenCV camera frame.
    The flip F = diag(1,-1,-1) turns the root rotation into F·R; since MANO rotates about its rest
    wrist J0, the translation becomes F(J0 + t) - J0, which needs the model."""
    pose = np.asarray(meta["handPose"], np.float64)
    flip = np.diag([1.0, -1.0, -1.0])
    global_orient = Rotation.from_matrix(flip @ Rotation.from_rotvec(pose[:3]).as_matrix()).as_rotvec()
    joints_3d = opencv_to_opengl(from_ho3d_order(np.asarray(meta["handJoints3D"], np.float64)))
    joints_2d = _project(K, joints_3d)
    out = {"global_orient": global_orient, "hand_pose": pose[3:], "betas": meta["handBeta"],
           "joints_3d": joints_3d, "joints_2d": joints_2d, "bbox": _box(joints_2d)}
    if hand is not None:
        betas = np.asarray(meta["handBeta"], np.float64)
        _, _, rest_joints = _posed(hand, None, np.zeros(45), betas)
        wrist = rest_joints[0]
        out["hand_transl"] = flip @ (wrist + np.asarray(meta["handTrans"], np.float64)) - wrist
        vertices, _, _ = _posed(hand, global_orient, pose[3:], betas, out["hand_transl"])
        out["vertices_3d"] = vertices
        out["bbox"] = _box(_project(K, vertices))
    return out
