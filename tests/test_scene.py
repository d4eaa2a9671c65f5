"""Scene sampling: 2,000 specs (no rendering) follow DESIGN.md's distributions, every view frames
the hand, cameras follow the conventions, and a spec is a pure function of its inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats

from anyhand_hf.hand import HandModel
from anyhand_hf.scene import SceneConfig, SceneSpec, project, sample_scene, sample_scenes, stable_hash
from anyhand_hf.scene.sampling import black_body_rgb, pose_prior

N = 2000
SEED = 7


@pytest.fixture(scope="module")
def hand() -> HandModel:
    return HandModel.open("right")


@pytest.fixture(scope="module")
def one_thread():
    # Tiny batched matmuls run several times faster on one thread on a shared machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def specs(hand, one_thread) -> list[SceneSpec]:
    return sample_scenes(SceneConfig(), SEED, "single_indoor", "train", range(N), hand)


@pytest.fixture(scope="module")
def views(specs):
    return [v for s in specs for v in s.views]


@pytest.fixture(scope="module")
def posed(hand, specs) -> tuple[np.ndarray, np.ndarray]:
    """World vertices and keypoints of every spec's hand, recomputed independently (float32)."""
    def arr(name):
        return torch.as_tensor(np.array([getattr(s, name) for s in specs]), dtype=torch.float32)
    with torch.no_grad():
        out = hand(global_orient=arr("global_orient"), hand_pose=arr("hand_pose"), betas=arr("betas"),
                   transl=arr("transl"))
    return out.vertices.double().numpy(), out.keypoints.double().numpy()


# -- camera distributions -----------------------------------------------------------------------

def test_two_different_views_per_scene(specs):
    assert all(len(s.views) == 2 for s in specs)
    assert all(not np.allclose(s.views[0].R, s.views[1].R) for s in specs)


def test_fov_uniform(views):
    fov = np.array([v.fov_y_deg for v in views])
    assert fov.min() >= 30 and fov.max() <= 40
    assert stats.kstest((fov - 30) / 10, "uniform").pvalue > 1e-3


def test_distance_is_the_three_normal_mixture(views):
    d = np.array([v.distance_m for v in views])
    means, sd = np.array([0.6, 0.7, 1.0]), 0.1
    assert d.min() >= 0.3
    assert abs(d.mean() - means.mean()) < 0.015
    assert abs(d.var() - (sd**2 + means.var())) < 0.004
    mixture_cdf = lambda x: stats.norm.cdf((np.asarray(x)[..., None] - means) / sd).mean(-1)  # noqa: E731
    assert stats.kstest(d, mixture_cdf).pvalue > 1e-3
    # The modes show: the 0.6/0.7 pair merges into one peak (1 sd apart), 1.0 is a second peak.
    density = lambda lo: ((d >= lo) & (d < lo + 0.05)).mean()  # noqa: E731
    assert density(0.825) < 0.75 * min(density(0.625), density(0.975))


def test_directions_uniform_on_sphere(views):
    dirs = np.array([v.direction for v in views])
    assert np.allclose(np.linalg.norm(dirs, axis=1), 1.0)
    assert np.abs(dirs.mean(0)).max() < 0.04
    assert np.abs((dirs**2).mean(0) - 1 / 3).max() < 0.03
    roll = np.array([v.up_roll_deg for v in views])
    assert stats.kstest(roll / 360, "uniform").pvalue > 1e-3


def test_global_orient_uniform(specs):
    from scipy.spatial.transform import Rotation
    rotated = Rotation.from_rotvec([s.global_orient for s in specs]).apply([0.0, 0.0, 1.0])
    assert np.abs(rotated.mean(0)).max() < 0.06


# -- camera geometry ----------------------------------------------------------------------------

def test_intrinsics_reproduce_fov_and_centre(views):
    K = np.array([v.K for v in views])
    fov = np.array([v.fov_y_deg for v in views])
    assert np.allclose(np.degrees(2 * np.arctan((256 / 2) / K[:, 1, 1])), fov, rtol=0, atol=1e-9)
    assert (K[:, 0, 0] == K[:, 1, 1]).all() and (K[:, 0, 1] == 0).all() and (K[:, 2] == [0, 0, 1]).all()
    assert (K[:, 0, 2] == 127.5).all() and (K[:, 1, 2] == 127.5).all()  # (W-1)/2, (H-1)/2


