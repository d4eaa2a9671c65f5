"""`anyhand build`: render the planned shards that are missing or broken, on local processes or
a Ray cluster, commit each with its manifest record, and write the card once all verify."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .card import card_problems, write_card
from .manifest import BuildError, claim_folder, commit_shard, read_params, record_path, shard_problem
from .plan import BuildParams, Shard, plan_shards, select_shards
from .render import ShardWorker

logger = logging.getLogger(__name__)
BACKENDS = ("local", "ray")
RAY_RETRIES = 3  # a shard whose actor dies or raises is retried this many times


@dataclass
class BuildReport:
    out: Path
    rendered: list[str] = field(default_factory=list)  # shard files rendered by this call
    repaired: list[str] = field(default_factory=list)  # what was wrong with existing shards it re-rendered
    pending: list[str] = field(default_factory=list)  # shards still missing (other `--shard` selections)
    card: Path | None = None  # written once every shard verifies


def build(out: str | Path, params: BuildParams, shard: tuple[int, int] = (0, 1), workers: int = 1,
          backend: str = "local", progress: bool = True) -> BuildReport:
    """Render this selection's missing or broken shards into `out`, then the card if the whole
    build verifies. A second call with the same parameters resumes or repairs; other parameters
    for an existing folder raise `BuildError`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = Path(out)
    report = BuildReport(out)
    shards = plan_shards(params)
    claim_folder(out, params, params.scene_config().to_dict())
    todo = []
    for s in select_shards(shards, *shard):
        problem = shard_problem(out, s)
        if problem is None:
            continue
        todo.append(s)
        if (out / s.path).exists() or record_path(out, s).exists():
            logger.warning("re-rendering %s", problem)
            report.repaired.append(problem)
    render = _render_ray if backend == "ray" else _render_local
    bar = tqdm(total=sum(s.stop - s.start for s in todo), desc=f"build {out}", unit="scene", disable=not progress)
    with bar:
        for s, data in render(params, todo, workers, bar.update):
            commit_shard(out, s, data)
            report.rendered.append(s.path)
    problems = [p for p in (shard_problem(out, s) for s in shards) if p]
    if problems:
        report.pending = problems
        return report
    report.card = write_card(out, params, shards, params.scene_config().to_dict())
    return report


def verify(out: str | Path) -> BuildParams:
    """Check every shard against its manifest record and the card against the plan; raises
    `BuildError` listing each problem with the file at fault. Returns the build's parameters."""
    out = Path(out)
    params = read_params(out)
    shards = plan_shards(params)
    problems = [p for p in (shard_problem(out, s) for s in shards) if p] + card_problems(out, params, shards)
    if problems:
        raise BuildError(f"{out}: {len(problems)} problem(s); `anyhand build` with the same parameters "
                         "re-renders broken shards:\n  " + "\n  ".join(problems))
    return params


# -- backends: each yields (shard, parquet bytes) as shards finish and reports rendered scenes ----

_worker: ShardWorker | None = None  # the renderer-owning worker of a local pool process


def _start_worker(params: BuildParams) -> None:
    global _worker
    _worker = ShardWorker(params)


def _render_in_worker(shard: Shard) -> bytes:
    return _worker.render(shard)


def _render_local(params: BuildParams, shards: list[Shard], workers: int,
                  on_scenes: Callable[[int], object]) -> Iterator[tuple[Shard, bytes]]:
    if not shards:
        return
    if workers == 1:
        worker = ShardWorker(params)
        try:
            for s in shards:
                yield s, worker.render(s, on_scenes)
        finally:
            worker.close()
        return
    # spawn, not fork: SAPIEN's Vulkan device and torch's threads do not survive a fork
    with ProcessPoolExecutor(min(workers, len(shards)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=(params,)) as pool:
        futures = {pool.submit(_render_in_worker, s): s for s in shards}
        for future in as_completed(futures):
            s = futures.pop(future)
            on_scenes(s.stop - s.start)
            yield s, future.result()


class _RayShardWorker:
    """A Ray actor around one `ShardWorker`: its renderer lives as long as the actor."""

    def __init__(self, params: BuildParams) -> None:
        self.worker = ShardWorker(params)

    def render(self, shard: Shard) -> tuple[Shard, bytes]:
        return shard, self.worker.render(shard)


def _render_ray(params: BuildParams, shards: list[Shard], workers: int,
                on_scenes: Callable[[int], object]) -> Iterator[tuple[Shard, bytes]]:
    """One task per shard on `ray.init()`'s cluster (`RAY_ADDRESS`, else a local one), spread
    over `workers` actors; tasks are retried when an actor dies or raises."""
    if not shards:
        return
    import ray
    from ray.util import ActorPool

    if not ray.is_initialized():
        ray.init()
    actor = ray.remote(num_cpus=1, max_restarts=RAY_RETRIES, max_task_retries=RAY_RETRIES)(_RayShardWorker)
    actors = [actor.remote(params) for _ in range(min(workers, len(shards)))]
    pool = ActorPool(actors)
    try:
        for s, data in pool.map_unordered(lambda a, s: a.render.options(retry_exceptions=True).remote(s), shards):
            on_scenes(s.stop - s.start)
            yield s, data
    finally:
        for a in actors:
            ray.kill(a)
