"""GraspXL reader: a grasp from our synthesis, written in GraspXL's released format (MANO
parameters relative to the mean pose, wrist-based translation, object pose, object id key),
reads back to the same hand pose and object pose, drives an interact scene whose posed hand
holds the object, and malformed files fail naming the file."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from anyhand_hf.assets.objects import procedural_object
from anyhand_hf.generate import AssetLibrary, mesh_parts, object_part, pose_hand
from anyhand_hf.hand import HandModel, load_hand_arrays
from anyhand_hf.hand.model import open_hand_path
from anyhand_hf.hand.skeleton import FINGERS
from anyhand_hf.scene import SceneConfig, sample_scene
from anyhand_hf.scene.graspxl import GraspXLError, ManoReference, read_sequence, sequence_grasp
from anyhand_hf.scene.sampling import float64_hand, grasp_synthesizer, scene_object
from anyhand_hf.viz import rasterize

OBJECT_ID = "0a1b2c3d"
FRAMES = 8  # the last 2 (a quarter) hold the grasp
FILE_OFFSET = np.array([0.01, -0.02, 0.03])  # the mesh file's vertices are off its bounding-box centre
SEQUENCE = f"mano_dataset_1/large/{OBJECT_ID}/mano_1.npy"
MESH = f"object_dataset/large/{OBJECT_ID}/{OBJECT_ID}.obj"
MANO_WRIST_SHIFT = np.array([0.0957, 0.0064, 0.0062])


@pytest.fixture(scope="module")
def hand():
    torch.set_num_threads(1)
    return HandModel.open()


@pytest.fixture(scope="module")
def mano_file(tmp_path_factory):
    """Stands in for the user's MANO_RIGHT file: the open hand moved so that its rest wrist lies
    off the origin, as MANO's does (so the scene's hand and "MANO" differ in their wrists)."""
    arrays = load_hand_arrays(open_hand_path())
    arrays["v_template"] = arrays["v_template"] + MANO_WRIST_SHIFT
    path = tmp_path_factory.mktemp("mano") / "MANO_RIGHT.npz"
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture(scope="module")
def mano(mano_file):
    return ManoReference.from_file(mano_file)


@pytest.fixture(scope="module")
def grasp(hand):
    """A grasp of a cylinder by the mean-shape hand, from our synthesis (physics skipped: speed)."""
    obj = procedural_object("cylinder", {"radius": 0.025, "height": 0.12})
    synthesizer = grasp_synthesizer(hand)
    for seed in range(20):
        attempt = synthesizer.synthesize(obj, np.zeros(10), "power", np.random.default_rng(seed), check_physics=False)
        if attempt.grasp is not None:
            return obj, attempt.grasp
    pytest.fail("no grasp synthesised")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, hand, mano, grasp):
    """A GraspXL download in miniature: one sequence (approach, then the grasp held) and its mesh,
    plus a decoy mesh of the same id in another size folder."""
    obj, g = grasp
    root = tmp_path_factory.mktemp("graspxl")
    (root / MESH).parent.mkdir(parents=True)
    mesh = obj.mesh.copy()
    mesh.apply_translation(FILE_OFFSET)
    mesh.export(root / MESH)
    (root / f"object_dataset/small/{OBJECT_ID}").mkdir(parents=True)
    procedural_object("sphere", {"radius": 0.01}).mesh.export(root / f"object_dataset/small/{OBJECT_ID}/{OBJECT_ID}.obj")
    R_hand = Rotation.from_rotvec([0.3, -1.2, 0.7]).as_matrix()
    wrist = np.array([0.9, -0.2, 0.75])
    hand_wrist = float64_hand(hand).rest_joints[0].numpy()
    hand_to_world = np.eye(4)
    hand_to_world[:3, :3], hand_to_world[:3, 3] = R_hand, wrist - R_hand @ hand_wrist
    object_world = hand_to_world @ g.object_pose
    far = np.array([0.0, 0.0, 0.3])  # approach frames: the hand 30 cm off
    hand_trans = np.array([wrist - mano.wrist + (far if f < FRAMES - 2 else 0) for f in range(FRAMES)])
    data = {"right_hand": {"trans": hand_trans.astype(np.float32),
                           "rot": np.tile(Rotation.from_matrix(R_hand).as_rotvec(), (FRAMES, 1)).astype(np.float32),
                           "pose": np.tile(g.hand_pose - mano.hands_mean, (FRAMES, 1)).astype(np.float32)},
            OBJECT_ID: {"trans": np.tile(object_world[:3, 3] - object_world[:3, :3] @ FILE_OFFSET,
                                         (FRAMES, 1)).astype(np.float32),
                        "rot": np.tile(Rotation.from_matrix(object_world[:3, :3]).as_rotvec(),
                                       (FRAMES, 1)).astype(np.float32),
                        "angle": np.zeros((FRAMES, 1), np.float32)}}
    (root / SEQUENCE).parent.mkdir(parents=True)
    np.save(root / SEQUENCE, data, allow_pickle=True)
    return root


def test_sequence_reads_back_to_the_synthesised_grasp(hand, mano, grasp, folder):
    _, g = grasp
    sequence = read_sequence(folder / SEQUENCE)
    assert sequence.object_id == OBJECT_ID and sequence.num_frames == FRAMES
    hand_wrist = float64_hand(hand).rest_joints[0].numpy()
    hand_pose, object_pose = sequence_grasp(sequence, FRAMES - 1, mano, hand_wrist, -FILE_OFFSET)
    assert np.allclose(hand_pose, g.hand_pose, atol=1e-5)
    assert np.allclose(object_pose, g.object_pose, atol=1e-5)
    # A hand whose rest wrist lies elsewhere holds the object at the same place relative to its wrist.
    _, moved = sequence_grasp(sequence, FRAMES - 1, mano, hand_wrist + MANO_WRIST_SHIFT, -FILE_OFFSET)
    assert np.allclose(moved[:3, 3], object_pose[:3, 3] + MANO_WRIST_SHIFT) and np.allclose(moved[:3, :3],
                                                                                            object_pose[:3, :3])


def test_interact_scene_from_graspxl_holds_its_object_in_view(hand, mano, mano_file, folder):
    assert np.allclose(mano.wrist, float64_hand(hand).rest_joints[0].numpy() + MANO_WRIST_SHIFT)
    config = SceneConfig(width=64, height=64, graspxl_dir=str(folder), graspxl_mano=mano_file)
    spec = sample_scene(config, 0, "interact_indoor", "train", 0, hand)
    assert spec == sample_scene(config, 0, "interact_indoor", "train", 0, hand)
    assert spec.object.kind == "graspxl" and spec.object.source == MESH and spec.object.object_id == OBJECT_ID
    assert spec.pose_mode == "grasp_graspxl" and not any(spec.betas)
    # The scene's hand holds the object as the synthesised grasp did (not the approach frames).
    posed, rest = pose_hand(spec, hand)
    pose = np.asarray(spec.object.pose)
    distance = scene_object(spec.object, str(folder)).sdf((posed.vertices - pose[:3, 3]) @ pose[:3, :3])
    collider = grasp_synthesizer(hand).prior.collider
    groups = np.array([c.group for c in collider.capsules])[collider.vertex_capsule.numpy()]
    gap = {f: distance[groups == f].min() for f in FINGERS}
    assert distance.min() >= -0.002 and gap["thumb"] <= 0.003 and min(gap[f] for f in FINGERS[1:]) <= 0.003
    # The render path finds the mesh in the folder: object and hand pixels in the first view.
    parts = mesh_parts(spec, hand, posed, rest, texture_size=16) + [object_part(spec, AssetLibrary.from_dirs(
        objects=folder))]
    view = spec.views[0]
    R, t, K = (np.asarray(x) for x in (view.R, view.t, view.K))
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    labels = np.concatenate([np.full(len(p.faces), p.label) for p in parts])
    frags = rasterize(np.concatenate([p.vertices for p in parts]) @ R.T + t,
                      np.concatenate([p.faces + o for p, o in zip(parts, offsets)]), K, (64, 64))
    mask = np.where(frags.mask, labels[frags.face_id], 0)
    assert (mask == 3).sum() > 10 and (mask == 1).sum() > 10


def _write(path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, data, allow_pickle=True)
    return str(path)


def _sequence(**hand_changes) -> dict:
    hand = {"trans": np.zeros((4, 3)), "rot": np.zeros((4, 3)), "pose": np.zeros((4, 45)), **hand_changes}
    return {"right_hand": hand, OBJECT_ID: {"trans": np.zeros((4, 3)), "rot": np.zeros((4, 3))}}


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.parametrize("content, message", [
    (b"not a numpy file", "not a GraspXL sequence"),
    (np.zeros((4, 3)), "expected a pickled dict"),
    ({"hand": {}}, "'right_hand'"),
    ({**_sequence(), "second": {}}, "exactly one object"),
    (_sequence(pose=np.zeros((4, 44))), r"\['pose'\] must be \(frames, 45\)"),
    (_sequence(trans=np.zeros((3, 3))), r"\['trans'\] must be"),
    (_sequence(rot=np.full((4, 3), np.nan)), "NaN"),
    ({"right_hand": _RunsCode()}, "refusing to load"),
])
def test_malformed_sequences_fail_naming_the_file(tmp_path, content, message):
    path = tmp_path / "large" / OBJECT_ID / "mano_1.npy"
    if isinstance(content, bytes):
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
    else:
        _write(path, content)
    with pytest.raises(GraspXLError, match=message) as error:
        read_sequence(path)
    assert str(path) in str(error.value)


def test_missing_mesh_and_missing_mano_are_clear_errors(hand, tmp_path):
    path = _write(tmp_path / "large" / OBJECT_ID / "mano_1.npy", _sequence())
    config = SceneConfig(width=64, height=64, graspxl_dir=str(tmp_path), graspxl_mano=str(open_hand_path()))
    with pytest.raises(GraspXLError, match=f"{path}: no mesh for object '{OBJECT_ID}'"):
        sample_scene(config, 0, "interact_envmap", "train", 0, hand)
    with pytest.raises(ValueError, match="graspxl_mano"):
        SceneConfig(graspxl_dir=str(tmp_path))
