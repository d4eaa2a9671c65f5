"""Benchmark: AnyHandNet-D forward latency/throughput, RGB-only vs RGB-D, per preset, CPU. Prints JSON.

RGB and RGB-D calls are interleaved (one of each per repeat, after warm-up) and the median is reported, so
their ratio stays meaningful on a shared, loaded machine; absolute times are not.
    python scripts/bench_model.py [--presets tiny small base] [--batches 1 8] [--repeats 10] [--large]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from anyhand_hf.modeling import AnyHandConfig, AnyHandNetD


def make_inputs(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randn(batch, 3, 256, 192, generator=g)
    depth = 0.6 + 0.05 * torch.rand(batch, 1, 256, 192, generator=g)
    depth[:, :, :16] = 0.0  # some invalid pixels, as from a sensor
    return pixels, depth


def bench_preset(name: str, batches: list[int], repeats: int, mano_path: str | None) -> dict:
    torch.manual_seed(0)
    models = {
        "rgb": AnyHandNetD(AnyHandConfig.from_preset(name, use_depth=False, mano_path=mano_path)).eval(),
        "rgbd": AnyHandNetD(AnyHandConfig.from_preset(name, use_depth=True, mano_path=mano_path)).eval(),
    }
    counts = models["rgbd"].parameter_counts()
    result = {
        "params": {
            "rgb_total": models["rgb"].parameter_counts()["total"], "rgbd_total": counts["total"],
            "backbone": counts["backbone"], "fusion": counts["fusion"], "heads": counts["heads"],
            "fusion_pct_of_backbone": round(100.0 * counts["fusion"] / counts["backbone"], 3),
        },
        "batches": {},
    }
    for batch in batches:
        pixels, depth = make_inputs(batch)
        calls = {"rgb": lambda: models["rgb"](pixels), "rgbd": lambda: models["rgbd"](pixels, depth)}
        times = {"rgb": [], "rgbd": []}
        with torch.inference_mode():
            for fn in calls.values():  # warm-up
                fn()
                fn()
            for _ in range(repeats):
                for key, fn in calls.items():
                    start = time.perf_counter()
                    fn()
                    times[key].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        result["batches"][str(batch)] = {
            "rgb_ms": round(1000 * med["rgb"], 2), "rgbd_ms": round(1000 * med["rgbd"], 2),
            "rgb_samples_per_s": round(batch / med["rgb"], 2), "rgbd_samples_per_s": round(batch / med["rgbd"], 2),
            "rgbd_over_rgb": round(med["rgbd"] / med["rgb"], 4),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--large", action="store_true", help="also run `large` (slow on a CPU)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--mano-path", default=None, help="MANO-layout hand file (default: the open hand)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    presets = list(args.presets) + (["large"] if args.large and "large" not in args.presets else [])
    report = {
        "torch": torch.__version__, "threads": args.threads, "machine": platform.machine(),
        "processor": platform.processor() or platform.platform(), "repeats": args.repeats,
        "note": "CPU, torch.inference_mode, median of interleaved repeats after 2 warm-up calls each",
        "presets": {},
    }
    for name in presets:
        start = time.perf_counter()
        report["presets"][name] = bench_preset(name, args.batches, args.repeats, args.mano_path)
        report["presets"][name]["bench_seconds"] = round(time.perf_counter() - start, 1)
    if "base" in report["presets"] and "8" in report["presets"]["base"]["batches"]:
        ratio = report["presets"]["base"]["batches"]["8"]["rgbd_over_rgb"]
        report["target"] = {"base_batch8_rgbd_over_rgb": ratio, "max": 1.10, "met": ratio <= 1.10}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
