"""AnyHandNet-D: a WiLoR-style ViT hand-mesh regressor with optional RGB-D fusion.

Reads top to bottom: geometry helpers (rotations, camera), depth normalisation, the ViT embeddings and
RGB<->depth fusion, the transformer blocks, the coarse heads, the refinement stage, the losses, and the
model.

Conventions (stated once, used everywhere in this file)
-------------------------------------------------------
* Units are metres, radians and pixels; camera frames are OpenCV's (x right, y down, z forward).
* The input is a hand crop of `image_size = (H, W) = (256, 192)`: the square box around the hand is
  resampled to H x H and trimmed to its central W columns (HaMeR/WiLoR).
* Pixel coordinates are continuous. In the crop, pixel (row i, col j) covers [j, j+1) x [i, i+1) and its
  centre is (j + 0.5, i + 0.5): the crop spans [0, W] x [0, H], exactly `grid_sample(align_corners=False)`'s
  convention, so crop pixel (u, v) is grid point (2u/W - 1, 2v/H - 1) in every feature map that covers the
  crop (whatever its resolution).
* A square box `(x0, y0, x1, y1)` (full-image pixels, in the same coordinates as K) maps to the crop by
  u_full = x0 + (u_crop + (H - W) / 2) * b / H,  v_full = y0 + v_crop * b / H,  b = box side.
* The crop camera has focal `focal_length` (5000 px on the 256-pixel crop) and its principal point at the
  crop centre (W/2, H/2). The weak-perspective camera [s, tx, ty] means the translation
  t = (tx, ty, 2 f / (H s)): the hand's MANO frame is placed at t in the crop camera frame.
* Pose: 16 rotations in MANO joint order (global orientation, then the 15 finger joints), predicted as 6D
  (the first two columns of the rotation matrix, Zhou et al. 2019) and orthonormalised by Gram-Schmidt.
* Keypoints: 21 in OpenPose/FreiHAND order (wrist; thumb, index, middle, ring, pinky, base to tip).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import transformers.initialization as init
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from anyhand_hf.hand import HandModel
from anyhand_hf.hand.lbs import axis_angle_to_matrix

from .configuration_anyhand import ARCHITECTURE_FIELDS, AnyHandConfig

NUM_POSE_TOKENS = 16  # global orientation + 15 finger joints
NUM_TASK_TOKENS = NUM_POSE_TOKENS + 2  # + shape token + camera token
IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


# ---------------------------------------------------------------------------------------------------
# Rotations
# ---------------------------------------------------------------------------------------------------
def rotation_6d_to_matrix(x: Tensor) -> Tensor:
    """(..., 6) -> (..., 3, 3). The 6D vector holds the first two columns (a1, a2) of the matrix."""
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(rot: Tensor) -> Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    return torch.cat([rot[..., :, 0], rot[..., :, 1]], dim=-1)


def matrix_to_axis_angle(rot: Tensor) -> Tensor:
    """(..., 3, 3) -> (..., 3) axis-angle with angle in [0, pi], via a unit quaternion (stable near pi)."""
    m = rot.reshape(*rot.shape[:-2], 9)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    # 2|q_i| for (w, x, y, z); build the quaternion from the largest one (best conditioned).
    q_abs = torch.sqrt(torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                                    1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1).clamp(min=1e-12))
    cands = torch.stack([
        torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
        torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
        torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
        torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
    ], dim=-2) / (2.0 * q_abs[..., None])
    best = q_abs.argmax(dim=-1)
    quat = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    quat = F.normalize(quat, dim=-1)
    quat = torch.where(quat[..., :1] < 0, -quat, quat)
    w, xyz = quat[..., 0], quat[..., 1:]
    sin_half = torch.linalg.vector_norm(xyz, dim=-1)
    angle = 2.0 * torch.atan2(sin_half, w)
    # angle / sin(angle / 2) -> 2 as the angle -> 0
    factor = torch.where(sin_half > 1e-6, angle / sin_half.clamp(min=1e-6), 2.0 / w.clamp(min=1e-6))
    return xyz * factor[..., None]


def _as_rotmats(value: Tensor, num: int, name: str) -> Tensor:
    """Labels: (B, 3*num) axis-angle or (B, num, 3, 3) / (B, 3, 3) matrices -> (B, num, 3, 3)."""
    if value.shape[-2:] == (3, 3):
        return value.reshape(value.shape[0], num, 3, 3)
    if value.shape[-1] != 3 * num:
        raise ValueError(f"label {name} must be (B, {3 * num}) axis-angle or (B, {num}, 3, 3) rotation matrices, "
                         f"got {tuple(value.shape)}")
    return axis_angle_to_matrix(value.reshape(value.shape[0], num, 3))


# ---------------------------------------------------------------------------------------------------
# Camera
# ---------------------------------------------------------------------------------------------------
def cam_to_translation(pred_cam: Tensor, focal_length: float, crop_size: int) -> Tensor:
    """Weak perspective [s, tx, ty] -> translation (tx, ty, 2 f / (crop_size s)) in the crop camera frame.

    s is clamped at 1e-2 (a hand ~1 m wide on the crop) so a bad prediction cannot flip the depth's sign.
    """
    s, tx, ty = pred_cam.unbind(-1)
    tz = 2.0 * focal_length / (crop_size * s.clamp(min=1e-2))
    return torch.stack([tx, ty, tz], dim=-1)


def project_to_crop(points: Tensor, focal_length: float, image_size: tuple[int, int]) -> Tensor:
    """Perspective projection of crop-camera points (B, N, 3) to crop pixels (B, N, 2), (u, v)."""
    h, w = image_size
    z = points[..., 2:3].clamp(min=1e-6)
    centre = points.new_tensor([w / 2.0, h / 2.0])
    return focal_length * points[..., :2] / z + centre


def project_with_K(points: Tensor, K: Tensor) -> Tensor:
    """Perspective projection with intrinsics K (B, 3, 3): (B, N, 3) camera points -> (B, N, 2) pixels."""
    uvw = points @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:3].clamp(min=1e-6)


def crop_to_full_pixels(uv: Tensor, box: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Crop pixels (B, N, 2) -> full-image pixels, for the square `box` (B, 4) xyxy the crop was cut from."""
    h, w = image_size
    side = _box_side(box)[:, None, None]
    offset = uv.new_tensor([(h - w) / 2.0, 0.0])
    return box[:, None, :2] + (uv + offset) * side / h


