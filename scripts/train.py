"""Train AnyHandNet-D with accelerate on streamed AnyHand-format datasets.

One CPU process:
    python scripts/train.py --config scripts/configs/tiny_cpu.yaml --data outputs/anyhand:single_indoor
Several processes / GPUs (each process streams its own part of the data):
    accelerate launch --num_processes 8 scripts/train.py --config scripts/configs/huge_gpu.yaml --data org/anyhand
    ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 scripts/train.py ...   # two CPU processes
Resume (exactly: same stream position, RNG states, optimizer, schedule):
    python scripts/train.py --config ... --resume latest        # or --resume OUT/checkpoints/step_000500

Settings come from the dataclass defaults, then the YAML `--config`, then command-line flags (one flag per
field, e.g. `--learning-rate 3e-5 --mixed-precision bf16`). `--data` takes `PATH_OR_REPO[:CONFIG][@PROBABILITY]`
and may be repeated to mix datasets.

Data path: `load_dataset(..., streaming=True)` per source → needed columns → `interleave_datasets` with the
probabilities → this rank's part (`split_dataset_by_node`) → decode → WiLoR crop + HaMeR augmentation
(`anyhand_hf.data.transforms.row_to_example`) → batches. The stream is read in the training process and not
given to `accelerate.prepare()`: prepare() would shard it a second time and its data loader reads one batch
ahead, so the stream's `state_dict()` would not mark the next unseen row. Each sample's augmentation comes from
its own generator seeded by (seed, rank, sample index), so resuming needs only the stream's position.

Outputs in `output_dir`: `checkpoints/step_NNNNNN/` (accelerate state + `model/` from `save_pretrained` +
per-rank stream state), `model/` (final `save_pretrained`), `losses.jsonl` (one line per optimizer step),
`train_config.yaml`, and TensorBoard logs under `logs/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from anyhand_hf.data.mix import load_stream, mix, split_for_rank
from anyhand_hf.data.schema import decode_row
from anyhand_hf.data.transforms import AugmentConfig, collate, row_to_example
from anyhand_hf.modeling import AnyHandConfig, AnyHandNetD
from anyhand_hf.modeling.configuration_anyhand import ARCHITECTURE_FIELDS, PRESETS

MIXED_PRECISION = ("no", "bf16", "fp16")
SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
REQUIRED_COLUMNS = ("image", "K", "joints_3d")
OPTIONAL_COLUMNS = ("bbox", "joints_2d", "global_orient", "hand_pose", "betas", "is_right", "scene_id")
CHECKPOINT_DONE = "checkpoint_complete"


@dataclass
class DataSource:
    """One dataset: a local folder or Hub id, its config and split, and its mixing probability."""

    path: str
    config: str | None = None
    split: str = "train"
    probability: float | None = None

    @classmethod
    def parse(cls, spec: str, split: str = "train") -> DataSource:
        """``PATH_OR_REPO[:CONFIG][@PROBABILITY]``."""
        rest, _, prob = spec.partition("@")
        path, _, config = rest.partition(":")
        try:
            probability = float(prob) if prob else None
        except ValueError:
            raise ValueError(f"--data {spec!r}: the probability after '@' must be a number") from None
        return cls(path=path, config=config or None, split=split, probability=probability)


@dataclass
class TrainConfig:
    """Every training setting. Defaults are WiLoR's optimiser (AdamW, lr 1e-5, wd 1e-4)."""

    data: list[DataSource] = field(default_factory=list)
    output_dir: str = "outputs/train"
    preset: str = "tiny"
    use_depth: bool = True
    model_overrides: dict[str, Any] = field(default_factory=dict)  # AnyHandConfig fields, e.g. image_size
    init_from: str | None = None  # a save_pretrained folder or Hub id to start from
    seed: int = 0
    batch_size: int = 8  # per process and micro-step
    gradient_accumulation_steps: int = 1
    max_steps: int = 1000  # optimizer steps
    learning_rate: float = 1e-5
    weight_decay: float = 1e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 0
    max_grad_norm: float = 1.0  # 0 disables clipping
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    augment: bool = True
    augmentation: AugmentConfig = field(default_factory=AugmentConfig)
    rescale: float = 2.0
    stopping_strategy: str = "all_exhausted"
    shuffle_buffer: int = 0  # rows; >0 shuffles within a buffer, but a resume then restarts the buffer empty
    save_every: int = 500
    log_every: int = 10
    log_with: str = "tensorboard"  # or "none"
    cpu_threads: int | None = None  # torch threads per process; 1 is fastest on a CPU shared with other work
    resume: str | None = None  # a checkpoint folder, or "latest" in output_dir

    def validate(self) -> None:
        if not self.data:
            raise ValueError("no training data: pass --data PATH_OR_REPO[:CONFIG][@PROBABILITY] (or `data:` in YAML)")
        probs = [d.probability for d in self.data]
        if any(p is not None for p in probs) and any(p is None for p in probs):
            raise ValueError(f"give a mixing probability for every dataset or for none, got {probs}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r} is not one of {list(PRESETS)}")
        positive = {"batch_size": self.batch_size, "gradient_accumulation_steps": self.gradient_accumulation_steps,
                    "max_steps": self.max_steps, "save_every": self.save_every, "log_every": self.log_every,
                    "learning_rate": self.learning_rate, "rescale": self.rescale}
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be >= 0, got {self.shuffle_buffer}")
        if self.weight_decay < 0 or self.max_grad_norm < 0 or self.warmup_steps < 0:
            raise ValueError(f"weight_decay, max_grad_norm and warmup_steps must be >= 0, got {self.weight_decay}, "
                             f"{self.max_grad_norm}, {self.warmup_steps}")
        if self.warmup_steps >= self.max_steps and self.lr_scheduler != "constant":
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below max_steps ({self.max_steps})")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        if self.mixed_precision == "fp16" and not torch.cuda.is_available():
            raise ValueError("mixed_precision 'fp16' needs a CUDA GPU; on the CPU use 'bf16' or 'no'")
        if self.lr_scheduler not in SCHEDULERS:
            raise ValueError(f"lr_scheduler must be one of {SCHEDULERS}, got {self.lr_scheduler!r}")
        if self.stopping_strategy not in ("all_exhausted", "first_exhausted"):
            raise ValueError(f"stopping_strategy must be 'all_exhausted' or 'first_exhausted', "
                             f"got {self.stopping_strategy!r}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ValueError(f"cpu_threads must be >= 1, got {self.cpu_threads}")
        if self.log_with not in ("tensorboard", "none"):
            raise ValueError(f"log_with must be 'tensorboard' or 'none', got {self.log_with!r}")
        self.model_config()  # unknown or inconsistent model fields fail here, before any data is read

    def model_config(self) -> AnyHandConfig:
        unknown = [k for k in self.model_overrides if k not in AnyHandConfig().to_dict()]
        if unknown:
            raise ValueError(f"model_overrides has unknown AnyHandConfig fields {unknown}")
        return AnyHandConfig.from_preset(self.preset, use_depth=self.use_depth, **self.model_overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---- configuration: defaults < YAML < flags ---------------------------------------------------------------


def _from_dict(values: dict[str, Any], source: str) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{source}: unknown settings {unknown}; known: {sorted(known)}")
    out = dict(values)
    if "data" in out:
        out["data"] = [DataSource.parse(d) if isinstance(d, str) else DataSource(**d) for d in out["data"]]
    if "augmentation" in out and isinstance(out["augmentation"], dict):
        out["augmentation"] = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v
                                               for k, v in out["augmentation"].items()})
    if isinstance(out.get("adam_betas"), list):
        out["adam_betas"] = tuple(out["adam_betas"])
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="YAML file of settings (e.g. scripts/configs/tiny_cpu.yaml)")
    parser.add_argument("--data", action="append", help="PATH_OR_REPO[:CONFIG][@PROBABILITY]; repeat to mix")
    parser.add_argument("--split", default="train", help="split of every --data source")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("data", "model_overrides", "augmentation", "adam_betas"):
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = {"int": int, "float": float, "bool": _bool, "str": str}.get(
            str(f.type).split(" | ")[0].replace("'", ""), str)
        parser.add_argument(flag, dest=f.name, type=kind, default=argparse.SUPPRESS)
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"),
                        help="model crop size (a multiple of the patch size; 256 192 for real training)")
    return parser


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def load_config(argv: list[str] | None = None) -> TrainConfig:
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    if args.config is not None:
        if not args.config.is_file():
            raise FileNotFoundError(f"config file {args.config} does not exist")
        loaded = yaml.safe_load(args.config.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.config}: expected a mapping of settings, got {type(loaded).__name__}")
        values.update(_from_dict(loaded, str(args.config)))
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "data", "split", "image_size")}
    values.update(flags)
    if args.data:
        values["data"] = [DataSource.parse(d, args.split) for d in args.data]
    if args.image_size:
        values["model_overrides"] = {**values.get("model_overrides", {}), "image_size": list(args.image_size)}
    config = TrainConfig(**values)
    config.validate()
    return config


