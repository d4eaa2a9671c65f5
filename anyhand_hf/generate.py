"""One AnyHand sample end to end: `SceneSpec` → posed, textured hand and forearm → SAPIEN
render of each view → background composite and depth fusion → labelled rows.

Labels live in each view's camera frame (OpenCV, metres): `global_orient` and `hand_transl`
are such that `HandModel(global_orient, hand_pose, betas, hand_transl)` gives `vertices_3d`
and `joints_3d` directly, so a model regresses camera-frame MANO without knowing the world.
`R`, `t` are the world→camera extrinsics (the world is the hand-centred scene frame).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import torch

from .assets import (AssetFolder, background_folder, crop, envmap_folder, indoor_background, procedural_envmap,
                     rotate_yaw, skin_texture, texture_folder)
from .assets.forearm import forearm_mesh, forearm_skin_texture, pose_forearm, sleeve_texture
from .assets.objects import MeshFolder, object_texture, planar_uv
from .color import linear_to_srgb
from .depth import DepthEstimator, PlaneDepthEstimator, fuse_depth
from .hand import HandModel
from .hand.lbs import axis_angle_to_matrix
from .render import Camera, Light, MeshPart, RenderResult
from .render.types import LABEL_FOREARM, LABEL_HAND, LABEL_OBJECT
from .scene import SceneSpec
from .scene.sampling import float64_hand, mesh_folder, scene_object
from .viz import rasterize

SKIN_ROUGHNESS, CLOTH_ROUGHNESS = 0.55, 0.9
PROCEDURAL = "procedural"


@dataclass
class AssetLibrary:
    """Folders of real assets that replace the procedural ones (each optional): background
    photographs (e.g. MIT Indoor), equirectangular HDR maps, hand textures in the hand's UV
    layout. Scene sampling picks file ids from them (`scene_config`); a file that turns out
    unreadable is skipped with a warning naming it, and the next file is used."""

    backgrounds: AssetFolder | None = None
    envmaps: AssetFolder | None = None
    textures: AssetFolder | None = None
    objects: MeshFolder | None = None

    @classmethod
    def from_dirs(cls, backgrounds=None, envmaps=None, textures=None, objects=None) -> "AssetLibrary":
        """Raises `AssetFolderError` (`ObjectLoadError` for meshes) naming a folder that is
        missing or holds no usable file."""
        return cls(backgrounds=background_folder(backgrounds) if backgrounds else None,
                   envmaps=envmap_folder(envmaps) if envmaps else None,
                   textures=texture_folder(textures) if textures else None,
                   objects=mesh_folder(str(objects)) if objects else None)

    def scene_config(self, config):
        """`config` with the file ids of these folders, so sampled scenes draw from them."""
        ids = lambda folder: folder.ids if folder else ()  # noqa: E731
        return dataclasses.replace(config, background_files=ids(self.backgrounds), envmap_files=ids(self.envmaps),
                                   skin_texture_files=ids(self.textures),
                                   object_folder=str(self.objects.path) if self.objects else None)

    def load(self, kind: str, file_id: str):
        """Load `file_id` from the `kind` folder ("backgrounds", "envmaps" or "textures")."""
        folder = getattr(self, kind)
        if folder is None:
            raise ValueError(f"the scene names the file {file_id!r} but no {kind} folder was given")
        return folder.load(file_id=file_id)


@dataclass
class PosedHand:
    vertices: np.ndarray  # (V,3) world
    joints: np.ndarray  # (16,3) world
    keypoints: np.ndarray  # (21,3) world, OpenPose order
    wrist_rest: np.ndarray  # (3,) joint 0 of the shaped hand at zero pose (MANO's root pivot)


def pose_hand(spec: SceneSpec, hand: HandModel) -> tuple[PosedHand, np.ndarray]:
    """The scene's posed hand in the world frame, and its shaped rest vertices."""
    f64 = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float64)[None])  # noqa: E731
    hand64 = float64_hand(hand)
    with torch.no_grad():
        rest = hand64(betas=f64(spec.betas))
        out = hand64(global_orient=f64(spec.global_orient), hand_pose=f64(spec.hand_pose),
                     betas=f64(spec.betas), transl=f64(spec.transl))
    posed = PosedHand(out.vertices[0].numpy(), out.joints[0].numpy(), out.keypoints[0].numpy(),
                      rest.joints[0, 0].numpy())
    return posed, rest.vertices[0].numpy()


