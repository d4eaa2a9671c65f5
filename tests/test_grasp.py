"""Grasp synthesis: accepted grasps are penetration-free, touch with the thumb and another finger,
and hold in PhysX; all of it re-measured here independently (mesh distances, a fresh hand model,
a fresh simulation). The 500-grasp figures come from `scripts/bench_render.py --interact`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from anyhand_hf.assets.objects import procedural_object
from anyhand_hf.hand import HandModel
from anyhand_hf.hand.collision import CapsuleCollider
from anyhand_hf.hand.skeleton import FINGERS
from anyhand_hf.scene import SceneConfig
from anyhand_hf.scene.grasp import GraspSettings, physics_slip, suitable_grasps
from anyhand_hf.scene.sampling import grasp_synthesizer, sample_grasp

CASES = [("sphere", {"radius": 0.035}, "power"), ("cylinder", {"radius": 0.02, "height": 0.12}, "tripod"),
         ("mug", {"radius": 0.04, "height": 0.09, "handle_radius": 0.025, "handle_thickness": 0.006}, "power"),
         ("sphere", {"radius": 0.02}, "precision")]


@pytest.fixture(scope="module")
def hand():
    torch.set_num_threads(1)
    return HandModel.open()


@pytest.fixture(scope="module")
def grasps(hand):
    """The first accepted grasp of each case (a few seeds each), with its object and betas."""
    synthesizer = grasp_synthesizer(hand)
    found = []
    for kind, params, grasp_type in CASES:
        obj = procedural_object(kind, params)
        for seed in range(30):
            betas = np.random.default_rng(seed).normal(0, 0.5, 10)
            attempt = synthesizer.synthesize(obj, betas, grasp_type, np.random.default_rng(seed))
            if attempt.grasp is not None:
                found.append((obj, betas, attempt.grasp))
                break
    return found


def hand_vertices(hand, betas, hand_pose):
    with torch.no_grad():
        out = hand(hand_pose=torch.as_tensor(hand_pose, dtype=torch.float32)[None],
                   betas=torch.as_tensor(betas, dtype=torch.float32)[None])
    return out.vertices[0].double().numpy(), out.keypoints[0].double().numpy()


def test_each_case_finds_a_grasp(grasps):
    assert [g.grasp_type for _, _, g in grasps] == [case[2] for case in CASES]


def test_no_penetration_and_thumb_plus_finger_contact_by_mesh_distance(hand, grasps):
    groups = np.array([c.group for c in CapsuleCollider(hand).capsules])
    collider = CapsuleCollider(hand)
    vertex_group = groups[collider.vertex_capsule.numpy()]
    for obj, betas, grasp in grasps:
        verts, _ = hand_vertices(hand, betas, grasp.hand_pose)
        local = (verts - grasp.object_pose[:3, 3]) @ grasp.object_pose[:3, :3]
        # trimesh's exact distance to the rendered mesh (positive inside), not the analytic one,
        # for the vertices near the object's box (the others are far from it anyway).
        near = np.all(np.abs(local) <= obj.extents / 2 + 0.005, axis=1)
        depth = np.full(len(local), -np.inf)
        depth[near] = trimesh.proximity.signed_distance(obj.mesh, local[near])
        assert depth.max() <= 0.002 + 3e-4  # float32 hand + tessellation
        gap = {f: -depth[vertex_group == f].max() for f in FINGERS}
        assert gap["thumb"] <= 0.003 and min(gap[f] for f in FINGERS[1:]) <= 0.003


def test_physics_holds_accepted_grasps_and_drops_a_loose_object(hand, grasps):
    faces = hand.faces.numpy()
    for obj, betas, grasp in grasps:
        # The synthesiser's float64 hand: PhysX contact is sensitive to 1e-7 m vertex changes.
        synthesizer = grasp_synthesizer(hand)
        verts = synthesizer.posed(synthesizer.prior.to_angles(grasp.hand_pose[None]), betas)[0][0]
        slip = physics_slip(verts, faces, obj, grasp.object_pose, gravity=grasp.gravity)
        assert slip < 0.01 and grasp.slip_m < 0.005
    obj, betas, grasp = grasps[0]
    verts, _ = hand_vertices(hand, betas, grasp.hand_pose)
    away = grasp.object_pose.copy()
    outwards = grasp.object_pose[:3, 3] - verts.mean(0)
    away[:3, 3] += 0.2 * outwards / np.linalg.norm(outwards)  # 20 cm out of the hand: nothing holds it
    settings = GraspSettings(sim_seconds=0.5)
    assert physics_slip(verts, faces, obj, away, gravity=np.array([0.0, 0.0, -1.0]), settings=settings) > 0.5


def test_grasps_are_deterministic_and_respect_the_object(hand):
    config = SceneConfig()
    a = sample_grasp(config, hand, np.zeros(10), np.random.default_rng(11))
    b = sample_grasp(config, hand, np.zeros(10), np.random.default_rng(11))
    assert a.object == b.object and np.array_equal(a.hand_pose, b.hand_pose)
    assert np.array_equal(a.object_pose, b.object_pose)
    thick = procedural_object("sphere", {"radius": 0.04})
    assert suitable_grasps(thick) == ("power",)
