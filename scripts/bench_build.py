#!/usr/bin/env python
"""Benchmark `anyhand build` against rendering the same scenes bare, printing JSON.

The peer (the limit) renders as many scenes of the config with `render_scene` and keeps the
rows in memory; the build renders its train scenes into a fresh folder (encoding, Parquet,
manifest with sha256, verification, card with statistics and preview). The peer draws test
scenes, not the build's, because the renderer caches environment maps by content. Both use
this process's already warm renderer, so neither pays SAPIEN's first-frame shader
compilation. On a shared machine, compare numbers only within one run.

    python scripts/bench_build.py --config single_indoor --scenes 8 --size 256 --mode raster
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from anyhand_hf.builder import BuildParams, build  # noqa: E402
from anyhand_hf.builder.render import ShardWorker, process_renderer  # noqa: E402
from anyhand_hf.generate import render_scene  # noqa: E402
from anyhand_hf.scene import sample_scenes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="single_indoor")
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--mode", choices=("raster", "rt"), default="raster")
    parser.add_argument("--spp", type=int, default=4)
    args = parser.parse_args()
    params = BuildParams(configs=(args.config,), train_scenes=args.scenes, test_scenes=0, size=args.size,
                         mode=args.mode, spp=args.spp, scenes_per_shard=args.scenes)
    worker = ShardWorker(params)  # sets torch threads; its hand is reused below
    renderer = process_renderer(params.mode, params.spp, params.denoise, args.config)
    warm = sample_scenes(params.scene_config(), params.seed, args.config, "test", [0], worker.hand)[0]
    render_scene(warm, renderer, worker.hand)  # first frame: shader compilation, excluded

    t = time.perf_counter()
    specs = sample_scenes(params.scene_config(), params.seed, args.config, "test", range(1, args.scenes + 1),
                          worker.hand)
    rows = [row for spec in specs for row in render_scene(spec, renderer, worker.hand)]
    bare = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        report = build(out, params, progress=False)
        built = time.perf_counter() - t
        size = sum(os.path.getsize(os.path.join(out, p)) for p in report.rendered)
    print(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "config": args.config, "mode": args.mode,
        "size": args.size, "scenes": args.scenes, "rows": len(rows),
        "bare_render_rows_per_s": round(len(rows) / bare, 2), "build_rows_per_s": round(len(rows) / built, 2),
        "build_vs_bare": round(bare / built, 3), "bytes_per_row": round(size / len(rows)),
        "load_average": os.getloadavg()[0],
    }, indent=1))


if __name__ == "__main__":
    main()
