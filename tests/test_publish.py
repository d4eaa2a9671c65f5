"""`anyhand push` against a loopback stand-in of the Hub (tests/hub_standin.py).

One small real build (raster, 64 px) is pushed with the upload interrupted half-way, pushed
again, then downloaded and streamed back with `load_dataset("org/name", config, streaming=True)`
by a separate reader process that knows the Hub only through `HF_ENDPOINT`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import huggingface_hub
import pyarrow.parquet as pq
import pytest

from anyhand_hf.builder import BuildError, BuildParams, build, verify
from anyhand_hf.builder.publish import build_files, push
from anyhand_hf.cli import main
from hub_standin import Hub

REPO = "anyhand-org/anyhand-tiny"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build") / "anyhand"
    params = BuildParams(configs=("single_indoor",), train_scenes=1, test_scenes=1, mode="raster", size=64)
    assert build(out, params, progress=False).card is not None
    return out


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The stand-in, set as this process's Hub: what HF_ENDPOINT and HF_HUB_DISABLE_XET=1 set when
    huggingface_hub is imported (already done here), so those module constants are set instead."""
    with Hub() as hub:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setenv("HF_TOKEN", "hf_standin")
        yield hub


STREAM_BACK = textwrap.dedent("""
    import sys
    import datasets
    from datasets import Dataset, Image, load_dataset
    from huggingface_hub import snapshot_download

    datasets.config.USE_PARQUET_EXPORT = False  # no dataset viewer behind the stand-in
    repo, dump, snapshot = sys.argv[1:]
    for split in ("train", "test"):
        stream = load_dataset(repo, "single_indoor", split=split, streaming=True)
        for column in ("image", "depth", "mask"):  # the stored bytes, not pixels: compare exactly
            stream = stream.cast_column(column, Image(decode=False))
        Dataset.from_list(list(stream), features=stream.features).to_parquet(f"{dump}/{split}.parquet")
    snapshot_download(repo, repo_type="dataset", local_dir=snapshot)
""")


def test_push_resumes_after_an_interruption_and_streams_back_equal(built, hub, tmp_path, capsys):
    files, _, _ = build_files(built)
    lfs_files = [f for f in files if f.endswith((".parquet", ".png"))]
    (built / "notes.txt").write_text("not part of the dataset")  # never uploaded,
    (built / "single_indoor" / ".train-00000-of-00001.parquet.123-abcd.tmp").write_bytes(b"")  # nor a temp file
    hub.fail_uploads_after(1)
    with pytest.raises(RuntimeError, match="(?s)507.*Run the same command again to resume"):
        push(built, REPO, private=True)  # interrupted: one LFS object stored, nothing committed
    repo = hub.repos[REPO]
    assert repo.private and list(repo.commits[-1].files) == [".gitattributes"]
    assert len(hub.lfs_puts) == 1
    hub.fail_uploads_after(None)

    assert main(["push", str(built), "--repo-id", REPO]) == 0
    assert f"stream it: datasets.load_dataset('{REPO}', 'single_indoor'" in capsys.readouterr().out
    # The re-run skipped what the interrupted one had uploaded: every LFS object went up once.
    assert len(hub.lfs_puts) == len(set(hub.lfs_puts)) == len(lfs_files)
    head = repo.commits[-1].files
    assert sorted(head) == sorted(files + [".gitattributes"])
    assert all(head[f].data == (built / f).read_bytes() for f in files)
    assert repo.private  # the existing repo kept its visibility
    commits = len(repo.commits)
    push(built, REPO)  # nothing changed: nothing uploaded, no new commit
    assert len(repo.commits) == commits and len(hub.lfs_puts) == len(lfs_files)

    # A user elsewhere: only HF_ENDPOINT points at the stand-in.
    dump, snapshot = tmp_path / "streamed", tmp_path / "snapshot"
    dump.mkdir()
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": "hf_standin",
           "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    reader = subprocess.run([sys.executable, "-c", STREAM_BACK, REPO, str(dump), str(snapshot)], env=env,
                            capture_output=True, text=True)
    assert reader.returncode == 0, reader.stderr[-3000:]
    for split in ("train", "test"):
        (shard,) = [f for f in files if f.startswith(f"single_indoor/{split}-")]
        local, streamed = pq.read_table(built / shard), pq.read_table(dump / f"{split}.parquet")
        assert streamed.num_rows == local.num_rows > 0
        assert streamed.column_names == local.column_names
        for name in local.column_names:
            assert streamed.column(name).to_pylist() == local.column(name).to_pylist(), name
    assert verify(snapshot).configs == ("single_indoor",)  # the Hub copy is a complete, verified build


def test_push_refuses_an_unfinished_or_damaged_build(built, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    shutil.copytree(built, damaged)
    (damaged / "README.md").unlink()
    with pytest.raises(BuildError, match="README.md"):
        push(damaged, REPO)  # refused before any request: no endpoint is needed
    shutil.copy(built / "README.md", damaged / "README.md")
    shard = damaged / "single_indoor" / "train-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(BuildError, match="train-00000-of-00001.parquet"):
        push(damaged, REPO)
    assert main(["push", str(damaged), "--repo-id", REPO]) == 1
    error = capsys.readouterr().err
    assert error.startswith("anyhand push: error:") and "train-00000-of-00001.parquet" in error