def full_to_crop_pixels(uv: Tensor, box: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Inverse of `crop_to_full_pixels`."""
    h, w = image_size
    side = _box_side(box)[:, None, None]
    offset = uv.new_tensor([(h - w) / 2.0, 0.0])
    return (uv - box[:, None, :2]) * h / side - offset


def _box_side(box: Tensor) -> Tensor:
    return 0.5 * ((box[:, 2] - box[:, 0]) + (box[:, 3] - box[:, 1]))


def crop_cam_to_full_translation(pred_cam: Tensor, K: Tensor, box: Tensor, crop_size: int) -> Tensor:
    """Weak-perspective crop camera -> metric translation in the full camera frame (B, 3).

    The crop is the full image scaled by crop_size / b about the box, so the crop camera shares the real
    camera's orientation. On the crop a metre at the hand's depth spans crop_size * s / 2 pixels, i.e.
    (b s / 2) full-image pixels; the real camera gives it f_img / T_z, hence T_z = 2 f_img / (b s) with
    f_img = (fx + fy) / 2. The MANO origin sits at crop pixel (W/2 + f tx / t_z, ...) = box centre +
    (b s / 2) tx in the full image; the real camera puts it at c_x + f_x T_x / T_z, hence
    T_x = tx + (box_cx - c_x) T_z / f_x (and likewise y). Points on the MANO origin's depth plane project
    exactly where the crop camera puts them (for fx = fy); other points differ by the perspective the
    near-orthographic crop camera (f = 5000) does not model.
    """
    s, tx, ty = pred_cam.unbind(-1)
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    side = _box_side(box)
    bcx, bcy = 0.5 * (box[:, 0] + box[:, 2]), 0.5 * (box[:, 1] + box[:, 3])
    tz = 2.0 * 0.5 * (fx + fy) / (side * s.clamp(min=1e-2))
    return torch.stack([tx + (bcx - cx) * tz / fx, ty + (bcy - cy) * tz / fy, tz], dim=-1)


# ---------------------------------------------------------------------------------------------------
# Depth normalisation
# ---------------------------------------------------------------------------------------------------
def normalize_depth(depth: Tensor, config: AnyHandConfig, depth_ref: Tensor | None = None
                    ) -> tuple[Tensor, Tensor]:
    """Metric depth (B, 1, H, W) -> network input (B, 2, H, W) and reference features (B, 2).

    * Valid depth is finite and > 0 (0 and NaN mean "no measurement").
    * The reference depth is `depth_ref` (B,) when given, else the median of the valid depth in the central
      box covering `depth_center_fraction` of the crop (the hand), else the median over the whole crop
      (medians taken on every 4th pixel in each direction).
    * Channel 0: (depth - reference) clipped to +-`depth_clip` metres and divided by it (0 where invalid);
      channel 1: the validity mask. The network sees the hand's relief, not the sensor's range.
    * Reference features: (log(reference), 1) for a known reference, (0, 0) when none exists (an all-invalid
      map); they are added to the camera token.
    """
    b, _, h, w = depth.shape
    valid = torch.isfinite(depth) & (depth > 0)
    # Statistics on every 4th pixel in each direction: the same medians for our purpose, 16x cheaper.
    step = 4
    sub = depth[:, :, step // 2::step, step // 2::step]
    masked = torch.where(torch.isfinite(sub) & (sub > 0), sub, torch.full_like(sub, float("nan")))
    overall = torch.nanmedian(masked.flatten(1), dim=1).values
    if bool((overall > config.depth_max_metres).any()):
        worst = float(overall[torch.nan_to_num(overall, nan=0.0).argmax()])
        raise ValueError(f"depth_values look like millimetres (median valid depth {worst:.1f} > "
                         f"{config.depth_max_metres} m); pass metres, e.g. depth_mm / 1000.0")
    if depth_ref is None:
        sh, sw = masked.shape[-2:]
        fh, fw = max(1, round(sh * config.depth_center_fraction)), max(1, round(sw * config.depth_center_fraction))
        top, left = (sh - fh) // 2, (sw - fw) // 2
        central = torch.nanmedian(masked[:, :, top:top + fh, left:left + fw].flatten(1), dim=1).values
        ref = torch.where(torch.isnan(central), overall, central)
    else:
        ref = depth_ref.reshape(b).to(depth.dtype)
    ref_ok = torch.isfinite(ref) & (ref > 0)
    ref = torch.where(ref_ok, ref, torch.ones_like(ref))
    rel = ((depth - ref[:, None, None, None]) / config.depth_clip).clamp(-1.0, 1.0)
    rel = torch.where(valid & ref_ok[:, None, None, None], rel, torch.zeros_like(rel))
    inputs = torch.cat([rel, valid.to(depth.dtype)], dim=1)
    okf = ref_ok.to(depth.dtype)
    ref_features = torch.stack([torch.log(ref) * okf, okf], dim=-1)
    return inputs, ref_features


# ---------------------------------------------------------------------------------------------------
# Embeddings and RGB<->depth fusion
# ---------------------------------------------------------------------------------------------------
class AnyHandEmbeddings(nn.Module):
    """Patch embedding (conv 16x16), learned position embeddings, and the 18 learned task tokens."""

    def __init__(self, config: AnyHandConfig):
        super().__init__()
        gh, gw = config.grid_size
        self.patch_embeddings = nn.Conv2d(config.num_channels, config.hidden_size, config.patch_size,
                                          stride=config.patch_size)
        self.position_embeddings = nn.Parameter(torch.empty(1, gh * gw, config.hidden_size))
        # 16 pose tokens (global orientation, 15 joints), 1 shape token, 1 camera token.
        self.task_tokens = nn.Parameter(torch.empty(1, NUM_TASK_TOKENS, config.hidden_size))

    def forward(self, pixel_values: Tensor) -> Tensor:
        x = self.patch_embeddings(pixel_values).flatten(2).transpose(1, 2)
        return x + self.position_embeddings


class AnyHandWindowCrossAttention(nn.Module):
    """Queries of one modality attend to the k x k patch neighbourhood of the other (same patch grid).

    With k = 1 this is the corresponding patch only; the neighbourhood adds a little context at 1/k^2 of
    global attention's cost. A learned bias per (head, offset) tells the query where each key sits.
    """

    def __init__(self, dim: int, num_heads: int, window: int, grid_size: tuple[int, int]):
        super().__init__()
        self.num_heads, self.head_dim, self.window = num_heads, dim // num_heads, window
        self.grid_size = grid_size
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.output = nn.Linear(dim, dim)
        self.offset_bias = nn.Parameter(torch.empty(num_heads, window * window))

    def forward(self, queries: Tensor, context: Tensor) -> Tensor:
        b, n, c = queries.shape
        gh, gw = self.grid_size
        k2 = self.window * self.window
        q = self.query(queries).view(b, n, self.num_heads, 1, self.head_dim)
        kv = self.key_value(context).transpose(1, 2).reshape(b, 2 * c, gh, gw)
        kv = F.unfold(kv, self.window, padding=self.window // 2)  # (b, 2c * k2, n), zeros outside the grid
        kv = kv.view(b, 2, self.num_heads, self.head_dim, k2, n).permute(1, 0, 5, 2, 4, 3)  # (2, b, n, h, k2, d)
        keys, values = kv[0], kv[1]
        logits = (q * keys).sum(-1) / math.sqrt(self.head_dim) + self.offset_bias  # (b, n, h, k2)
        inside = F.unfold(queries.new_ones(1, 1, gh, gw), self.window, padding=self.window // 2)
        logits = logits.masked_fill(inside[0].t()[None, :, None, :] == 0, float("-inf"))
        attn = logits.softmax(dim=-1)
        out = (attn[..., None] * values).sum(-2).reshape(b, n, c)
        return self.output(out)


class AnyHandDepthFusion(nn.Module):
    """Depth patch embedding and a bidirectional RGB<->depth cross-attention on corresponding patches.

    Runs at the bottleneck width `fusion_dim`: the depth map (normalised, + validity mask) is embedded by one
    16x16 conv, depth tokens attend to the RGB tokens around their patch, then RGB tokens attend to the
    updated depth tokens, and the result is projected back and added to the RGB tokens before the backbone.
    The reference depth enters as an embedding added to the camera token.
    """

    def __init__(self, config: AnyHandConfig):
        super().__init__()
        c, d = config.fusion_dim, config.hidden_size
        args = (c, config.fusion_num_heads, config.fusion_window, config.grid_size)
        self.depth_embeddings = nn.Conv2d(2, c, config.patch_size, stride=config.patch_size)
        self.rgb_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.rgb_down = nn.Linear(d, c)
        self.depth_norm = nn.LayerNorm(c, eps=config.layer_norm_eps)
        self.depth_from_rgb = AnyHandWindowCrossAttention(*args)
        self.query_norm = nn.LayerNorm(c, eps=config.layer_norm_eps)
        self.context_norm = nn.LayerNorm(c, eps=config.layer_norm_eps)
        self.rgb_from_depth = AnyHandWindowCrossAttention(*args)
        self.rgb_up = nn.Linear(c, d)
        self.reference_embeddings = nn.Linear(2, d)

    def forward(self, rgb_tokens: Tensor, depth_inputs: Tensor, ref_features: Tensor) -> tuple[Tensor, Tensor]:
        depth = self.depth_embeddings(depth_inputs).flatten(2).transpose(1, 2)
        rgb = self.rgb_down(self.rgb_norm(rgb_tokens))
        depth = depth + self.depth_from_rgb(self.depth_norm(depth), rgb)
        fused = self.rgb_from_depth(self.query_norm(rgb), self.context_norm(depth))
        return rgb_tokens + self.rgb_up(fused), self.reference_embeddings(ref_features)


# ---------------------------------------------------------------------------------------------------
# Transformer blocks (pre-norm ViT)
# ---------------------------------------------------------------------------------------------------
class AnyHandAttention(nn.Module):
    def __init__(self, config: AnyHandConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.attention_probs_dropout_prob

    def forward(self, hidden_states: Tensor) -> Tensor:
        b, n, c = hidden_states.shape
        q, k, v = self.qkv(hidden_states).view(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class AnyHandMLP(nn.Module):
    def __init__(self, config: AnyHandConfig):
        super().__init__()
        inner = int(config.hidden_size * config.mlp_ratio)
        self.fc1 = nn.Linear(config.hidden_size, inner)
        self.fc2 = nn.Linear(inner, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: Tensor) -> Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(hidden_states)))))


class AnyHandLayer(GradientCheckpointingLayer):
    """x + DropPath(LayerScale(Attn(LN(x)))), then the same with the MLP."""

    def __init__(self, config: AnyHandConfig, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = AnyHandAttention(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = AnyHandMLP(config)
        self.drop_path = drop_path
        if config.layer_scale_init_value > 0:
            self.lambda1 = nn.Parameter(torch.empty(config.hidden_size))
            self.lambda2 = nn.Parameter(torch.empty(config.hidden_size))
        else:
            self.lambda1 = self.lambda2 = None

    def _residual(self, x: Tensor, scale: Tensor | None) -> Tensor:
        if scale is not None:
            x = x * scale
        if self.drop_path > 0 and self.training:
            keep = x.new_empty(x.shape[0], 1, 1).bernoulli_(1 - self.drop_path)
            x = x * keep / (1 - self.drop_path)
        return x

    def forward(self, hidden_states: Tensor) -> Tensor:
        hidden_states = hidden_states + self._residual(self.attention(self.norm1(hidden_states)), self.lambda1)
        return hidden_states + self._residual(self.mlp(self.norm2(hidden_states)), self.lambda2)


class AnyHandEncoder(nn.Module):
    def __init__(self, config: AnyHandConfig):
        super().__init__()
        n = config.num_hidden_layers
        rates = [config.drop_path_rate * i / max(n - 1, 1) for i in range(n)]
        self.layers = nn.ModuleList([AnyHandLayer(config, rates[i]) for i in range(n)])
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: Tensor) -> Tensor:
        for layer in self.layers:
            hidden_states = layer(hidden_states)
        return self.layernorm(hidden_states)


# ---------------------------------------------------------------------------------------------------
# Heads: coarse MANO + camera from the task tokens; refinement from multi-scale vertex features
# ---------------------------------------------------------------------------------------------------
class AnyHandHeads(nn.Module):
    """Pose tokens -> 16 x 6D (one shared linear), shape token -> betas, camera token -> [s, tx, ty].

    Output layers start near zero with biases at the mean: identity rotations (the flat hand), zero betas,
    and a camera that centres the template and makes it span `init_hand_fill` of the crop.
    """

    def __init__(self, config: AnyHandConfig):
        super().__init__()
        self.pose = nn.Linear(config.hidden_size, 6)
        self.shape = nn.Linear(config.hidden_size, config.num_betas)
        self.cam = nn.Linear(config.hidden_size, 3)
        self.pose._output_init, self.shape._output_init, self.cam._output_init = "pose", "zero", "cam"

    def forward(self, task_tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pose_6d = self.pose(task_tokens[:, :NUM_POSE_TOKENS])
        betas = self.shape(task_tokens[:, NUM_POSE_TOKENS])
        cam = self.cam(task_tokens[:, NUM_POSE_TOKENS + 1])
        return pose_6d, betas, cam


def sample_vertex_features(feature_maps: list[Tensor], uv: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Bilinearly sample maps (B, C_i, h_i, w_i) that each cover the whole crop at crop pixels uv (B, N, 2).

    Crop pixel (u, v) is normalised by the crop's size, not the map's: grid = (2u/W - 1, 2v/H - 1) with
    align_corners=False puts it at map position (u * w_i / W - 0.5, v * h_i / H - 0.5) in cell-centre
    units for every map. Points outside the crop read zeros. Returns (B, N, sum C_i).
    """
    h, w = image_size
    grid = torch.stack([2.0 * uv[..., 0] / w - 1.0, 2.0 * uv[..., 1] / h - 1.0], dim=-1)[:, :, None]
    grid = grid.to(feature_maps[0].dtype)
    sampled = [F.grid_sample(m, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[..., 0]
               for m in feature_maps]
    return torch.cat(sampled, dim=1).transpose(1, 2)


class AnyHandRefiner(nn.Module):
    """WiLoR-style refinement: multi-scale maps from the final image tokens (16x12 -> 32x24 -> 64x48 by
    deconvolution), sampled at the coarse mesh's projected vertices, a shared per-vertex MLP (features +
    vertex position + crop position), max-pooled over vertices, and an MLP that predicts residual
    corrections to the 6D pose, betas and camera."""

    def __init__(self, config: AnyHandConfig):
        super().__init__()
        c0, c1, c2 = config.refine_channels
        hidden = config.refine_hidden_size
        self.grid_size = config.grid_size
        self.proj = nn.Conv2d(config.hidden_size, c0, 1)
        self.up1 = nn.Sequential(nn.ConvTranspose2d(c0, c1, 4, stride=2, padding=1), nn.GroupNorm(1, c1), nn.GELU())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=1), nn.GroupNorm(1, c2), nn.GELU())
        self.point_mlp = nn.Sequential(nn.Linear(c0 + c1 + c2 + 5, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        n_out = NUM_POSE_TOKENS * 6 + config.num_betas + 3
        self.regressor = nn.Sequential(nn.Linear(hidden + n_out, hidden), nn.GELU(), nn.Linear(hidden, n_out))
        self.regressor[-1]._output_init = "zero"

    def feature_maps(self, image_tokens: Tensor) -> list[Tensor]:
        b, n, c = image_tokens.shape
        f0 = self.proj(image_tokens.transpose(1, 2).reshape(b, c, *self.grid_size))
        f1 = self.up1(f0)
        return [f0, f1, self.up2(f1)]

    def forward(self, image_tokens: Tensor, vertices: Tensor, uv: Tensor, params: Tensor,
                image_size: tuple[int, int]) -> Tensor:
        maps = self.feature_maps(image_tokens)
        # The sampling positions and point coordinates are inputs here, not paths for gradients.
        uv, vertices = uv.detach(), vertices.detach()
        feats = sample_vertex_features(maps, uv, image_size)
        h, w = image_size
        uv_norm = torch.stack([2.0 * uv[..., 0] / w - 1.0, 2.0 * uv[..., 1] / h - 1.0], dim=-1)
        local = 10.0 * (vertices - vertices.mean(dim=1, keepdim=True))  # ~unit scale (decimetres)
        points = self.point_mlp(torch.cat([feats, local, uv_norm], dim=-1))
        pooled = points.max(dim=1).values
        return self.regressor(torch.cat([pooled, params], dim=-1))


# ---------------------------------------------------------------------------------------------------
# Outputs and losses
# ---------------------------------------------------------------------------------------------------
@dataclass
class AnyHandOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`): weighted sum of the losses whose labels were given.
    loss_dict (`dict[str, torch.FloatTensor]`): the unweighted terms (`keypoints_3d`, `keypoints_2d`,
        `global_orient`, `hand_pose`, `betas`, and `coarse_*` for the pre-refinement prediction).
    vertices (`(B, V, 3)`): mesh vertices in the camera frame (metres): the real camera's when `K` and `box`
        are given, otherwise the crop camera's (focal `focal_length`, principal point at the crop centre).
    joints_3d (`(B, 21, 3)`): OpenPose-order keypoints in the same frame as `vertices`.
    joints_2d (`(B, 21, 2)`): keypoints in full-image pixels (projected with `K`) when `K` and `box` are
        given, otherwise in crop pixels.
    joints_2d_crop (`(B, 21, 2)`): keypoints in crop pixels (what the 2D loss sees).
    global_orient (`(B, 3)`), hand_pose (`(B, 45)`): axis-angle, as in the dataset rows (flat hand = 0).
    global_orient_rotmat (`(B, 1, 3, 3)`), hand_pose_rotmat (`(B, 15, 3, 3)`): the same as rotation matrices.
    betas (`(B, num_betas)`): MANO shape.
    cam_t (`(B, 3)`): translation of the MANO frame in the output camera frame (metres).
    pred_cam (`(B, 3)`): weak-perspective crop camera [s, tx, ty].
    pred_cam_coarse (`(B, 3)`), joints_3d_coarse (`(B, 21, 3)`): the coarse (pre-refinement) prediction
        (camera, and keypoints in the output frame).
    """

    loss: Tensor | None = None
    loss_dict: dict[str, Tensor] | None = None
    vertices: Tensor | None = None
    joints_3d: Tensor | None = None
    joints_2d: Tensor | None = None
    joints_2d_crop: Tensor | None = None
    global_orient: Tensor | None = None
    hand_pose: Tensor | None = None
    global_orient_rotmat: Tensor | None = None
    hand_pose_rotmat: Tensor | None = None
    betas: Tensor | None = None
    cam_t: Tensor | None = None
    pred_cam: Tensor | None = None
    pred_cam_coarse: Tensor | None = None
    joints_3d_coarse: Tensor | None = None


LABEL_KEYS = ("joints_3d", "joints_2d", "global_orient", "hand_pose", "betas",
              "joints_3d_mask", "joints_2d_mask", "mano_mask")


def _masked_sum_mean(per_item: Tensor, mask: Tensor | None) -> Tensor:
    """per_item (B, ...) summed over all but the batch, weighted by mask, averaged over the batch."""
    if mask is not None:
        per_item = per_item * mask.reshape(*mask.shape, *([1] * (per_item.dim() - mask.dim())))
    return per_item.flatten(1).sum(1).mean()


def hand_losses(pred: dict[str, Tensor], labels: dict[str, Tensor], crop_size: int) -> dict[str, Tensor]:
    """Unweighted losses for the labels present.

    * keypoints_3d: L1 on wrist-relative OpenPose keypoints (metres), summed over joints and axes.
    * keypoints_2d: L1 on crop pixels / crop_size (labels in crop pixels), summed over joints and axes;
      a third column in the label (B, 21, 3) is a per-joint confidence.
    * global_orient, hand_pose: MSE between rotation matrices (labels axis-angle or matrices, camera frame).
    * betas: MSE.
    Per-joint masks `joints_3d_mask`/`joints_2d_mask` (B, 21) and a per-sample `mano_mask` (B,) are optional.
    Every term is averaged over the batch.
    """
    losses = {}
    if labels.get("joints_3d") is not None:
        gt = labels["joints_3d"].to(pred["keypoints"].dtype)
        pk, gk = pred["keypoints"] - pred["keypoints"][:, :1], gt - gt[:, :1]
        losses["keypoints_3d"] = _masked_sum_mean((pk - gk).abs(), labels.get("joints_3d_mask"))
    if labels.get("joints_2d") is not None:
        gt = labels["joints_2d"].to(pred["joints_2d_crop"].dtype)
        mask = labels.get("joints_2d_mask")
        if gt.shape[-1] == 3:
            mask = gt[..., 2] if mask is None else mask * gt[..., 2]
            gt = gt[..., :2]
        losses["keypoints_2d"] = _masked_sum_mean((pred["joints_2d_crop"] - gt).abs() / crop_size, mask)
    mano_mask = labels.get("mano_mask")
    if labels.get("global_orient") is not None:
        gt = _as_rotmats(labels["global_orient"], 1, "global_orient").to(pred["rotmats"].dtype)
        losses["global_orient"] = _masked_sum_mean((pred["rotmats"][:, :1] - gt) ** 2, mano_mask)
    if labels.get("hand_pose") is not None:
        gt = _as_rotmats(labels["hand_pose"], NUM_POSE_TOKENS - 1, "hand_pose").to(pred["rotmats"].dtype)
        losses["hand_pose"] = _masked_sum_mean((pred["rotmats"][:, 1:] - gt) ** 2, mano_mask)
    if labels.get("betas") is not None:
        gt = labels["betas"].to(pred["betas"].dtype)
        losses["betas"] = _masked_sum_mean((pred["betas"] - gt[:, : pred["betas"].shape[1]]) ** 2, mano_mask)
    return losses


# ---------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------
def build_hand_model(config: AnyHandConfig) -> HandModel:
    """The MANO-layout hand named by `config.mano_path` (None: the open hand shipped with anyhand_hf)."""
    try:
        if config.mano_path is None:
            return HandModel.open(side="right", num_betas=config.num_betas)
        return HandModel.from_file(config.mano_path, num_betas=config.num_betas)
    except (OSError, ValueError) as err:
        raise type(err)(f"{err}\n(AnyHandNetD needs its hand model; point `mano_path` at a MANO-layout .pkl/.npz, "
                        f"e.g. AnyHandNetD.from_pretrained(path, mano_path='MANO_RIGHT.pkl'))") from err


class AnyHandPreTrainedModel(PreTrainedModel):
    config_class = AnyHandConfig
    base_model_prefix = "anyhand"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["AnyHandLayer", "AnyHandEmbeddings", "AnyHandDepthFusion"]

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            # Output layers (tagged `_output_init`) start near zero with their bias at the mean prediction.
            role = getattr(module, "_output_init", None)
            init.trunc_normal_(module.weight, std=1e-3 if role is not None else std)
            if role == "pose":
                init.copy_(module.bias, torch.tensor(IDENTITY_6D))
            elif role == "cam":
                init.copy_(module.bias, torch.tensor(self._initial_cam()))
            elif module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, AnyHandEmbeddings):
            init.trunc_normal_(module.position_embeddings, std=std)
            init.trunc_normal_(module.task_tokens, std=std)
        elif isinstance(module, AnyHandLayer) and module.lambda1 is not None:
            init.constant_(module.lambda1, self.config.layer_scale_init_value)
            init.constant_(module.lambda2, self.config.layer_scale_init_value)
        elif isinstance(module, AnyHandWindowCrossAttention):
            init.zeros_(module.offset_bias)
        elif isinstance(module, HandModel):
            # The hand's arrays are non-persistent buffers: never in a checkpoint, re-read from the hand file
            # whenever the model is built or loaded (from_pretrained builds on the meta device).
            with torch.device("cpu"):
                fresh = build_hand_model(self.config)
            for name, buf in fresh.named_buffers():
                target = module.get_buffer(name)
                if target.device.type != "meta" and target.shape == buf.shape:
                    init.copy_(target, buf.to(target.dtype))

    def _initial_cam(self) -> list[float]:
        """[s, tx, ty] that centres the template hand and spans `init_hand_fill` of the crop height."""
        if self.config.init_cam is not None:
            return list(self.config.init_cam)
        mano = getattr(self, "mano", None)
        template = mano.v_template if mano is not None else None
        if template is None or template.device.type == "meta" or not torch.isfinite(template).all():
            return [6.0, 0.0, 0.0]
        lo, hi = template[:, :2].amin(0), template[:, :2].amax(0)
        extent = float((hi - lo).max().clamp(min=1e-3))
        centre = (0.5 * (lo + hi)).tolist()
        return [2.0 * self.config.init_hand_fill / extent, -centre[0], -centre[1]]


class AnyHandNetD(AnyHandPreTrainedModel):
    """AnyHandNet-D: hand crop (RGB or RGB-D) -> MANO pose/shape, camera, mesh and keypoints.

    Inputs of `forward`:
        pixel_values (`(B, 3, 256, 192)`): the hand crop, RGB on 0-1 normalised with `config.image_mean/std`
            (ImageNet). Left hands are mirrored to right hands by the caller.
        depth_values (`(B, 1, 256, 192)`, RGB-D models only): metric depth in metres, aligned with the crop;
            0 or NaN = invalid. Required by an RGB-D model: to run one without depth pass zeros (all invalid),
            which the model reads as "no depth" (train with some all-invalid samples for this to work well).
            Depth that looks like millimetres (median > `depth_max_metres`) is rejected. See `normalize_depth`.
        depth_ref (`(B,)`, optional): the hand's reference depth in metres (e.g. from a detector or the
            full-image depth); by default the median of valid depth at the crop's centre.
        K (`(B, 3, 3)`) and box (`(B, 4)`, the crop's square box xyxy in full-image pixels), optional, together:
            outputs move to the real camera frame and `joints_2d` to full-image pixels.
        labels (`dict`, optional): any of `joints_3d` (B,21,3) metres, `joints_2d` (B,21,2|3) crop pixels,
            `global_orient` (B,3) / `hand_pose` (B,45) axis-angle (or rotation matrices), `betas` (B,10), and
            masks `joints_3d_mask`/`joints_2d_mask` (B,21), `mano_mask` (B,). These keys may also be passed as
            keyword arguments.
    Returns an [`AnyHandOutput`].
    """

    def __init__(self, config: AnyHandConfig):
        super().__init__(config)
        self.mano = build_hand_model(config)
        self.embeddings = AnyHandEmbeddings(config)
        self.depth_fusion = AnyHandDepthFusion(config) if config.use_depth else None
        self.encoder = AnyHandEncoder(config)
        self.heads = AnyHandHeads(config)
        self.refiner = AnyHandRefiner(config)
        self.post_init()

    # -- loading ------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, config=None, **kwargs):
        """As `PreTrainedModel.from_pretrained`, with a clear error when a given `config` describes another
        architecture (preset, width, depth, RGB-D) than the checkpoint's."""
        if isinstance(config, PreTrainedConfig):
            hub = {k: kwargs[k] for k in ("cache_dir", "revision", "token", "local_files_only", "subfolder")
                   if k in kwargs}
            try:
                saved, _ = AnyHandConfig.get_config_dict(pretrained_model_name_or_path, **hub)
            except OSError:
                saved = None
            if saved is not None:
                wanted = config.to_dict()
                diffs = [f"{k}: checkpoint {saved.get(k)!r} vs config {wanted.get(k)!r}"
                         for k in ARCHITECTURE_FIELDS if k in saved and _norm(saved[k]) != _norm(wanted.get(k))]
                if diffs:
                    raise ValueError(
                        f"checkpoint {os.fspath(pretrained_model_name_or_path)!r} is AnyHandNet-D preset "
                        f"{saved.get('preset')!r} (use_depth={saved.get('use_depth')}) but the config is preset "
                        f"{config.preset!r} (use_depth={config.use_depth}); mismatched sizes: " + "; ".join(diffs)
                        + ". Load it with its own config (omit `config=`) or pick the matching preset.")
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, config=config, **kwargs)
        except RuntimeError as err:
            if "size mismatch" in str(err) or "mismatch" in str(err).lower():
                raise ValueError(f"cannot load {pretrained_model_name_or_path!r} into AnyHandNet-D "
                                 f"({config.architecture_summary() if config is not None else 'its config'}): "
                                 f"{err}") from err
            raise

    # -- input checks -------------------------------------------------------------------------------
    def _check_inputs(self, pixel_values: Tensor, depth_values: Tensor | None, K: Tensor | None,
                      box: Tensor | None) -> None:
        h, w = self.config.image_size
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != (self.config.num_channels, h, w):
            raise ValueError(f"pixel_values must be (batch, {self.config.num_channels}, {h}, {w}): a {h}x{w} (HxW) "
                             f"hand crop; got {tuple(pixel_values.shape)}")
        if depth_values is not None and not self.config.use_depth:
            raise ValueError("depth_values given to an RGB-only model (use_depth=False); drop them or use an RGB-D "
                             "checkpoint (AnyHandConfig.from_preset(..., use_depth=True))")
        if depth_values is None and self.config.use_depth:
            raise ValueError("this is an RGB-D model (use_depth=True) and needs depth_values (B, 1, "
                             f"{h}, {w}) in metres; to run it without depth pass torch.zeros(B, 1, {h}, {w}) "
                             "(all invalid)")
        if depth_values is not None:
            expected = (pixel_values.shape[0], 1, h, w)
            if tuple(depth_values.shape) != expected:
                raise ValueError(f"depth_values must be {expected} (one metric depth channel aligned with the "
                                 f"{h}x{w} crop); got {tuple(depth_values.shape)}")
        if (K is None) != (box is None):
            raise ValueError("K and box go together: pass both (full-image outputs) or neither (crop outputs)")
        if K is not None:
            b = pixel_values.shape[0]
            if tuple(K.shape) != (b, 3, 3) or tuple(box.shape) != (b, 4):
                raise ValueError(f"K must be ({b}, 3, 3) and box ({b}, 4); got {tuple(K.shape)} and "
                                 f"{tuple(box.shape)}")

    # -- forward ------------------------------------------------------------------------------------
    def decode(self, pose_6d: Tensor, betas: Tensor, pred_cam: Tensor) -> dict[str, Tensor]:
        """6D pose, betas and weak-perspective camera -> MANO mesh and keypoints in the crop camera frame."""
        rotmats = rotation_6d_to_matrix(pose_6d)
        dtype = self.mano.v_template.dtype
        out = self.mano(global_orient=rotmats[:, :1].to(dtype), hand_pose=rotmats[:, 1:].to(dtype),
                        betas=betas.to(dtype))
        cam_t = cam_to_translation(pred_cam, self.config.focal_length, self.config.image_size[0])
        keypoints = out.keypoints.to(pose_6d.dtype)
        vertices = out.vertices.to(pose_6d.dtype)
        return {
            "rotmats": rotmats, "betas": betas, "pred_cam": pred_cam, "cam_t": cam_t,
            "keypoints": keypoints, "vertices": vertices,
            "joints_2d_crop": project_to_crop(keypoints + cam_t[:, None], self.config.focal_length,
                                              self.config.image_size),
            "vertices_2d_crop": project_to_crop(vertices + cam_t[:, None], self.config.focal_length,
                                                self.config.image_size),
        }

    def forward(self, pixel_values: Tensor, depth_values: Tensor | None = None, K: Tensor | None = None,
                box: Tensor | None = None, depth_ref: Tensor | None = None, labels: dict | None = None,
                return_dict: bool | None = None, **kwargs) -> AnyHandOutput | tuple:
        labels = dict(labels or {})
        for key in LABEL_KEYS:
            if kwargs.get(key) is not None:
                labels[key] = kwargs.pop(key)
        unknown = [k for k, v in kwargs.items() if v is not None and k not in ("output_attentions",
                                                                             "output_hidden_states")]
        if unknown:
            raise TypeError(f"AnyHandNetD.forward got unexpected arguments {unknown}")
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        self._check_inputs(pixel_values, depth_values, K, box)

        tokens = self.embeddings(pixel_values)
        task = self.embeddings.task_tokens.expand(tokens.shape[0], -1, -1)
        if self.depth_fusion is not None:
            depth_inputs, ref_features = normalize_depth(depth_values.float(), self.config, depth_ref)
            tokens, ref_embedding = self.depth_fusion(tokens, depth_inputs.to(tokens.dtype),
                                                      ref_features.to(tokens.dtype))
            cam_token = task[:, NUM_POSE_TOKENS + 1:] + ref_embedding[:, None]
            task = torch.cat([task[:, : NUM_POSE_TOKENS + 1], cam_token], dim=1)
        hidden = self.encoder(torch.cat([task, tokens], dim=1))
        task, image_tokens = hidden[:, :NUM_TASK_TOKENS], hidden[:, NUM_TASK_TOKENS:]

        pose_6d, betas, pred_cam = self.heads(task)
        coarse = self.decode(pose_6d, betas, pred_cam)
        params = torch.cat([pose_6d.flatten(1), betas, pred_cam], dim=1)
        delta = self.refiner(image_tokens, coarse["vertices"], coarse["vertices_2d_crop"], params,
                             tuple(self.config.image_size))
        n6 = NUM_POSE_TOKENS * 6
        final = self.decode(pose_6d + delta[:, :n6].view_as(pose_6d), betas + delta[:, n6:-3],
                            pred_cam + delta[:, -3:])

        loss, loss_dict = None, None
        if labels:
            loss_dict, loss = {}, pixel_values.new_zeros(())
            weights = {"keypoints_3d": self.config.loss_keypoints_3d, "keypoints_2d": self.config.loss_keypoints_2d,
                       "global_orient": self.config.loss_global_orient, "hand_pose": self.config.loss_hand_pose,
                       "betas": self.config.loss_betas}
            for prefix, pred, scale in (("", final, 1.0), ("coarse_", coarse, self.config.loss_coarse_weight)):
                for name, value in hand_losses(pred, labels, self.config.image_size[0]).items():
                    loss_dict[prefix + name] = value.detach()
                    loss = loss + scale * weights[name] * value

        rot = final["rotmats"]
        if K is not None:
            cam_t = crop_cam_to_full_translation(final["pred_cam"], K.to(rot.dtype), box.to(rot.dtype),
                                                 self.config.image_size[0])
            coarse_t = crop_cam_to_full_translation(coarse["pred_cam"], K.to(rot.dtype), box.to(rot.dtype),
                                                    self.config.image_size[0])
            joints_3d = final["keypoints"] + cam_t[:, None]
            joints_2d = project_with_K(joints_3d, K.to(rot.dtype))
        else:
            cam_t, coarse_t = final["cam_t"], coarse["cam_t"]
            joints_3d = final["keypoints"] + cam_t[:, None]
            joints_2d = final["joints_2d_crop"]
        output = AnyHandOutput(
            loss=loss, loss_dict=loss_dict,
            vertices=final["vertices"] + cam_t[:, None], joints_3d=joints_3d, joints_2d=joints_2d,
            joints_2d_crop=final["joints_2d_crop"],
            global_orient=matrix_to_axis_angle(rot[:, 0]), hand_pose=matrix_to_axis_angle(rot[:, 1:]).flatten(1),
            global_orient_rotmat=rot[:, :1], hand_pose_rotmat=rot[:, 1:], betas=final["betas"],
            cam_t=cam_t, pred_cam=final["pred_cam"], pred_cam_coarse=coarse["pred_cam"],
            joints_3d_coarse=coarse["keypoints"] + coarse_t[:, None],
        )
        return output if return_dict else output.to_tuple()

    # -- bookkeeping --------------------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part: backbone (embeddings + ViT blocks), fusion (everything depth-specific), heads
        (coarse heads + refinement), total."""
        def count(*modules):
            return sum(p.numel() for m in modules if m is not None for p in m.parameters())
        counts = {"backbone": count(self.embeddings, self.encoder), "fusion": count(self.depth_fusion),
                  "heads": count(self.heads, self.refiner)}
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts


def _norm(value):
    return [_norm(v) for v in value] if isinstance(value, (list, tuple)) else value


AnyHandNetD.register_for_auto_class("AutoModel")

__all__ = [
    "AnyHandNetD", "AnyHandOutput", "AnyHandPreTrainedModel", "cam_to_translation", "crop_cam_to_full_translation",
    "crop_to_full_pixels", "full_to_crop_pixels", "matrix_to_axis_angle", "matrix_to_rotation_6d", "normalize_depth",
    "project_to_crop", "project_with_K", "rotation_6d_to_matrix", "sample_vertex_features",
]
