"""Scene sampling: sample `index` of split `split` of config `config_name` is a pure function of
`(seed, config_name, split, index)` (DESIGN.md "Determinism is the scaling model").

`sample_rng` builds the sample's own generator from
`SeedSequence([seed, stable_hash(config_name), stable_hash(split), index])` and spawns one child
stream per part (hand, views, background, lights, appearance, seeds, object), so changing how
one part is drawn leaves the others unchanged. Nothing reads a global stream. Interact configs
draw the hand's shape and orientation from the hand stream, and the object, its material and
the grasp (which gives the hand pose) from the object stream (`scene.grasp`, or a GraspXL folder:
`scene.graspxl`). `sample_scenes` evaluates
the hand model for many samples in one batch and gives the same specs as `sample_scene`: the
hand is placed in float64 with `transl` rounded to 1 nm, and the prior's float32 penetration
test could only decide differently for a pose within ~1e-8 m of its tolerance.
Frames, units and colour conventions are those of `anyhand_hf.scene.spec`.
"""

from __future__ import annotations

import copy
import dataclasses
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..assets.objects import GraspObject, MeshFolder, load_mesh_object, procedural_object, sample_object_params
from ..assets.skin import skin_albedo
from ..color import hsv_linear
from ..hand import HandModel
from ..hand.priors import AnatomicalPosePrior, BoundedNormalShapePrior, EmpiricalShapePrior
from .grasp import GraspSynthesizer, suitable_grasps
from .graspxl import GraspXLError, GraspXLFolder, ManoReference, hold_frame, sequence_grasp
from .spec import (
    AppearanceSpec, BackgroundSpec, CameraView, LightSpec, ObjectSpec, SceneConfig, SceneSpec,
)

CONFIGS: dict[str, str] = {"single_envmap": "envmap", "single_indoor": "indoor",  # config -> background kind
                           "interact_envmap": "envmap", "interact_indoor": "indoor"}
SPLITS: tuple[str, ...] = ("train", "test")
SEED_BOUND = 2**53  # seeds are JSON-exact integers
# Child streams are spawned in this order; a new part goes at the end, so the others keep their draws.
PARTS: tuple[str, ...] = ("hand", "views", "background", "lights", "appearance", "seeds", "object")
OBJECT_PATTERNS: tuple[str, ...] = ("stripes", "checker", "dots", "noise")
BATCH = 256  # hands posed per batch by `sample_scenes`
MAX_SHAPE_DRAWS = 10
SHADOW_LIMITS = {"directional": 1, "point": 3, "spot": 10}  # sapien/vulkan_shader/default/deferred.frag


def stable_hash(text: str) -> int:
    """CRC-32 of the UTF-8 text: the same on every run and machine (unlike the salted `hash`)."""
    return zlib.crc32(text.encode("utf-8"))


