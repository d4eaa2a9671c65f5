"""The build's bookkeeping in `OUT/.anyhand/`: the parameters (`build.json`) and one record per
finished shard (`shards/<config>/<split>-XXXXX-of-YYYYY.json`: rows, bytes, sha256). One small
file per shard, each written to a temporary name and renamed, so workers and machines sharing
a folder never race and a killed build leaves either a whole file or none."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .plan import BuildParams, Shard

META_DIR = ".anyhand"
PARAMS_FILE = f"{META_DIR}/build.json"


class BuildError(RuntimeError):
    """A build folder that disagrees with itself or with the command; the message names the files."""


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_path(out: Path, shard: Shard) -> Path:
    return out / META_DIR / "shards" / f"{shard.name}.json"


def read_params(out: Path) -> BuildParams:
    path = out / PARAMS_FILE
    if not path.exists():
        raise BuildError(f"{out} is not an anyhand build folder: {path} is missing")
    try:
        return BuildParams.from_dict(json.loads(path.read_text())["params"])
    except (ValueError, KeyError, TypeError) as err:
        raise BuildError(f"{path}: unreadable build parameters ({err})") from err


def claim_folder(out: Path, params: BuildParams, scene_config: dict) -> None:
    """Record the parameters of a new build folder, or check that an existing one was built with
    the same; a mismatch would mix two datasets in one folder."""
    path = out / PARAMS_FILE
    if path.exists():
        old = read_params(out).to_dict()
        diff = [f"{k}={old[k]!r} (the command asks {v!r})" for k, v in params.to_dict().items() if old[k] != v]
        old_sampling = json.loads(path.read_text()).get("scene_config", {})
        sampling = json.loads(json.dumps(scene_config))  # as JSON stores it (tuples become lists)
        diff += [f"sampling setting {k}={old_sampling.get(k)!r} (this code samples {v!r})"
                 for k, v in sampling.items() if old_sampling.get(k) != v]
        if diff:
            raise BuildError(f"{out} was built with other parameters ({path}): {'; '.join(diff)}. "
                             f"Build into another folder, or repeat the original parameters.")
        return
    info = {"params": params.to_dict(), "scene_config": scene_config}
    write_atomic(path, json.dumps(info, indent=1).encode())


@dataclass(frozen=True)
class ShardRecord:
    file: str
    rows: int
    bytes: int
    sha256: str


def commit_shard(out: Path, shard: Shard, data: bytes) -> ShardRecord:
    """Write a rendered shard, then its record (the record's presence marks it finished)."""
    write_atomic(out / shard.path, data)
    record = ShardRecord(shard.path, shard.rows, len(data), hashlib.sha256(data).hexdigest())
    write_atomic(record_path(out, shard), json.dumps(record.__dict__, indent=1).encode())
    return record


def shard_problem(out: Path, shard: Shard) -> str | None:
    """Why `shard` is not finished and intact, naming the file at fault; None when it is."""
    file, rec_file = out / shard.path, record_path(out, shard)
    if not rec_file.exists():
        return f"{file}: not finished (no manifest record {rec_file})" if not file.exists() else \
            f"{file}: no manifest record ({rec_file} missing; the build was interrupted)"
    try:
        record = ShardRecord(**json.loads(rec_file.read_text()))
    except (ValueError, TypeError) as err:
        return f"{rec_file}: unreadable manifest record ({err})"
    if record.file != shard.path or record.rows != shard.rows:
        return (f"{rec_file}: the manifest records {record.file} with {record.rows} rows, the plan expects "
                f"{shard.path} with {shard.rows}")
    if not file.exists():
        return f"{file}: missing (listed in the manifest {rec_file})"
    try:
        rows = pq.ParquetFile(file).metadata.num_rows
    except (OSError, ValueError, pa.ArrowException) as err:  # ArrowInvalid for a truncated file
        return f"{file}: unreadable Parquet, truncated or damaged ({type(err).__name__}: {err})"
    if rows != record.rows:
        return f"{file}: holds {rows} rows, the manifest {rec_file} says {record.rows}"
    size, sha = file.stat().st_size, sha256_file(file)
    if (size, sha) != (record.bytes, record.sha256):
        return (f"{file}: {size} bytes with sha256 {sha[:12]}…, the manifest {rec_file} says "
                f"{record.bytes} bytes with sha256 {record.sha256[:12]}…")
    return None
