"""Evaluate AnyHandNet-D with the benchmarks' metrics (`anyhand_hf.metrics`), print a table, write JSON.

    python scripts/evaluate.py --model outputs/train/model --data outputs/anyhand --config single_indoor \\
        --split test [--depth gt|estimated|none] [--out results.json]
    python scripts/evaluate.py --model M --data /datasets/FreiHAND --format freihand --split test \\
        --submission pred.json                     # FreiHAND's pred.json: [xyz list, verts list]
    python scripts/evaluate.py --model M --data /datasets/HO3D_v3 --format ho3d --split test --submission pred.json

`--format anyhand` (default) reads an AnyHand-layout folder or Hub id with `load_dataset(..., streaming=True)`;
`freihand`/`ho3d` read the datasets' own folders (`anyhand_hf.data.load_freihand`/`load_ho3d`). Rows without
3D labels (the benchmarks' hidden evaluation sets) are predicted and written to the submission only.

Metrics (metres in, millimetres in the table): MPJPE in the camera frame, PA-MPJPE, STA-MPJPE (HO-3D's scale and
translation alignment), AUC of the PA-aligned joint PCK over 0–50 mm; with ground-truth vertices of the model's
topology also PA-MPVPE, F@5/F@15 mm (aligned and unaligned) and the vertex AUC; PCK@10 px of the 2D keypoints.
Depth for RGB-D models: `gt` the row's depth, `estimated` from `anyhand_hf.depth.default_depth_estimator()`
(MoGe-2 when installed, else its documented plane fallback), `none` all-invalid (zeros).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anyhand_hf import metrics
from anyhand_hf.crop import MIRROR_POINT
from anyhand_hf.data.schema import decode_row
from anyhand_hf.data.transforms import collate, row_to_example
from anyhand_hf.modeling import AnyHandNetD

DEPTH_MODES = ("gt", "estimated", "none")
FORMATS = ("anyhand", "freihand", "ho3d")
PCK_PX = 10.0


def open_rows(data: str, fmt: str, config: str | None, split: str, mano: str | None = None) -> Iterable[dict]:
    if fmt == "anyhand":
        from anyhand_hf.data.mix import load_stream

        return load_stream(data, config, split)
    from anyhand_hf.data import realsets

    loader = {"freihand": realsets.load_freihand, "ho3d": realsets.load_ho3d}[fmt]
    return loader(data, split, mano=mano)


def _depth_for(row: dict, mode: str, estimator) -> np.ndarray:
    if mode == "gt":
        if row.get("depth") is None:
            raise ValueError(f"row {row.get('scene_id')!r} has no depth; evaluate with --depth estimated or none")
        return row["depth"]
    if mode == "none":
        return np.zeros(row["image"].shape[:2], np.float32)
    return estimator.estimate(row["image"], np.asarray(row["K"], np.float64))


def predict_rows(model: AnyHandNetD, rows: Iterable[dict], depth_mode: str = "gt", batch_size: int = 16,
                 limit: int | None = None) -> Iterator[dict]:
    """Model predictions for decoded rows, one dict per row with the row's own camera frame (left hands
    mirrored back): `joints_3d`, `vertices` (metres), `joints_2d` (pixels), and the row's labels
    `gt_joints_3d`/`gt_vertices`/`gt_joints_2d` (None where the row has none)."""
    config = model.config
    estimator = None
    if config.use_depth and depth_mode == "estimated":
        from anyhand_hf.depth import default_depth_estimator

        estimator = default_depth_estimator("auto")
    device = next(model.parameters()).device
    pending: list[tuple[dict, dict]] = []

    def flush() -> Iterator[dict]:
        batch = collate([example for _, example in pending])
        inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        with torch.inference_mode():
            out = model(**inputs)
        joints, verts = out.joints_3d.double().cpu().numpy(), out.vertices.double().cpu().numpy()
        for i, (row, _) in enumerate(pending):
            sign = np.ones(3) if row.get("is_right", True) else MIRROR_POINT  # back from the mirrored world
            j, v = joints[i] * sign, verts[i] * sign
            p = j @ np.asarray(row["K"], np.float64).T
            yield {"scene_id": row.get("scene_id"), "view_id": row.get("view_id"), "joints_3d": j, "vertices": v,
                   "joints_2d": p[:, :2] / p[:, 2:], "gt_joints_3d": row.get("joints_3d"),
                   "gt_vertices": row.get("vertices_3d"), "gt_joints_2d": row.get("joints_2d")}
        pending.clear()

    for n, raw in enumerate(rows):
        if limit is not None and n >= limit:
            break
        row = decode_row(raw)
        if config.use_depth:
            row["depth"] = _depth_for(row, depth_mode, estimator)
        example = row_to_example(row, config.image_size, config.image_mean, config.image_std, config.use_depth,
                                 require_labels=False)
        for key in ("joints_3d", "joints_2d", "global_orient", "hand_pose", "betas", "mano_mask"):
            example.pop(key, None)  # inputs only: labels are compared in the row's frame below
        pending.append((row, example))
        if len(pending) == batch_size:
            yield from flush()
    if pending:
        yield from flush()


def score(predictions: list[dict]) -> dict[str, Any]:
    """Benchmark metrics over the predictions that have 3D labels (see the module doc)."""
    labelled = [p for p in predictions if p["gt_joints_3d"] is not None]
    result: dict[str, Any] = {"num_predictions": len(predictions), "num_samples": len(labelled)}
    if not labelled:
        return result
    pred = np.stack([p["joints_3d"] for p in labelled])
    gt = np.stack([np.asarray(p["gt_joints_3d"], np.float64) for p in labelled])
    pa_errors = metrics.keypoint_errors(pred, gt, "procrustes")
    result.update({
        "mpjpe": float(metrics.mpjpe(pred, gt).mean()),
        "pa_mpjpe": float(pa_errors.mean()),
        "sta_mpjpe": float(metrics.sta_mpjpe(pred, gt).mean()),
        "auc_joints": metrics.auc_pck(pa_errors, 0.0, 0.05, 100),
    })
    with_2d = [p for p in labelled if p["gt_joints_2d"] is not None]
    if with_2d:
        result[f"pck_2d@{PCK_PX:g}px"] = float(metrics.pck_2d(
            np.stack([p["joints_2d"] for p in with_2d]),
            np.stack([np.asarray(p["gt_joints_2d"], np.float64) for p in with_2d]), PCK_PX).mean())
    with_verts = [p for p in labelled if p["gt_vertices"] is not None and len(p["gt_vertices"]) == len(p["vertices"])]
    if with_verts:
        pv = np.stack([p["vertices"] for p in with_verts])
        gv = np.stack([np.asarray(p["gt_vertices"], np.float64) for p in with_verts])
        v_errors = metrics.keypoint_errors(pv, gv, "procrustes")
        result.update({
            "num_samples_vertices": len(with_verts),
            "pa_mpvpe": float(v_errors.mean()),
            "auc_vertices": metrics.auc_pck(v_errors, 0.0, 0.05, 100),
            "f@5mm": float(metrics.f_score(pv, gv, 0.005, aligned=True).mean()),
            "f@15mm": float(metrics.f_score(pv, gv, 0.015, aligned=True).mean()),
            "f@5mm_unaligned": float(metrics.f_score(pv, gv, 0.005, aligned=False).mean()),
            "f@15mm_unaligned": float(metrics.f_score(pv, gv, 0.015, aligned=False).mean()),
        })
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = ["| metric | value |", "|---|---|"]
    for key, value in result.items():
        if isinstance(value, float):
            shown = f"{value * 1000:.2f} mm" if key.endswith(("mpjpe", "mpvpe")) else f"{value:.4f}"
        else:
            shown = str(value)
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines)


def submission(predictions: list[dict], fmt: str) -> list:
    """FreiHAND's `pred.json` ([xyz list, verts list], OpenCV camera frame, metres) or HO-3D's (the same
    with HO-3D's joint order and OpenGL camera coordinates)."""
    xyz = np.stack([p["joints_3d"] for p in predictions])
    verts = np.stack([p["vertices"] for p in predictions])
    if fmt == "ho3d":
        xyz = metrics.opencv_to_opengl(metrics.to_ho3d_order(xyz))
        verts = metrics.opencv_to_opengl(verts)
    elif fmt != "freihand":
        raise ValueError(f"submissions are written for freihand or ho3d, not {fmt!r}")
    return [xyz.tolist(), verts.tolist()]


def evaluate(model: AnyHandNetD, rows: Iterable[dict], depth_mode: str = "gt", batch_size: int = 16,
             limit: int | None = None) -> tuple[dict[str, Any], list[dict]]:
    from tqdm.auto import tqdm

    predictions = list(tqdm(predict_rows(model, rows, depth_mode, batch_size, limit), desc="evaluate", unit="row",
                            total=limit))
    return score(predictions), predictions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a save_pretrained folder or Hub id")
    parser.add_argument("--data", required=True, help="dataset folder or Hub id (or the FreiHAND/HO-3D folder)")
    parser.add_argument("--config", help="dataset config, e.g. single_indoor (AnyHand format)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--format", choices=FORMATS, default="anyhand")
    parser.add_argument("--depth", choices=DEPTH_MODES, default="gt", help="depth given to an RGB-D model")
    parser.add_argument("--mano", help="MANO_RIGHT.pkl for the FreiHAND/HO-3D readers' MANO-derived columns")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, help="evaluate only the first N rows")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path("outputs/evaluation.json"), help="JSON of the metrics")
    parser.add_argument("--submission", type=Path, help="write the benchmark's submission JSON here (freihand/ho3d)")
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        raise ValueError("--batch-size and --limit must be >= 1")
    if args.submission is not None and args.format == "anyhand":
        raise ValueError("--submission is for --format freihand or ho3d")
    model = AnyHandNetD.from_pretrained(args.model).to(args.device).eval()
    rows = open_rows(args.data, args.format, args.config, args.split, args.mano)
    result, predictions = evaluate(model, rows, args.depth, args.batch_size, args.limit)
    result = {"model": args.model, "data": args.data, "config": args.config, "split": args.split,
              "format": args.format, "depth": args.depth if model.config.use_depth else "n/a (RGB model)",
              "preset": model.config.preset, "use_depth": model.config.use_depth, **result}
    print(format_table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    if args.submission is not None:
        args.submission.parent.mkdir(parents=True, exist_ok=True)
        args.submission.write_text(json.dumps(submission(predictions, args.format)))
        print(f"wrote {args.submission} ({len(predictions)} predictions)")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