def sample_rng(seed: int, config_name: str, split: str, index: int) -> np.random.Generator:
    """The generator of one sample, independent of every other sample's."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    entropy = [seed, stable_hash(config_name), stable_hash(split), index]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def check_config_name(config_name: str, split: str) -> str:
    """The background kind of a config; clear errors for unknown or unimplemented ones."""
    if config_name not in CONFIGS:
        raise ValueError(f"unknown config {config_name!r}; available: {sorted(CONFIGS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; available: {list(SPLITS)}")
    return CONFIGS[config_name]


# ---------------------------------------------------------------------------------------------
# Scene


def sample_scene(config: SceneConfig, seed: int, config_name: str, split: str, index: int,
                 hand: HandModel | None = None) -> SceneSpec:
    """Sample one scene. `hand` defaults to the shipped open right hand; the spec's `transl`,
    pose acceptance and framing depend on the hand model, so build a dataset with one model."""
    return sample_scenes(config, seed, config_name, split, [index], hand)[0]


def sample_scenes(config: SceneConfig, seed: int, config_name: str, split: str, indices: Iterable[int],
                  hand: HandModel | None = None) -> list[SceneSpec]:
    """`sample_scene` for many indices, the hand model evaluated in batches: each spec is still
    drawn from its own generator, so it does not depend on which indices share its batch."""
    background_kind = check_config_name(config_name, split)
    hand = hand if hand is not None else open_right_hand()
    indices = [int(i) for i in indices]
    return [spec for start in range(0, len(indices), BATCH)
            for spec in sample_batch(config, seed, config_name, split, indices[start:start + BATCH], hand,
                                     background_kind)]


def sample_batch(config: SceneConfig, seed: int, config_name: str, split: str, indices: list[int],
                 hand: HandModel, background_kind: str) -> list[SceneSpec]:
    streams = [dict(zip(PARTS, sample_rng(seed, config_name, split, i).spawn(len(PARTS)))) for i in indices]
    hand_rngs = [s["hand"] for s in streams]
    grasps = None
    if config_name.startswith("interact_"):
        shaped = [sample_shape_and_grasp(config, hand, s["hand"], s["object"]) for s in streams]
        betas, grasps = np.stack([b for b, _ in shaped]), [g for _, g in shaped]
        hand_pose, modes = np.stack([g.hand_pose for g in grasps]), [f"grasp_{g.grasp_type}" for g in grasps]
    else:
        weights = tuple(sorted(config.pose_mode_weights.items())) if config.pose_mode_weights else None
        betas, hand_pose, modes = sample_shapes_and_poses(config, hand, pose_prior(hand, weights), hand_rngs)
    global_orient = np.stack([uniform_rotvec(rng) for rng in hand_rngs])
    vertices, keypoints = posed_hands(hand, betas, hand_pose, global_orient)
    # The world origin is the posed hand's centre (the mean of its vertices). Rounded to 1 nm,
    # `transl` does not depend on float64 rounding noise (which differs with batch and machine).
    transl = np.round(-vertices.mean(1), 9)
    objects = [None] * len(indices)
    if grasps is not None:
        objects = [placed_object(g, hand_to_world(hand, b, go, t))
                   for g, b, go, t in zip(grasps, betas, global_orient, transl)]
    specs = []
    for k, (index, rngs) in enumerate(zip(indices, streams)):
        placed_vertices, placed_keypoints = vertices[k] + transl[k], keypoints[k] + transl[k]
        views = [sample_view(config, rngs["views"], placed_vertices, placed_keypoints)
                 for _ in range(config.num_views)]
        background = sample_background(config, rngs["background"], background_kind)
        lights, ambient = sample_lights(config, rngs["lights"], background.dominant_color)
        specs.append(SceneSpec(
            scene_id=f"{config_name}-{split}-{index:08d}", seed=seed, config=config_name, split=split, index=index,
            betas=betas[k].tolist(), hand_pose=hand_pose[k].tolist(), global_orient=global_orient[k].tolist(),
            transl=transl[k].tolist(), pose_mode=modes[k], is_right=True, views=views, lights=lights,
            ambient=ambient, appearance=sample_appearance(config, rngs["appearance"]), background=background,
            render_seed=draw_seed(rngs["seeds"]), object=objects[k]))
    return specs


def draw_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, SEED_BOUND))


# ---------------------------------------------------------------------------------------------
# Hand


@lru_cache(maxsize=1)
def open_right_hand() -> HandModel:
    return HandModel.open("right")


@lru_cache(maxsize=4)
def pose_prior(hand: HandModel, mode_weights: tuple[tuple[str, float], ...] | None) -> AnatomicalPosePrior:
    """The anatomical prior of a hand (cached: building it poses the hand and fits capsules)."""
    return AnatomicalPosePrior(hand, mode_weights=dict(mode_weights) if mode_weights else None)


@lru_cache(maxsize=4)
def float64_hand(hand: HandModel) -> HandModel:
    """A float64 copy of a hand model, for placing the hand (cached)."""
    return copy.deepcopy(hand).double()


@lru_cache(maxsize=4)
def shape_bank(path: str) -> EmpiricalShapePrior:
    return EmpiricalShapePrior.from_npy(path)


def sample_betas(config: SceneConfig, hand: HandModel, rng: np.random.Generator) -> np.ndarray:
    """(num_betas,) from the configured bank, else the bounded normal."""
    shapes = (shape_bank(config.shape_bank) if config.shape_bank
              else BoundedNormalShapePrior(num_betas=hand.num_betas, sd=config.shape_sd, bound=config.shape_bound))
    return shapes.sample(rng, 1)[0]


def sample_shapes_and_poses(config: SceneConfig, hand: HandModel, prior: AnatomicalPosePrior,
                            rngs: list[np.random.Generator]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(n,10) betas, (n,45) poses and pose modes, one per generator. A shape for which the prior
    finds no pose within its rounds (some extreme shapes overlap themselves even when flat) is
    redrawn, so shapes are conditioned on admitting a pose."""
    betas = np.stack([sample_betas(config, hand, rng) for rng in rngs])
    poses, modes = np.zeros((len(rngs), 45)), [""] * len(rngs)
    todo = np.arange(len(rngs))
    for _ in range(MAX_SHAPE_DRAWS):
        drawn = prior.sample_each([rngs[i] for i in todo], betas[todo])
        ok = drawn.accepted
        poses[todo[ok]] = drawn.hand_pose[ok]
        for i, mode in zip(todo[ok], np.asarray(drawn.modes)[ok]):
            modes[i] = str(mode)
        todo = todo[~ok]
        if not len(todo):
            return betas, poses, modes
        betas[todo] = np.stack([sample_betas(config, hand, rngs[i]) for i in todo])
    raise RuntimeError(f"{len(todo)} samples found no self-penetration-free pose for {MAX_SHAPE_DRAWS} shapes")


