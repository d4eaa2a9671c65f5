"""AnyHandNet-D as a transformers model: `AnyHandConfig`, `AnyHandNetD` (import as `anyhand_hf.modeling`).

`register_auto_classes()` makes `AutoConfig`/`AutoModel` know the `"anyhand"` model type in this process;
`import anyhand_hf` calls it. Saved checkpoints also carry `auto_map` and a copy of these files, so
`AutoModel.from_pretrained(path, trust_remote_code=True)` works without importing anyhand_hf first.
"""

from .configuration_anyhand import PRESETS, AnyHandConfig
from .modeling_anyhand import (
    AnyHandNetD,
    AnyHandOutput,
    AnyHandPreTrainedModel,
    crop_cam_to_full_translation,
    crop_to_full_pixels,
    full_to_crop_pixels,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    normalize_depth,
    rotation_6d_to_matrix,
)


def register_auto_classes() -> None:
    """Register `"anyhand"` with `AutoConfig` and `AutoModel` (idempotent)."""
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(AnyHandConfig.model_type, AnyHandConfig, exist_ok=True)
    AutoModel.register(AnyHandConfig, AnyHandNetD, exist_ok=True)


__all__ = [
    "PRESETS", "AnyHandConfig", "AnyHandNetD", "AnyHandOutput", "AnyHandPreTrainedModel",
    "crop_cam_to_full_translation", "crop_to_full_pixels", "full_to_crop_pixels", "matrix_to_axis_angle",
    "matrix_to_rotation_6d", "normalize_depth", "register_auto_classes", "rotation_6d_to_matrix",
]
