"""AnyHandNet-D configuration."""

from __future__ import annotations

from transformers import PreTrainedConfig

# Architecture presets. `huge` is the ViT-H of HaMeR/WiLoR (32 layers, width 1280, 16 heads, patch 16,
# MLP 4x); `tiny` (< 10M parameters) exists for CPU tests. `fusion_dim` is the bottleneck width of the
# RGB<->depth fusion, `refine_channels` the widths of the 16x12 / 32x24 / 64x48 refinement maps.
PRESETS: dict[str, dict] = {
    "tiny": dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=3, fusion_dim=32,
                 refine_channels=[64, 32, 16], refine_hidden_size=128),
    "small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, fusion_dim=64,
                  refine_channels=[128, 64, 32], refine_hidden_size=256),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, fusion_dim=96,
                 refine_channels=[256, 128, 64], refine_hidden_size=512),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, fusion_dim=128,
                  refine_channels=[512, 256, 128], refine_hidden_size=1024),
    "huge": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, fusion_dim=160,
                 refine_channels=[512, 256, 128], refine_hidden_size=1024),
}

# Fields that decide parameter shapes: a checkpoint only loads into a config that agrees on all of them.
ARCHITECTURE_FIELDS = (
    "use_depth", "hidden_size", "num_hidden_layers", "num_attention_heads", "mlp_ratio", "patch_size",
    "image_size", "fusion_dim", "fusion_window", "refine_channels", "refine_hidden_size", "num_betas",
    "layer_scale_init_value",
)