def test_extrinsics_look_at_the_hand_centre(views, posed):
    vertices, _ = posed
    assert np.abs(vertices.mean(1)).max() < 1e-6  # the posed hand's centre is the world origin
    R, t = np.array([v.R for v in views]), np.array([v.t for v in views])
    distance, direction = np.array([v.distance_m for v in views]), np.array([v.direction for v in views])
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-12) and np.allclose(np.linalg.det(R), 1.0)
    assert np.allclose(-np.einsum("nji,nj->ni", R, t), distance[:, None] * direction)  # camera centre
    assert np.allclose(t, distance[:, None] * [0, 0, 1])  # the origin lies on the optical axis ...
    uv, z = project(views[0], np.zeros((1, 3)))
    assert np.allclose(uv, [[127.5, 127.5]], atol=1e-9)  # ... and projects to the principal point
    # Roll: the image of world +z points up at roll 0, and turns with the roll.
    world_z = R[:, :, 2]
    ok = np.hypot(world_z[:, 0], world_z[:, 1]) > 0.1
    angle = np.degrees(np.arctan2(-world_z[:, 0], -world_z[:, 1]))
    roll = np.array([v.up_roll_deg for v in views])
    assert np.allclose(((angle - roll + 180) % 360 - 180)[ok], 0, atol=1e-6)


def test_every_view_frames_the_hand(specs, posed):
    vertices, keypoints = posed
    points = np.concatenate([vertices, keypoints], axis=1)  # (N, V+21, 3)
    for k in range(2):
        K, R, t = (np.array([getattr(s.views[k], name) for s in specs]) for name in ("K", "R", "t"))
        cam = np.einsum("nij,npj->npi", R, points) + t[:, None]
        uv = np.einsum("nij,npj->npi", K, cam)[..., :2] / cam[..., 2:]
        assert (cam[..., 2] > 0.05).all()
        assert (uv > -0.5).all() and (uv < 255.5).all()  # every vertex and keypoint inside the image
        box = uv[:, : vertices.shape[1]].max(1) - uv[:, : vertices.shape[1]].min(1)
        assert (box.max(1) >= 0.1 * 256).all()


# -- lights, background, appearance -------------------------------------------------------------

def test_light_counts_kinds_and_shadows(specs):
    counts = np.array([len(s.lights) for s in specs])
    assert np.abs(np.bincount(counts, minlength=6)[1:] / N - 0.2).max() < 0.04 and counts.min() >= 1
    lights = [light for s in specs for light in s.lights]
    kinds = np.array([light.kind for light in lights])
    for kind in ("point", "directional", "spot"):
        assert abs((kinds == kind).mean() - 1 / 3) < 0.04
    assert abs(np.mean([light.shadow for light in lights if light.kind == "spot"]) - 0.5) < 0.05
    # SAPIEN's raster shader shadows one directional and three point lights at most
    for kind, limit, share in (("directional", 1, 0.40), ("point", 3, 0.40)):
        shadowed = np.array([sum(light.shadow for light in s.lights if light.kind == kind) for s in specs])
        assert shadowed.max() == limit and abs((shadowed > 0).mean() - share) < 0.05
    for light in lights:
        pos, direction = np.asarray(light.position), np.asarray(light.direction)
        assert 0.5 <= np.linalg.norm(pos) <= 2.0 and np.isclose(np.linalg.norm(direction), 1.0)
        aim = direction @ -pos / np.linalg.norm(pos)  # aimed at the hand (spots within a jitter)
        assert aim > (0.95 if light.kind == "spot" else 1 - 1e-12)
        assert np.isclose(max(light.color), 1.0) and min(light.color) >= 0.0
        assert (light.spot_outer_deg is not None) == (light.kind == "spot")
        if light.kind == "spot":
            assert 0 < light.spot_inner_deg < light.spot_outer_deg <= 45


def test_light_colours():
    assert np.all(black_body_rgb(6500) > 0.9)  # daylight: near white
    warm = black_body_rgb(2700)
    assert warm[0] == 1.0 and warm[0] > warm[1] > warm[2]