def uniform_rotvec(rng: np.random.Generator) -> np.ndarray:
    """An axis-angle rotation uniform on SO(3) (a normalised 4D Gaussian is a uniform unit
    quaternion), with angle in [0, π]."""
    q = rng.normal(size=4)
    q = q / np.linalg.norm(q) * np.sign(q[0] or 1.0)  # w >= 0: angle <= π
    sin_half = np.linalg.norm(q[1:])
    if sin_half < 1e-12:
        return np.zeros(3)
    return q[1:] / sin_half * 2.0 * np.arctan2(sin_half, q[0])


def posed_hands(hand: HandModel, betas: np.ndarray, hand_pose: np.ndarray,
                global_orient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n,V,3) vertices and (n,21,3) keypoints of the hands posed with `transl=None`, in float64."""
    model = float64_hand(hand)
    with torch.no_grad():
        out = model(global_orient=torch.as_tensor(global_orient, dtype=torch.float64),
                    hand_pose=torch.as_tensor(hand_pose, dtype=torch.float64),
                    betas=torch.as_tensor(betas, dtype=torch.float64))
    return out.vertices.numpy(), out.keypoints.numpy()


# ---------------------------------------------------------------------------------------------
# Cameras


def sample_view(config: SceneConfig, rng: np.random.Generator, vertices: np.ndarray,
                keypoints: np.ndarray) -> CameraView:
    """A camera over the hand centred at the origin, redrawn until the hand is well framed."""
    for _ in range(config.max_view_attempts):
        view = make_view(fov_y_deg=float(rng.uniform(*config.fov_y_deg)),
                         distance_m=sample_distance(config, rng),
                         direction=uniform_direction(rng),
                         up_roll_deg=float(rng.uniform(0.0, 360.0)),
                         width=config.width, height=config.height)
        if well_framed(config, view, vertices, keypoints):
            return view
    raise RuntimeError(f"no well-framed view in {config.max_view_attempts} attempts; check the image size, "
                       "distance and framing settings")


def sample_distance(config: SceneConfig, rng: np.random.Generator) -> float:
    """Equal mixture of N(mean, sd²); a draw below `distance_min_m` is redrawn from its component."""
    mean = config.distance_means_m[rng.integers(len(config.distance_means_m))]
    while (d := rng.normal(mean, config.distance_sd_m)) < config.distance_min_m:
        pass
    return float(d)


def uniform_direction(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def make_view(fov_y_deg: float, distance_m: float, direction: np.ndarray, up_roll_deg: float,
              width: int, height: int) -> CameraView:
    R = look_at_origin(direction, up_roll_deg)
    t = -R @ (distance_m * direction)
    return CameraView(fov_y_deg=fov_y_deg, distance_m=distance_m, direction=direction.tolist(),
                      up_roll_deg=up_roll_deg, K=intrinsics(fov_y_deg, width, height).tolist(),
                      R=R.tolist(), t=t.tolist(), width=width, height=height)


def intrinsics(fov_y_deg: float, width: int, height: int) -> np.ndarray:
    """K for a vertical FOV: fy = (H/2) / tan(fov/2), square pixels, principal point at the image
    centre ((W-1)/2, (H-1)/2) under the integer-pixel-centre convention."""
    f = (height / 2.0) / np.tan(np.radians(fov_y_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def look_at_origin(direction: np.ndarray, up_roll_deg: float) -> np.ndarray:
    """World-to-camera rotation (rows: camera x, y, z axes in world coordinates) of a camera at
    `direction` (unit) looking at the origin; see `CameraView` for the roll convention."""
    z = -direction
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.999 else np.array([0.0, 1.0, 0.0])
    y = -(up - (up @ z) * z)
    y /= np.linalg.norm(y)
    x = np.array([y[1] * z[2] - y[2] * z[1], y[2] * z[0] - y[0] * z[2], y[0] * z[1] - y[1] * z[0]])  # y × z
    r = np.radians(up_roll_deg)
    return np.stack([np.cos(r) * x + np.sin(r) * y, -np.sin(r) * x + np.cos(r) * y, z])


def project(view: CameraView, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,2) pixel coordinates and (N,) camera depths of (N,3) world points."""
    cam = points @ np.asarray(view.R).T + np.asarray(view.t)
    uv = cam @ np.asarray(view.K).T
    return uv[:, :2] / uv[:, 2:], cam[:, 2]


