"""SAPIEN 3 renderer: typed meshes, lights and an OpenCV camera in; RGB, alpha, metric depth
and segmentation labels (numpy) out. Ray-traced ("rt") or rasterised ("raster").

Conventions (checked by ``tests/test_render.py``):

* Camera: OpenCV, ``X_cam = R @ X_world + t`` (x right, y down, z forward). A SAPIEN camera
  entity's own axes are x forward, y left, z up, so its world rotation has columns
  ``(R[2], -R[0], -R[1])`` and its position is ``-R.T @ t``.
* Pixels: pixel ``(u, v)`` (column u, row v) has its centre at integer coordinates, like
  ``anyhand_hf.viz``: a world point ``X`` lands at ``(K @ (R X + t))[:2] / z`` measured in
  that convention. SAPIEN's ``set_perspective_parameters`` takes the principal point in the
  pixel-corner convention (centre of pixel 0 at 0.5), so we pass ``cx + 0.5, cy + 0.5``;
  re-projecting the rendered ``Position`` picture with ``K`` gives back each pixel's own
  integer coordinates to ~1e-4 px (test).
* Depth: metres along the optical axis (OpenCV ``z``), ``-z`` of SAPIEN's OpenGL-frame
  ``Position`` picture; 0 where no mesh is seen (masked with ``Segmentation``: background
  ``Position`` pixels are not zeros).
* Labels: each ``MeshPart``'s ``label`` (0 background, 1 hand, 2 forearm, 3 object), taken
  from the raster pass' per-entity segmentation. In "rt" mode a second camera with SAPIEN's
  raster "trivial" shader renders depth and labels from the same pose, so labels and depth
  are exact per pixel centre (the path tracer's own geometry pictures come from its last
  jittered sample); the colour comes from the path tracer, whose samples are spread over
  the pixel area (so its edges are anti-aliased and ``alpha`` is fractional there).
* Textures: OBJ convention, ``v = 0`` at the bottom row of the image (the last row of the
  ``(H, W, 3)`` array), ``u = 0`` at its left column. SAPIEN samples ``v = 0`` at the first
  (top) row of an uploaded numpy texture, so we upload ``(u, 1 - v)`` (test, both modes).
  Material colours and textures are sRGB; light colours and ambient are linear.
* RGB is SAPIEN's display output: linear radiance × exposure, gamma 1/2.2, clipped. Where no
  mesh is seen it shows the environment map, else the ambient colour (both modes).

Costs on lavapipe (Mesa 25.0, CPU Vulkan), measured on 2 busy cores (load 4–7):

* "raster": the deferred "default" shader costs ~20–25 s on the first frame of *every*
  process (not helped by Mesa's cache); then a few ms per frame, scene changes free.
* "rt": every scene change (meshes added/removed) builds a new ray-tracing pipeline whose
  Mesa cache key depends on the number of changes the process has made so far and on the
  scene's structure (meshes, materials), not on vertex data. A cold compile is ~20–80 s per
  change, a cache hit ~0.1 s. So renders are padded to ``RenderSettings.max_parts`` slots
  with persistent, always-textured materials (one structure for every sample), and
  :func:`warm_shader_cache` replays the first N changes once per machine in a subprocess
  (:class:`SapienRenderer` does it for ``DEFAULT_WARM_CHANGES``, env
  ``ANYHAND_RT_WARM_CHANGES``). Recycle rt workers after N renders (``renderer.frames``).
  The geometry pass uses SAPIEN's cheap "trivial" shader (~0.6 s to compile), so a warm rt
  process starts in ~1–2 s. ``MESA_SHADER_CACHE_MAX_SIZE`` defaults to 1G here.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..assets.envmaps import write_exr
from ..color import srgb_to_linear
from ..viz import vertex_normals
from .types import Camera, Light, MeshPart, RenderResult, RenderSettings

__all__ = [
    "RenderDeviceError",
    "SapienRenderer",
    "configure_vulkan",
    "warm_shader_cache",
    "split_uv_seams",
]

LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.json"
# scene changes whose ray-tracing pipelines SapienRenderer pre-compiles (see warm_shader_cache)
DEFAULT_WARM_CHANGES = int(os.environ.get("ANYHAND_RT_WARM_CHANGES", "8"))
INSTALL_HINT = (
    "SAPIEN needs a Vulkan device. Without a GPU, install Mesa's lavapipe (CPU Vulkan, Mesa >= 25; "
    "on Debian 12 from bookworm-backports — the stock Mesa 22 fails with ErrorFeatureNotPresent): "
    "run `bash scripts/install_vulkan.sh`, then `export VK_ICD_FILENAMES=" + LAVAPIPE_ICD + "`. "
    "With an NVIDIA GPU, install its driver with Vulkan support."
)


class RenderDeviceError(RuntimeError):
    """No usable Vulkan device for SAPIEN (message says how to install lavapipe)."""


def _has_nvidia() -> bool:
    return os.path.exists("/proc/driver/nvidia/version")


def configure_vulkan() -> None:
    """Point Vulkan at lavapipe when nothing is configured and there is no NVIDIA driver, and
    give Mesa's shader cache room (it makes ray-tracing scene changes cheap). Must run
    before SAPIEN creates its device; idempotent; never overrides the caller's settings."""
    if "VK_ICD_FILENAMES" not in os.environ and "VK_DRIVER_FILES" not in os.environ:
        if not _has_nvidia() and os.path.exists(LAVAPIPE_ICD):
            os.environ["VK_ICD_FILENAMES"] = LAVAPIPE_ICD
    os.environ.setdefault("MESA_SHADER_CACHE_MAX_SIZE", "1G")