def test_ambient_matches_background_dominant_colour(specs):
    for s in specs:
        dominant, ambient = np.asarray(s.background.dominant_color), np.asarray(s.ambient)
        scale = ambient.max() / dominant.max()
        assert 0.2 <= scale <= 0.6 and np.allclose(ambient, scale * dominant)
        assert s.background.kind == "indoor" and s.background.source == "procedural"
        assert 0.3 <= s.background.crop_scale <= 1.0 and s.background.yaw_deg is None


def test_appearance_spans_skin_tones_and_forearms(specs):
    tones = np.array([s.appearance.skin_tone for s in specs])
    assert tones.min() < 0.02 and tones.max() > 0.98
    luminance = np.array([s.appearance.albedo for s in specs]) @ [0.2126, 0.7152, 0.0722]
    assert luminance.max() > 10 * luminance.min()  # light to dark skin
    assert np.corrcoef(tones, luminance)[0, 1] < -0.9
    forearms = np.array([s.appearance.forearm for s in specs])
    for style in ("bare", "short_sleeve", "long_sleeve"):
        assert abs((forearms == style).mean() - 1 / 3) < 0.04
    assert all((s.appearance.sleeve_color is None) == (s.appearance.forearm == "bare") for s in specs)


def test_seeds_are_distinct_json_safe_integers(specs):
    seeds = [s.render_seed for s in specs] + [s.appearance.texture_seed for s in specs] + \
        [s.background.seed for s in specs]
    assert all(isinstance(x, int) and 0 <= x < 2**53 for x in seeds) and len(set(seeds)) == len(seeds)


def test_hand_parameters(hand, specs):
    assert all(s.is_right and len(s.betas) == 10 and len(s.hand_pose) == 45 for s in specs)
    assert np.abs([s.betas for s in specs]).max() <= 2.5
    assert {s.pose_mode for s in specs} == set(pose_prior(hand, None).mode_names)


# -- determinism and serialisation --------------------------------------------------------------

def test_json_round_trip_is_exact(specs):
    for s in specs[::8]:
        text = s.to_json()
        assert SceneSpec.from_json(text) == s and SceneSpec.from_json(text).to_json() == text
    json.loads(specs[0].to_json(), parse_constant=lambda c: pytest.fail(f"non-finite {c}"))


def test_config_round_trip():
    config = SceneConfig(width=512, height=512, shape_bank="bank.npy", pose_mode_weights={"fist": 1.0})
    assert SceneConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_sample_is_a_pure_function_of_its_inputs(hand, specs, one_thread):
    config = SceneConfig()
    again = sample_scene(config, SEED, "single_indoor", "train", 123, hand)
    assert again.to_json() == specs[123].to_json()  # alone, not in a batch of 2,000
    assert sample_scenes(config, SEED, "single_indoor", "train", [1999, 5], hand) == [specs[1999], specs[5]]
    assert specs[123].scene_id == "single_indoor-train-00000123"
    assert specs[124].betas != specs[123].betas and specs[124].views != specs[123].views
    for other in (dict(split="test"), dict(config_name="single_envmap"), dict(seed=SEED + 1)):
        args = dict(seed=SEED, config_name="single_indoor", split="train", index=123) | other
        changed = sample_scene(config, hand=hand, **args)
        assert changed.betas != specs[123].betas and changed.views[0] != specs[123].views[0]


def test_stable_hash_is_not_pythons_salted_hash():
    assert stable_hash("train") == 0x5C66E4A3 and stable_hash("single_indoor") == stable_hash("single_indoor")


def test_envmap_config(hand, one_thread):
    specs = sample_scenes(SceneConfig(width=512, height=384), 0, "single_envmap", "test", range(20), hand)
    assert all(s.background.kind == "envmap" and s.background.crop_scale is None for s in specs)
    assert all(0 <= s.background.yaw_deg < 360 for s in specs)
    assert all(v.width == 512 and v.height == 384 and v.K[0][2] == 255.5 and v.K[1][2] == 191.5
               for s in specs for v in s.views)


def test_bad_configs_and_splits(hand):
    with pytest.raises(ValueError, match="unknown config"):
        sample_scene(SceneConfig(), 0, "single_outdoor", "train", 0, hand)
    with pytest.raises(ValueError, match="unknown split"):
        sample_scene(SceneConfig(), 0, "single_indoor", "validation", 0, hand)
    with pytest.raises(ValueError, match="non-negative"):
        sample_scene(SceneConfig(), -1, "single_indoor", "train", 0, hand)