def well_framed(config: SceneConfig, view: CameraView, vertices: np.ndarray, keypoints: np.ndarray) -> bool:
    """Every vertex and keypoint in front of the camera and `framing_margin_px` inside the image
    ([-0.5, W-0.5] × [-0.5, H-0.5]), and the hand box's longer side ≥ `min_box_frac` of the
    image's shorter side."""
    uv, z = project(view, np.concatenate([vertices, keypoints]))
    m = config.framing_margin_px
    inside = ((uv >= -0.5 + m) & (uv <= np.array([view.width, view.height]) - 0.5 - m)).all()
    box_side = (uv[: len(vertices)].max(0) - uv[: len(vertices)].min(0)).max()
    return bool((z > config.near_m).all() and inside and box_side >= config.min_box_frac * min(view.width, view.height))


# ---------------------------------------------------------------------------------------------
# Colour



def black_body_rgb(kelvin: float) -> np.ndarray:
    """Linear sRGB colour (max channel 1) of a black body, from the Planckian locus in CIE xy
    (Kim et al. 2002 cubic fit, valid 1667–25000 K)."""
    t = float(kelvin)
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    xyz = np.array([x / y, 1.0, (1 - x - y) / y])
    xyz_to_srgb = np.array([[3.2404542, -1.5371385, -0.4985314],
                            [-0.9692660, 1.8760108, 0.0415560],
                            [0.0556434, -0.2040259, 1.0572252]])
    rgb = np.clip(xyz_to_srgb @ xyz, 0.0, None)
    return rgb / rgb.max()


# ---------------------------------------------------------------------------------------------
# Background, lights, appearance


def pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """A name drawn with probability proportional to its weight (one uniform draw)."""
    names = list(weights)
    cumulative = np.cumsum([weights[n] for n in names])
    return names[min(int(np.searchsorted(cumulative, rng.uniform() * cumulative[-1], side="right")), len(names) - 1)]


