"""Rendering: SAPIEN (ray-traced or raster; lavapipe CPU Vulkan or a GPU).

Typed inputs (:class:`MeshPart`, :class:`Light`, :class:`Camera`, :class:`RenderSettings`)
in, numpy out (:class:`RenderResult`). Conventions are stated in
:mod:`anyhand_hf.render.sapien_renderer`. SAPIEN is imported lazily, on the first
:class:`SapienRenderer`, so importing this package needs only numpy.
"""

from .types import (
    LABEL_BACKGROUND,
    LABEL_FOREARM,
    LABEL_HAND,
    LABEL_OBJECT,
    Camera,
    Light,
    MeshPart,
    RenderResult,
    RenderSettings,
)

__all__ = [
    "LABEL_BACKGROUND", "LABEL_HAND", "LABEL_FOREARM", "LABEL_OBJECT",
    "Camera", "Light", "MeshPart", "RenderResult", "RenderSettings",
    "SapienRenderer", "RenderDeviceError", "warm_shader_cache", "configure_vulkan",
]

_LAZY = {"SapienRenderer", "RenderDeviceError", "warm_shader_cache", "configure_vulkan", "split_uv_seams"}


def __getattr__(name):
    if name in _LAZY:
        from . import sapien_renderer

        return getattr(sapien_renderer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
