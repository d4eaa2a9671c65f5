"""The dataset card (`README.md`): `configs:` YAML for `load_dataset`, what AnyHand is, how this
build was generated, every column, statistics, a preview image, licence and citation. Written
only once every shard verifies; its statistics are read back from the shards themselves."""

from __future__ import annotations

import fnmatch
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..data.preview import rows_preview
from ..data.schema import decode_row
from .manifest import write_atomic
from .plan import BuildParams, Shard

CARD_FILE = "README.md"
PREVIEW_FILE = "preview.png"
PREVIEW_ROWS = 8
OCCLUSION_THRESHOLD = 0.2  # the share of rows whose hand is more than this fraction hidden by the object

COLUMN_DOCS: dict[str, str] = {
    "image": "RGB, JPEG quality 95 (4:4:4) or lossless PNG, `size`×`size` px, sRGB",
    "depth": "16-bit greyscale PNG of depth along the optical axis (OpenCV z) in millimetres, 0 = invalid; "
             "rendered where `mask` > 0, estimated for the background behind it (`meta.depth_background`)",
    "mask": "8-bit PNG of labels: 0 background, 1 hand, 2 forearm (skin and sleeve), 3 object",
    "bbox": "hand box (label 1 pixels) `[x_min, y_min, x_max, y_max]`, px, pixel centres at integers",
    "K": "3×3 intrinsics, px; pixel centres at integer coordinates (principal point of a centred camera "
         "at ((W-1)/2, (H-1)/2))",
    "R": "3×3 world→camera rotation, `X_cam = R @ X_world + t`; camera frame OpenCV (x right, y down, "
         "z forward); the world is the hand-centred scene frame",
    "t": "world→camera translation, m",
    "global_orient": "MANO root rotation in the camera frame, axis-angle (3), rad",
    "hand_pose": "MANO finger pose, 15 joints × axis-angle (45), rad; zero = flat hand (smplx "
                 "`flat_hand_mean=True`), no PCA",
    "betas": "MANO shape (10)",
    "hand_transl": "MANO `transl` in the camera frame, m: `HandModel(global_orient, hand_pose, betas, "
                   "hand_transl)` gives `vertices_3d` and `joints_3d`",
    "joints_3d": "21 keypoints (wrist; thumb, index, middle, ring, pinky, base to tip; OpenPose/FreiHAND "
                 "order), camera frame, m",
    "joints_2d": "`joints_3d` projected with `K`, px",
    "vertices_3d": "hand mesh vertices (V×3: the hand model's vertex count), camera frame, m",
    "is_right": "right hand (rendered hands are right hands; mirror image and labels for a left hand)",
    "scene_id": "`<config>-<split>-<index:08d>`; two rows (views) per scene share it",
    "view_id": "camera of the scene, 0 or 1",
    "meta": "JSON: seed, config, split, index, render seed, pose mode, appearance, background, lights, "
            "ambient, view (fov, distance, roll), depth background estimator, asset files"
             "; interact configs add `hand_occlusion` (fraction of the hand hidden by the object)",
}

CITATION = """@article{anyhand2026,
  title   = {AnyHand: A Large-Scale Synthetic Dataset for RGB(-D) Hand Pose Estimation},
  author  = {Si, Chen and Liu, Yulin and Ai, Bo and Xie, Jianwen and Potamias, Rolandos Alexandros and
             Zheng, Chuanxia and Su, Hao},
  journal = {arXiv preprint arXiv:2603.25726},
  year    = {2026}
}"""


def data_files_pattern(shard: Shard) -> str:
    """The card's `data_files` glob of a (config, split): exactly its planned shard files."""
    return f"{shard.config}/{shard.split}-*-of-{shard.count:05d}.parquet"


def card_configs(params: BuildParams, shards: list[Shard]) -> list[dict]:
    configs = []
    for k, config in enumerate(params.configs):
        splits = {s.split: data_files_pattern(s) for s in shards if s.config == config}
        entry = {"config_name": config, "data_files": [{"split": s, "path": p} for s, p in splits.items()]}
        configs.append(entry | ({"default": True} if k == 0 else {}))
    return configs