def sample_background(config: SceneConfig, rng: np.random.Generator, kind: str) -> BackgroundSpec:
    """Source (procedural unless files are configured), seed, dominant colour, crop or yaw."""
    files = config.background_files if kind == "indoor" else config.envmap_files
    source = files[rng.integers(len(files))] if files else "procedural"
    dominant = hsv_linear(rng.uniform(), rng.uniform(*config.background_saturation),
                          rng.uniform(*config.background_value))
    common = dict(kind=kind, source=source, seed=draw_seed(rng), dominant_color=dominant.tolist())
    if kind == "indoor":
        return BackgroundSpec(**common, crop_scale=float(rng.uniform(*config.crop_scale)),
                              crop_offset=rng.uniform(size=2).tolist())
    return BackgroundSpec(**common, yaw_deg=float(rng.uniform(0.0, 360.0)))


def sample_lights(config: SceneConfig, rng: np.random.Generator,
                  dominant_color: list[float]) -> tuple[list[LightSpec], list[float]]:
    """1–5 lights around the hand and the ambient colour (a scaled background dominant colour)."""
    count = int(rng.integers(config.light_count[0], config.light_count[1] + 1))
    lights = [sample_light(config, rng) for _ in range(count)]
    # SAPIEN's raster shader casts shadows from at most SHADOW_LIMITS[kind] lights of a kind (and
    # fails otherwise); later ones are unshadowed, decided after every draw so the rest of the
    # scene's randomness is unchanged.
    for kind, limit in SHADOW_LIMITS.items():
        shadowed = [k for k, light in enumerate(lights) if light.kind == kind and light.shadow]
        for k in shadowed[limit:]:
            lights[k] = dataclasses.replace(lights[k], shadow=False)
    ambient = float(rng.uniform(*config.ambient_scale)) * np.asarray(dominant_color)
    return lights, ambient.tolist()


def sample_light(config: SceneConfig, rng: np.random.Generator) -> LightSpec:
    kind = pick(rng, config.light_kind_weights)
    distance = float(rng.uniform(*config.light_distance_m))
    position = distance * uniform_direction(rng)
    aim = rng.normal(0.0, config.spot_aim_sd_m, size=3) if kind == "spot" else np.zeros(3)
    direction = (aim - position) / np.linalg.norm(aim - position)
    strength = float(rng.uniform(*config.light_strength))
    spot = {}
    if kind == "spot":
        outer = float(rng.uniform(*config.spot_outer_deg))
        spot = dict(spot_outer_deg=outer, spot_inner_deg=outer * float(rng.uniform(*config.spot_inner_frac)))
    return LightSpec(kind=kind, position=position.tolist(), direction=direction.tolist(),
                     color=sample_light_color(config, rng).tolist(),
                     intensity=strength if kind == "directional" else strength * distance**2,
                     shadow=bool(rng.uniform() < config.shadow_prob), **spot)


