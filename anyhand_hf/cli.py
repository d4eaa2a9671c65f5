"""`anyhand`: the command-line entry point (one console script, one subcommand per job)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _preview_hand(args: argparse.Namespace) -> None:
    from .hand import HandModel
    from .hand.preview import preview_grid

    hand = HandModel.from_file(args.hand_file) if args.hand_file else HandModel.open(args.side)
    image = preview_grid(hand, num=args.num, seed=args.seed, size=args.size, cols=args.cols)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(f"wrote {args.out} ({args.num} hands, two views each, {image.width}x{image.height} px)")


def _render(args: argparse.Namespace) -> None:
    import json

    import numpy as np
    import torch
    from tqdm import tqdm

    from .data import encode_depth_png, encode_image, encode_mask_png
    from .data.preview import rows_preview
    from .generate import AssetLibrary, render_scene
    from .hand import HandModel
    from .render import RenderSettings, SapienRenderer
    from .scene import SceneConfig, sample_scene

    torch.set_num_threads(1)  # many small tensors: threads only contend with the renderer
    hand = HandModel.open()
    assets = AssetLibrary.from_dirs(args.backgrounds, args.envmaps, args.hand_textures, args.objects)
    config = assets.scene_config(SceneConfig(width=args.size, height=args.size))
    settings = RenderSettings(mode=args.mode, spp=args.spp, denoiser="oidn" if args.denoise else "none")
    args.out.mkdir(parents=True, exist_ok=True)
    shown = []
    with SapienRenderer(settings) as renderer:
        for index in tqdm(range(args.start, args.start + args.num_scenes), desc=f"render {args.config}", unit="scene"):
            spec = sample_scene(config, args.seed, args.config, args.split, index, hand)
            for row in render_scene(spec, renderer, hand, texture_size=args.texture_size, assets=assets):
                stem = args.out / f"{row['scene_id']}_v{row['view_id']}"
                stem.with_suffix(".jpg").write_bytes(encode_image(row["image"]))
                stem.with_name(stem.name + "_depth.png").write_bytes(encode_depth_png(row["depth"]))
                stem.with_name(stem.name + "_mask.png").write_bytes(encode_mask_png(row["mask"]))
                labels = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                          for k, v in row.items() if k not in ("image", "depth", "mask")}
                stem.with_name(stem.name + "_labels.json").write_text(json.dumps(labels))
                if len(shown) < 16:
                    shown.append(row)
    rows_preview(shown).save(args.out / "preview.png")
    print(f"wrote {2 * args.num_scenes} rows to {args.out} (rgb .jpg, depth _depth.png in mm, "
          f"mask _mask.png, labels _labels.json); preview: {args.out / 'preview.png'}")


def _space(args: argparse.Namespace) -> None:
    from .space import SpaceModels, build_demo, launch

    models = SpaceModels.load(args.model, detector=not args.no_detector)
    launch(build_demo(models, examples_dir=args.examples), host=args.host, port=args.port)


def _build(args: argparse.Namespace) -> None:
    from .builder import BuildParams, build
    from .builder.plan import parse_shard_selection
    from .builder.summary import summary

    configs = {"configs": tuple(args.configs.split(","))} if args.configs else {}  # default: every config
    params = BuildParams(**configs, train_scenes=args.train_scenes, test_scenes=args.test_scenes, seed=args.seed,
                         scenes_per_shard=args.scenes_per_shard, size=args.size, mode=args.mode, spp=args.spp,
                         denoise=args.denoise, image_format=args.image_format)
    report = build(args.out, params, shard=parse_shard_selection(args.shard), workers=args.workers,
                   backend=args.backend)
    for problem in report.repaired:
        print(f"re-rendered {problem}")
    print(f"rendered {len(report.rendered)} shard(s) into {args.out}")
    if report.card is None:
        print(f"{len(report.pending)} shard(s) of other --shard selections are not there yet; the card is written "
              f"when every shard verifies:\n  " + "\n  ".join(report.pending))
        return
    print(summary(args.out))


def _push(args: argparse.Namespace) -> None:
    from .builder.publish import push

    report = push(args.out, args.repo_id, private=args.private, token=args.token)
    print(f"pushed {len(report.files)} files of {args.out} to {report.repo_url} ({report.commit_url})\n"
          f"stream it: datasets.load_dataset({args.repo_id!r}, {report.configs[0]!r}, split='train', streaming=True)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anyhand", description="AnyHand: synthetic RGB-D hands and AnyHandNet-D")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("preview-hand", help="draw a grid of sampled hand poses and shapes")
    p.add_argument("--out", type=Path, default=Path("outputs/hands.png"), help="PNG to write")
    p.add_argument("--num", type=int, default=8, help="number of sampled hands")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--side", choices=("right", "left"), default="right", help="side of the open hand")
    p.add_argument("--hand-file", type=Path, help="a MANO-layout .pkl/.npz instead of the open hand")
    p.add_argument("--size", type=int, default=256, help="pixels per view")
    p.add_argument("--cols", type=int, default=4, help="views per row (two per hand)")
    p.set_defaults(run=_preview_hand)

    p = sub.add_parser("render", help="render AnyHand scenes (two views each) with labels and a preview grid")
    from .scene.sampling import CONFIGS

    p.add_argument("--config", default="single_indoor", choices=sorted(CONFIGS),
                   help="interact_* configs render the hand holding an object")
    p.add_argument("--split", default="train", choices=("train", "test"))
    p.add_argument("--num-scenes", type=int, default=8)
    p.add_argument("--start", type=int, default=0, help="first scene index")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("outputs/render"))
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--mode", choices=("rt", "raster"), default="rt", help="ray-traced (default) or raster")
    p.add_argument("--spp", type=int, default=16, help="ray-tracing samples per pixel")
    p.add_argument("--denoise", action="store_true", help="denoise ray-traced images (OIDN, CPU)")
    p.add_argument("--texture-size", type=int, help="skin and cloth texture side (default: the image size)")
    p.add_argument("--backgrounds", type=Path, help="folder of background images (JPEG/PNG, e.g. MIT Indoor)")
    p.add_argument("--envmaps", type=Path, help="folder of equirectangular HDR maps (.exr/.hdr)")
    p.add_argument("--hand-textures", type=Path, help="folder of hand textures in the hand's UV layout")
    p.add_argument("--objects", type=Path, help="folder of object meshes (.obj/.glb/.ply) for interact configs "
                                                "(default: procedural objects)")
    p.set_defaults(run=_render)

    p = sub.add_parser("build", help="build the AnyHand dataset: Parquet shards, manifest and dataset card in OUT")
    p.add_argument("out", type=Path, help="dataset folder (created, resumed or repaired)")
    p.add_argument("--configs", help="comma-separated configs (default: every renderable config)")
    p.add_argument("--train-scenes", type=int, default=8, help="train scenes per config (two rows each)")
    p.add_argument("--test-scenes", type=int, default=2, help="test scenes per config (two rows each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenes-per-shard", type=int, default=500, help="scenes per Parquet shard")
    p.add_argument("--shard", default="0/1", help="i/n: render only this machine's share of the shards")
    p.add_argument("--workers", type=int, default=1, help="local processes, or Ray actors")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local processes, or a Ray cluster (RAY_ADDRESS, else a local one)")
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--mode", choices=("rt", "raster"), default="rt", help="ray-traced (default) or raster")
    p.add_argument("--spp", type=int, default=16, help="ray-tracing samples per pixel")
    p.add_argument("--denoise", action="store_true", help="denoise ray-traced images (OIDN, CPU)")
    p.add_argument("--image-format", choices=("jpeg", "png"), default="jpeg", help="RGB encoding (JPEG q95 or PNG)")
    p.set_defaults(run=_build)

    p = sub.add_parser("push", help="publish a finished build folder as a Hugging Face dataset repo (resumable)")
    p.add_argument("out", type=Path, help="build folder (must verify: every shard, the manifest and the card)")
    p.add_argument("--repo-id", required=True, help="dataset repo, org/name (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    p.set_defaults(run=_push)

    p = sub.add_parser("space", help="serve the Gradio demo (photo or photo + depth in, hand meshes out)")
    p.add_argument("--model", help="AnyHandNet-D checkpoint: a folder or a Hub id (default: $ANYHAND_MODEL)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--examples", type=Path, default=Path(__file__).resolve().parents[1] / "spaces" / "examples",
                   help="folder of example photos with depth (default: the repository's spaces/examples)")
    p.add_argument("--no-detector", action="store_true", help="do not load the MediaPipe hand detector")
    p.set_defaults(run=_space)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"anyhand {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
