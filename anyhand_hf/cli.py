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