_sapien = None
_sapien_lock = threading.Lock()


def _import_sapien():
    global _sapien
    with _sapien_lock:
        if _sapien is None:
            configure_vulkan()
            try:
                import sapien  # noqa: F401
            except ImportError as e:  # pragma: no cover - depends on install
                raise ImportError(
                    "anyhand_hf.render needs SAPIEN: pip install 'anyhand-hf[render]' (sapien==3.0.3)"
                ) from e
            sapien.render.set_log_level(os.environ.get("ANYHAND_SAPIEN_LOG", "off"))
            _sapien = sapien
    return _sapien


# ----------------------------------------------------------------------------------------------
# Geometry helpers (numpy only)


def split_uv_seams(faces: np.ndarray, ft: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split vertices along UV seams. Returns ``(vertex_index (N,), uv_index (N,), faces (F,3))``:
    new vertex ``i`` is old vertex ``vertex_index[i]`` with UV ``vt[uv_index[i]]``, and
    ``faces`` index the new vertices (one per distinct (vertex, uv) corner pair)."""
    f = np.asarray(faces, np.int64).reshape(-1)
    t = np.asarray(ft, np.int64).reshape(-1)
    pairs = np.stack([f, t], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return uniq[:, 0], uniq[:, 1], inverse.reshape(-1, 3)


def _color01(color) -> np.ndarray:
    c = np.asarray(color)
    if c.shape != (3,):
        raise ValueError(f"color must have 3 components, got shape {c.shape}")
    if np.issubdtype(c.dtype, np.integer) or c.max() > 1.0:
        c = c / 255.0
    return c.astype(np.float64)


# ----------------------------------------------------------------------------------------------
# Environment maps


# ----------------------------------------------------------------------------------------------
# Renderer


class SapienRenderer:
    """One long-lived SAPIEN scene per instance (make one per process and reuse it): each
    :meth:`render` removes the previous call's meshes and lights and adds the new ones.

    ``render(parts, camera, lights, ambient, envmap=None) -> RenderResult``.
    ``envmap``: an equirectangular float32 (H,W,3) linear HDR array or a path to an image
    SAPIEN reads (``.exr`` for HDR; ``.hdr`` is clamped to 1, ``.png/.jpg`` are 8-bit). It
    lights the scene (rt) and is the backdrop. Maps are uploaded once and cached by content.
    """

    def __init__(self, settings: RenderSettings | None = None, envmap_cache_size: int = 8,
                 warm: bool | int = True) -> None:
        self.settings = settings or RenderSettings()
        sapien = _import_sapien()
        self._sapien = sapien
        s = self.settings
        try:
            if s.mode == "rt":
                sapien.render.set_ray_tracing_samples_per_pixel(int(s.spp))
                sapien.render.set_ray_tracing_path_depth(int(s.max_depth))
                sapien.render.set_ray_tracing_denoiser("none")  # SAPIEN's own OIDN path needs CUDA
            self._scene = sapien.Scene()
        except RuntimeError as e:
            msg = str(e)
            if "device" in msg.lower() or "vulkan" in msg.lower() or "Vk" in msg:
                raise RenderDeviceError(f"{msg}. {INSTALL_HINT}") from e
            raise
        if warm and s.mode == "rt":
            n = warm if isinstance(warm, int) and not isinstance(warm, bool) else DEFAULT_WARM_CHANGES
            warm_shader_cache(n_changes=n, max_parts=s.max_parts if s.max_parts > 0 else 4)
        self._shader_dir = Path(sapien.__file__).parent / "vulkan_shader"
        self._cameras: dict[tuple[int, int], tuple] = {}
        self._entities: list = []
        self._light_entities: list = []
        self._labels_by_id: dict[int, int] = {}
        self._materials: dict[int, list] = {}
        self._padded = self.settings.mode == "rt" and self.settings.max_parts > 0
        self._envmaps: dict[str, object] = {}
        self._envmap_order: list[str] = []
        self._envmap_cache_size = envmap_cache_size
        self._envmap_key: str | None = None
        self._tmpdir = tempfile.TemporaryDirectory(prefix="anyhand_envmap_")
        self._oidn = None
        self.frames = 0

    # -- cameras --------------------------------------------------------------------------------
    def _camera_pair(self, width: int, height: int):
        key = (width, height)
        if key not in self._cameras:
            sapien = self._sapien

            def make(shader: str):
                ent = sapien.Entity()
                cam = sapien.render.RenderCameraComponent(width, height, str(self._shader_dir / shader))
                ent.add_component(cam)
                self._scene.add_entity(ent)
                return cam

            if self.settings.mode == "rt":
                # geometry only: SAPIEN's "trivial" shader (position + segmentation) compiles in
                # a fraction of the time of the deferred "default" shader
                raster, rt = make("trivial"), make("rt")
            else:
                raster, rt = make("default"), None
            self._cameras[key] = (raster, rt)
        return self._cameras[key]

    def _set_camera(self, cam, camera: Camera) -> None:
        K, R = camera.K, camera.R
        s = self.settings
        cam.set_perspective_parameters(
            float(s.near), float(s.far), float(K[0, 0]), float(K[1, 1]),
            float(K[0, 2] + 0.5), float(K[1, 2] + 0.5), float(K[0, 1]),
        )
        pose = np.eye(4)
        pose[:3, :3] = np.stack([R[2], -R[0], -R[1]], axis=1)
        pose[:3, 3] = -R.T @ camera.t
        cam.entity.set_pose(self._sapien.Pose(pose.astype(np.float32)))

    # -- scene contents --------------------------------------------------------------------------
    def _clear(self) -> None:
        for ent in self._entities + self._light_entities:
            self._scene.remove_entity(ent)
        self._entities, self._light_entities = [], []
        self._labels_by_id = {}

    def _material(self, slot: int, part: MeshPart):
        """The material of part slot ``slot``, reused across renders (fewer allocations and,
        in padded "rt" mode, the same scene structure every render, which is what makes the
        warmed ray-tracing pipelines reusable; see :func:`warm_shader_cache`). A slot's
        texture is re-uploaded in place when only its pixels change; a new size makes a new
        texture."""
        render = self._sapien.render
        if not self._padded:
            # raster: a fresh material per render (the default shader keeps a material's
            # first texture binding; editing it later shows stale colours)
            self._materials.pop(slot, None)
        if slot not in self._materials:
            self._materials[slot] = [render.RenderMaterial(), None, None]
        entry = self._materials[slot]
        mat = entry[0]
        mat.roughness, mat.metallic, mat.specular = float(part.roughness), float(part.metallic), float(part.specular)
        if part.texture is not None:
            tex = part.texture
            if tex.shape[2] == 3:
                tex = np.concatenate([tex, np.full(tex.shape[:2] + (1,), 255, np.uint8)], axis=2)
            tex = np.ascontiguousarray(tex)
            digest = hashlib.sha1(tex.tobytes()).hexdigest()
            texture = entry[1]
            if texture is None or (texture.height, texture.width) != tex.shape[:2]:
                texture = render.RenderTexture2D(tex, "R8G8B8A8Unorm", mipmap_levels=1, srgb=True)
                entry[1], entry[2] = texture, digest
            elif entry[2] != digest:
                texture.upload(tex)
                entry[2] = digest
            mat.base_color = [1.0, 1.0, 1.0, 1.0]
            if mat.base_color_texture is None or mat.base_color_texture is not texture:
                mat.base_color_texture = texture
        elif self._padded:
            # same structure either way: a colour becomes a small texture of that colour
            c = np.clip(np.round(_color01(part.color) * 255), 0, 255).astype(np.uint8)
            solid = MeshPart(part.name, part.vertices[:0], part.faces[:0], part.label,
                             texture=np.broadcast_to(c, (4, 4, 3)).copy(),
                             uv={"vt": np.zeros((0, 2)), "ft": np.zeros((0, 3), np.int64)},
                             roughness=part.roughness, metallic=part.metallic, specular=part.specular)
            return self._material(slot, solid)
        else:
            mat.base_color = [*srgb_to_linear(_color01(part.color)), 1.0]
            if mat.base_color_texture is not None:
                mat.base_color_texture = None
        return mat

    def _add_part(self, part: MeshPart, slot: int) -> None:
        sapien = self._sapien
        render = sapien.render
        v, f = part.vertices, part.faces
        normals = vertex_normals(v, f)
        mat = self._material(slot, part)
        if part.texture is not None:
            vi, ti, f = split_uv_seams(f, part.uv["ft"])
            uv = part.uv["vt"][ti].copy()
            uv[:, 1] = 1.0 - uv[:, 1]  # OBJ (v up) -> SAPIEN (v = 0 at the first array row)
            v, normals = v[vi], normals[vi]
        else:
            uv = np.zeros((len(v), 2))
        shape = render.RenderShapeTriangleMesh(
            np.ascontiguousarray(v, np.float32),
            np.ascontiguousarray(f, np.uint32),
            np.ascontiguousarray(normals, np.float32),
            np.ascontiguousarray(uv, np.float32),
            mat,
        )
        body = render.RenderBodyComponent()
        body.attach(shape)
        ent = sapien.Entity()
        ent.name = part.name
        ent.add_component(body)
        self._scene.add_entity(ent)
        self._entities.append(ent)
        if part.label:
            self._labels_by_id[int(ent.per_scene_id)] = int(part.label)

    def _add_light(self, light: Light, centre: np.ndarray, radius: float) -> None:
        sc = self._scene
        size = int(self.settings.shadow_map_size)
        color = [float(c) for c in light.color]
        direction = light.direction / np.linalg.norm(light.direction) if light.kind != "point" else None
        if light.kind == "point":
            comp = sc.add_point_light(light.position.tolist(), color, shadow=bool(light.shadow),
                                      shadow_near=0.01, shadow_far=20.0, shadow_map_size=size)
        elif light.kind == "directional":
            # the shadow box is centred on the scene: the map's texels go to the meshes
            comp = sc.add_directional_light(
                direction.tolist(), color, shadow=bool(light.shadow), position=centre.tolist(),
                shadow_scale=max(radius * 1.5, 0.05), shadow_near=-max(radius * 4, 1.0),
                shadow_far=max(radius * 4, 1.0), shadow_map_size=size,
            )
        else:
            comp = sc.add_spot_light(
                light.position.tolist(), direction.tolist(), inner_fov=2.0 * float(light.inner_angle),
                outer_fov=2.0 * float(light.outer_angle), color=color, shadow=bool(light.shadow),
                shadow_near=0.01, shadow_far=20.0, shadow_map_size=size,
            )
        self._light_entities.append(comp.entity)

    def _set_envmap(self, envmap) -> None:
        if envmap is None:
            if self._envmap_key is None:
                return
            # Unsetting a cubemap (render_system.cubemap = None) segfaults SAPIEN 3.0.3 on the
            # next picture; a black map adds no light, as no map does (the ambient light is set
            # on its own), so a scene renders the same whatever this renderer drew before.
            envmap = np.zeros((4, 8, 3), np.float32)
        if isinstance(envmap, (str, os.PathLike)):
            path = Path(envmap)
            if not path.is_file():
                raise FileNotFoundError(f"environment map not found: {path}")
            key = "path:" + str(path.resolve())
        else:
            arr = np.ascontiguousarray(np.asarray(envmap, np.float32))
            if arr.ndim != 3 or arr.shape[2] != 3:
                raise ValueError(f"envmap array must be (H,W,3) float, got {arr.shape}")
            key = "array:" + hashlib.sha1(arr.tobytes()).hexdigest() + str(arr.shape)
        if key == self._envmap_key:
            return
        if key not in self._envmaps:
            if key.startswith("path:"):
                file = str(path)
            else:
                file = os.path.join(self._tmpdir.name, key[6:46] + ".exr")
                write_exr(file, arr)
            self._envmaps[key] = self._sapien.render.RenderCubemap(file)
            self._envmap_order.append(key)
            while len(self._envmap_order) > self._envmap_cache_size:
                old = self._envmap_order.pop(0)
                if old != self._envmap_key:
                    self._envmaps.pop(old, None)
        self._scene.render_system.cubemap = self._envmaps[key]
        self._envmap_key = key

    # -- render ---------------------------------------------------------------------------------
    def render(
        self,
        parts: Sequence[MeshPart],
        camera: Camera,
        lights: Sequence[Light] = (),
        ambient=(0.1, 0.1, 0.1),
        envmap=None,
    ) -> RenderResult:
        t0 = time.perf_counter()
        s = self.settings
        ambient = np.asarray(ambient, np.float64).reshape(3)
        self._clear()
        parts = [p for p in parts if len(p.faces)]
        for part in parts:
            if not isinstance(part, MeshPart):
                raise TypeError(f"parts must be MeshPart, got {type(part).__name__}")
        if self._padded and len(parts) > s.max_parts:
            raise ValueError(f"{len(parts)} parts > RenderSettings.max_parts={s.max_parts}")
        for slot, part in enumerate(parts):
            self._add_part(part, slot)
        if self._padded:
            for slot in range(len(parts), s.max_parts):
                self._add_part(_PAD_PART, slot)
        if parts:
            allv = np.concatenate([p.vertices for p in parts])
            lo, hi = allv.min(0), allv.max(0)
            centre, radius = (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2)
        else:
            centre, radius = np.zeros(3), 0.1
        for light in lights:
            self._add_light(light, centre, radius)
        self._scene.set_ambient_light([float(a) for a in ambient])
        self._set_envmap(envmap)

        raster, rt = self._camera_pair(camera.width, camera.height)
        self._set_camera(raster, camera)
        if rt is not None:
            self._set_camera(rt, camera)
        self._scene.update_render()
        t1 = time.perf_counter()

        # geometry (and raster colour) from the default shader; always fetch after taking
        raster.take_picture()
        seg = raster.get_picture("Segmentation")[..., 1]
        pos = raster.get_picture("Position")
        color_raster = raster.get_picture("Color") if rt is None else None
        t2 = time.perf_counter()

        lut = np.zeros(max(self._labels_by_id, default=0) + 2, np.uint8)
        for eid, lab in self._labels_by_id.items():
            lut[eid] = lab
        seg = np.asarray(seg).astype(np.int64)
        labels = np.where(seg < len(lut), lut[np.minimum(seg, len(lut) - 1)], 0).astype(np.uint8)
        fg = labels > 0
        depth = np.where(fg, -np.asarray(pos)[..., 2], 0.0).astype(np.float32)

        timings = {"setup": t1 - t0, "raster": t2 - t1}
        if rt is None:
            rgba = np.asarray(color_raster)
            rgb = rgba[..., :3]
            alpha = fg.astype(np.float32)
        else:
            # process-global in SAPIEN: set per call so instances with other settings coexist
            self._sapien.render.set_ray_tracing_samples_per_pixel(int(s.spp))
            self._sapien.render.set_ray_tracing_path_depth(int(s.max_depth))
            rt.take_picture()
            if s.denoiser == "oidn":
                hdr = np.asarray(rt.get_picture("HdrColor"))
                albedo = np.asarray(rt.get_picture("Albedo"))[..., :3]
                normal = np.asarray(rt.get_picture("Normal"))[..., :3]
                t3 = time.perf_counter()
                lin = self._denoise(hdr[..., :3], albedo, normal)
                rgb = np.clip(np.power(np.maximum(lin * s.exposure, 0.0), 1 / 2.2), 0.0, 1.0)
                alpha = np.clip(hdr[..., 3], 0.0, 1.0).astype(np.float32)
                timings["denoise"] = time.perf_counter() - t3
                timings["rt"] = t3 - t2
            else:
                rgba = np.asarray(rt.get_picture("Color"))
                rgb = rgba[..., :3]
                alpha = np.clip(rgba[..., 3], 0.0, 1.0).astype(np.float32)
                timings["rt"] = time.perf_counter() - t2
        rgb8 = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        timings["total"] = time.perf_counter() - t0
        self.frames += 1
        return RenderResult(rgb=rgb8, alpha=alpha, depth=depth, labels=labels, timings=timings)

    def _denoise(self, color: np.ndarray, albedo: np.ndarray, normal: np.ndarray) -> np.ndarray:
        if self._oidn is None:
            try:
                import pyoidn
            except ImportError as e:
                raise ImportError("denoiser='oidn' needs the pyoidn package (pip install pyoidn)") from e
            self._oidn = pyoidn
        f32 = lambda a: np.ascontiguousarray(a, np.float32)  # noqa: E731
        return self._oidn.denoise(f32(np.maximum(color, 0.0)), f32(np.clip(albedo, 0.0, 1.0)),
                                  f32(np.clip(normal, -1.0, 1.0)), hdr=True, quality="fast")

    def close(self) -> None:
        """Drop the scene's contents (pictures are always fetched, so this is safe)."""
        if getattr(self, "_scene", None) is not None:
            self._clear()
            self._cameras.clear()
            self._envmaps.clear()
            self._scene = None
        if getattr(self, "_tmpdir", None) is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> "SapienRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# an invisible stand-in for unused slots: a tiny triangle 10 km away (label 0)
_PAD_PART = MeshPart("pad", np.array([[1e4, 1e4, 1e4], [1e4 + 1e-6, 1e4, 1e4], [1e4, 1e4 + 1e-6, 1e4]]),
                     np.array([[0, 1, 2]]), label=0, color=(0.5, 0.5, 0.5))


def _dummy_scene():
    from .types import LABEL_HAND

    # an octahedron (cheap, closed) at the origin, one light of each kind
    v = np.array([[0.05, 0, 0], [-0.05, 0, 0], [0, 0.05, 0], [0, -0.05, 0], [0, 0, 0.05], [0, 0, -0.05]])
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    vt = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]])
    tex = np.full((4, 4, 3), 200, np.uint8)
    parts = [MeshPart("warm", v, f, label=LABEL_HAND, texture=tex, uv={"vt": vt, "ft": np.tile([0, 1, 2], (8, 1))})]
    cam = Camera.look_at([0.4, 0.0, 0.1], [0, 0, 0], 0.6, 32, 32)
    lights = [Light("point", position=(0.3, 0.3, 0.3)), Light("directional", direction=(-1, -1, -1)),
              Light("spot", position=(0.3, -0.3, 0.3), direction=(-1, 1, -1))]
    return parts, cam, lights


