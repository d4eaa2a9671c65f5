"""AnyHandNet-D: shapes, gradients, geometry (6D, sampling, camera), fusion budget, save/load, errors,
and (slow) overfitting 8 rendered AnyHand samples.

Set ANYHAND_TEST_HAND=/path/to/MANO_RIGHT.pkl to run against another MANO-layout hand than the shipped
open one.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import pytest
import torch

from anyhand_hf.hand import HandModel
from anyhand_hf.hand.lbs import axis_angle_to_matrix
from anyhand_hf.metrics import pa_mpjpe
from anyhand_hf.modeling import PRESETS, AnyHandConfig, AnyHandNetD
from anyhand_hf.modeling.modeling_anyhand import (
    cam_to_translation,
    crop_cam_to_full_translation,
    crop_to_full_pixels,
    full_to_crop_pixels,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    normalize_depth,
    project_to_crop,
    project_with_K,
    rotation_6d_to_matrix,
    sample_vertex_features,
)

HAND_PATH = os.environ.get("ANYHAND_TEST_HAND") or None
H, W = 256, 192


def tiny_config(use_depth: bool = True, **overrides) -> AnyHandConfig:
    return AnyHandConfig.from_preset("tiny", use_depth=use_depth, mano_path=HAND_PATH, **overrides)


@pytest.fixture(scope="module")
def rgbd_model() -> AnyHandNetD:
    torch.manual_seed(0)
    return AnyHandNetD(tiny_config(True)).eval()


@pytest.fixture(scope="module")
def rgb_model() -> AnyHandNetD:
    torch.manual_seed(0)
    return AnyHandNetD(tiny_config(False)).eval()


def random_inputs(batch: int = 2, depth: bool = True, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randn(batch, 3, H, W, generator=g)
    if not depth:
        return pixels, None
    d = 0.6 + 0.02 * torch.randn(batch, 1, H, W, generator=g)
    d[:, :, :20] = 0.0  # invalid rows
    return pixels, d


def random_rotations(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(n, 4, generator=g, dtype=torch.float64), dim=-1)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=-1).view(n, 3, 3)


# ------------------------------------------------------------------------------------------------
# Shapes, gradients, losses
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_depth", [True, False])
def test_output_shapes(use_depth, rgbd_model, rgb_model):
    model = rgbd_model if use_depth else rgb_model
    pixels, depth = random_inputs(2, use_depth)
    with torch.no_grad():
        out = model(pixels, depth)
    v = model.mano.num_vertices
    expected = {
        "vertices": (2, v, 3), "joints_3d": (2, 21, 3), "joints_2d": (2, 21, 2), "joints_2d_crop": (2, 21, 2),
        "global_orient": (2, 3), "hand_pose": (2, 45), "global_orient_rotmat": (2, 1, 3, 3),
        "hand_pose_rotmat": (2, 15, 3, 3), "betas": (2, 10), "cam_t": (2, 3), "pred_cam": (2, 3),
    }
    for name, shape in expected.items():
        assert tuple(getattr(out, name).shape) == shape, name
        assert torch.isfinite(getattr(out, name)).all(), name
    assert out.loss is None
    # Without K the outputs are crop-frame: 2D = crop projection of the 3D joints.
    torch.testing.assert_close(out.joints_2d, project_to_crop(out.joints_3d, 5000.0, (H, W)))
    # The initial hand sits inside the crop, in front of the camera.
    assert (out.cam_t[:, 2] > 0).all()
    assert ((out.joints_2d_crop > 0) & (out.joints_2d_crop < torch.tensor([W, H]))).float().mean() > 0.9
    # Axis-angle and matrix outputs agree.
    torch.testing.assert_close(axis_angle_to_matrix(out.hand_pose.view(2, 15, 3)), out.hand_pose_rotmat,
                               atol=1e-5, rtol=0)


def make_labels(model: AnyHandNetD, batch: int = 2, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    go, hp = 0.5 * torch.randn(batch, 3, generator=g), 0.3 * torch.randn(batch, 45, generator=g)
    betas = torch.randn(batch, 10, generator=g)
    with torch.no_grad():
        hand = model.mano(global_orient=go, hand_pose=hp, betas=betas)
    t = torch.tensor([0.0, 0.0, 6.0])
    kp = hand.keypoints + t
    return {"joints_3d": kp, "joints_2d": project_to_crop(kp, 5000.0, (H, W)), "global_orient": go,
            "hand_pose": hp, "betas": betas}


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = AnyHandNetD(tiny_config(True)).train()
    pixels, depth = random_inputs(2, True)
    out = model(pixels, depth, labels=make_labels(model))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no (finite) gradient for {missing}"
    zero = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, f"all-zero gradient for {zero}"


def test_losses_only_for_given_labels(rgbd_model):
    pixels, depth = random_inputs(2, True)
    labels = make_labels(rgbd_model)
    with torch.no_grad():
        out = rgbd_model(pixels, depth, labels={"joints_3d": labels["joints_3d"]})
        assert set(out.loss_dict) == {"keypoints_3d", "coarse_keypoints_3d"}
        # Keyword labels work too, and a mask of zeros removes a term's contribution.
        out2 = rgbd_model(pixels, depth, joints_2d=labels["joints_2d"], joints_2d_mask=torch.zeros(2, 21))
        assert set(out2.loss_dict) == {"keypoints_2d", "coarse_keypoints_2d"}
        assert float(out2.loss) == 0.0
        full = rgbd_model(pixels, depth, labels=labels)
    assert set(full.loss_dict) == {p + k for p in ("", "coarse_")
                                   for k in ("keypoints_3d", "keypoints_2d", "global_orient", "hand_pose", "betas")}


def test_gradient_checkpointing_runs():
    torch.manual_seed(0)
    model = AnyHandNetD(tiny_config(False)).train()
    model.activation_checkpointing_enable()
    assert all(layer.gradient_checkpointing for layer in model.encoder.layers)
    pixels, _ = random_inputs(1, False)
    model(pixels, labels={"joints_3d": torch.zeros(1, 21, 3)}).loss.backward()
    assert model.embeddings.patch_embeddings.weight.grad is not None


# ------------------------------------------------------------------------------------------------
# Geometry
# ------------------------------------------------------------------------------------------------
def test_rotation_6d_round_trip():
    rot = random_rotations(256)
    torch.testing.assert_close(rotation_6d_to_matrix(matrix_to_rotation_6d(rot)), rot, atol=1e-10, rtol=0)
    # Any 6D vector gives a proper rotation.
    r = rotation_6d_to_matrix(torch.randn(64, 6, dtype=torch.float64))
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(64, 3, 3))
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(64, dtype=torch.float64))
    # Axis-angle <-> matrix, including tiny angles and angles near pi.
    g = torch.Generator().manual_seed(0)
    axis = torch.nn.functional.normalize(torch.randn(300, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.cat([torch.rand(100, generator=g, dtype=torch.float64) * math.pi,
                       torch.full((100,), 1e-7, dtype=torch.float64),
                       math.pi - 1e-6 * torch.rand(100, generator=g, dtype=torch.float64)])
    aa = axis * angle[:, None]
    rot = axis_angle_to_matrix(aa)
    torch.testing.assert_close(axis_angle_to_matrix(matrix_to_axis_angle(rot)), rot, atol=1e-6, rtol=0)
    torch.testing.assert_close(matrix_to_axis_angle(rot[:100]), aa[:100], atol=1e-6, rtol=0)


def test_refinement_samples_the_right_pixels():
    """Maps whose channels hold each cell's own (column, row) index: a vertex projected to crop pixel (u, v)
    must read (u * w / W - 0.5, v * h / H - 0.5) at every resolution, and a cell centre its own cell."""
    maps = []
    for h, w in ((16, 12), (32, 24), (64, 48)):
        rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                    indexing="ij")
        maps.append(torch.stack([cols, rows])[None].expand(2, 2, h, w))
    g = torch.Generator().manual_seed(0)
    # Interior points (at least half a coarse cell from the border, where bilinear interpolation is exact).
    uv = torch.stack([8 + (W - 16) * torch.rand(2, 50, generator=g, dtype=torch.float64),
                      8 + (H - 16) * torch.rand(2, 50, generator=g, dtype=torch.float64)], dim=-1)
    feats = sample_vertex_features(maps, uv, (H, W))
    assert feats.shape == (2, 50, 6)
    for i, (h, w) in enumerate(((16, 12), (32, 24), (64, 48))):
        torch.testing.assert_close(feats[..., 2 * i], uv[..., 0] * w / W - 0.5)
        torch.testing.assert_close(feats[..., 2 * i + 1], uv[..., 1] * h / H - 0.5)
    # The centre of crop pixel (row 100, col 37) lies in cell (100 // s, 37 // s) of each map of stride s; the
    # centre of that cell's pixel block reads exactly that cell.
    for i, stride in enumerate((16, 8, 4)):
        r, c = 100 // stride, 37 // stride
        centre = torch.tensor([[[(c + 0.5) * stride, (r + 0.5) * stride]]], dtype=torch.float64).expand(2, 1, 2)
        onehot = torch.zeros(2, 1, H // stride, W // stride, dtype=torch.float64)
        onehot[:, :, r, c] = 1.0
        assert sample_vertex_features([onehot], centre, (H, W))[0, 0, 0] == pytest.approx(1.0)
    # Points outside the crop read zeros.
    outside = torch.tensor([[[-50.0, 10.0], [10.0, 400.0]]], dtype=torch.float64).expand(2, 2, 2)
    assert sample_vertex_features([torch.ones(2, 3, 16, 12, dtype=torch.float64)], outside, (H, W)).abs().max() == 0


def test_crop_pixel_mapping_round_trip():
    box = torch.tensor([[100.0, 50.0, 300.0, 250.0], [0.0, 0.0, 512.0, 512.0]])
    uv = torch.tensor([[[0.0, 0.0], [W, H], [W / 2, H / 2]]]).expand(2, 3, 2)
    full = crop_to_full_pixels(uv, box, (H, W))
    # The crop's centre is the box centre; its corners are the box's corners trimmed to 192/256 of the width.
    torch.testing.assert_close(full[0, 2], torch.tensor([200.0, 150.0]))
    torch.testing.assert_close(full[0, 0], torch.tensor([100.0 + 200.0 * 32 / 256, 50.0]))
    torch.testing.assert_close(full[0, 1], torch.tensor([300.0 - 200.0 * 32 / 256, 250.0]))
    torch.testing.assert_close(full_to_crop_pixels(full, box, (H, W)), uv)


def test_camera_conversion_matches_the_crop(rgbd_model):
    pixels, depth = random_inputs(2, True)
    box = torch.tensor([[400.0, 120.0, 560.0, 280.0], [60.0, 300.0, 360.0, 600.0]])
    side = box[:, 2] - box[:, 0]
    # (a) K equal to the crop's own camera (focal 5000 * b / 256 at the box centre): every output joint,
    # projected with K, lands on the crop projection mapped back through the box.
    f_eff = 5000.0 * side / H
    K = torch.zeros(2, 3, 3)
    K[:, 0, 0], K[:, 1, 1], K[:, 2, 2] = f_eff, f_eff, 1.0
    K[:, 0, 2], K[:, 1, 2] = 0.5 * (box[:, 0] + box[:, 2]), 0.5 * (box[:, 1] + box[:, 3])
    with torch.no_grad():
        crop_out = rgbd_model(pixels, depth)
        out = rgbd_model(pixels, depth, K=K, box=box)
    mapped = crop_to_full_pixels(out.joints_2d_crop, box, (H, W))
    torch.testing.assert_close(out.joints_2d, project_with_K(out.joints_3d, K), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.joints_2d, mapped, atol=1e-2, rtol=0)
    torch.testing.assert_close(out.joints_3d - out.cam_t[:, None], crop_out.joints_3d - crop_out.cam_t[:, None])
    # (b) A real camera (f = 600 px, off-centre box): the metric depth follows the box size, and the MANO
    # origin's plane projects exactly where the crop camera puts it.
    K2 = torch.tensor([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]]).expand(2, 3, 3)
    with torch.no_grad():
        out2 = rgbd_model(pixels, depth, K=K2, box=box)
    s = out2.pred_cam[:, 0]
    torch.testing.assert_close(out2.cam_t[:, 2], 2 * 600.0 / (side * s))
    t_crop = cam_to_translation(out2.pred_cam, 5000.0, H)
    for offset in (torch.zeros(3), torch.tensor([0.03, -0.02, 0.0])):  # points with MANO-frame z = 0
        full = project_with_K((out2.cam_t + offset)[:, None], K2)
        crop = crop_to_full_pixels(project_to_crop((t_crop + offset)[:, None], 5000.0, (H, W)), box, (H, W))
        torch.testing.assert_close(full, crop, atol=5e-3, rtol=0)
    # Direct formula check: tz and the principal-point shift.
    t = crop_cam_to_full_translation(torch.tensor([[2.0, 0.1, -0.1]]), K2[:1], box[:1], H)
    tz = 2 * 600.0 / (160.0 * 2.0)
    torch.testing.assert_close(t, torch.tensor([[0.1 + (480 - 320) * tz / 600, -0.1 + (200 - 240) * tz / 600, tz]]))


# ------------------------------------------------------------------------------------------------
# Depth
# ------------------------------------------------------------------------------------------------
def test_depth_normalisation():
    cfg = tiny_config(True)
    depth = torch.full((2, 1, H, W), 0.9)
    depth[:, :, 64:192, 48:144] = 0.5  # the hand at the centre
    depth[0, :, :10] = 0.0
    depth[0, :, 10:20] = float("nan")
    inputs, ref = normalize_depth(depth, cfg)
    torch.testing.assert_close(ref[:, 0], torch.log(torch.tensor([0.5, 0.5])))
    assert inputs[0, 1, :20].sum() == 0 and inputs[0, 1, 20:].min() == 1  # validity channel
    assert inputs[0, 0, :20].abs().sum() == 0  # invalid -> 0
    assert inputs[:, 0, 128, 96].abs().max() == 0  # hand at the reference depth
    assert inputs[:, 0, 30, 5].tolist() == [1.0, 1.0]  # +40 cm, clipped to +15 cm -> 1
    # A given reference wins; an all-invalid map gives zero reference features.
    _, ref2 = normalize_depth(depth, cfg, depth_ref=torch.tensor([0.7, 0.8]))
    torch.testing.assert_close(ref2[:, 0], torch.log(torch.tensor([0.7, 0.8])))
    inputs3, ref3 = normalize_depth(torch.zeros(1, 1, H, W), cfg)
    assert inputs3.abs().sum() == 0 and ref3.abs().sum() == 0


def test_rgbd_model_runs_with_all_invalid_depth(rgbd_model):
    pixels, _ = random_inputs(1, False)
    with torch.no_grad():
        out = rgbd_model(pixels, torch.zeros(1, 1, H, W))
    assert torch.isfinite(out.vertices).all()


def test_fusion_is_at_most_5_percent_of_the_backbone_at_every_preset():
    for name in PRESETS:
        with torch.device("meta"):
            model = AnyHandNetD(AnyHandConfig.from_preset(name, use_depth=True, mano_path=HAND_PATH))
        counts = model.parameter_counts()
        assert counts["fusion"] > 0
        assert counts["fusion"] <= 0.05 * counts["backbone"], (name, counts)
        if name == "tiny":
            assert counts["total"] < 10_000_000
        if name == "huge":
            cfg = model.config
            assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.patch_size) == (32, 1280, 16, 16)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------
def test_clear_errors_for_bad_inputs(rgbd_model, rgb_model):
    pixels, depth = random_inputs(1, True)
    with pytest.raises(ValueError, match="256, 192"):
        rgbd_model(torch.randn(1, 3, 256, 256), depth)
    with pytest.raises(ValueError, match="RGB-only"):
        rgb_model(pixels, depth)
    with pytest.raises(ValueError, match="needs depth_values"):
        rgbd_model(pixels)
    with pytest.raises(ValueError, match="depth_values must be"):
        rgbd_model(pixels, depth[:, :, :128])
    with pytest.raises(ValueError, match="millimetres"):
        rgbd_model(pixels, depth * 1000)
    with pytest.raises(ValueError, match="K and box"):
        rgbd_model(pixels, depth, K=torch.eye(3)[None])
    with pytest.raises(ValueError, match="unknown preset"):
        AnyHandConfig.from_preset("gigantic")


# ------------------------------------------------------------------------------------------------
# Save / load
# ------------------------------------------------------------------------------------------------
LOAD_SNIPPET = """
import sys, torch
{prelude}
from transformers import AutoModel
model = AutoModel.from_pretrained({path!r}{flag}).eval()
inputs = torch.load({path!r} + "/inputs.pt")
with torch.no_grad():
    out = model(inputs["pixels"], inputs["depth"])
