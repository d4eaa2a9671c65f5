"""Build the AnyHand dataset: Parquet shards + manifest + dataset card in a folder
(`anyhand build`), locally or on Ray; see `build.py`."""

from .build import BuildReport, build, verify
from .manifest import BuildError
from .plan import BuildParams, Shard, plan_shards

__all__ = ["BuildError", "BuildParams", "BuildReport", "Shard", "build", "plan_shards", "verify"]