def _cache_marker() -> Path:
    base = os.environ.get("MESA_SHADER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"))
    sapien_version = "unknown"
    try:
        from importlib.metadata import version

        sapien_version = version("sapien")
    except Exception:  # pragma: no cover
        pass
    icd = os.environ.get("VK_ICD_FILENAMES", "default").replace("/", "_")
    return Path(base) / f"anyhand_hf_rt_warm_sapien{sapien_version}{icd}"


def _warm_child(n_changes: int, max_parts: int) -> None:  # run in a subprocess by warm_shader_cache
    r = SapienRenderer(RenderSettings(mode="rt", spp=1, max_parts=max_parts), warm=False)
    parts, cam, lights = _dummy_scene()
    for i in range(n_changes):
        t = time.perf_counter()
        r.render(parts, cam, lights, ambient=(0.2, 0.2, 0.2))
        print(f"warm {i} {time.perf_counter() - t:.2f}", flush=True)
    r.close()


def warm_shader_cache(n_changes: int = DEFAULT_WARM_CHANGES, max_parts: int = 4, force: bool = False,
                      timeout: float = 7200.0) -> float | None:
    """Pre-compile the ray-tracing pipelines of a process's first ``n_changes`` scene changes
    into Mesa's on-disk shader cache, in a subprocess (lavapipe; harmless elsewhere).

    What was measured (SAPIEN 3.0.3, Mesa 25.0 lavapipe, 2 busy cores): every scene change
    (meshes added/removed) in "rt" mode builds a *new* ray-tracing pipeline whose Mesa cache
    key depends on how many changes the process has made so far and on the scene's structure
    (number of meshes and materials) — not on vertex counts or positions. A cold compile costs
    ~20–80 s; a cache hit ~0.1 s. So the k-th scene change of a process is fast only if an
    earlier process already made a k-th change with the same structure. Hence: every render
    is padded to ``RenderSettings.max_parts`` mesh slots with always-textured materials (one
    structure), this function replays ``n_changes`` changes of that structure once per
    machine, and long-running workers should be recycled after ``n_changes`` renders
    (``SapienRenderer.frames``); later changes still work, each paying a compile.
    A marker file next to Mesa's cache records what was warmed (``force`` redoes it).
    Returns the child's wall time in seconds, or None when already warm.
    :class:`SapienRenderer` calls this in "rt" mode unless ``warm=False``."""

    configure_vulkan()
    marker = _cache_marker().with_name(_cache_marker().name + f"_parts{max_parts}")
    lock = None
    try:  # workers starting together on a cold machine: one warms, the others wait
        import fcntl

        marker.parent.mkdir(parents=True, exist_ok=True)
        lock = open(str(marker) + ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
    except (OSError, ImportError):
        lock = None
    try:
        return _warm_locked(marker, n_changes, max_parts, force, timeout)
    finally:
        if lock is not None:
            lock.close()


def _warm_locked(marker: Path, n_changes: int, max_parts: int, force: bool, timeout: float) -> float | None:
    import subprocess
    import sys

    try:
        done = int(marker.read_text().split()[0]) if marker.exists() else 0
    except (OSError, ValueError, IndexError):
        done = 0
    if done >= n_changes and not force:
        return None
    t = time.perf_counter()
    code = ("from anyhand_hf.render.sapien_renderer import _warm_child; "
            f"_warm_child({int(n_changes)}, {int(max_parts)})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        if "rendering device" in tail or "Vulkan" in tail:
            raise RenderDeviceError(f"shader-cache warm-up failed: {tail.strip()}. {INSTALL_HINT}")
        raise RuntimeError(f"shader-cache warm-up failed (exit {proc.returncode}): {tail}")
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{n_changes} {time.time()}\n")
    except OSError:
        pass
    return time.perf_counter() - t