def sample_light_color(config: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """Vivid (saturated hue, max channel 1) with probability `vivid_color_prob`, else a black
    body between warm and daylight white."""
    if rng.uniform() < config.vivid_color_prob:
        return hsv_linear(rng.uniform(), rng.uniform(*config.vivid_saturation), 1.0)
    return black_body_rgb(rng.uniform(*config.color_temperature_k))


def sample_appearance(config: SceneConfig, rng: np.random.Generator) -> AppearanceSpec:
    tone = float(rng.uniform(*config.skin_tone))
    hue = float(rng.uniform(*config.skin_hue_shift_deg))
    saturation = float(rng.uniform(*config.skin_saturation_scale))
    files = config.skin_texture_files
    texture_source = files[rng.integers(len(files))] if files else "procedural"
    forearm = pick(rng, config.forearm_weights)
    sleeved = forearm != "bare"
    sleeve_color = (hsv_linear(rng.uniform(), rng.uniform(*config.sleeve_saturation),
                               rng.uniform(*config.sleeve_value)).tolist() if sleeved else None)
    return AppearanceSpec(skin_tone=tone, hue_shift_deg=hue, saturation_scale=saturation,
                          albedo=skin_albedo(tone, hue, saturation, anchors=config.skin_tone_anchors).tolist(),
                          texture_source=texture_source, texture_seed=draw_seed(rng), forearm=forearm,
                          sleeve_color=sleeve_color, sleeve_pattern_seed=draw_seed(rng) if sleeved else None)


# ---------------------------------------------------------------------------------------------
# Interact: object and grasp


@dataclass(frozen=True)
class SampledGrasp:
    """A grasp found for one sample: the hand pose and the object (pose in the canonical hand
    frame, i.e. `global_orient` = 0 and `transl` = 0)."""

    hand_pose: np.ndarray
    grasp_type: str
    object_pose: np.ndarray
    object: ObjectSpec  # its `pose` is filled in by `placed_object`


class GraspNotFound(RuntimeError):
    """No grasp was accepted within `SceneConfig.max_grasp_attempts`."""


@lru_cache(maxsize=4)
def grasp_synthesizer(hand: HandModel) -> GraspSynthesizer:
    return GraspSynthesizer(float64_hand(hand), pose_prior(hand, None))


@lru_cache(maxsize=4)
def mesh_folder(path: str) -> MeshFolder:
    return MeshFolder(path)


@lru_cache(maxsize=64)
def _mesh_object(path: str, file_id: str) -> GraspObject:
    return mesh_folder(path).load(file_id)


def scene_object(spec: ObjectSpec, object_folder: str | None = None) -> GraspObject:
    """The geometry of a spec's object: procedural from its parameters, or its mesh file."""
    if spec.source == "procedural":
        return procedural_object(spec.kind, spec.params, spec.object_id)
    if object_folder is None:
        raise ValueError(f"the scene's object is the mesh file {spec.source!r} but no object folder was given")
    if spec.kind == "graspxl":
        return graspxl_object(object_folder, spec.source)
    return _mesh_object(object_folder, spec.source)


def sample_grasp(config: SceneConfig, hand: HandModel, betas: np.ndarray, rng: np.random.Generator,
                 log: list[dict] | None = None) -> SampledGrasp:
    """An object, a grasp of it by the hand of shape `betas`, and the object's material; a new
    object is drawn after each rejected grasp. Every attempt is appended to `log` when given
    (object kind, grasp type, "accepted" or the reason for rejection, the grasp's measurements)."""
    synthesizer = grasp_synthesizer(hand)
    for attempt in range(1, config.max_grasp_attempts + 1):
        if config.object_folder:
            ids = mesh_folder(config.object_folder).ids
            obj = _mesh_object(config.object_folder, ids[rng.integers(len(ids))])
            kind, params = "mesh", {}
        else:
            kind = pick(rng, config.object_kind_weights)
            params = sample_object_params(kind, rng)
            obj = procedural_object(kind, params, object_id=f"{kind}-{attempt}")
        weights = {g: w for g, w in config.grasp_type_weights.items() if g in suitable_grasps(obj)}
        if not weights:
            continue
        grasp_type = pick(rng, weights)
        result = synthesizer.synthesize(obj, betas, grasp_type, rng)
        if log is not None:
            log.append({"kind": kind, "grasp_type": grasp_type, "reason": result.reason, "grasp": result.grasp})
        if result.grasp is None:
            continue
        spec = object_spec(config, rng, kind, kind if obj.source == "procedural" else obj.object_id, obj.source,
                           params, obj.scale, grasp_type, attempt)
        return SampledGrasp(result.grasp.hand_pose, grasp_type, result.grasp.object_pose, spec)
    raise GraspNotFound(f"no accepted grasp in {config.max_grasp_attempts} attempts; raise max_grasp_attempts "
                        "or check the object folder's meshes")


def object_spec(config: SceneConfig, rng: np.random.Generator, kind: str, object_id: str, source: str,
                params: dict[str, float], scale: float, grasp_type: str, attempts: int) -> ObjectSpec:
    """The object's spec with its material drawn (pose filled in by `placed_object`)."""
    patterned = rng.uniform() < config.object_pattern_prob
    return ObjectSpec(
        kind=kind, source=source, object_id=object_id, params=params, scale=scale,
        color=hsv_linear(rng.uniform(), rng.uniform(0.0, 0.9), rng.uniform(0.1, 0.95)).tolist(),
        pattern=OBJECT_PATTERNS[rng.integers(len(OBJECT_PATTERNS))] if patterned else None,
        pattern_color=hsv_linear(rng.uniform(), rng.uniform(0.0, 0.9), rng.uniform(0.1, 0.95)).tolist()
        if patterned else None,
        pattern_seed=draw_seed(rng), roughness=float(rng.uniform(*config.object_roughness)),
        metallic=float(rng.uniform() < config.object_metallic_prob), grasp_type=grasp_type,
        pose=np.eye(4).tolist(), attempts=attempts)


@lru_cache(maxsize=4)
def graspxl_folder(path: str) -> GraspXLFolder:
    return GraspXLFolder(path)


@lru_cache(maxsize=4)
def mano_reference(path: str) -> ManoReference:
    return ManoReference.from_file(path)


@lru_cache(maxsize=64)
def graspxl_object(folder: str, mesh_id: str) -> GraspObject:
    """A GraspXL mesh as is: its sequences pose it in metres, so a unit guess would break them."""
    obj = load_mesh_object(Path(folder) / mesh_id, mesh_id)
    if obj.scale != 1.0:
        raise GraspXLError(f"{Path(folder) / mesh_id}: GraspXL meshes are in metres, this one looks "
                           f"{obj.scale}x off (longest side {obj.extents.max() / obj.scale:.3g})")
    return obj


def sample_graspxl(config: SceneConfig, hand: HandModel, rng: np.random.Generator) -> SampledGrasp:
    """A grasp from `config.graspxl_dir`: a sequence uniformly, a frame of its hold
    (`graspxl.hold_frame`), carried over to `hand` at MANO's mean shape (zero betas)."""
    folder = graspxl_folder(config.graspxl_dir)
    sequence = folder.sequence(folder.ids[rng.integers(len(folder.ids))])
    frame = hold_frame(sequence.num_frames, rng)
    mesh_id = folder.mesh_id(sequence)
    obj = graspxl_object(config.graspxl_dir, mesh_id)
    hand_pose, object_pose = sequence_grasp(sequence, frame, mano_reference(config.graspxl_mano),
                                            float64_hand(hand).rest_joints[0].numpy(), obj.origin)
    spec = object_spec(config, rng, "graspxl", sequence.object_id, mesh_id, {}, obj.scale, "graspxl", 1)
    return SampledGrasp(hand_pose, "graspxl", object_pose, spec)


def sample_shape_and_grasp(config: SceneConfig, hand: HandModel, hand_rng: np.random.Generator,
                           object_rng: np.random.Generator) -> tuple[np.ndarray, SampledGrasp]:
    """A hand shape and a grasp by it; a shape that finds no grasp (an extreme one) is redrawn,
    as single-hand sampling redraws shapes that admit no pose. GraspXL grasps were made by
    MANO's mean hand, so they keep its shape (zero betas)."""
    if config.graspxl_dir:
        return np.zeros(hand.num_betas), sample_graspxl(config, hand, object_rng)
    for _ in range(MAX_SHAPE_DRAWS):
        betas = sample_betas(config, hand, hand_rng)
        try:
            return betas, sample_grasp(config, hand, betas, object_rng)
        except GraspNotFound:
            continue
    raise GraspNotFound(f"no grasp for {MAX_SHAPE_DRAWS} hand shapes of {config.max_grasp_attempts} attempts each")


def hand_to_world(hand: HandModel, betas: np.ndarray, global_orient: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """(4,4) map from the canonical hand frame to the world: MANO turns the hand by
    `global_orient` about its rest wrist joint J0, then adds `transl`: x -> R (x - J0) + J0 + transl."""
    with torch.no_grad():
        j0 = float64_hand(hand)(betas=torch.as_tensor(betas[None], dtype=torch.float64)).joints[0, 0].numpy()
    R = Rotation.from_rotvec(global_orient).as_matrix()
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, j0 + transl - R @ j0
    return T


def placed_object(grasp: SampledGrasp, hand_to_world_T: np.ndarray) -> ObjectSpec:
    return dataclasses.replace(grasp.object, pose=(hand_to_world_T @ grasp.object_pose).tolist())
