"""`anyhand build` (issue 4): real SAPIEN raster renders at 64 px, written as Parquet shards,
read back through `datasets.load_dataset(..., streaming=True)`, verified and repaired."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from anyhand_hf.builder import BuildError, BuildParams, build, plan_shards, verify
from anyhand_hf.builder.card import COLUMN_DOCS, statistics
from anyhand_hf.builder.manifest import record_path

from anyhand_hf.cli import main
from anyhand_hf.data.schema import COLUMNS, decode_row

PICTURES = ("image", "depth", "mask")
# indoor scenes render fastest (an environment map costs seconds per scene on lavapipe):
# 3 train + 1 test scenes, one per shard: 4 shards, 8 rows
SMALL = BuildParams(configs=("single_indoor",), train_scenes=3, test_scenes=1, scenes_per_shard=1, size=64,
                    mode="raster")


def streamed_rows(out, config, split) -> list[dict]:
    from datasets import load_dataset

    return [decode_row(r) for r in load_dataset(str(out), config, split=split, streaming=True)]


def labels_by_view(out) -> dict[tuple[str, int], dict]:
    """Every row's non-picture columns, keyed by (scene_id, view_id), read through load_dataset;
    a duplicate key fails."""
    labels = {}
    params = verify(out)
    for config in params.configs:
        for split in [s for s in ("train", "test") if params.scenes(s)]:
            for row in streamed_rows(out, config, split):
                key = (row["scene_id"], row["view_id"])
                assert key not in labels, f"duplicate row {key}"
                labels[key] = {k: v for k, v in row.items() if k not in PICTURES}
    return labels


def assert_same_labels(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key, row in a.items():
        for column, value in row.items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(b[key][column]), err_msg=f"{key} {column}")


@pytest.fixture(scope="module")
def full_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("anyhand") / "full"
    report = build(out, SMALL, progress=False)
    assert report.card == out / "README.md" and len(report.rendered) == len(plan_shards(SMALL)) == 4
    return out


def test_every_column_round_trips_through_streaming(full_build):
    from anyhand_hf.generate import render_scene
    from anyhand_hf.hand import HandModel
    from anyhand_hf.render import SapienRenderer
    from anyhand_hf.scene import sample_scene

    hand = HandModel.open()
    config = SMALL.configs[0]
    spec = sample_scene(SMALL.scene_config(), SMALL.seed, config, "train", 1, hand)
    with SapienRenderer(SMALL.render_settings()) as renderer:
        rendered = render_scene(spec, renderer, hand)
    streamed = [r for r in streamed_rows(full_build, config, "train") if r["scene_id"] == spec.scene_id]
    assert [r["view_id"] for r in streamed] == [0, 1]
    for want, got in zip(rendered, streamed):
        assert set(got) == set(COLUMNS)
        for column in COLUMNS:
            if column in PICTURES:
                continue
            np.testing.assert_array_equal(np.asarray(got[column]), np.asarray(want[column]), err_msg=column)
        np.testing.assert_array_equal(got["mask"], want["mask"])
        valid = want["depth"] > 0
        np.testing.assert_array_equal(got["depth"] > 0, valid)
        assert np.abs(got["depth"] - want["depth"])[valid].max() <= 0.0005 + 1e-6
        error = np.abs(got["image"].astype(int) - want["image"].astype(int))  # JPEG q95, 4:4:4
        assert got["image"].shape == want["image"].shape and error.mean() < 2.0 and error.max() < 64


def test_png_images_round_trip_exactly(tmp_path):
    params = BuildParams(configs=SMALL.configs, train_scenes=1, test_scenes=0, size=64, mode="raster",
                         image_format="png")
    build(tmp_path, params, progress=False)
    from anyhand_hf.generate import render_scene
    from anyhand_hf.hand import HandModel
    from anyhand_hf.render import SapienRenderer
    from anyhand_hf.scene import sample_scene

    hand = HandModel.open()
    spec = sample_scene(params.scene_config(), params.seed, params.configs[0], "train", 0, hand)
    with SapienRenderer(params.render_settings()) as renderer:
        rendered = render_scene(spec, renderer, hand)
    for want, got in zip(rendered, streamed_rows(tmp_path, params.configs[0], "train"), strict=True):
        np.testing.assert_array_equal(got["image"], want["image"])


def test_default_config_card_and_preview(tmp_path):
    from datasets import load_dataset
    from PIL import Image

    params = BuildParams(configs=("single_indoor", "single_envmap"), train_scenes=1, test_scenes=0, size=64,
                         mode="raster")
    build(tmp_path, params, progress=False)
    default = load_dataset(str(tmp_path), streaming=True)
    assert list(default) == ["train"] and default["train"].config_name == "single_indoor"
    assert [r["scene_id"] for r in default["train"]] == ["single_indoor-train-00000000"] * 2
    assert [r["scene_id"] for r in streamed_rows(tmp_path, "single_envmap", "train")] == \
        ["single_envmap-train-00000000"] * 2
    card = (tmp_path / "README.md").read_text()
    assert set(COLUMN_DOCS) == set(COLUMNS)
    for column in COLUMNS:
        assert f"| `{column}` |" in card
    assert '"distance_means_m"' in card and "default: true" in card and "## Citation" in card
    assert "| `single_indoor` | `single_envmap` |" in card  # statistics per config
    with Image.open(tmp_path / "preview.png") as preview:
        assert preview.width > 3 * 64 and preview.height > 64
    assert len(labels_by_view(tmp_path)) == 4


def test_shard_selections_merged_equal_the_full_build(full_build, tmp_path):
    first, second = tmp_path / "machine0", tmp_path / "machine1"
    report = build(first, SMALL, shard=(0, 2), progress=False)
    assert report.card is None and len(report.rendered) == 2 and len(report.pending) == 2
    build(second, SMALL, shard=(1, 2), progress=False)
    shutil.copytree(second, first, dirs_exist_ok=True)
    merged = build(first, SMALL, shard=(0, 2), progress=False)
    assert merged.rendered == [] and merged.card is not None
    assert_same_labels(labels_by_view(first), labels_by_view(full_build))
    for shard in plan_shards(SMALL):  # same renderer, same pixels: byte-identical files
        assert (first / shard.path).read_bytes() == (full_build / shard.path).read_bytes()


def test_damaged_build_is_named_and_only_broken_shards_are_rerendered(full_build, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(full_build, out)
    truncated, disagreeing, deleted = plan_shards(SMALL)[:3]
    data = (out / truncated.path).read_bytes()
    (out / truncated.path).write_bytes(data[: len(data) // 2])
    record = json.loads(record_path(out, disagreeing).read_text())
    record_path(out, disagreeing).write_text(json.dumps(record | {"sha256": "0" * 64}))
    (out / deleted.path).unlink()

    with pytest.raises(BuildError) as err:
        verify(out)
    message = str(err.value)
    assert f"{out / truncated.path}: unreadable Parquet" in message
    assert str(record_path(out, disagreeing)) in message and str(out / disagreeing.path) in message
    assert f"{out / deleted.path}: missing" in message and "README.md names it" in message

    report = build(out, SMALL, progress=False)
    assert sorted(report.rendered) == sorted(s.path for s in (truncated, disagreeing, deleted))
    assert len(report.repaired) == 3
    verify(out)
    assert_same_labels(labels_by_view(out), labels_by_view(full_build))


def test_other_parameters_for_an_existing_folder_are_refused(full_build, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(full_build, out, ignore=shutil.ignore_patterns("*.parquet"))
    with pytest.raises(BuildError, match=r"build\.json.*seed=0 \(the command asks 1\)"):
        build(out, BuildParams(**(SMALL.to_dict() | {"seed": 1})), progress=False)
    assert not list(out.rglob("*.parquet"))


def test_unknown_configs_are_refused_before_rendering(tmp_path, capsys):
    with pytest.raises(ValueError, match="single_outdoor"):
        BuildParams(configs=("single_indoor", "single_outdoor"))
    assert main(["build", str(tmp_path / "out"), "--configs", "single_outdoor", "--mode", "raster"]) == 1
    assert "unknown config 'single_outdoor'" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_statistics_report_hand_occlusion_when_rows_carry_it():
    metas = [{"pose_mode": "fist", "hand_occlusion": h} for h in (0.0, 0.1, 0.3, 0.5)]
    stats = statistics(metas, np.array([[0, 0, 10, 20]] * 4, np.float32))
    assert stats["rows with > 20% of the hand occluded"] == "50.0 %"
    assert stats["hand occlusion by the object (fraction)"].startswith("0 / ") and stats["pose modes"] == "fist 100 %"
    assert not any("occlu" in k for k in statistics([{"pose_mode": "flat"}], np.zeros((1, 4))))


def test_ray_backend_builds_the_same_shards_as_the_local_one(full_build, tmp_path):
    import ray

    ray.init(num_cpus=2, include_dashboard=False)  # a local cluster, as `ray.init()` in build() would start
    try:
        report = build(tmp_path, SMALL, shard=(0, 2), workers=2, backend="ray", progress=False)
    finally:
        ray.shutdown()
    assert sorted(report.rendered) == sorted(s.path for s in plan_shards(SMALL)[0::2]) and report.card is None
    for path in report.rendered:  # one actor per shard, each with its own renderer: the same bytes
        assert (tmp_path / path).read_bytes() == (full_build / path).read_bytes()