# ---- data ---------------------------------------------------------------------------------------------------


def open_streams(config: TrainConfig, model_config: AnyHandConfig, rank: int, world_size: int):
    """The mixed stream of this rank, after checking every source has the columns the model needs."""
    required = REQUIRED_COLUMNS + (("depth",) if model_config.use_depth else ())
    streams = []
    for source in config.data:
        name = f"{source.path} ({source.config or 'default'}, {source.split})"
        stream = load_stream(source.path, source.config, source.split)
        have = list(stream.features or {})
        missing = [c for c in required if c not in have]
        if missing:
            raise ValueError(f"dataset {name} lacks the columns {missing} needed to train "
                             f"{'an RGB-D' if model_config.use_depth else 'an RGB'} model; it has {have}"
                             + ("; train RGB-only with --use-depth false" if missing == ["depth"] else ""))
        stream = stream.select_columns([c for c in required + OPTIONAL_COLUMNS if c in have])
        first = next(iter(stream), None)
        if first is None:
            raise ValueError(f"dataset {name} is empty")
        empty = [c for c in required if first.get(c) is None]
        if empty:
            raise ValueError(f"dataset {name} has no values in the columns {empty} (first row is None there)"
                             + ("; train RGB-only with --use-depth false" if empty == ["depth"] else ""))
        streams.append(stream)
    probs = [s.probability for s in config.data]
    mixed = mix(streams, None if probs[0] is None else probs, seed=config.seed,
                stopping_strategy=config.stopping_strategy)
    if config.shuffle_buffer:  # same seed on every rank: the ranks still split one shard order
        mixed = mixed.shuffle(seed=config.seed, buffer_size=config.shuffle_buffer)
    return split_for_rank(mixed, rank, world_size)


