"""The v1 row schema: encode → Parquet → load_dataset(streaming=True) → decode gives the row back."""

import numpy as np
import pytest
import torch
from datasets import Dataset, load_dataset

from anyhand_hf.data import COLUMNS, FEATURES, decode_row, encode_row


def make_row(rng: np.random.Generator, size: int = 48, vertices: int = 779) -> dict:
    depth = rng.uniform(0.3, 3.0, (size, size)).astype(np.float32)
    depth[:4] = 0.0  # invalid pixels stay 0
    return {
        "image": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        "depth": depth,
        "mask": rng.integers(0, 4, (size, size), dtype=np.uint8),
        "bbox": rng.uniform(0, size, 4), "K": rng.normal(size=(3, 3)), "R": rng.normal(size=(3, 3)),
        "t": rng.normal(size=3), "global_orient": rng.normal(size=3), "hand_pose": rng.normal(size=45),
        "betas": rng.normal(size=10), "hand_transl": rng.normal(size=3), "joints_3d": rng.normal(size=(21, 3)),
        "joints_2d": rng.uniform(0, size, (21, 2)), "vertices_3d": rng.normal(size=(vertices, 3)),
        "is_right": bool(rng.integers(2)), "scene_id": f"scene-{rng.integers(1000)}", "view_id": 1, "meta": "{}",
    }


def test_round_trip_through_streamed_parquet(tmp_path):
    rng = np.random.default_rng(0)
    rows = [make_row(rng) for _ in range(3)]
    records = [encode_row(row, image_format="png") for row in rows]
    records.append(encode_row({"image": rows[0]["image"], "scene_id": "real-0"}))  # a real-data row: the rest absent
    Dataset.from_list(records, features=FEATURES).to_parquet(str(tmp_path / "train.parquet"))
    stream = load_dataset("parquet", data_files=str(tmp_path / "train.parquet"), split="train", streaming=True)
    assert stream.features == FEATURES
    back = [decode_row(example) for example in stream]
    assert len(back) == 4
    for row, got in zip(rows, back):
        assert list(got) == list(COLUMNS)
        np.testing.assert_array_equal(got["image"], row["image"])  # PNG: exact
        np.testing.assert_array_equal(got["mask"], row["mask"])
        assert got["depth"].dtype == np.float32
        assert np.abs(got["depth"] - row["depth"]).max() <= 0.0005 + 1e-6
        assert (got["depth"][:4] == 0).all()
        for name in ("bbox", "K", "R", "t", "global_orient", "hand_pose", "betas", "joints_3d", "joints_2d",
                     "vertices_3d"):
            np.testing.assert_allclose(got[name], np.asarray(row[name], np.float32), err_msg=name)
        assert (got["is_right"], got["scene_id"], got["view_id"]) == (row["is_right"], row["scene_id"], 1)
    assert back[3]["depth"] is None and back[3]["joints_3d"] is None and back[3]["scene_id"] == "real-0"
    assert np.abs(back[3]["image"].astype(int) - rows[0]["image"]).mean() < 20  # JPEG q95 of noise


def test_undecoded_pictures_and_torch():
    row = make_row(np.random.default_rng(1))
    got = decode_row(encode_row(row, image_format="png"), as_torch=True)
    assert isinstance(got["image"], torch.Tensor) and got["image"].dtype == torch.uint8
    assert torch.equal(got["mask"], torch.from_numpy(row["mask"]))
    assert got["joints_3d"].shape == (21, 3)


def test_bad_rows_are_named():
    row = make_row(np.random.default_rng(2))
    with pytest.raises(ValueError, match="joints_3d.*shape"):
        encode_row(row | {"joints_3d": np.zeros((16, 3))})
    with pytest.raises(ValueError, match="hand_pose.*non-finite"):
        encode_row(row | {"hand_pose": np.full(45, np.nan)})
    with pytest.raises(ValueError, match="unknown columns.*'colour'"):
        encode_row(row | {"colour": 1})
    with pytest.raises(ValueError, match="depth must be a 16-bit"):
        decode_row({"depth": encode_row(row)["image"]})
