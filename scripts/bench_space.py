"""Benchmark: the Space's latency per image, RGB-only vs RGB-D (uploaded depth), CPU. Prints JSON.

A randomly initialised AnyHandNet-D of the given preset (default ``base``, RGB-D) is saved with
save_pretrained and served exactly as ``anyhand space`` serves a checkpoint. For each example
photo in spaces/examples (256x256 renders with their depth and box, also upscaled to bigger
sides), one RGB-only and one RGB-D request are interleaved per repeat, after a warm-up, and
medians are reported:
- ``request_ms``: the app's whole work (read photo and depth, model, overlay, meshes, .glb, JSON);
- ``model_ms``: AnyHandPredictor.predict alone on the same inputs;
- ``api_ms``: a gradio_client call to the served app on the loopback (upload, queue, download).
Times on a shared, loaded machine vary; the RGB-D / RGB ratio from the same run is the stable figure.
    python scripts/bench_space.py [--preset base] [--repeats 5] [--sides 256 1024] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from anyhand_hf.modeling import AnyHandConfig, AnyHandNetD
from PIL import Image
from tqdm import tqdm

from anyhand_hf.data.codecs import decode_depth_png
from anyhand_hf.space import SpaceModels, build_demo, camera_matrix, launch, load_photo, run_request

EXAMPLES = Path(__file__).resolve().parents[1] / "spaces" / "examples"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def scaled_example(photo: Path, side: int, out: Path) -> tuple[Path, Path, str]:
    """An example photo, its depth and box, upscaled to ``side`` pixels (nearest neighbour)."""
    depth = photo.with_name(photo.stem + "_depth.png")
    box = photo.with_name(photo.stem + "_box.txt").read_text().strip()
    with Image.open(photo) as im:
        factor = side / im.width
        if factor == 1:
            return photo, depth, box
        im.resize((side, side), Image.Resampling.NEAREST).save(out / photo.name, quality=95)
    with Image.open(depth) as im:
        im.resize((side, side), Image.Resampling.NEAREST).save(out / depth.name)
    *coords, side_label = (v.strip() for v in box.split(","))
    box = ", ".join([f"{float(v) * factor:.1f}" for v in coords] + [side_label])
    return out / photo.name, out / depth.name, box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 1024],
                        help="photo sides in pixels (the 256 px examples upscaled; the model's crop is the same)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from gradio_client import Client, handle_file

    modes = {"rgb": "none", "rgbd": "uploaded"}
    kinds = ("request", "model", "api")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-space-") as tmp:
        torch.manual_seed(0)
        AnyHandNetD(AnyHandConfig.from_preset(args.preset, use_depth=True)).save_pretrained(Path(tmp) / "model")
        models = SpaceModels.load(str(Path(tmp) / "model"), detector=False)
        demo = build_demo(models)
        _, url, _ = launch(demo, port=None, prevent_thread_lock=True, quiet=True)
        client = Client(url, verbose=False)

        def jobs(photo: Path, depth: Path, box: str, source: str) -> dict:
            depth_arg = str(depth) if source == "uploaded" else None
            image = load_photo(photo)
            K = image.working_intrinsics(camera_matrix(image.original_hw))
            metres = decode_depth_png(depth.read_bytes()) if source == "uploaded" else None
            boxes = [[float(v) for v in box.split(",")[:4]]]
            return {
                "request": lambda: run_request(models, str(photo), depth_arg, source, boxes_text=box,
                                               out_dir=Path(tmp) / "out"),
                "model": lambda: models.predictor.predict(image.rgb, depth=metres, K=K, boxes=boxes),
                "api": lambda: client.predict(handle_file(str(photo)), handle_file(depth_arg) if depth_arg else None,
                                              source, None, None, None, None, None, box, api_name="/predict"),
            }

        for side in args.sides:
            folder = Path(tmp) / str(side)
            folder.mkdir()
            examples = [scaled_example(p, side, folder) for p in sorted(EXAMPLES.glob("anyhand_*.jpg"))]
            calls = {(mode, i): jobs(*ex, source) for mode, source in modes.items() for i, ex in enumerate(examples)}
            for job in calls.values():  # warm-up
                for fn in job.values():
                    fn()
            times = {(mode, kind): [] for mode in modes for kind in kinds}
            for _ in tqdm(range(args.repeats), desc=f"{side} px", file=sys.stderr):
                for i in range(len(examples)):
                    for mode in modes:
                        for kind, fn in calls[(mode, i)].items():
                            times[(mode, kind)].append(timed(fn))
            med = {key: 1000 * statistics.median(v) for key, v in times.items()}
            results[f"{side}px"] = {
                **{f"{mode}_{kind}_ms": round(med[(mode, kind)], 1) for mode in modes for kind in kinds},
                "rgbd_over_rgb_request": round(med[("rgbd", "request")] / med[("rgb", "request")], 3),
                "rgbd_over_rgb_model": round(med[("rgbd", "model")] / med[("rgb", "model")], 3),
                "samples_per_mode": len(examples) * args.repeats,
            }
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout pure JSON
            demo.close()

    print(json.dumps({
        "preset": args.preset, "params": sum(p.numel() for p in models.predictor.model.parameters()),
        "photos": "spaces/examples renders (one hand, typed box), upscaled to each side",
        "torch_threads": args.threads,
        "machine": {"cpu_count": torch.multiprocessing.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "load_average": list(os.getloadavg())},
        **results,
    }, indent=1))


if __name__ == "__main__":
    main()