class BatchStream:
    """Batches of model inputs from a row stream, epoch after epoch, with a resumable position.

    Sample ``n`` of this rank (counted over all epochs) is augmented with
    ``default_rng([seed, rank, n])``, so the position (epoch, samples so far, the stream's
    ``state_dict()``) is all that resuming needs."""

    def __init__(self, stream, model_config: AnyHandConfig, config: TrainConfig, rank: int):
        self.stream, self.rank = stream, rank
        self.seed, self.batch_size = config.seed, config.batch_size
        self.augment = config.augmentation if config.augment else None
        self.model_config, self.rescale = model_config, config.rescale
        self.epoch, self.samples = 0, 0
        self._rows = None

    def _next_row(self) -> dict:
        for _ in range(2):
            if self._rows is None:
                self.stream.set_epoch(self.epoch)
                self._rows = iter(self.stream)
            row = next(self._rows, None)
            if row is not None:
                return row
            self.epoch, self._rows = self.epoch + 1, None
        raise RuntimeError(f"rank {self.rank} got no rows in a whole epoch: the dataset has fewer rows (or shards) "
                           "than processes")

    def next_batch(self) -> dict:
        c = self.model_config
        examples = []
        while len(examples) < self.batch_size:
            row = decode_row(self._next_row())
            rng = np.random.default_rng([self.seed, self.rank, self.samples])
            examples.append(row_to_example(row, c.image_size, c.image_mean, c.image_std, c.use_depth, rng,
                                           self.augment, self.rescale))
            self.samples += 1
        return collate(examples)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "samples": self.samples, "stream": self.stream.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.samples = state["epoch"], state["samples"]
        self.stream.set_epoch(self.epoch)
        self.stream.load_state_dict(state["stream"])
        self._rows = None


# ---- checkpoints --------------------------------------------------------------------------------------------


def checkpoint_dir(config: TrainConfig, step: int) -> Path:
    return Path(config.output_dir) / "checkpoints" / f"step_{step:06d}"


def find_resume_dir(config: TrainConfig) -> Path | None:
    if config.resume is None:
        return None
    if config.resume == "latest":
        done = sorted(p.parent for p in (Path(config.output_dir) / "checkpoints").glob(f"step_*/{CHECKPOINT_DONE}"))
        return done[-1] if done else None
    path = Path(config.resume)
    if not (path / CHECKPOINT_DONE).is_file():
        raise FileNotFoundError(f"--resume {path}: not a complete checkpoint (no {CHECKPOINT_DONE} file)")
    return path


def check_same_architecture(path: Path, model_config: AnyHandConfig) -> None:
    saved = json.loads((path / "model" / "config.json").read_text())
    wanted = model_config.to_dict()
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs run {wanted.get(k)!r}" for k in ARCHITECTURE_FIELDS
             if json.dumps(saved.get(k)) != json.dumps(wanted.get(k))]
    if diffs:
        raise ValueError(f"checkpoint {path} is AnyHandNet-D preset {saved.get('preset')!r} "
                         f"(use_depth={saved.get('use_depth')}) but this run is preset {model_config.preset!r} "
                         f"(use_depth={model_config.use_depth}): " + "; ".join(diffs))


def save_checkpoint(accelerator, model, batches: BatchStream, config: TrainConfig, step: int) -> Path:
    path = checkpoint_dir(config, step)
    accelerator.save_state(str(path))
    (path / f"stream_rank{accelerator.process_index}.json").write_text(json.dumps(batches.state_dict()))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(path / "model")
        (path / "train_state.json").write_text(json.dumps({"step": step, "world_size": accelerator.num_processes}))
        (path / CHECKPOINT_DONE).write_text("")  # written last: a killed save is never resumed from
    accelerator.wait_for_everyone()
    return path


