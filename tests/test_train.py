"""Training: the row → model-inputs transform, configuration errors, exact resume, two CPU processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from datasets import Dataset

from anyhand_hf.crop import crop_camera, crop_params
from anyhand_hf.data.transforms import AugmentConfig, row_to_example
from anyhand_hf.modeling import AnyHandConfig, AnyHandNetD
from hand_rows import mirrored, open_hand, synthetic_row, write_synthetic_dataset

import train  # scripts/train.py: hand_rows puts scripts/ on the path  # noqa: E402, I001

ROOT = Path(__file__).resolve().parents[1]
HW = (64, 48)  # small crops keep CPU steps short; the model takes any multiple of its patch size
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), train_rows=8, test_rows=4)


def small_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", f"{data}:single_indoor", "--output-dir", str(out), "--batch-size", "2", "--image-size",
            *map(str, HW), "--learning-rate", "1e-3", "--log-with", "none", "--log-every", "1", "--cpu-threads", "1",
            *extra]


def losses(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]


# ---- the transform ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_augmented_labels_follow_the_crop_geometry(seed):
    row = synthetic_row(seed)
    row["depth"] = 0.8 + 0.001 * np.arange(64, dtype=np.float32)[None, :] + np.zeros((64, 1), np.float32)
    augment = AugmentConfig(rotation_prob=1.0)
    example = row_to_example(row, HW, MEAN, STD, True, np.random.default_rng(seed), augment)
    # The same draw, replayed: 3D labels projected by the crop camera land on the 2D labels (model pixels).
    aug, gain = augment.sample(np.random.default_rng(seed))
    assert aug.rotation != 0 and not np.allclose(gain, 1.0)
    k_crop, _ = crop_camera(row["K"], crop_params(row["bbox"], 2.0, HW, aug))
    p = example["joints_3d"].astype(np.float64) @ k_crop.T
    np.testing.assert_allclose(p[:, :2] / p[:, 2:] + 0.5, example["joints_2d"], atol=1e-3)
    # A rotation about the optical axis keeps every depth; the crop's depths are the row's own values.
    np.testing.assert_allclose(example["joints_3d"][:, 2], row["joints_3d"][:, 2], atol=1e-6)
    valid = example["depth_values"][example["depth_values"] > 0]
    assert valid.size > 0 and np.isin(valid, row["depth"]).all()
    # The turned global orientation with the unchanged pose gives the turned joints (wrist-relative).
    with torch.no_grad():
        kp = open_hand()(global_orient=torch.tensor(example["global_orient"][None], dtype=torch.float32),
                         hand_pose=torch.tensor(example["hand_pose"][None], dtype=torch.float32),
                         betas=torch.tensor(example["betas"][None], dtype=torch.float32)).keypoints[0].numpy()
    np.testing.assert_allclose(kp - kp[:1], example["joints_3d"] - example["joints_3d"][:1], atol=1e-4)
    assert example["pixel_values"].shape == (3, *HW) and example["mano_mask"] == 1


def test_left_hand_becomes_the_right_hands_example():
    row = synthetic_row(7)
    # A smooth picture: OpenCV resamples at 1/32-pixel fixed-point positions, which noise would magnify.
    v, u = np.mgrid[0:64, 0:64]
    row["image"] = np.stack([128 + 100 * np.sin(u / 7.0), 128 + 100 * np.cos(v / 5.0), 2 * u + v], -1).astype(np.uint8)
    right = row_to_example(row, HW, MEAN, STD, True)
    left = row_to_example(mirrored(row), HW, MEAN, STD, True)
    for key in ("joints_3d", "joints_2d", "global_orient", "hand_pose", "betas", "depth_values"):
        np.testing.assert_allclose(left[key], right[key], atol=1e-4, err_msg=key)
    np.testing.assert_allclose(left["pixel_values"], right["pixel_values"], atol=0.03)


def test_row_without_mano_trains_on_keypoints_only():
    row = {**synthetic_row(1), "global_orient": None, "hand_pose": None, "betas": None}
    example = row_to_example(row, HW, MEAN, STD, False)
    assert example["mano_mask"] == 0 and "depth_values" not in example
    assert not np.any(example["hand_pose"])


# ---- configuration errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("flags, message", [
    (["--learning-rate", "-1"], "learning_rate must be a positive number"),
    (["--batch-size", "0"], "batch_size must be a positive number"),
    (["--mixed-precision", "fp8"], "mixed_precision must be one of"),
    (["--lr-scheduler", "sawtooth"], "lr_scheduler must be one of"),
    (["--preset", "giant"], "preset 'giant' is not one of"),
    (["--warmup-steps", "50", "--max-steps", "10"], r"warmup_steps \(50\) must be below max_steps \(10\)"),
    (["--image-size", "60", "48"], "must be a multiple of patch_size"),
])
def test_bad_config_values_name_the_setting(flags, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        train.load_config(["--data", "somewhere", *flags])


def test_config_file_errors(tmp_path):
    with pytest.raises(ValueError, match="no training data"):
        train.load_config([])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"data": ["x"], "learning_rat": 1e-4}))
    with pytest.raises(ValueError, match=r"bad.yaml: unknown settings \['learning_rat'\]"):
        train.load_config(["--config", str(bad)])
    with pytest.raises(ValueError, match="for every dataset or for none"):
        train.load_config(["--data", "a@0.5", "--data", "b"])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'fp16' needs a CUDA GPU"):
            train.load_config(["--data", "a", "--mixed-precision", "fp16"])


def test_presets_parse():
    for preset in sorted((ROOT / "scripts" / "configs").glob("*.yaml")):
        config = train.load_config(["--config", str(preset), "--data", "x:single_indoor@1.0"])
        assert config.data[0].config == "single_indoor" and config.data[0].probability == 1.0


def test_dataset_without_depth_is_refused_for_an_rgbd_model(tmp_path, dataset):
    rows = Dataset.from_parquet(str(dataset / "data" / "single_indoor" / "train-00000.parquet"))
    rows.remove_columns(["depth"]).to_parquet(str(tmp_path / "nodepth" / "train.parquet"))
    config = train.load_config(small_args(tmp_path / "nodepth", tmp_path / "out"))
    config.data[0].config = None
    with pytest.raises(ValueError, match=r"nodepth .*lacks the columns \['depth'\].*--use-depth false"):
        train.train(config)
    # A depth column without values (as real RGB datasets are read) is refused too.
    rows.map(lambda r: {"depth": None}).to_parquet(str(tmp_path / "nulldepth" / "train.parquet"))
    config.data[0].path = str(tmp_path / "nulldepth")
    with pytest.raises(ValueError, match=r"no values in the columns \['depth'\]"):
        train.train(config)


# ---- checkpoints and exact resume ---------------------------------------------------------------------------


def test_resume_continues_the_loss_sequence_exactly(tmp_path, dataset):
    """6 steps straight vs 3 steps + resume: identical losses (the stream wraps into a second epoch)."""
    out = tmp_path / "run"
    train.train(train.load_config(small_args(dataset, out, "--max-steps", "6", "--save-every", "3")))
    straight = losses(out)
    assert len(straight) == 6 and straight[-1]["epoch"] == 1  # 8 rows, 2 per step: epoch 1 starts at step 5
    assert (out / "model" / "config.json").is_file()
    train.train(train.load_config(small_args(dataset, out, "--max-steps", "6", "--save-every", "3",
                                             "--resume", str(out / "checkpoints" / "step_000003"))))
    assert losses(out) == straight
    # A checkpoint of another architecture is refused with both named.
    with pytest.raises(ValueError, match="use_depth=True.*use_depth=False.*use_depth: checkpoint True vs run False"):
        train.train(train.load_config(small_args(dataset, out, "--max-steps", "6", "--use-depth", "false",
                                                 "--resume", "latest")))
    model = AnyHandNetD.from_pretrained(out / "checkpoints" / "step_000006" / "model")
    assert model.config.image_size == list(HW)


def test_gradient_checkpointing_and_shuffling(tmp_path, dataset):
    """Checkpointed activations recompute the same numbers; a shuffle buffer reorders the rows it reads."""
    plain, ckpt = tmp_path / "plain", tmp_path / "ckpt"
    train.train(train.load_config(small_args(dataset, plain, "--max-steps", "2")))
    train.train(train.load_config(small_args(dataset, ckpt, "--max-steps", "2", "--gradient-checkpointing", "true")))
    for a, b in zip(losses(plain), losses(ckpt)):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    model_config = AnyHandConfig.from_preset("tiny", image_size=list(HW))
    order = lambda *flags: [row["scene_id"] for row in train.open_streams(  # noqa: E731
        train.load_config(small_args(dataset, plain, *flags)), model_config, 0, 1)]
    plain_order, shuffled = order(), order("--shuffle-buffer", "8")
    assert shuffled != plain_order and sorted(shuffled) == sorted(plain_order)


def _run(args: list[str], env_extra: dict | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


@pytest.mark.slow
def test_killed_run_resumes_exactly(tmp_path, dataset):
    """SIGKILL a run after its step-4 checkpoint; `--resume latest` then reproduces the uninterrupted losses."""
    script = [sys.executable, "scripts/train.py"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    args = ["--max-steps", "8", "--save-every", "2", "--log-with", "tensorboard"]
    assert _run(script + small_args(dataset, straight, *args)).wait(timeout=600) == 0
    proc = _run(script + small_args(dataset, killed, *args))
    marker = killed / "checkpoints" / "step_000004" / train.CHECKPOINT_DONE
    while not marker.exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.exists() and len(losses(killed)) < 8, "the run must be killed between its checkpoint and its end"
    resumed = _run(script + small_args(dataset, killed, *args, "--resume", "latest"))
    assert resumed.wait(timeout=600) == 0, resumed.stdout.read()
    assert losses(killed) == losses(straight)
    assert list((straight / "logs").rglob("events.out.tfevents.*"))


@pytest.mark.slow
def test_two_cpu_processes_train_and_checkpoint(tmp_path, dataset):
    """torchrun with two CPU processes (REFERENCE.md: `accelerate launch --cpu` started one here): each rank
    streams one of the two shards, so 2 steps of 2 rows read every training row once."""
    out = tmp_path / "ddp"
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "scripts/train.py",
                 *small_args(dataset, out, "--max-steps", "2", "--save-every", "2")], {"ACCELERATE_USE_CPU": "true"})
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    ckpt = out / "checkpoints" / "step_000002"
    states = [json.loads((ckpt / f"stream_rank{r}.json").read_text()) for r in range(2)]
    assert [s["samples"] for s in states] == [4, 4] and [s["epoch"] for s in states] == [0, 0]
    assert json.loads((ckpt / "train_state.json").read_text()) == {"step": 2, "world_size": 2}
    assert [r["step"] for r in losses(out)] == [1, 2] and all(np.isfinite(r["loss"]) for r in losses(out))
    AnyHandNetD.from_pretrained(ckpt / "model")


@pytest.mark.parametrize("world_size", [1, 2])
def test_ranks_split_the_training_rows(tmp_path, dataset, world_size):
    """What each of `world_size` processes streams: together, every training row exactly once per epoch."""
    config = train.load_config(small_args(dataset, tmp_path))
    model_config = AnyHandConfig.from_preset("tiny", image_size=list(HW))
    parts = [[row["scene_id"] for row in train.open_streams(config, model_config, r, world_size)]
             for r in range(world_size)]
    assert sorted(s for part in parts for s in part) == [f"synthetic-{i:04d}" for i in range(8)]
    assert [len(p) for p in parts] == [8 // world_size] * world_size
