"""Shape and pose priors: limits hold, modes differ, sampled poses do not self-penetrate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anyhand_hf.hand import HandModel
from anyhand_hf.hand.collision import mesh_penetration_depth
from anyhand_hf.hand.priors import (
    AnatomicalPosePrior, BoundedNormalShapePrior, EmpiricalShapePrior, JointLimits, anatomical_frames,
)


@pytest.fixture(scope="module")
def right_prior() -> AnatomicalPosePrior:
    return AnatomicalPosePrior(HandModel.open("right"))


def test_bounded_normal_shapes():
    betas = BoundedNormalShapePrior(bound=2.0).sample(np.random.default_rng(0), 5000)
    assert betas.shape == (5000, 10) and np.abs(betas).max() <= 2.0
    assert abs(betas.mean()) < 0.05 and 0.7 < betas.std() < 0.95  # truncated at 2 sd: sd ≈ 0.88


def test_empirical_shape_bank(tmp_path):
    bank = np.random.default_rng(1).normal(size=(7, 10))
    np.save(tmp_path / "bank.npy", bank)
    drawn = EmpiricalShapePrior.from_npy(tmp_path / "bank.npy").sample(np.random.default_rng(0), 50)
    assert all(any(np.array_equal(row, b) for b in bank) for row in drawn)
    np.save(tmp_path / "bad.npy", np.full((3, 10), np.nan))
    with pytest.raises(ValueError, match="bad.npy"):
        EmpiricalShapePrior.from_npy(tmp_path / "bad.npy")


def test_frames_are_orthonormal_and_flexion_curls_towards_palm(right_prior):
    frames = right_prior.frames
    assert np.allclose(frames @ np.swapaxes(frames, 1, 2), np.eye(3), atol=1e-9)
    # Flexing every finger joint by 60° brings each fingertip closer to the palm centre.
    hand = right_prior.hand
    angles = np.zeros((1, 15, 3))
    angles[0, :, 0] = np.radians(60)
    with torch.no_grad():
        rest = hand().keypoints[0]
        bent = hand(hand_pose=torch.as_tensor(right_prior.to_pose(angles), dtype=torch.float32)).keypoints[0]
    palm_centre = rest[[0, 5, 9, 13, 17]].mean(0)
    tips = [8, 12, 16, 20]
    assert all((bent[t] - palm_centre).norm() < 0.7 * (rest[t] - palm_centre).norm() for t in tips)


def test_angles_round_trip(right_prior):
    rng = np.random.default_rng(2)
    limits = right_prior.limits
    angles = rng.uniform(limits[..., 0], limits[..., 1], size=(200, 15, 3))
    assert np.allclose(right_prior.to_angles(right_prior.to_pose(angles)), angles, atol=1e-8)


def test_ten_thousand_poses_stay_within_limits(right_prior):
    sample = right_prior.sample(np.random.default_rng(3), 10_000)
    angles = right_prior.to_angles(sample.hand_pose)
    limits = JointLimits().array()
    assert (angles >= limits[..., 0] - 1e-6).all() and (angles <= limits[..., 1] + 1e-6).all()
    assert set(sample.modes) == {"flat", "relaxed", "grasp", "pinch", "point", "fist", "random"}


def test_modes_differ_in_curl(right_prior):
    rng = np.random.default_rng(4)
    curl = {}
    for mode in ("flat", "fist"):
        prior = AnatomicalPosePrior(right_prior.hand, mode_weights={mode: 1.0})
        curl[mode] = prior.to_angles(prior.sample(rng, 200).hand_pose)[:, :12, 0].mean()
    assert curl["fist"] > curl["flat"] + np.radians(40)


def test_sampling_is_deterministic(right_prior):
    a = right_prior.sample(np.random.default_rng(5), 20)
    b = right_prior.sample(np.random.default_rng(5), 20)
    assert np.array_equal(a.hand_pose, b.hand_pose) and a.modes == b.modes


def test_per_generator_sampling_equals_sampling_alone(right_prior):
    betas = BoundedNormalShapePrior().sample(np.random.default_rng(8), 12)
    batch = right_prior.sample_each([np.random.default_rng(i) for i in range(12)], betas)
    assert batch.accepted.all()
    for i in range(12):
        alone = right_prior.sample(np.random.default_rng(i), 1, betas=betas[i:i + 1])
        assert np.array_equal(alone.hand_pose[0], batch.hand_pose[i]) and alone.modes[0] == batch.modes[i]


def test_rest_pose_has_no_capsule_overlap(right_prior):
    assert right_prior.penetration_depth(np.zeros((1, 45)))[0] <= right_prior.tolerance


def test_crossed_fingers_are_rejected(right_prior):
    # Index splayed hard towards the little finger and middle towards the thumb: they cross.
    angles = np.zeros((1, 15, 3))
    angles[0, 0, 1], angles[0, 3, 1] = np.radians(35), np.radians(-35)
    assert right_prior.penetration_depth(right_prior.to_pose(angles))[0] > right_prior.tolerance


def test_thousand_poses_pass_capsules_and_exact_mesh_check_agrees(right_prior):
    rng = np.random.default_rng(6)
    betas = BoundedNormalShapePrior().sample(rng, 1000)
    sample = right_prior.sample(rng, 1000, betas=betas)
    assert (right_prior.penetration_depth(sample.hand_pose, betas) <= right_prior.tolerance).all()
    hand = right_prior.hand
    faces = hand.faces.numpy()
    subset = rng.choice(1000, size=30, replace=False)
    with torch.no_grad():
        out = hand(hand_pose=torch.as_tensor(sample.hand_pose[subset], dtype=torch.float32),
                   betas=torch.as_tensor(betas[subset], dtype=torch.float32))
    depths = [mesh_penetration_depth(v.numpy(), faces, k.numpy(), right_prior.collider)
              for v, k in zip(out.vertices, out.keypoints)]
    # Agreement: skin may press into skin by a few millimetres (capsules are median radii);
    # a finger passing through another would be at least a finger radius (~8 mm) deep.
    assert max(depths) <= 0.004, depths


def test_left_hand_frames_mirror_right():
    right, left = HandModel.open("right"), HandModel.open("left")
    with torch.no_grad():
        kr, kl = right().keypoints[0].double().numpy(), left().keypoints[0].double().numpy()
    fr, fl = anatomical_frames(kr, True), anatomical_frames(kl, False)
    mirror = np.diag([-1.0, 1.0, 1.0])
    assert np.allclose(fl, mirror @ fr, atol=1e-6)
    # Equal angles give mirror-image hands.
    prior_r, prior_l = AnatomicalPosePrior(right), AnatomicalPosePrior(left)
    angles = np.random.default_rng(7).uniform(-0.5, 0.8, size=(4, 15, 3))
    with torch.no_grad():
        vr = right(hand_pose=torch.as_tensor(prior_r.to_pose(angles), dtype=torch.float32)).vertices
        vl = left(hand_pose=torch.as_tensor(prior_l.to_pose(angles), dtype=torch.float32)).vertices
    assert torch.allclose(vl, vr * torch.tensor([-1.0, 1.0, 1.0]), atol=1e-5)
