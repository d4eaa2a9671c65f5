"""Training streams: mixing with probabilities, column selection before interleaving, exact resume,
per-rank splits that hand every row to exactly one rank."""

from __future__ import annotations

import itertools

import pytest
from datasets import Dataset

from anyhand_hf.data.mix import mix, select_columns, split_for_rank


def stream(name: str, n: int, shards: int = 2, extra: str | None = None):
    data = {"scene_id": [f"{name}-{i}" for i in range(n)], "value": list(range(n))}
    if extra:
        data[extra] = [1.0] * n
    return Dataset.from_dict(data).to_iterable_dataset(num_shards=shards)


def ids(ds) -> list[str]:
    return [row["scene_id"] for row in ds]


def test_mix_follows_the_probabilities_and_is_seeded():
    mixed = mix([stream("a", 400), stream("b", 400)], [0.8, 0.2], seed=3, stopping_strategy="first_exhausted")
    first = ids(itertools.islice(mixed, 200))
    share = sum(s.startswith("a") for s in first) / len(first)
    assert 0.7 < share < 0.9
    assert first == ids(itertools.islice(mix([stream("a", 400), stream("b", 400)], [0.8, 0.2], seed=3,
                                             stopping_strategy="first_exhausted"), 200))


def test_columns_are_selected_before_interleaving():
    # "b" has a column "a" lacks: selected first, rows of "a" carry no None-filled extra column.
    mixed = mix([stream("a", 4), stream("b", 4, extra="depth")], None, columns=["scene_id", "value"])
    rows = list(mixed)
    assert {tuple(sorted(r)) for r in rows} == {("scene_id", "value")}
    assert len(rows) == 8
    with pytest.raises(ValueError, match=r"dataset 0 lacks the columns \['depth'\]"):
        mix([stream("a", 4), stream("b", 4, extra="depth")], None, columns=["scene_id", "depth"])


@pytest.mark.parametrize("probs, message", [([0.5], "1 mixing probabilities for 2"), ([0.7, 0.7], "sum to 1"),
                                            ([1.5, -0.5], ">= 0")])
def test_bad_probabilities_are_refused(probs, message):
    with pytest.raises(ValueError, match=message):
        mix([stream("a", 4), stream("b", 4)], probs)


def test_state_dict_resumes_exactly():
    make = lambda: mix([stream("a", 30, 3), stream("b", 20, 2)], [0.6, 0.4], seed=1)  # noqa: E731
    full = ids(make())
    ds = make()
    it = iter(ds)
    head = [next(it)["scene_id"] for _ in range(17)]
    state = ds.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    assert head + ids(resumed) == full


@pytest.mark.parametrize("world_size", [2, 3])
def test_split_for_rank_partitions_the_rows(world_size):
    ds = stream("a", 10, shards=2)
    if 2 % world_size:
        with pytest.warns(UserWarning, match="not a multiple"):
            parts = [ids(split_for_rank(ds, r, world_size)) for r in range(world_size)]
    else:
        parts = [ids(split_for_rank(ds, r, world_size)) for r in range(world_size)]
    seen = [s for part in parts for s in part]
    assert sorted(seen) == sorted(ids(ds)) and len(set(seen)) == len(seen)
    assert all(parts)
    with pytest.raises(ValueError, match="rank 2 outside world size 2"):
        split_for_rank(ds, 2, 2)


def test_select_columns_names_the_dataset():
    with pytest.raises(ValueError, match=r"my-data lacks the columns \['depth'\].*has \['scene_id', 'value'\]"):
        select_columns(stream("a", 2), ["depth"], name="my-data")