def mesh_parts(spec: SceneSpec, hand: HandModel, posed: PosedHand, rest_vertices: np.ndarray,
               texture_size: int = 512, hand_texture: np.ndarray | None = None) -> list[MeshPart]:
    """Hand (label 1), forearm skin and sleeve (label 2), textured, in the world frame. The hand
    wears `hand_texture` when given (a real texture), else its procedural skin."""
    app = spec.appearance
    texture = skin_texture(app, size=texture_size) if hand_texture is None else hand_texture
    hand_part = MeshPart("hand", posed.vertices, hand.faces.numpy(), label=LABEL_HAND,
                         texture=texture, uv=hand.uv, roughness=SKIN_ROUGHNESS)
    ring = hand.wrist_ring
    forearm = forearm_mesh(rest_vertices, ring, style=app.forearm, seed=app.texture_seed % 2**32)
    rotation = axis_angle_to_matrix(torch.as_tensor(spec.global_orient, dtype=torch.float64)).numpy()
    root = posed.joints[0]
    forearm_vertices = pose_forearm(forearm, rotation, root, posed.wrist_rest, posed.vertices[ring])
    parts = [hand_part]
    verts, faces, uv = forearm.part("skin", forearm_vertices)
    parts.append(MeshPart("forearm", verts, faces, label=LABEL_FOREARM, uv=uv, roughness=SKIN_ROUGHNESS,
                          texture=forearm_skin_texture(forearm, app, size=texture_size)))
    if app.forearm != "bare":
        verts, faces, uv = forearm.part("sleeve", forearm_vertices)
        parts.append(MeshPart("sleeve", verts, faces, label=LABEL_FOREARM, uv=uv, roughness=CLOTH_ROUGHNESS,
                              texture=sleeve_texture(forearm, app.sleeve_color, app.sleeve_pattern_seed,
                                                     size=texture_size)))
    return parts


def object_part(spec: SceneSpec, assets: "AssetLibrary | None" = None, texture_size: int = 128) -> MeshPart:
    """The grasped object (label 3) in the world frame, with its file's texture, its pattern
    (planar-projected) or its plain colour."""
    o = spec.object
    obj = scene_object(o, str(assets.objects.path) if assets and assets.objects else None)
    pose = np.asarray(o.pose)
    vertices = np.asarray(obj.mesh.vertices) @ pose[:3, :3].T + pose[:3, 3]
    faces = np.asarray(obj.mesh.faces)
    look = dict(label=LABEL_OBJECT, roughness=o.roughness, metallic=o.metallic)
    if obj.texture is not None:
        return MeshPart("object", vertices, faces, texture=obj.texture, uv=obj.uv, **look)
    if o.pattern is not None:
        texture = object_texture(o.pattern, o.color, o.pattern_color, o.pattern_seed % 2**32, texture_size)
        return MeshPart("object", vertices, faces, texture=texture, uv=planar_uv(np.asarray(obj.mesh.vertices), faces),
                        **look)
    return MeshPart("object", vertices, faces, color=linear_to_srgb(o.color), **look)


def hand_occlusion(parts: list[MeshPart], view) -> float:
    """Fraction of the hand's pixels (hand, forearm and object all drawn) that the object hides:
    1 - visible hand pixels with the object / visible hand pixels without it (z-buffered by
    `viz.rasterize`, independent of the renderer)."""
    R, t, K = np.asarray(view.R), np.asarray(view.t), np.asarray(view.K)

    def hand_pixels(selected: list[MeshPart]) -> int:
        offsets = np.cumsum([0] + [len(p.vertices) for p in selected])
        faces = np.concatenate([p.faces + o for p, o in zip(selected, offsets)])
        face_label = np.concatenate([np.full(len(p.faces), p.label) for p in selected])
        frags = rasterize(np.concatenate([p.vertices for p in selected]) @ R.T + t, faces, K,
                          (view.height, view.width))
        return int((face_label[frags.face_id[frags.mask]] == LABEL_HAND).sum())

    alone = hand_pixels([p for p in parts if p.label != LABEL_OBJECT])
    return 0.0 if alone == 0 else 1.0 - hand_pixels(parts) / alone


