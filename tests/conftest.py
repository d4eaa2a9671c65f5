"""Shared test helpers: small MANO-layout files made on the spot (real MANO cannot be shipped)."""

from __future__ import annotations

import numpy as np
import pytest

from anyhand_hf.hand.skeleton import MANO_PARENTS


def random_mano_arrays(seed: int = 0, n_verts: int = 778) -> dict[str, np.ndarray]:
    """Random but well-shaped MANO-layout arrays: hand-sized template, ≤4 bones per vertex,
    normalised regressor rows, orthonormal PCA basis. float64 like the official files."""
    rng = np.random.default_rng(seed)
    n_joints = 16
    weights = np.zeros((n_verts, n_joints))
    for v in range(n_verts):
        bones = rng.choice(n_joints, size=4, replace=False)
        weights[v, bones] = rng.dirichlet(np.ones(4))
    regressor = rng.random((n_joints, n_verts)) * (rng.random((n_joints, n_verts)) < 0.02)
    regressor[:, 0] += 1e-3  # no empty rows
    regressor /= regressor.sum(1, keepdims=True)
    components, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    parents = np.array(MANO_PARENTS, dtype=np.int64)
    parents[0] = 4294967295
    return {
        "v_template": rng.normal(scale=0.04, size=(n_verts, 3)),
        "shapedirs": rng.normal(scale=0.005, size=(n_verts, 3, 10)),
        "posedirs": rng.normal(scale=0.002, size=(n_verts, 3, 135)),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.stack([parents, np.arange(n_joints)]),
        "f": rng.integers(0, n_verts, size=(1538, 3)).astype(np.uint32),
        "hands_components": components,
        "hands_mean": rng.normal(scale=0.2, size=45),
    }


@pytest.fixture
def mano_arrays() -> dict[str, np.ndarray]:
    return random_mano_arrays()
