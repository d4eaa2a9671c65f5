"""Benchmark: AnyHandNet-D training throughput (samples/s) and, on a GPU, model FLOPs utilisation. Prints JSON.

    python scripts/bench_train.py                                   # CPU, tiny, 256x192 and 128x96 crops
    python scripts/bench_train.py --data outputs/anyhand:single_indoor  # + the data pipeline alone
    python scripts/bench_train.py --presets huge --mixed-precision bf16 --batch-size 32 --peak-tflops 989  # H100

`model`: one optimizer step (forward with all losses, backward, AdamW) on a fixed batch, median over repeats
after warm-up — the ceiling the data path has to feed. `data`: rows/s of the training data path alone
(stream → decode → WiLoR crop + augmentation → batch, in one process, as `scripts/train.py` reads it).
Model FLOPs are counted once per step with `torch.utils.flop_counter` (forward + backward); MFU = achieved
FLOP/s ÷ `--peak-tflops` (the accelerator's dense peak at the chosen precision, which you must supply).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from anyhand_hf.modeling import AnyHandConfig, AnyHandNetD


def make_batch(config: AnyHandConfig, batch: int, device: torch.device, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    h, w = config.image_size
    inputs = {"pixel_values": torch.randn(batch, 3, h, w, generator=g)}
    if config.use_depth:
        inputs["depth_values"] = 0.6 + 0.05 * torch.rand(batch, 1, h, w, generator=g)
    labels = {"joints_3d": 0.05 * torch.randn(batch, 21, 3, generator=g) + torch.tensor([0.0, 0.0, 0.6]),
              "joints_2d": torch.rand(batch, 21, 2, generator=g) * torch.tensor([w, h]),
              "global_orient": 0.5 * torch.randn(batch, 3, generator=g),
              "hand_pose": 0.2 * torch.randn(batch, 45, generator=g), "betas": torch.randn(batch, 10, generator=g)}
    move = lambda t: t.to(device)  # noqa: E731
    return {**{k: move(v) for k, v in inputs.items()}, "labels": {k: move(v) for k, v in labels.items()}}


def bench_model(preset: str, image_size: list[int], batch: int, precision: str, checkpointing: bool,
                repeats: int, device: torch.device, peak_tflops: float | None) -> dict:
    torch.manual_seed(0)
    config = AnyHandConfig.from_preset(preset, use_depth=True, image_size=image_size)
    model = AnyHandNetD(config).to(device).train()
    if checkpointing:
        model.activation_checkpointing_enable()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=1e-4)
    data = make_batch(config, batch, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(**data).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    result = {"preset": preset, "image_size": image_size, "batch": batch, "precision": precision,
              "gradient_checkpointing": checkpointing, "step_s": round(seconds, 4),
              "samples_per_s": round(batch / seconds, 2), "model_gflops_per_sample": round(flops / batch / 1e9, 2)}
    if peak_tflops:
        result["mfu"] = round(flops / seconds / (peak_tflops * 1e12), 4)
    if device.type == "cuda":
        result["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result


def bench_data(spec: str, image_size: list[int], batch: int, batches: int) -> dict:
    import train  # scripts/train.py, next to this file

    config = train.load_config(["--data", spec, "--batch-size", str(batch), "--image-size", *map(str, image_size),
                                "--log-with", "none"])
    model_config = config.model_config()
    stream = train.BatchStream(train.open_streams(config, model_config, 0, 1), model_config, config, 0)
    stream.next_batch()  # start-up (file opening) excluded
    start = time.perf_counter()
    for _ in range(batches):
        stream.next_batch()
    seconds = time.perf_counter() - start
    return {"data": spec, "image_size": image_size, "rows_per_s": round(batches * batch / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny"])
    parser.add_argument("--image-sizes", nargs="+", default=["256x192", "128x96"], help="HxW crops")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, help="accelerator's dense peak at this precision, for MFU")
    parser.add_argument("--data", help="PATH[:CONFIG] to also time the data path")
    parser.add_argument("--data-batches", type=int, default=8)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = [[int(v) for v in s.split("x")] for s in args.image_sizes]
    report = {"machine": {"device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
                          or platform.machine(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
              "model": [bench_model(p, s, args.batch_size, args.mixed_precision, args.gradient_checkpointing,
                                    args.repeats, device, args.peak_tflops) for p in args.presets for s in sizes]}
    if args.data:
        report["data"] = [bench_data(args.data, s, args.batch_size, args.data_batches) for s in sizes]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
