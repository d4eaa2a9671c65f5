"""A picture of dataset rows: RGB with keypoints and hand box, colour-mapped depth, label mask."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from ..viz import colorize_depth, draw_box, draw_keypoints, image_grid, overlay_mask


def rows_preview(rows: Sequence[dict], max_rows: int = 16, cols: int = 2) -> Image.Image:
    """Up to `max_rows` rows, each as three tiles (image + joints + box | depth | mask);
    rows carry numpy `image`, `depth` (metres), `mask`, `joints_2d`, `bbox`, `scene_id`, `view_id`."""
    tiles, labels = [], []
    for row in rows[:max_rows]:
        annotated = draw_box(draw_keypoints(row["image"], np.asarray(row["joints_2d"])), np.asarray(row["bbox"]))
        depth = np.asarray(row["depth"])
        tiles += [annotated, colorize_depth(depth, valid=depth > 0), overlay_mask(row["image"], row["mask"])]
        labels += [f"{row['scene_id']} v{row['view_id']}", "depth", "mask"]
    return image_grid(tiles, cols=3 * cols, labels=labels)
