"""RGB-only vs RGB-D AnyHandNet-D at equal budget, one command on the CPU.

    python scripts/experiment_rgbd.py --out outputs/experiment_rgbd --cpu-threads 1 [--benchmarks BENCHMARKS.md]
    python scripts/experiment_rgbd.py --train-config scripts/configs/huge_gpu.yaml --preset huge \\
        --image-size 256 192 --size 256 --train-scenes 50000 --steps 100000 --batch-size 64 \\
        --learning-rate 1e-5 --mixed-precision bf16 --out outputs/exp_gpu --data DATASET  # the same on a GPU

Renders a train and a test set of AnyHand scenes (SAPIEN raster; or `--data` names a dataset folder or Hub id
with the same configs, e.g. one made by `anyhand build`), trains `tiny` RGB-only and RGB-D models with
the same data, seed, steps and batch size (`scripts/train.py`), evaluates both on the held-out test configs
(`scripts/evaluate.py`: PA-MPJPE, STA-MPJPE, camera-frame MPJPE) and writes `results.json`, `experiment.md`
(table) and `experiment.png` (training loss and the test metrics) into `--out`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import Dataset  # noqa: E402

from anyhand_hf.data.schema import FEATURES, encode_row  # noqa: E402

ROWS_PER_SHARD = 50  # Parquet row group: the unit datasets streams by


def write_dataset(out: Path, records: dict[str, dict[str, list[dict]]], shards: int = 2) -> Path:
    """Encoded rows (`records[config][split]`) → a dataset folder in the v1 layout:
    `data/{config}/{split}-{i:05d}.parquet` (`shards` files per split, so two processes each stream whole
    shards) and a README whose `configs:` `load_dataset` reads."""
    card = []
    for config, splits in records.items():
        files = []
        for split, rows in splits.items():
            folder = out / "data" / config
            folder.mkdir(parents=True, exist_ok=True)
            k = max(1, min(shards, len(rows)))
            for i in range(k):
                Dataset.from_list(rows[i::k], features=FEATURES).to_parquet(
                    folder / f"{split}-{i:05d}.parquet", batch_size=ROWS_PER_SHARD)
            files.append(f"  - split: {split}\n    path: data/{config}/{split}-*.parquet")
        card.append(f"- config_name: {config}\n  data_files:\n" + "\n".join(files))
    (out / "README.md").write_text("---\nconfigs:\n" + "\n".join(card) + "\n---\n")
    return out


def render_dataset(out: Path, train_configs: list[str], test_configs: list[str], train_scenes: int,
                   test_scenes: int, size: int, seed: int = 0, shards: int = 2) -> Path:
    """Render `train_scenes` scenes (two views each) of every train config and `test_scenes` of every test
    config with SAPIEN (raster) and write them with `write_dataset`."""
    import torch
    from tqdm.auto import tqdm

    from anyhand_hf.generate import render_scene
    from anyhand_hf.hand import HandModel
    from anyhand_hf.render import RenderSettings, SapienRenderer
    from anyhand_hf.scene import SceneConfig, sample_scene

    torch.set_num_threads(1)
    hand = HandModel.open()
    scene_config = SceneConfig(width=size, height=size)
    records: dict[str, dict[str, list[dict]]] = {}
    with SapienRenderer(RenderSettings(mode="raster")) as renderer:
        jobs = [(c, "train", train_scenes) for c in train_configs] + [(c, "test", test_scenes) for c in test_configs]
        for config, split, n in jobs:
            rows = records.setdefault(config, {}).setdefault(split, [])
            for index in tqdm(range(n), desc=f"render {config}/{split}", unit="scene"):
                spec = sample_scene(scene_config, seed, config, split, index, hand)
                rows += [encode_row(row) for row in render_scene(spec, renderer, hand)]
    return write_dataset(out, records, shards)


def train_both(args, data: Path) -> dict[str, dict]:
    import train

    runs = {}
    for name, use_depth in (("rgb", False), ("rgbd", True)):
        flags = ["--config", str(args.train_config), "--output-dir", str(args.out / name),
                 "--use-depth", str(use_depth).lower(), "--preset", args.preset, "--seed", str(args.seed),
                 "--max-steps", str(args.steps), "--save-every", str(max(1, args.steps // args.eval_points)),
                 "--batch-size", str(args.batch_size), "--learning-rate", str(args.learning_rate),
                 "--mixed-precision", args.mixed_precision, "--image-size", *map(str, args.image_size)]
        flags += [a for c in args.train_configs for a in ("--data", f"{data}:{c}@{1.0 / len(args.train_configs)}")]
        if args.cpu_threads:
            flags += ["--cpu-threads", str(args.cpu_threads)]
        runs[name] = train.train(train.load_config(flags))
    return runs


def evaluate_checkpoints(args, data: Path) -> dict[str, list[dict]]:
    """Test metrics of every checkpoint of both runs, per test config and pooled."""
    import evaluate

    from anyhand_hf.data.mix import load_stream
    from anyhand_hf.modeling import AnyHandNetD

    curves: dict[str, list[dict]] = {}
    variants = (("rgb", "rgb", "gt"), ("rgbd", "rgbd", "gt"), ("rgbd_no_depth", "rgbd", "none"))
    for label, run, depth in variants:
        checkpoints = sorted((args.out / run / "checkpoints").glob("step_*"))
        if label == "rgbd_no_depth":
            checkpoints = checkpoints[-1:]  # the final model only: how much of RGB-D's result is its depth
        for ckpt in checkpoints:
            model = AnyHandNetD.from_pretrained(ckpt / "model").eval()
            entry = {"step": int(ckpt.name.split("_")[1])}
            pooled = []
            for config in args.test_configs:
                result, predictions = evaluate.evaluate(model, load_stream(str(data), config, "test"), depth)
                entry[config] = result
                pooled += predictions
            entry["all"] = evaluate.score(pooled)
            curves.setdefault(label, []).append(entry)
    return curves


TABLE_METRICS = (("pa_mpjpe", "PA-MPJPE"), ("sta_mpjpe", "STA-MPJPE"), ("mpjpe", "MPJPE (camera)"),
                 ("pa_mpvpe", "PA-MPVPE"), ("f@15mm", "F@15"))
LABELS = {"rgb": "RGB-only", "rgbd": "RGB-D", "rgbd_no_depth": "RGB-D, depth withheld (zeros)"}


def table(curves: dict[str, list[dict]], configs: list[str]) -> str:
    head = "| model | test set | n | " + " | ".join(t for _, t in TABLE_METRICS) + " |"
    lines = [head, "|" + "---|" * (3 + len(TABLE_METRICS))]
    for label, entries in curves.items():
        final = entries[-1]
        for part in [*configs, "all"]:
            r = final[part]
            cells = [f"{r[k] * 1000:.1f} mm" if "mp" in k else f"{r[k]:.3f}" for k, _ in TABLE_METRICS]
            lines.append(f"| {LABELS[label]} | {part} | {r['num_samples']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(args, curves: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for run, color in (("rgb", "tab:orange"), ("rgbd", "tab:blue")):
        records = [json.loads(line) for line in (args.out / run / "losses.jsonl").read_text().splitlines()]
        steps, loss = np.array([r["step"] for r in records]), np.array([r["loss"] for r in records])
        window = max(1, len(loss) // 25)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        axes[0].plot(steps, loss, color=color, alpha=0.2)
        axes[0].plot(steps[window - 1:], smooth, color=color, label=LABELS[run])
        for ax, key in ((axes[1], "pa_mpjpe"), (axes[2], "mpjpe")):
            entries = curves[run]
            ax.plot([e["step"] for e in entries], [1000 * e["all"][key] for e in entries], "o-", color=color,
                    label=LABELS[run])
    axes[0].set(title="training loss", xlabel="step", yscale="log")
    n = curves["rgb"][-1]["all"]["num_samples"]
    axes[1].set(title=f"test PA-MPJPE (n={n})", xlabel="step", ylabel="mm")
    axes[2].set(title=f"test MPJPE, camera frame (n={n})", xlabel="step", ylabel="mm")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs/experiment_rgbd"))
    parser.add_argument("--data", type=Path, help="an existing AnyHand dataset folder (default: render one)")
    parser.add_argument("--train-configs", nargs="+", default=["single_indoor"], help="mixed in equal parts")
    parser.add_argument("--test-configs", nargs="+", default=["single_indoor", "single_envmap"],
                        help="held-out test scenes of each (a config absent from training tests transfer)")
    parser.add_argument("--train-scenes", type=int, default=100, help="per train config; two rows each")
    parser.add_argument("--test-scenes", type=int, default=20, help="per test config; two rows each")
    parser.add_argument("--size", type=int, default=128, help="rendered image side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-config", type=Path, default=here / "configs" / "tiny_cpu.yaml")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--image-size", type=int, nargs=2, default=[128, 96], metavar=("H", "W"))
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--mixed-precision", default="no")
    parser.add_argument("--cpu-threads", type=int, help="torch threads per training process")
    parser.add_argument("--eval-points", type=int, default=5, help="checkpoints evaluated along the way")
    parser.add_argument("--benchmarks", type=Path, help="BENCHMARKS.md: replace its experiment section")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    data = args.data or render_dataset(args.out / "data", args.train_configs, args.test_configs, args.train_scenes,
                                       args.test_scenes, args.size, args.seed)
    timings = {"render_s": time.perf_counter() - start}
    runs = train_both(args, data)
    timings["train_s"] = {name: run["seconds"] for name, run in runs.items()}
    curves = evaluate_checkpoints(args, data)
    timings["total_s"] = time.perf_counter() - start
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    (args.out / "results.json").write_text(json.dumps({"settings": settings, "timings": timings, "curves": curves},
                                                      indent=2))
    plot(args, curves, args.out / "experiment.png")
    text = table(curves, args.test_configs)
    (args.out / "experiment.md").write_text(text + "\n")
    print(text)
    print(json.dumps(timings))
    if args.benchmarks is not None:
        write_benchmarks_section(args, text, timings)


SECTION_START, SECTION_END = "<!-- experiment_rgbd:start -->", "<!-- experiment_rgbd:end -->"


def write_benchmarks_section(args, text: str, timings: dict) -> None:
    """Replace the text between the experiment's markers in BENCHMARKS.md with this run's table and plot
    (copied next to it under docs/)."""
    import shutil

    doc = args.benchmarks.read_text()
    if SECTION_START not in doc or SECTION_END not in doc:
        raise ValueError(f"{args.benchmarks} has no {SECTION_START} ... {SECTION_END} section to fill")
    image = args.benchmarks.parent / "docs" / "experiment_rgbd.png"
    image.parent.mkdir(exist_ok=True)
    shutil.copyfile(args.out / "experiment.png", image)
    n_train = args.train_scenes * 2 * len(args.train_configs)
    body = (f"{SECTION_START}\n`python scripts/experiment_rgbd.py --cpu-threads 1 --benchmarks BENCHMARKS.md` "
            f"(train: {n_train} rows of {', '.join(args.train_configs)}; test: {args.test_scenes * 2} rows of each of "
            f"{', '.join(args.test_configs)}; {args.size} px raster renders; `{args.preset}` "
            f"at {args.image_size[0]}x{args.image_size[1]} crops, {args.steps} steps of {args.batch_size}, lr "
            f"{args.learning_rate}, seed {args.seed}; "
            + (f"data {args.data}, " if args.data else f"rendering {timings['render_s'] / 60:.1f} min, ")
            + "training "
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings["train_s"].items())
            + f", {timings['total_s'] / 60:.1f} min in all)\n\n{text}\n\n![RGB vs RGB-D]({image.relative_to(args.benchmarks.parent)})\n"
            f"{SECTION_END}")
    start, end = doc.index(SECTION_START), doc.index(SECTION_END) + len(SECTION_END)
    args.benchmarks.write_text(doc[:start] + body + doc[end:])


if __name__ == "__main__":
    main()