# ---- training -----------------------------------------------------------------------------------------------


def build_model(config: TrainConfig, model_config: AnyHandConfig) -> AnyHandNetD:
    if config.init_from:
        return AnyHandNetD.from_pretrained(config.init_from, config=model_config)
    return AnyHandNetD(model_config)


def train(config: TrainConfig) -> dict[str, Any]:
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    out = Path(config.output_dir)
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        log_with=None if config.log_with == "none" else config.log_with,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    model_config = config.model_config()
    resume_dir = find_resume_dir(config)
    if resume_dir is not None:
        check_same_architecture(resume_dir, model_config)
        saved_world = json.loads((resume_dir / "train_state.json").read_text())["world_size"]
        if saved_world != accelerator.num_processes:
            raise ValueError(f"checkpoint {resume_dir} was written by {saved_world} processes; resume it with the "
                             f"same number (this run has {accelerator.num_processes}): each keeps its own stream")
    if config.cpu_threads is not None:
        torch.set_num_threads(config.cpu_threads)
    set_seed(config.seed)
    model = build_model(config, model_config)
    if config.gradient_checkpointing:
        model.activation_checkpointing_enable()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                  betas=config.adam_betas)
    # The schedule counts optimizer steps; it is checkpointed but not prepared (a prepared scheduler steps once
    # per process).
    scheduler = get_scheduler(config.lr_scheduler, optimizer, num_warmup_steps=config.warmup_steps,
                              num_training_steps=config.max_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)

    stream = open_streams(config, model_config, accelerator.process_index, accelerator.num_processes)
    batches = BatchStream(stream, model_config, config, accelerator.process_index)
    step = 0
    losses_path = out / "losses.jsonl"
    if resume_dir is not None:
        accelerator.load_state(str(resume_dir))
        batches.load_state_dict(json.loads((resume_dir / f"stream_rank{accelerator.process_index}.json").read_text()))
        step = json.loads((resume_dir / "train_state.json").read_text())["step"]
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.yaml").write_text(yaml.safe_dump(_plain(config.to_dict()), sort_keys=False))
        kept = [line for line in (losses_path.read_text().splitlines() if losses_path.exists() else [])
                if resume_dir is not None and json.loads(line)["step"] <= step]
        losses_path.write_text("".join(line + "\n" for line in kept))  # a killed run's later steps are redone
    if config.log_with != "none":
        accelerator.init_trackers("anyhand", config={k: str(v) if not isinstance(v, (int, float, bool)) else v
                                                     for k, v in config.to_dict().items()})

    model.train()
    accum = config.gradient_accumulation_steps
    progress = tqdm(total=config.max_steps, initial=step, desc="train", unit="step",
                    disable=not accelerator.is_local_main_process)
    start, samples = time.perf_counter(), 0
    while step < config.max_steps:
        total = torch.zeros((), device=accelerator.device)
        for micro in range(accum):
            batch = batches.next_batch()
            batch = {k: ({n: t.to(accelerator.device) for n, t in v.items()} if k == "labels"
                         else v.to(accelerator.device)) for k, v in batch.items()}
            sync = micro == accum - 1  # gradients are all-reduced once per optimizer step
            with (nullcontext() if sync else accelerator.no_sync(model)), accelerator.autocast():
                loss = model(**batch).loss
                accelerator.backward(loss / accum)
            total += loss.detach() / accum
            samples += len(batch["pixel_values"])
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        mean_loss = float(accelerator.reduce(total, "mean"))
        if not math.isfinite(mean_loss):
            raise FloatingPointError(f"loss is {mean_loss} at step {step}; lower the learning rate or check the data")
        record = {"step": step, "loss": mean_loss, "lr": scheduler.get_last_lr()[0], "epoch": batches.epoch}
        if accelerator.is_main_process:
            with losses_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        if step % config.log_every == 0 or step == config.max_steps:
            accelerator.log({"train/loss": mean_loss, "train/lr": record["lr"]}, step=step)
        progress.update(1)
        progress.set_postfix(loss=f"{mean_loss:.4f}")
        if step % config.save_every == 0 or step == config.max_steps:
            save_checkpoint(accelerator, model, batches, config, step)
    progress.close()
    seconds = time.perf_counter() - start
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(out / "model")
    accelerator.end_training()
    return {"steps": step, "seconds": seconds, "samples_per_s": samples * accelerator.num_processes / max(seconds, 1e-9)}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> None:
    config = load_config(argv)
    print(json.dumps(train(config)))


if __name__ == "__main__":
    main(sys.argv[1:])