class AnyHandConfig(PreTrainedConfig):
    r"""
    Configuration of [`AnyHandNetD`], a WiLoR-style hand mesh regressor with optional depth input.

    Build one from a preset: `AnyHandConfig.from_preset("base", use_depth=True, drop_path_rate=0.1)`.

    Args:
        preset (`str`): name of the preset the sizes came from (`"custom"` otherwise); reported in errors.
        use_depth (`bool`): RGB-D model (depth patch embedding + RGB<->depth fusion) or RGB-only.
        image_size (`list[int]`): crop size `[H, W]`, `[256, 192]` (16x12 tokens with patch 16).
        patch_size (`int`): ViT patch size.
        hidden_size, num_hidden_layers, num_attention_heads, mlp_ratio: ViT width, depth, heads, MLP ratio.
        qkv_bias (`bool`): bias on the attention's q/k/v projection.
        layer_scale_init_value (`float`): LayerScale init; 0 disables LayerScale.
        drop_path_rate (`float`): stochastic depth, linearly increasing over the blocks.
        hidden_dropout_prob, attention_probs_dropout_prob: dropout rates.
        layer_norm_eps, initializer_range: as in transformers' ViT.
        fusion_dim (`int`): bottleneck width of the RGB<->depth fusion (keeps it <= 5 % of the backbone).
        fusion_num_heads (`int`): heads of the fusion attention.
        fusion_window (`int`): side of the patch neighbourhood each token attends to in the other modality
            (odd; 1 = the corresponding patch only, 3 = the 3x3 patches around it).
        depth_clip (`float`): depth relative to the hand's reference depth is clipped to +-depth_clip metres
            and divided by it.
        depth_center_fraction (`float`): the reference depth is the median of valid depth inside the central
            box covering this fraction of the crop's height and width (whole crop if that box has none).
        depth_max_metres (`float`): a median valid depth above this is taken as millimetres and rejected.
        mano_path (`str`, *optional*): MANO-layout hand file (`.pkl`/`.npz`) to decode with; `None` = the open
            hand shipped with `anyhand_hf`. The hand's arrays are never stored in checkpoints.
        num_betas (`int`): shape coefficients.
        focal_length (`float`): focal length in pixels of the crop camera on the 256-pixel (square) crop.
        init_cam (`list[float]`, *optional*): initial weak-perspective camera `[s, tx, ty]`; `None` derives it
            from the hand template so that the initial hand is centred and spans `init_hand_fill` of the crop.
        init_hand_fill (`float`): fraction of the crop height the initial hand's extent covers.
        refine_channels (`list[int]`): channels of the refinement feature maps at 16x12, 32x24, 64x48.
        refine_hidden_size (`int`): width of the refinement point encoder and regressor.
        loss_keypoints_3d, loss_keypoints_2d, loss_global_orient, loss_hand_pose, loss_betas: loss weights
            (WiLoR's defaults).
        loss_coarse_weight (`float`): weight of the same losses on the coarse (pre-refinement) prediction.
        image_mean, image_std (`list[float]`): normalisation the model expects on 0-1 RGB (ImageNet).
    """

    model_type = "anyhand"

    preset: str = "custom"
    use_depth: bool = True
    image_size: list[int] | tuple[int, int] = (256, 192)
    patch_size: int = 16
    num_channels: int = 3
    hidden_size: int = 192
    num_hidden_layers: int = 4
    num_attention_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    layer_scale_init_value: float = 0.0
    drop_path_rate: float = 0.0
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    # depth fusion
    fusion_dim: int = 32
    fusion_num_heads: int = 1
    fusion_window: int = 3
    depth_clip: float = 0.15
    depth_center_fraction: float = 0.5
    depth_max_metres: float = 20.0
    # hand model and camera
    mano_path: str | None = None
    num_betas: int = 10
    focal_length: float = 5000.0
    init_cam: list[float] | None = None
    init_hand_fill: float = 0.6
    # refinement
    refine_channels: list[int] | tuple[int, ...] = (64, 32, 16)
    refine_hidden_size: int = 128
    # losses
    loss_keypoints_3d: float = 0.05
    loss_keypoints_2d: float = 0.01
    loss_global_orient: float = 0.001
    loss_hand_pose: float = 0.001
    loss_betas: float = 0.0005
    loss_coarse_weight: float = 0.5
    # input normalisation (for processors / predictors; the model takes normalised pixel_values)
    image_mean: list[float] | tuple[float, ...] = (0.485, 0.456, 0.406)
    image_std: list[float] | tuple[float, ...] = (0.229, 0.224, 0.225)

    def __post_init__(self, **kwargs):
        self.image_size = [int(s) for s in self.image_size]
        self.refine_channels = [int(c) for c in self.refine_channels]
        self.image_mean = [float(v) for v in self.image_mean]
        self.image_std = [float(v) for v in self.image_std]
        if self.init_cam is not None:
            self.init_cam = [float(v) for v in self.init_cam]
        super().__post_init__(**kwargs)
        self.validate_anyhand()

    def validate_anyhand(self) -> None:
        h, w = self.image_size
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} not divisible by num_attention_heads "
                             f"{self.num_attention_heads}")
        if self.fusion_dim % self.fusion_num_heads:
            raise ValueError(f"fusion_dim {self.fusion_dim} not divisible by fusion_num_heads {self.fusion_num_heads}")
        if self.fusion_window < 1 or self.fusion_window % 2 == 0:
            raise ValueError(f"fusion_window must be a positive odd number, got {self.fusion_window}")
        if len(self.refine_channels) != 3:
            raise ValueError(f"refine_channels needs 3 entries (16x12, 32x24, 64x48 maps), got {self.refine_channels}")
        if self.init_cam is not None and len(self.init_cam) != 3:
            raise ValueError(f"init_cam must be [s, tx, ty], got {self.init_cam}")

    @classmethod
    def from_preset(cls, name: str, use_depth: bool = True, **overrides) -> "AnyHandConfig":
        """A preset (`"tiny"`, `"small"`, `"base"`, `"large"`, `"huge"`) with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {list(PRESETS)}")
        kwargs = dict(PRESETS[name], preset=name, use_depth=use_depth)
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def grid_size(self) -> tuple[int, int]:
        """Token grid (rows, cols): (16, 12) for a 256x192 crop and patch 16."""
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    def architecture_summary(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)}" for k in ARCHITECTURE_FIELDS)


AnyHandConfig.register_for_auto_class()

__all__ = ["AnyHandConfig", "PRESETS"]
