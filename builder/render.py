"""Rendering a shard into Parquet bytes, in a worker that keeps its renderer alive.

Raster renderers live as long as their process (`process_renderer`): SAPIEN compiles its
shaders when the first renderer of a process draws and again whenever every renderer was
dropped (~20 s on lavapipe). There is one per config: a renderer that drew an indoor scene,
then an environment-map scene, draws later indoor scenes a few grey levels differently (seen
on lavapipe, SAPIEN 3.0.3; cause not found), so a shard's pixels would depend on what its
worker drew before. Within a config they do not (tests/test_builder.py).
In ray-traced mode on lavapipe every scene change after the first `DEFAULT_WARM_CHANGES` of a
process recompiles the ray-tracing pipeline (tens of seconds; see
`anyhand_hf.render.sapien_renderer`), so a ray-traced worker renders each batch of that many
views in a fresh child process instead.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq

from ..data.schema import FEATURES, encode_row
from ..hand import HandModel
from ..render import SapienRenderer
from ..render.sapien_renderer import DEFAULT_WARM_CHANGES
from ..scene import sample_scenes
from .plan import VIEWS_PER_SCENE, BuildParams, Shard

ROWS_PER_GROUP = 100  # Parquet row group size: the unit `datasets` streams and reshards by


def render_records(params: BuildParams, renderer: SapienRenderer, hand: HandModel, config: str, split: str,
                   indices: range, on_scenes: Callable[[int], object] | None = None) -> list[dict]:
    """The encoded rows of scenes `indices` (views in order); `on_scenes(1)` after each scene."""
    from ..generate import render_scene

    records = []
    for spec in sample_scenes(params.scene_config(), params.seed, config, split, indices, hand):
        records += [encode_row(row, params.image_format) for row in render_scene(spec, renderer, hand)]
        if on_scenes is not None:
            on_scenes(1)
    return records


@functools.cache
def process_renderer(mode: str, spp: int, denoise: bool, config: str) -> SapienRenderer:
    """This process's renderer for `config` with these settings (see the module docstring)."""
    return SapienRenderer(BuildParams(configs=(config,), mode=mode, spp=spp, denoise=denoise).render_settings())


def _render_in_fresh_process(params: BuildParams, config: str, split: str, indices: range) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    hand = HandModel.open()
    with SapienRenderer(params.render_settings()) as renderer:
        return render_records(params, renderer, hand, config, split, indices)


def records_to_parquet(records: list[dict]) -> bytes:
    """Rows → Parquet bytes with the `FEATURES` schema (kept in the file's metadata, so feature
    types round-trip through `load_dataset`), in row groups of `ROWS_PER_GROUP`."""
    table = pa.Table.from_pylist([FEATURES.encode_example(r) for r in records], schema=FEATURES.arrow_schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=ROWS_PER_GROUP)
    return buffer.getvalue()


class ShardWorker:
    """Renders shards for one build; make one per process (or Ray actor) and reuse it."""

    def __init__(self, params: BuildParams) -> None:
        import torch

        torch.set_num_threads(1)  # many small tensors: threads only contend with the renderer
        self.params = params
        self.hand = HandModel.open()
        self.fresh_process_scenes = max(1, DEFAULT_WARM_CHANGES // VIEWS_PER_SCENE)
        self._pool = None
        if params.mode == "rt":
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                             max_tasks_per_child=1)

    def render(self, shard: Shard, on_scenes: Callable[[int], object] | None = None) -> bytes:
        """The shard's Parquet file, as bytes; `on_scenes(n)` reports progress in scenes."""
        indices = range(shard.start, shard.stop)
        if self._pool is None:
            p = self.params
            renderer = process_renderer(p.mode, p.spp, p.denoise, shard.config)
            records = render_records(self.params, renderer, self.hand, shard.config, shard.split, indices, on_scenes)
        else:
            step = self.fresh_process_scenes
            batches = [self._pool.submit(_render_in_fresh_process, self.params, shard.config, shard.split,
                                         indices[k:k + step]) for k in range(0, len(indices), step)]
            records = []
            for batch in batches:
                rows = batch.result()
                records += rows
                if on_scenes is not None:
                    on_scenes(len(rows) // VIEWS_PER_SCENE)
        return records_to_parquet(records)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
