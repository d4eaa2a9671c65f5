"""`anyhand build` as a user runs it: killed mid-build and resumed, and on local worker
processes (slow: every process pays SAPIEN's first-frame shader compilation)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from anyhand_hf.builder import BuildParams, build, plan_shards
from anyhand_hf.builder.manifest import META_DIR
from test_builder import assert_same_labels, labels_by_view

PARAMS = BuildParams(configs=("single_indoor",), train_scenes=6, test_scenes=1, scenes_per_shard=1, size=64,
                     mode="raster")
COMMAND = ["build", "--configs", "single_indoor", "--train-scenes", "6", "--test-scenes", "1",
           "--scenes-per-shard", "1", "--size", "64", "--mode", "raster"]


def anyhand(out, *extra) -> list[str]:
    return [sys.executable, "-m", "anyhand_hf.cli", COMMAND[0], str(out), *COMMAND[1:], *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    assert build(out, PARAMS, progress=False).card is not None
    return out


@pytest.mark.slow
def test_kill_9_mid_build_then_the_same_command_resumes(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(anyhand(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = out / META_DIR / "shards" / "single_indoor"
    deadline = time.monotonic() + 300
    while len(list(records.glob("*.json"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(records.glob("*.json")))
    assert 2 <= finished < len(plan_shards(PARAMS)), "the build was not killed midway"
    assert not (out / "README.md").exists()

    resumed = subprocess.run(anyhand(out), capture_output=True, text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"rendered {len(plan_shards(PARAMS)) - finished} shard(s)" in resumed.stdout
    assert_same_labels(labels_by_view(out), labels_by_view(uninterrupted))  # no duplicate, none missing
    for shard in plan_shards(PARAMS):
        assert (out / shard.path).read_bytes() == (uninterrupted / shard.path).read_bytes()


@pytest.mark.slow
def test_local_worker_processes_build_the_same_dataset(uninterrupted, tmp_path):
    report = build(tmp_path, PARAMS, workers=2, progress=False)
    assert report.card is not None and len(report.rendered) == len(plan_shards(PARAMS))
    for shard in plan_shards(PARAMS):
        assert (tmp_path / shard.path).read_bytes() == (uninterrupted / shard.path).read_bytes()
