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
    assets = AssetLibrary.from_dirs(args.backgrounds, args.envmaps, args.hand_textures)
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
    p.add_argument("--config", default="single_indoor", choices=("single_indoor", "single_envmap"))
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
    p.set_defaults(run=_render)
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