def _quantiles(values, digits: int = 3) -> str:
    values = np.asarray(values, np.float64)
    if not len(values):
        return "–"
    q = np.quantile(values, [0.0, 0.05, 0.5, 0.95, 1.0])
    return " / ".join(f"{v:.{digits}g}" for v in q)


def _shares(counter: Counter) -> str:
    total = sum(counter.values())
    return ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))


def statistics(metas: list[dict], boxes: np.ndarray) -> dict[str, str]:
    """Distributions over rows: `metas` the parsed `meta` JSON, `boxes` (N,4) the `bbox` column."""
    views = [m.get("view", {}) for m in metas]
    stats = {
        "hand box, longer side (px)": _quantiles(np.max(boxes[:, 2:] - boxes[:, :2], axis=1) if len(boxes) else []),
        "camera distance (m)": _quantiles([v["distance_m"] for v in views if "distance_m" in v]),
        "vertical field of view (°)": _quantiles([v["fov_y_deg"] for v in views if "fov_y_deg" in v]),
        "skin tone (0 light … 1 dark)": _quantiles([m["appearance"]["skin_tone"] for m in metas if "appearance" in m]),
        "lights per scene": _quantiles([len(m["lights"]) for m in metas if "lights" in m]),
        "pose modes": _shares(Counter(m.get("pose_mode") for m in metas)),
        "forearm": _shares(Counter(m["appearance"]["forearm"] for m in metas if "appearance" in m)),
        "light kinds": _shares(Counter(light["kind"] for m in metas for light in m.get("lights", []))),
    }
    occlusion = np.asarray([m["hand_occlusion"] for m in metas if m.get("hand_occlusion") is not None], np.float64)
    if len(occlusion):
        stats["hand occlusion by the object (fraction)"] = _quantiles(occlusion)
        stats[f"rows with > {OCCLUSION_THRESHOLD:.0%} of the hand occluded"] = \
            f"{100 * np.mean(occlusion > OCCLUSION_THRESHOLD):.1f} %"
    return stats


def shard_statistics(out: Path, shards: list[Shard]) -> dict[str, str]:
    tables = [pq.read_table(out / s.path, columns=["bbox", "meta"]) for s in shards]
    metas = [json.loads(m) for t in tables for m in t.column("meta").to_pylist()]
    boxes = np.asarray([b for t in tables for b in t.column("bbox").to_pylist()], np.float64).reshape(-1, 4)
    return statistics(metas, boxes)