torch.save({{"vertices": out.vertices, "joints_2d": out.joints_2d}}, {path!r} + "/out_{tag}.pt")
print(type(model).__module__)
"""


def test_save_and_load_in_a_fresh_process(tmp_path):
    torch.manual_seed(0)
    model = AnyHandNetD(tiny_config(True)).eval()
    model.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {"config.json", "model.safetensors", "configuration_anyhand.py", "modeling_anyhand.py"} <= files
    # No hand-model arrays in the checkpoint.
    from safetensors import safe_open
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert not [k for k in f.keys() if k.startswith("mano.")]
    pixels, depth = random_inputs(2, True)
    torch.save({"pixels": pixels, "depth": depth}, tmp_path / "inputs.pt")
    with torch.no_grad():
        ref = model(pixels, depth)
    runs = {
        # Only transformers: the code copied into the checkpoint (which imports anyhand_hf.hand for the hand).
        "remote": dict(prelude="", flag=", trust_remote_code=True"),
        # Our package imported: `import anyhand_hf` registers the classes, no remote code runs.
        "registered": dict(prelude="import anyhand_hf", flag=""),
    }
    for tag, kw in runs.items():
        code = LOAD_SNIPPET.format(path=str(tmp_path), tag=tag, **kw)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                              timeout=300)
        assert proc.returncode == 0, f"{tag}: {proc.stderr[-3000:]}"
        module = proc.stdout.strip().splitlines()[-1]
        assert module.startswith("anyhand_hf.modeling" if tag == "registered" else "transformers_modules"), module
        out = torch.load(tmp_path / f"out_{tag}.pt")
        torch.testing.assert_close(out["vertices"], ref.vertices, atol=0, rtol=0)
        torch.testing.assert_close(out["joints_2d"], ref.joints_2d, atol=0, rtol=0)


def test_loading_another_preset_names_the_mismatch(tmp_path):
    torch.manual_seed(0)
    AnyHandNetD(tiny_config(True)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"preset 'tiny'.*preset 'small'.*hidden_size: checkpoint 192 vs config 384"):
        AnyHandNetD.from_pretrained(tmp_path, config=AnyHandConfig.from_preset("small", mano_path=HAND_PATH))
    with pytest.raises(ValueError, match="use_depth: checkpoint True vs config False"):
        AnyHandNetD.from_pretrained(tmp_path, config=tiny_config(False))
    # Its own config loads.
    loaded = AnyHandNetD.from_pretrained(tmp_path)
    assert loaded.config.preset == "tiny" and torch.isfinite(loaded.mano.v_template).all()


# ------------------------------------------------------------------------------------------------
# Overfitting (slow)
# ------------------------------------------------------------------------------------------------
def rendered_samples(model: AnyHandNetD, n_scenes: int = 4):
    """2·n_scenes AnyHand rows rendered by SAPIEN (raster) and cropped as WiLoR does (box ×2,
    256×192) by the training transform without augmentation: ImageNet-normalised pixels, metric
    depth, camera-frame labels, the full K and the crop box (so the model's outputs are metric in
    each view's camera)."""
    from anyhand_hf.data.transforms import collate, row_to_example
    from anyhand_hf.generate import render_scene
    from anyhand_hf.render import RenderSettings, SapienRenderer
    from anyhand_hf.scene import SceneConfig, sample_scene

    hand, rows = HandModel.open(), []
    with SapienRenderer(RenderSettings(mode="raster")) as renderer:
        for index in range(n_scenes):
            spec = sample_scene(SceneConfig(), 0, "single_indoor", "train", index, hand)
            rows += render_scene(spec, renderer, hand, texture_size=256)
    c = model.config
    batch = collate([row_to_example(row, c.image_size, c.image_mean, c.image_std, use_depth=True) for row in rows])
    labels = {k: batch["labels"][k] for k in ("joints_3d", "joints_2d", "global_orient", "hand_pose", "betas")}
    return batch["pixel_values"], batch["depth_values"], batch["K"], batch["box"], labels


@pytest.mark.slow
def test_tiny_rgbd_overfits_8_rendered_samples():
    torch.manual_seed(0)
    model = AnyHandNetD(tiny_config(True))
    pixels, depth, K, box, labels = rendered_samples(model)
    # AdamW 2e-3, 10 warm-up steps, linear decay to 0 at `steps`; stops as soon as PA-MPJPE < 2 mm.
    steps = int(os.environ.get("ANYHAND_OVERFIT_STEPS", "400"))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 10) * max(0.0, 1 - i / steps))
    start, err = time.time(), float("inf")
    for step in range(1, steps + 1):
        model.train()
        loss = model(pixels, depth, K=K, box=box, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 25 == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                err = float(pa_mpjpe(model(pixels, depth, K=K, box=box).joints_3d, labels["joints_3d"]).mean()) * 1000
            print(f"step {step}: {time.time() - start:.1f} s, PA-MPJPE {err:.2f} mm", flush=True)
            if err < 2.0:
                break
    assert err < 2.0, f"PA-MPJPE {err:.2f} mm after {step} steps"
