"""What a build makes: its parameters and its shards.

A shard is a fixed range of scene indices of one (config, split), so its rows are a pure
function of `(seed, config, split, scene range, render settings)`: any machine can render any
shard, in any order, and n machines that each render their `--shard i/n` selection into one
folder produce the dataset one machine would build.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..render.types import RenderSettings
from ..scene import CONFIGS, SPLITS, SceneConfig
from ..scene.sampling import check_config_name

IMAGE_FORMATS = ("jpeg", "png")
VIEWS_PER_SCENE = SceneConfig().num_views  # rows per scene


@dataclass(frozen=True)
class BuildParams:
    """Everything that determines a build's rows. `train_scenes`/`test_scenes` scenes per config
    (two rows each); `scenes_per_shard` fixes the shard boundaries; `size` is the image side;
    `mode`, `spp`, `denoise` are the render settings; `image_format` encodes RGB ("jpeg" q95 or
    lossless "png")."""

    configs: tuple[str, ...] = tuple(CONFIGS)
    train_scenes: int = 8
    test_scenes: int = 2
    seed: int = 0
    scenes_per_shard: int = 500
    size: int = 256
    mode: str = "rt"
    spp: int = 16
    denoise: bool = False
    image_format: str = "jpeg"

    def __post_init__(self) -> None:
        object.__setattr__(self, "configs", tuple(self.configs))
        if not self.configs or len(set(self.configs)) != len(self.configs):
            raise ValueError(f"configs must be a non-empty list without repeats, got {list(self.configs)}")
        for name in self.configs:  # unknown or not-yet-renderable configs are refused before any rendering
            check_config_name(name, SPLITS[0])
        if min(self.train_scenes, self.test_scenes, self.seed) < 0 or self.train_scenes + self.test_scenes == 0:
            raise ValueError("train/test scene counts and the seed must be >= 0, with at least one scene")
        if self.scenes_per_shard < 1 or self.size < 16:
            raise ValueError(f"need scenes_per_shard >= 1 and size >= 16, got {self.scenes_per_shard}, {self.size}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {self.image_format!r}")
        self.render_settings()  # validates mode and spp

    def scene_config(self) -> SceneConfig:
        return SceneConfig(width=self.size, height=self.size)

    def render_settings(self) -> RenderSettings:
        return RenderSettings(mode=self.mode, spp=self.spp, denoiser="oidn" if self.denoise else "none")

    def scenes(self, split: str) -> int:
        return {"train": self.train_scenes, "test": self.test_scenes}[split]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"configs": list(self.configs)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BuildParams:
        return cls(**d)


@dataclass(frozen=True)
class Shard:
    """Scenes `start..stop-1` of `config`/`split`, shard `index` of `count`."""

    config: str
    split: str
    index: int
    count: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.config}/{self.split}-{self.index:05d}-of-{self.count:05d}"

    @property
    def path(self) -> str:
        """The Parquet file, relative to the build folder."""
        return f"{self.name}.parquet"

    @property
    def rows(self) -> int:
        return VIEWS_PER_SCENE * (self.stop - self.start)


def plan_shards(params: BuildParams) -> list[Shard]:
    """Every shard of the build, config by config, split by split."""
    shards = []
    for config in params.configs:
        for split in SPLITS:
            scenes = params.scenes(split)
            count = math.ceil(scenes / params.scenes_per_shard)
            shards += [Shard(config, split, k, count, k * params.scenes_per_shard,
                             min(scenes, (k + 1) * params.scenes_per_shard)) for k in range(count)]
    return shards


def parse_shard_selection(text: str) -> tuple[int, int]:
    """"i/n" → (i, n), 0 <= i < n."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def select_shards(shards: list[Shard], i: int, n: int) -> list[Shard]:
    """Machine i of n takes every n-th shard (round robin, so configs and splits spread evenly)."""
    return shards[i::n]
