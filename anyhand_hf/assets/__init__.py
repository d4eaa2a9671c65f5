"""Procedural and real assets for rendering: skin textures, the forearm (bare or sleeved),
indoor backgrounds, HDR environment maps, and folders of real assets that replace them.

Everything is a pure function of (parameters, seed) returning numpy arrays. Conventions shared
by the modules:
- Colours passed in (albedo, dominant colours, sleeve colours) are LINEAR RGB in [0, 1];
  textures and background images come out as uint8 sRGB; environment maps as float32 linear.
- UVs follow OBJ/OpenGL, like the renderer: v = 0 is the BOTTOM row of a texture image.
- Geometry lives in the hand's rest frame (metres; fingers -x, thumb +z, palm -y, forearm +x).
"""

from .backgrounds import IndoorParams, background_mean, crop, crop_box, indoor_background
from .envmaps import (HDRReadError, envmap_directions, envmap_mean, procedural_envmap, read_hdr_image,
                      rotate_yaw, write_exr, write_hdr)
from .folders import AssetFolder, AssetFolderError, background_folder, envmap_folder, load_image, texture_folder
from .forearm import (ForearmMesh, ForearmParams, clothing_texture, forearm_mesh, forearm_skin_texture,
                      pose_forearm, sleeve_texture)
from .skin import HandSurface, SkinParams, bake_atlas, skin_albedo, skin_texture, texture_lookup

__all__ = [
    "AssetFolder", "AssetFolderError", "ForearmMesh", "ForearmParams", "HDRReadError", "HandSurface",
    "IndoorParams", "SkinParams", "background_folder", "background_mean", "bake_atlas", "clothing_texture",
    "crop", "crop_box", "envmap_directions", "envmap_folder", "envmap_mean", "forearm_mesh",
    "forearm_skin_texture", "indoor_background", "load_image", "pose_forearm", "procedural_envmap",
    "read_hdr_image", "rotate_yaw", "skin_albedo", "skin_texture", "sleeve_texture", "texture_folder",
    "texture_lookup", "write_exr", "write_hdr",
]
