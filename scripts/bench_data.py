"""Streaming decode rate of an AnyHand build vs reading its shards directly (issue 4).

Every path decodes each row's pictures (RGB, depth, mask) and labels into numpy arrays, or torch
tensors, with the same `decode_row`:
- streamed rows: `for row in load_dataset(OUT, config, split=split, streaming=True)` (pictures
  decoded to PIL by `datasets`);
- streamed batches: the same stream read with `stream.iter(batch_size=100)` and split into rows
  (datasets formats and decodes a batch at a time: far less per-row overhead);
- direct (the limit): `pyarrow.parquet` record batches of the same shards, pictures as bytes,
  opened by PIL inside `decode_row`.
Rates are rows/s in one process (`torch.set_num_threads(1)`: torch's threads only contend with
decoding), best of `--repeats` interleaved passes, so every path sees the same machine load;
also rows per CPU-second of this process, which other jobs on a shared machine disturb less.

    python scripts/bench_data.py OUT --config single_indoor --split train
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import torch
from datasets import IterableDataset, load_dataset
from PIL import Image

from anyhand_hf.data.schema import decode_row

BATCH = 100  # rows per batch: the builder's row-group size


def direct_rows(files: list[Path]) -> Iterator[dict]:
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=BATCH):
            yield from batch.to_pylist()


def batched_rows(stream: IterableDataset) -> Iterator[dict]:
    for batch in stream.iter(batch_size=BATCH):
        names = list(batch)
        for values in zip(*batch.values()):
            yield dict(zip(names, values))


def rate(rows: Callable[[], Iterable[dict]], as_torch: bool) -> tuple[float, float, int]:
    """(rows per wall second, rows per CPU second of this process, rows)."""
    wall, cpu, n = time.perf_counter(), time.process_time(), 0
    for row in rows():
        decoded = decode_row(row, as_torch=as_torch)
        assert decoded["image"] is not None and decoded["depth"] is not None and decoded["mask"] is not None
        n += 1
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="an `anyhand build` folder")
    parser.add_argument("--config", default="single_indoor")
    parser.add_argument("--split", default="train")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = sorted((args.out / args.config).glob(f"{args.split}-*.parquet"))
    if not files:
        raise SystemExit(f"no {args.config}/{args.split}-*.parquet shards in {args.out}")
    stream = load_dataset(str(args.out), args.config, split=args.split, streaming=True)  # resolves files once
    paths = {"direct": lambda: direct_rows(files), "streamed_rows": lambda: stream,
             "streamed_batches": lambda: batched_rows(stream)}
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    counts = set()
    for _ in range(args.repeats):
        for target in ("numpy", "torch"):
            for name, rows in paths.items():
                per_s, per_cpu_s, n = rate(rows, as_torch=target == "torch")
                counts.add(n)
                key = f"{name}_{target}"
                best[key] = max(best.get(key, 0.0), per_s)
                best_cpu[key] = max(best_cpu.get(key, 0.0), per_cpu_s)
    if len(counts) != 1:
        raise SystemExit(f"the paths read different row counts: {sorted(counts)}")
    first = pq.ParquetFile(files[0]).read_row_group(0, columns=["image"]).column("image")[0].as_py()
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
              "data": str(args.out), "config": args.config, "split": args.split, "rows": counts.pop(),
              "image_px": list(Image.open(io.BytesIO(first["bytes"])).size), "repeats": args.repeats,
              "rows_per_s": {k: round(v, 1) for k, v in best.items()},
              "rows_per_cpu_s": {k: round(v, 1) for k, v in best_cpu.items()}}
    for name, rates in (("ratio_to_direct", best), ("cpu_ratio_to_direct", best_cpu)):
        result[name] = {f"{path}_{target}": round(rates[f"{path}_{target}"] / rates[f"direct_{target}"], 3)
                        for path in ("streamed_rows", "streamed_batches") for target in ("numpy", "torch")}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
