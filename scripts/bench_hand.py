"""Benchmark: anyhand_hf.hand.HandModel vs smplx.MANO on the same MANO-layout file, CPU.

Both run in this one process on the same inputs (interleaved, median of repeats), so the
ratio is meaningful even on a loaded machine. Prints JSON.
    python scripts/bench_hand.py [--file MANO_RIGHT.npz] [--batches 1 64 1024]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import smplx
import torch

from anyhand_hf.hand import HandModel, load_hand_arrays, open_hand_path


def time_call(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=open_hand_path(), help="MANO-layout .npz/.pkl")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ours = HandModel.from_file(args.file, is_right=True)
    with tempfile.TemporaryDirectory() as folder:
        np.savez(Path(folder) / "MANO_RIGHT.npz", **load_hand_arrays(args.file))
        with contextlib.redirect_stdout(sys.stderr):  # smplx prints a warning; stdout stays JSON
            ref = smplx.MANO(folder, is_rhand=True, use_pca=False, flat_hand_mean=True, ext="npz")

    results = []
    for batch in args.batches:
        g = torch.Generator().manual_seed(batch)
        params = {"global_orient": torch.randn(batch, 3, generator=g), "hand_pose": torch.randn(batch, 45, generator=g),
                  "betas": torch.randn(batch, 10, generator=g), "transl": torch.randn(batch, 3, generator=g)}
        with torch.inference_mode():
            max_diff = (ours(**params).vertices - ref(**params).vertices).abs().max().item()
            repeats = max(5, args.repeats if batch < 1024 else args.repeats // 3)
            # Interleave the two so that load changes hit both alike.
            t_ours, t_ref = [], []
            for _ in range(3):
                t_ours.append(time_call(lambda: ours(**params), repeats))
                t_ref.append(time_call(lambda: ref(**params), repeats))
        ms_ours, ms_ref = 1e3 * min(t_ours), 1e3 * min(t_ref)
        results.append({"batch": batch, "anyhand_ms": round(ms_ours, 3), "smplx_ms": round(ms_ref, 3),
                        "speedup_vs_smplx": round(ms_ref / ms_ours, 2), "max_vertex_diff_m": max_diff})
    print(json.dumps({"benchmark": "hand_layer", "file": str(args.file), "threads": args.threads,
                      "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