def scene_lights(spec: SceneSpec) -> list[Light]:
    lights = []
    for light in spec.lights:
        color = np.asarray(light.color) * light.intensity
        if light.kind == "spot":
            lights.append(Light("spot", light.position, light.direction, color, light.shadow,
                                np.radians(light.spot_inner_deg), np.radians(light.spot_outer_deg)))
        else:
            lights.append(Light(light.kind, light.position, light.direction, color, light.shadow))
    return lights


def scene_envmap(spec: SceneSpec, assets: AssetLibrary | None = None,
                 size: tuple[int, int] = (128, 256)) -> tuple[np.ndarray | None, str | None]:
    """The scene's HDR environment map (rotated by its yaw) and the file it came from."""
    bg = spec.background
    if bg.kind != "envmap":
        return None, None
    if bg.source == PROCEDURAL:
        return rotate_yaw(procedural_envmap(bg.seed % 2**32, bg.dominant_color, size), bg.yaw_deg), PROCEDURAL
    loaded = (assets or AssetLibrary()).load("envmaps", bg.source)
    return rotate_yaw(loaded.data, bg.yaw_deg), loaded.file_id


def background_views(spec: SceneSpec, assets: AssetLibrary | None = None) -> tuple[list[np.ndarray], str]:
    """The indoor backdrop of each view: crops of one background image per scene (procedural
    at twice the view's size, or a photograph); each view looks at a different window of it
    (the second mirrors the offset). Also returns the file the image came from."""
    bg = spec.background
    h, w = spec.views[0].height, spec.views[0].width
    if bg.source == PROCEDURAL:
        source, file_id = indoor_background(bg.seed % 2**32, bg.dominant_color, (2 * h, 2 * w)), PROCEDURAL
    else:
        loaded = (assets or AssetLibrary()).load("backgrounds", bg.source)
        source, file_id = loaded.data, loaded.file_id
    offsets = [bg.crop_offset, [1 - bg.crop_offset[0], 1 - bg.crop_offset[1]]]
    return [crop(source, bg.crop_scale, offsets[k % 2], (v.height, v.width)) for k, v in enumerate(spec.views)], file_id


def camera_of(view) -> Camera:
    return Camera(view.K, view.R, view.t, view.width, view.height)


def composite(result: RenderResult, backdrop: np.ndarray | None) -> np.ndarray:
    """Render over its backdrop using the render's coverage (alpha), in linear light."""
    if backdrop is None:
        return result.rgb
    from .color import linear_to_srgb, srgb_to_linear

    alpha = result.alpha[..., None].astype(np.float64)
    mixed = alpha * srgb_to_linear(result.rgb / 255.0) + (1 - alpha) * srgb_to_linear(backdrop / 255.0)
    return np.round(linear_to_srgb(mixed) * 255).astype(np.uint8)


def view_labels(spec: SceneSpec, view_id: int, posed: PosedHand, labels: np.ndarray) -> dict:
    """Camera-frame MANO parameters, joints, vertices, projections and the hand box."""
    view = spec.views[view_id]
    R, t, K = np.asarray(view.R), np.asarray(view.t), np.asarray(view.K)
    to_cam = lambda x: x @ R.T + t  # noqa: E731
    go_world = axis_angle_to_matrix(torch.as_tensor(spec.global_orient, dtype=torch.float64)).numpy()
    from scipy.spatial.transform import Rotation

    global_orient = Rotation.from_matrix(R @ go_world).as_rotvec()
    # MANO rotates about the rest wrist joint J0: transl' = R (J0 + transl) + t - J0.
    hand_transl = R @ (posed.wrist_rest + np.asarray(spec.transl)) + t - posed.wrist_rest
    joints_3d = to_cam(posed.keypoints)
    uvw = joints_3d @ K.T
    ys, xs = np.nonzero(labels == LABEL_HAND)
    bbox = [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())] if len(xs) else [0.0] * 4
    return {
        "K": K.astype(np.float32), "R": R.astype(np.float32), "t": t.astype(np.float32),
        "global_orient": global_orient.astype(np.float32), "hand_pose": np.asarray(spec.hand_pose, np.float32),
        "betas": np.asarray(spec.betas, np.float32), "hand_transl": hand_transl.astype(np.float32),
        "joints_3d": joints_3d.astype(np.float32), "joints_2d": (uvw[:, :2] / uvw[:, 2:]).astype(np.float32),
        "vertices_3d": to_cam(posed.vertices).astype(np.float32), "bbox": np.asarray(bbox, np.float32),
        "is_right": bool(spec.is_right), "scene_id": spec.scene_id, "view_id": view_id,
    }


