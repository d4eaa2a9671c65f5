"""What `anyhand build` prints at the end: the dataset as a reader sees it, streamed back
through `load_dataset(OUT, config, split=..., streaming=True)`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..data.schema import decode_row
from .card import CARD_FILE, PREVIEW_FILE
from .manifest import read_params
from .plan import plan_shards


def _describe(name: str, value) -> str:
    if isinstance(value, np.ndarray):
        extra = f" [{value.min():.3g}, {value.max():.3g}] m" if name == "depth" else ""
        extra = f" labels {sorted(np.unique(value).tolist())}" if name == "mask" else extra
        return f"{name} {value.shape} {value.dtype}{extra}"
    return f"{name} {value!r}" if not isinstance(value, str) or len(value) < 40 else f"{name} str[{len(value)}]"


def summary(out: str | Path) -> str:
    from datasets import load_dataset

    out = Path(out)
    params = read_params(out)
    shards = plan_shards(params)
    rows, files, size = Counter(), Counter(), Counter()
    for s in shards:
        rows[s.config, s.split] += s.rows
        files[s.config, s.split] += 1
        size[s.config, s.split] += (out / s.path).stat().st_size
    lines = [(f"AnyHand dataset in {out}: seed {params.seed}, {params.mode} {params.size}x{params.size} px, "
              f"{sum(rows.values())} rows")]
    lines += [f"  {c}/{s}: {rows[c, s]} rows, {files[c, s]} shard(s), {size[c, s] / 1e6:.2f} MB" for c, s in rows]
    streamed = {key: sum(1 for _ in load_dataset(str(out), key[0], split=key[1], streaming=True)) for key in rows} \
        if sum(rows.values()) <= 1000 else {}
    if streamed:
        lines.append(f"  streamed back {sum(streamed.values())} rows; matches the manifest: "
                     f"{streamed == dict(rows)}")
    default = load_dataset(str(out), streaming=True)
    split = next(iter(default))
    row = decode_row(next(iter(default[split])))
    lines.append(f"load_dataset({str(out)!r}) → default config {default[split].config_name!r}; "
                 f"first {split} row, decoded:")
    lines += [f"  {_describe(k, v)}" for k, v in row.items()]
    lines.append(f"card: {out / CARD_FILE}; preview: {out / PREVIEW_FILE}")
    return "\n".join(lines)