def write_preview(out: Path, shards: list[Shard]) -> Path:
    """The first rows of each config's first shard."""
    firsts = list({s.config: s for s in reversed(shards)}.values())[::-1]
    per_config = max(1, PREVIEW_ROWS // len(firsts))
    rows = [r for s in firsts for r in pq.ParquetFile(out / s.path).read_row_group(0).slice(0, per_config).to_pylist()]
    buffer = io.BytesIO()
    rows_preview([decode_row(r) for r in rows]).save(buffer, format="PNG")
    write_atomic(out / PREVIEW_FILE, buffer.getvalue())  # machines finishing together may both write it
    return out / PREVIEW_FILE


def card_text(params: BuildParams, shards: list[Shard], scene_config: dict, sizes: dict[str, int],
              stats_by_config: dict[str, dict[str, str]]) -> str:
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(license="apache-2.0", pretty_name="AnyHand", task_categories=["keypoint-detection"],
                           tags=["hands", "3d-hand-pose", "mano", "rgb-d", "synthetic"],
                           configs=card_configs(params, shards))
    counts = Counter((s.config, s.split) for s in shards for _ in range(s.rows))
    split_rows = "\n".join(f"| `{c}` | {s} | {counts[c, s]} | {sum(x.split == s and x.config == c for x in shards)} "
                           f"| {sizes[c, s] / 1e6:.1f} MB |" for c, s in dict.fromkeys((x.config, x.split) for x in shards))
    columns = "\n".join(f"| `{name}` | {doc} |" for name, doc in COLUMN_DOCS.items())
    stat_names = list(dict.fromkeys(k for st in stats_by_config.values() for k in st))
    stats = "\n".join(f"| {name} | " + " | ".join(st.get(name, "–") for st in stats_by_config.values()) + " |"
                      for name in stat_names)
    render = params.render_settings().__dict__
    default = params.configs[0]
    return f"""---
{data.to_yaml()}
---
# AnyHand (synthetic RGB-D hands)

AnyHand is a synthetic dataset for 3D hand pose and shape estimation from RGB or RGB-D images
([paper](https://arxiv.org/abs/2603.25726)): a MANO-compatible hand in sampled poses and shapes,
with a forearm, skin textures over a wide tone range, random lights and backgrounds, seen from
two random cameras per scene, with exact labels — MANO parameters, 3D/2D keypoints, mesh
vertices, a hand box, camera, metric depth and a part mask. This copy was generated by
`anyhand build` (the anyhand-hf package) with the open, procedurally generated MANO-layout hand
that the package ships.

```python
from datasets import load_dataset
from anyhand_hf.data.schema import decode_row   # depth back to float metres, arrays to numpy

ds = load_dataset("<this folder or repo>", "{default}", split="train", streaming=True)
row = decode_row(next(iter(ds)))
```

| config | split | rows | shards | size |
|---|---|---|---|---|
{split_rows}

`{default}` is the default config. `*_envmap` scenes are lit and backed by an HDR environment
map; `*_indoor` scenes are composited over a crop of an indoor background image.

## How it was generated

Scene `i` of a split is a pure function of `(seed, config, split, i)` (its own random
generator), rendered by SAPIEN; shards are fixed ranges of scenes, so any shard can be
re-rendered anywhere and gives the same labels.

- seed `{params.seed}`, {params.train_scenes} train and {params.test_scenes} test scenes per config,
  {params.scenes_per_shard} scenes per shard, two views (rows) per scene
- render: `{json.dumps(render)}`, images {params.size}×{params.size} px, RGB as {params.image_format}
- hand: the open hand of anyhand-hf (MANO layout); shapes from a bounded normal, poses from an
  anatomically bounded prior that rejects self-penetration
- every sampling setting (`anyhand_hf.scene.SceneConfig`):

```json
{json.dumps(scene_config, indent=1)}
```

## Columns

| column | meaning, units, conventions |
|---|---|
{columns}

## Statistics

Quantiles are min / 5 % / median / 95 % / max over rows.

| | {" | ".join(f"`{c}`" for c in stats_by_config)} |
|---|{"---|" * len(stats_by_config)}
{stats}

## Preview

![RGB with keypoints and hand box, depth, mask]({PREVIEW_FILE})

## Licence

Apache-2.0, like the code and the open hand that generated it. No MANO data is included.

## Citation

```bibtex
{CITATION}
```
"""


def write_card(out: Path, params: BuildParams, shards: list[Shard], scene_config: dict) -> Path:
    sizes = Counter()
    for s in shards:
        sizes[s.config, s.split] += (out / s.path).stat().st_size
    stats = {c: shard_statistics(out, [s for s in shards if s.config == c]) for c in params.configs}
    write_preview(out, shards)
    path = out / CARD_FILE
    write_atomic(path, card_text(params, shards, scene_config, sizes, stats).encode())
    return path


def card_problems(out: Path, params: BuildParams, shards: list[Shard]) -> list[str]:
    """Where the card disagrees with the plan: every planned shard must be matched by the card's
    `data_files` and exist, and the card must name no other config."""
    from huggingface_hub import DatasetCard

    path = out / CARD_FILE
    if not path.exists():
        return [f"{path}: missing (written once every shard verifies)"]
    configs = {c["config_name"]: c for c in DatasetCard.load(path).data.to_dict().get("configs") or []}
    problems = [f"{path}: names config {c!r}, which this build does not have" for c in set(configs) - set(params.configs)]
    for shard in shards:
        patterns = [f["path"] for f in configs.get(shard.config, {}).get("data_files", []) if f["split"] == shard.split]
        if not any(fnmatch.fnmatch(shard.path, p) for p in patterns):
            problems.append(f"{path}: its {shard.config}/{shard.split} data_files {patterns} miss {shard.path}")
        elif not (out / shard.path).exists():
            problems.append(f"{out / shard.path}: missing, though {path} names it ({shard.config}/{shard.split})")
    return problems