def object_meta(spec: SceneSpec, view, parts: list[MeshPart]) -> dict:
    """The object's id, source, kind, scale, grasp and 4×4 pose in this view's camera frame, and
    the hand's occluded fraction."""
    o = spec.object
    world_to_camera = np.eye(4)
    world_to_camera[:3, :3], world_to_camera[:3, 3] = view.R, view.t
    return {"object": {"object_id": o.object_id, "source": o.source, "kind": o.kind, "scale": o.scale,
                       "params": o.params, "grasp_type": o.grasp_type, "grasp_attempts": o.attempts,
                       "pose_camera": (world_to_camera @ np.asarray(o.pose)).tolist()},
            "hand_occlusion": hand_occlusion(parts, view)}


def render_scene(spec: SceneSpec, renderer, hand: HandModel, depth_estimator: DepthEstimator | None = None,
                 texture_size: int | None = None, assets: AssetLibrary | None = None) -> list[dict]:
    """Both views of one scene as dataset rows (numpy arrays; encoding is the dataset's job).

    `image` uint8 (H,W,3); `depth` float32 metres (rendered where `mask` > 0, estimated
    elsewhere, 0 unknown); `mask` uint8 labels (0 background, 1 hand, 2 forearm, 3 object).
    Interact scenes add the grasped object to the same scene (mutual occlusion, fused depth)
    and record it and the hand's occluded fraction in `meta`.
    Textures default to the image's size: the hand never covers more pixels than that."""
    if not spec.is_right:
        raise ValueError(f"{spec.scene_id}: the renderer draws right hands; mirror left hands afterwards")
    depth_estimator = depth_estimator or PlaneDepthEstimator()
    posed, rest_vertices = pose_hand(spec, hand)
    hand_texture, texture_file = None, PROCEDURAL
    if spec.appearance.texture_source != PROCEDURAL:
        loaded = (assets or AssetLibrary()).load("textures", spec.appearance.texture_source)
        hand_texture, texture_file = loaded.data, loaded.file_id
    size = texture_size or max(spec.views[0].height, spec.views[0].width)
    parts = mesh_parts(spec, hand, posed, rest_vertices, size, hand_texture)
    if spec.object is not None:
        parts.append(object_part(spec, assets))
    lights, (envmap, background_file) = scene_lights(spec), scene_envmap(spec, assets)
    backdrops = [None] * len(spec.views)
    if envmap is None:
        backdrops, background_file = background_views(spec, assets)
    rows = []
    for view_id, view in enumerate(spec.views):
        result = renderer.render(parts, camera_of(view), lights, ambient=spec.ambient, envmap=envmap)
        image = composite(result, backdrops[view_id])
        background_depth = depth_estimator.estimate(image, np.asarray(view.K), seed=spec.render_seed + view_id)
        depth = fuse_depth(result.depth, result.labels, background_depth)
        row = {"image": image, "depth": depth, "mask": result.labels}
        row |= view_labels(spec, view_id, posed, result.labels)
        row["meta"] = json.dumps({
            "seed": spec.seed, "config": spec.config, "split": spec.split, "index": spec.index,
            "render_seed": spec.render_seed, "pose_mode": spec.pose_mode,
            "appearance": spec.appearance.__dict__, "background": spec.background.__dict__,
            "lights": [light.__dict__ for light in spec.lights], "ambient": spec.ambient,
            "view": {k: getattr(view, k) for k in ("fov_y_deg", "distance_m", "up_roll_deg")},
            "depth_background": type(depth_estimator).__name__,
            "background_file": background_file, "hand_texture_file": texture_file,
        } | (object_meta(spec, view, parts) if spec.object is not None else {}))
        rows.append(row)
    return rows
