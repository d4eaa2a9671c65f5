"""Scene specifications: pure, JSON-serialisable data that fully determines one rendered scene.

A `SceneSpec` is what `sample_scene` draws for sample `index` of split `split` of config
`config`; every later stage (assets, renderer, compositor, labels) reads only the spec, so the
same spec gives the same labels exactly. All arrays are stored as plain Python lists (floats in
metres, degrees where a name says `_deg`), so `SceneSpec.from_json(spec.to_json()) == spec`.

Conventions
- World frame: metres; the posed hand's centre (the mean of its posed mesh vertices) is the
  world origin. The hand is posed by `global_orient`, `hand_pose`, `betas` and placed there by
  `transl` (the hand model's `transl` argument, i.e. minus the centre of the hand posed with
  `transl=None`). The forearm attaches at the wrist keypoint.
- Cameras: OpenCV (x right, y down, z forward); extrinsics map world to camera,
  `X_cam = R @ X_world + t`; `K` is 3×3 with square pixels. Pixel centres lie at integer
  coordinates, so the image spans [-0.5, W-0.5] × [-0.5, H-0.5] and the principal point of a
  centred camera is ((W-1)/2, (H-1)/2).
- Colours are linear RGB in [0, 1] (not sRGB-encoded).
- Seeds are integers in [0, 2**53) (exact in any JSON reader), drawn from the sample's own
  generator.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

Vec3 = list[float]
Mat3 = list[list[float]]

LIGHT_KINDS: tuple[str, ...] = ("point", "directional", "spot")
FOREARM_STYLES: tuple[str, ...] = ("bare", "short_sleeve", "long_sleeve")

# Monk Skin Tone scale (10 swatches, lightest to darkest) as sRGB hex: the anchors a continuous
# skin tone in [0, 1] interpolates (in linear RGB). A perceptual, Fitzpatrick-like range.
MONK_SKIN_TONES: tuple[str, ...] = (
    "f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96", "a07e56", "825c43", "604134", "3a312a", "292420",
)


@dataclass(frozen=True)
class SceneConfig:
    """Every sampling setting (the AnyHand paper's appendix, DESIGN.md "Sampling").

    Ranges `(low, high)` are sampled uniformly unless stated otherwise; `*_weights` are relative
    probabilities. `dataclasses.asdict(config)` lists every setting, for the dataset card.
    """

    # Image
    width: int = 256
    height: int = 256
    # Cameras: vertical FOV uniform; distance from an equal mixture of normals, each redrawn
    # below `distance_min_m`; direction uniform on the sphere; roll uniform in [0, 360).
    num_views: int = 2
    fov_y_deg: tuple[float, float] = (30.0, 40.0)
    distance_means_m: tuple[float, ...] = (0.6, 0.7, 1.0)
    distance_sd_m: float = 0.1
    distance_min_m: float = 0.3
    # Framing: a view is redrawn (all of fov, distance, direction, roll) unless every hand vertex
    # and keypoint lies in front of the camera and `framing_margin_px` inside the image, and the
    # hand box's longer side is at least `min_box_frac` of the image's shorter side.
    framing_margin_px: float = 2.0
    min_box_frac: float = 0.1
    near_m: float = 0.05
    max_view_attempts: int = 200
    # Hand: global orientation uniform on SO(3); betas from `shape_bank` (.npy, (N,10)) when
    # given, else a normal N(0, shape_sd²) truncated at ±shape_bound; poses from the anatomical
    # prior (`pose_mode_weights` None: the prior's own mode mixture).
    shape_bank: str | None = None
    shape_sd: float = 1.0
    shape_bound: float = 2.5
    pose_mode_weights: dict[str, float] | None = None
    # Lights: count uniform in [min, max]; kind by weight; placed at a uniformly random direction
    # and a distance in `light_distance_m` from the hand centre, aimed at it (spots with an aim
    # point jittered by `spot_aim_sd_m`). `light_strength` is the irradiance a light gives at the
    # hand (renderer units): directional intensity = strength; point/spot intensity =
    # strength · distance². Colour: vivid (HSV hue uniform, saturation in `vivid_saturation`)
    # with probability `vivid_color_prob`, else a black body of temperature in
    # `color_temperature_k`. Each light casts shadows with probability `shadow_prob`.
    light_count: tuple[int, int] = (1, 5)
    light_kind_weights: dict[str, float] = field(
        default_factory=lambda: {"point": 1.0, "directional": 1.0, "spot": 1.0})
    light_distance_m: tuple[float, float] = (0.5, 2.0)
    light_strength: tuple[float, float] = (0.5, 2.5)
    spot_outer_deg: tuple[float, float] = (20.0, 45.0)
    spot_inner_frac: tuple[float, float] = (0.5, 0.9)
    spot_aim_sd_m: float = 0.03
    vivid_color_prob: float = 0.2
    vivid_saturation: tuple[float, float] = (0.6, 1.0)
    color_temperature_k: tuple[float, float] = (2700.0, 6500.0)
    shadow_prob: float = 0.5
    # Background: its dominant colour (HSV hue uniform; saturation, value below; sRGB) is drawn
    # here and the procedural background is generated to have it; ambient = `ambient_scale` ·
    # dominant colour. Indoor configs crop a window of the image's aspect ratio: `crop_scale` of
    # the largest such window of the source, at a uniform offset. Envmaps get a yaw in [0, 360).
    # Non-empty `background_files` / `envmap_files` (file ids) replace the procedural source.
    background_saturation: tuple[float, float] = (0.0, 0.6)
    background_value: tuple[float, float] = (0.15, 0.9)
    ambient_scale: tuple[float, float] = (0.2, 0.6)
    crop_scale: tuple[float, float] = (0.3, 1.0)
    background_files: tuple[str, ...] = ()
    envmap_files: tuple[str, ...] = ()
    # Appearance: skin tone uniform in `skin_tone` over `skin_tone_anchors` (sRGB hex, light to
    # dark), then a hue shift and a saturation scale (in sRGB HSV); `skin_texture_files` (ids)
    # replace the procedural texture; forearm style by weight; sleeve colour in HSV (sRGB).
    skin_tone: tuple[float, float] = (0.0, 1.0)
    skin_tone_anchors: tuple[str, ...] = MONK_SKIN_TONES
    skin_hue_shift_deg: tuple[float, float] = (-8.0, 8.0)
    skin_saturation_scale: tuple[float, float] = (0.8, 1.2)
    skin_texture_files: tuple[str, ...] = ()
    forearm_weights: dict[str, float] = field(
        default_factory=lambda: {"bare": 1.0, "short_sleeve": 1.0, "long_sleeve": 1.0})
    sleeve_saturation: tuple[float, float] = (0.0, 0.9)
    sleeve_value: tuple[float, float] = (0.1, 0.9)
    # Interact configs: an object kind by weight (procedural), or a mesh file of `object_folder`
    # (a path; uniform over its files) when given; the grasp type by weight among those that fit
    # the object (`grasp.suitable_grasps`); a new object and grasp are drawn after a rejected
    # grasp, up to `max_grasp_attempts`. Material: colour in HSV (sRGB), a two-colour pattern
    # with probability `object_pattern_prob`, roughness and metallic uniform.
    object_kind_weights: dict[str, float] = field(default_factory=lambda: {
        "box": 1.0, "cylinder": 1.0, "bottle": 1.0, "mug": 1.0, "sphere": 1.0, "tool": 1.0, "torus": 0.5,
        "plate": 0.5})
    object_folder: str | None = None
    # GraspXL: an unpacked GraspXL download (`scene.graspxl`) replaces synthesis and the object
    # library: a MANO sequence uniformly, a frame of its hold, the mean hand shape. `graspxl_mano`
    # is the user's MANO_RIGHT file (.pkl/.npz), whose mean pose GraspXL's poses are relative to.
    graspxl_dir: str | None = None
    graspxl_mano: str | None = None
    grasp_type_weights: dict[str, float] = field(default_factory=lambda: {
        "power": 2.0, "precision": 1.0, "tripod": 1.0, "lateral": 1.0})
    max_grasp_attempts: int = 60
    object_pattern_prob: float = 0.5
    object_roughness: tuple[float, float] = (0.2, 0.9)
    object_metallic_prob: float = 0.15

    def __post_init__(self) -> None:
        if set(self.light_kind_weights) - set(LIGHT_KINDS) or set(self.forearm_weights) - set(FOREARM_STYLES):
            raise ValueError(f"light kinds must be in {LIGHT_KINDS} and forearm styles in {FOREARM_STYLES}")
        if not 1 <= self.light_count[0] <= self.light_count[1]:
            raise ValueError(f"light_count must be 1 <= min <= max, got {self.light_count}")
        if self.num_views < 1 or self.width < 2 or self.height < 2:
            raise ValueError("need num_views >= 1 and an image of at least 2x2 pixels")
        if self.graspxl_dir and not self.graspxl_mano:
            raise ValueError("graspxl_dir needs graspxl_mano: GraspXL's poses are relative to MANO's mean pose")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SceneConfig":
        """Inverse of `to_dict` after a JSON round trip (lists back to tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class CameraView:
    """One pinhole camera looking at the hand centre (the world origin).

    The camera centre is `distance_m · direction`. At zero roll the image's up direction is
    world +z projected onto the image plane (world +y when the view is within 2.6° of ±z);
    `up_roll_deg` then turns the camera about its optical axis: x' = cos r·x + sin r·y,
    y' = -sin r·x + cos r·y. `K`, `R`, `t` follow the module conventions.
    """

    fov_y_deg: float
    distance_m: float
    direction: Vec3
    up_roll_deg: float
    K: Mat3
    R: Mat3
    t: Vec3
    width: int
    height: int


@dataclass(frozen=True)
class LightSpec:
    """A light at `position` (world, m) aimed along `direction` (unit, towards the hand; a point
    light ignores it). `intensity` scales `color` (linear RGB, max channel 1): see
    `SceneConfig.light_strength`. Spot lights have inner/outer cone half-angles (full cone =
    2×); other kinds have None."""

    kind: str
    position: Vec3
    direction: Vec3
    color: Vec3
    intensity: float
    shadow: bool
    spot_inner_deg: float | None = None
    spot_outer_deg: float | None = None


@dataclass(frozen=True)
class AppearanceSpec:
    """Skin and forearm. `skin_tone` is continuous in [0, 1] (light to dark) over the config's
    anchors; `albedo` is the resulting base colour (linear RGB) after `hue_shift_deg` and
    `saturation_scale`. `texture_source` is "procedural" or a texture file id. Sleeve colour and
    pattern seed are None for a bare forearm."""

    skin_tone: float
    hue_shift_deg: float
    saturation_scale: float
    albedo: Vec3
    texture_source: str
    texture_seed: int
    forearm: str
    sleeve_color: Vec3 | None
    sleeve_pattern_seed: int | None


@dataclass(frozen=True)
class BackgroundSpec:
    """The background: `kind` indoor (a crop of an image composited behind the render) or
    envmap (an environment map that lights and backs the scene). `source` is "procedural" or a
    file id; a procedural one is generated from `seed` with `dominant_color` (linear RGB).
    Indoor: `crop_scale` (fraction of the largest window of the image's aspect ratio that fits
    the source) and `crop_offset` (x, y in [0, 1] of the room left around the window).
    Envmap: `yaw_deg`, the map's rotation about world +z. Fields of the other kind are None."""

    kind: str
    source: str
    seed: int
    dominant_color: Vec3
    crop_scale: float | None = None
    crop_offset: list[float] | None = None
    yaw_deg: float | None = None


@dataclass(frozen=True)
class ObjectSpec:
    """The grasped object of an interact scene. `source` is "procedural" (built from `kind` and
    `params`, metres) or a mesh file id of the config's `object_folder` (`kind` "mesh") or of its
    `graspxl_dir` (`kind` and `grasp_type` "graspxl", `object_id` GraspXL's);
    `scale` is what the file was multiplied by to be in metres. `pose` (4×4) maps the object
    frame to the world. Material: `color` and `pattern_color` linear RGB, `pattern` None or a
    pattern name of `assets.objects.object_texture`. `grasp_type` and `attempts` (grasps tried
    before this one was accepted) record how the grasp was found."""

    kind: str
    source: str
    object_id: str
    params: dict[str, float]
    scale: float
    color: Vec3
    pattern: str | None
    pattern_color: Vec3 | None
    pattern_seed: int
    roughness: float
    metallic: float
    grasp_type: str
    pose: list[list[float]]
    attempts: int


@dataclass(frozen=True)
class SceneSpec:
    """One scene: a posed right hand at the world origin (holding `object` in interact configs),
    two cameras, lights, appearance and background. See the module docstring for frames and units."""

    scene_id: str
    seed: int
    config: str
    split: str
    index: int
    betas: list[float]
    hand_pose: list[float]
    global_orient: Vec3
    transl: Vec3
    pose_mode: str
    is_right: bool
    views: list[CameraView]
    lights: list[LightSpec]
    ambient: Vec3
    appearance: AppearanceSpec
    background: BackgroundSpec
    render_seed: int
    object: ObjectSpec | None = None  # interact configs only

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SceneSpec":
        return cls(**{**d,
                      "views": [CameraView(**v) for v in d["views"]],
                      "lights": [LightSpec(**light) for light in d["lights"]],
                      "appearance": AppearanceSpec(**d["appearance"]),
                      "background": BackgroundSpec(**d["background"]),
                      "object": ObjectSpec(**d["object"]) if d.get("object") else None})

    @classmethod
    def from_json(cls, text: str) -> "SceneSpec":
        return cls.from_dict(json.loads(text))
