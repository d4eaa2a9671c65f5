"""Streams for training: load, keep the needed columns, mix several datasets, split per rank.

Everything here returns a `datasets.IterableDataset`, so the position in the stream is
`state_dict()` / `load_state_dict()` (datasets restores it exactly, shard and row; the contents
of a shuffle buffer are the one thing it cannot restore, so training resumes exactly without one).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from datasets import IterableDataset, interleave_datasets, load_dataset
from datasets.distributed import split_dataset_by_node


def load_stream(path_or_repo: str, config: str | None = None, split: str = "train",
                columns: Sequence[str] | None = None) -> IterableDataset:
    """`load_dataset(path_or_repo, config, split=split, streaming=True)` (a local folder or a Hub id),
    restricted to ``columns``; a missing column is an error naming the dataset and what it has."""
    stream = load_dataset(path_or_repo, config, split=split, streaming=True)
    return select_columns(stream, columns, name=f"{path_or_repo} ({config or 'default'}, {split})")


def select_columns(stream: IterableDataset, columns: Sequence[str] | None, name: str = "dataset") -> IterableDataset:
    if columns is None:
        return stream
    have = list(stream.features or {})
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing} that training needs; it has {have}")
    return stream.select_columns(list(columns))


def mix(datasets: Sequence[IterableDataset], probabilities: Sequence[float] | None = None, seed: int = 0,
        columns: Sequence[str] | None = None, stopping_strategy: str = "all_exhausted") -> IterableDataset:
    """Interleave streams, drawing the next row from dataset ``i`` with probability ``probabilities[i]``
    (round-robin when None). Columns are selected *before* interleaving: `interleave_datasets` would
    otherwise fill every column one dataset lacks with None. With "all_exhausted" an epoch ends once
    every dataset has been read to its end (smaller ones repeat), "first_exhausted" at the first end."""
    if not datasets:
        raise ValueError("mix needs at least one dataset")
    if probabilities is not None:
        probs = [float(p) for p in probabilities]
        if len(probs) != len(datasets):
            raise ValueError(f"{len(probs)} mixing probabilities for {len(datasets)} datasets")
        if any(p < 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
            raise ValueError(f"mixing probabilities must be >= 0 and sum to 1, got {probs}")
    streams = [select_columns(ds, columns, name=f"dataset {i}") for i, ds in enumerate(datasets)]
    if len(streams) == 1:
        return streams[0]
    return interleave_datasets(streams, probabilities=probabilities, seed=seed, stopping_strategy=stopping_strategy)


def split_for_rank(stream: IterableDataset, rank: int, world_size: int) -> IterableDataset:
    """This process's part of the stream: every row goes to exactly one rank.

    `split_dataset_by_node` hands out whole shards when ``n_shards % world_size == 0``; otherwise
    every rank reads every shard and keeps one row in ``world_size`` (correct, but each rank decodes
    all the data: write shards in a multiple of the process count). Use this instead of letting
    `accelerate.prepare()` shard the stream, never both."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    if world_size == 1:
        return stream
    if stream.n_shards % world_size:
        warnings.warn(f"the stream has {stream.n_shards} shards, not a multiple of {world_size} processes: every "
                      f"process reads all of them and keeps 1 row in {world_size}", stacklevel=2)
    return split_dataset_by_node(stream, rank=rank, world_size=world_size)
