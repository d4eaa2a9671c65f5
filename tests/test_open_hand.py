"""The open procedural hand: reproducible, MANO-layout, a clean closed surface, a sensible rig."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from anyhand_hf.hand import open_hand as oh

PARENTS = oh.PARENTS
ASSET = oh.default_asset_path()


@pytest.fixture(scope="module")
def asset() -> dict[str, np.ndarray]:
    with np.load(ASSET, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def mesh(asset):
    return asset["v_template"], asset["f"].astype(np.int64)


@pytest.fixture(scope="module")
def skel():
    return oh.skeleton(oh.OpenHandParams())


# ---------------------------------------------------------------------------------------------
# helpers


def lbs(a: dict, pose: np.ndarray, betas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy MANO forward pass: shape blend, joints, pose correctives, linear blend
    skinning (rotations in the parent's frame, rest frames world-aligned). Returns posed
    vertices (V,3) and joints (16,3)."""
    v = a["v_template"] + (0 if betas is None else a["shapedirs"] @ betas)
    joints = a["J_regressor"] @ v
    rot = Rotation.from_rotvec(pose.reshape(16, 3)).as_matrix()
    v = v + a["posedirs"] @ (rot[1:] - np.eye(3)).reshape(135)  # pose correctives, as MANO
    g = np.zeros((16, 4, 4))
    for j in range(16):
        t = np.eye(4)
        t[:3, :3] = rot[j]
        t[:3, 3] = joints[j] - (joints[PARENTS[j]] if j else 0.0)
        g[j] = t if j == 0 else g[PARENTS[j]] @ t
    rel = g.copy()
    rel[:, :3, 3] -= np.einsum("jab,jb->ja", g[:, :3, :3], joints)
    m = np.einsum("vj,jab->vab", a["weights"], rel)
    return np.einsum("vab,vb->va", m[:, :3, :3], v) + m[:, :3, 3], g[:, :3, 3]


def face_normals(v, f):
    return np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])


def capped_volume(v, f, ring):
    c = v[ring].mean(axis=0)
    t = v[f] - c
    return np.sum(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2]))) / 6.0


def segments_cross_triangles(p0, p1, a, b, c):
    """Whether segments p0-p1 properly cross triangles abc (all (N,3)); Moller-Trumbore."""
    d = p1 - p0
    e1, e2 = b - a, c - a
    h = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, h)
    ok = np.abs(det) > 1e-18
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = p0 - a
    u = inv * np.einsum("ij,ij->i", s, h)
    q = np.cross(s, e1)
    w = inv * np.einsum("ij,ij->i", d, q)
    t = inv * np.einsum("ij,ij->i", e2, q)
    eps = 1e-9
    return ok & (u > eps) & (w > eps) & (u + w < 1 - eps) & (t > eps) & (t < 1 - eps)


def self_intersecting_pairs(v: np.ndarray, f: np.ndarray) -> int:
    """Exact-ish count of intersecting pairs of triangles that share no vertex (candidate pairs
    from a bounding-sphere broad phase; a pair intersects when an edge of one crosses the other)."""
    cent = v[f].mean(axis=1)
    rad = np.max(np.linalg.norm(v[f] - cent[:, None], axis=2), axis=1)
    tree = cKDTree(cent)
    pairs = np.array(sorted(tree.query_pairs(2 * rad.max())), dtype=np.int64)
    near = np.linalg.norm(cent[pairs[:, 0]] - cent[pairs[:, 1]], axis=1) <= rad[pairs[:, 0]] + rad[pairs[:, 1]]
    pairs = pairs[near]
    share = (f[pairs[:, 0]][:, :, None] == f[pairs[:, 1]][:, None, :]).any(axis=(1, 2))
    pairs = pairs[~share]
    hit = np.zeros(len(pairs), dtype=bool)
    for first, second in ((0, 1), (1, 0)):
        ta, tb = f[pairs[:, first]], f[pairs[:, second]]
        for i, j in ((0, 1), (1, 2), (2, 0)):
            hit |= segments_cross_triangles(v[ta[:, i]], v[ta[:, j]], v[tb[:, 0]], v[tb[:, 1]], v[tb[:, 2]])
    return int(hit.sum())


def hand_length(v, joints, tip_ids):
    """Wrist joint to the middle fingertip along the hand's axis (-x)."""
    return float(joints[0, 0] - v[tip_ids[2], 0])


# ---------------------------------------------------------------------------------------------
# the file


def test_regenerating_reproduces_the_shipped_asset_exactly(asset):
    for generator_dependency in ("skimage", "fast_simplification", "gpytoolbox", "xatlas"):
        pytest.importorskip(generator_dependency)
    built = oh.build_open_hand()
    assert sorted(built) == sorted(asset)
    for key in asset:
        assert built[key].dtype == asset[key].dtype, key
        assert np.array_equal(built[key], asset[key]), key


def test_asset_is_small_and_loads_without_pickle():
    assert ASSET.stat().st_size < 1_000_000
    with np.load(ASSET, allow_pickle=False) as data:
        assert "v_template" in data.files


def test_keys_shapes_and_dtypes(asset):
    n = len(asset["v_template"])
    assert 700 <= n <= 900
    nf = len(asset["f"])
    expected = {
        "v_template": ((n, 3), np.float64), "f": ((nf, 3), np.uint32),
        "shapedirs": ((n, 3, 10), np.float64), "posedirs": ((n, 3, 135), np.float64),
        "J_regressor": ((16, n), np.float64), "weights": ((n, 16), np.float64),
        "kintree_table": ((2, 16), np.int64), "hands_components": ((45, 45), np.float64),
        "hands_mean": ((45,), np.float64), "ft": ((nf, 3), np.int64),
        "tip_vertex_ids": ((5,), np.int64), "part_ids": ((n,), np.int64),
    }
    for key, (shape, dtype) in expected.items():
        assert asset[key].shape == shape, key
        assert asset[key].dtype == dtype, key
    assert asset["vt"].dtype == np.float64 and asset["vt"].shape[1] == 2
    assert asset["wrist_ring"].dtype == np.int64 and asset["wrist_ring"].ndim == 1
    for key, value in asset.items():
        assert np.all(np.isfinite(value)), key
    assert asset["f"].max() < n and asset["ft"].max() < len(asset["vt"])


def test_kintree_is_manos(asset):
    kt = asset["kintree_table"]
    assert kt[0, 0] == 4294967295
    assert list(kt[0, 1:]) == [0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
    assert list(kt[1]) == list(range(16))


# ---------------------------------------------------------------------------------------------
# the surface


def test_one_component_manifold_open_only_at_the_wrist(asset, mesh):
    v, f = mesh
    n = len(v)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    assert connected_components(adj, directed=False)[0] == 1
    assert len(np.unique(f)) == n  # no unreferenced vertices
    # Consistent winding: every directed edge once; every undirected edge in at most 2 faces.
    directed = {tuple(x) for x in e}
    assert len(directed) == len(e)
    und = np.sort(e, axis=1)
    _, counts = np.unique(und, axis=0, return_counts=True)
    assert counts.max() == 2
    loops = oh.boundary_loops(f)
    assert len(loops) == 1
    ring = asset["wrist_ring"]
    loop = loops[0]
    assert len(loop) == len(ring)
    start = int(np.nonzero(loop == ring[0])[0][0])
    assert np.array_equal(np.roll(loop, -start), ring)  # same loop, same order
    # Vertex manifold: each vertex's faces form one fan (Euler characteristic of a disc).
    assert n - len(counts) + len(f) == 1


def test_wrist_ring_is_a_wrist_sized_loop_proximal_of_the_wrist(asset, mesh, skel):
    v, _ = mesh
    ring = v[asset["wrist_ring"]]
    assert np.allclose(ring[:, 0], ring[0, 0]) and ring[0, 0] > skel["joints"][0, 0]
    width, depth = np.ptp(ring[:, 2]), np.ptp(ring[:, 1])
    assert 0.050 < width < 0.064 and 0.036 < depth < 0.046


def test_outward_winding(asset, mesh):
    v, f = mesh
    assert capped_volume(v, f, asset["wrist_ring"]) > 2e-4  # m^3: a hand is ~ 300-450 ml
    # Fingertips' faces point away from the hand.
    n = face_normals(v, f)
    tip_faces = np.nonzero(np.isin(f, asset["tip_vertex_ids"]).any(axis=1))[0]
    out = v[f[tip_faces]].mean(axis=1) - v.mean(axis=0)
    assert np.mean(np.einsum("ij,ij->i", n[tip_faces], out) > 0) > 0.8


def test_no_self_intersection_at_rest(mesh):
    v, f = mesh
    assert self_intersecting_pairs(v, f) == 0


def test_triangle_quality(mesh):
    v, f = mesh
    t = v[f]
    sq = sum(np.sum((t[:, i] - t[:, (i + 1) % 3]) ** 2, axis=1) for i in range(3))
    area = 0.5 * np.linalg.norm(face_normals(v, f), axis=1)
    quality = 4 * np.sqrt(3) * area / sq  # 1 = equilateral
    assert quality.min() > 0.2 and np.median(quality) > 0.85


def test_adult_proportions(asset, mesh, skel):
    v, _ = mesh
    joints, tips = skel["joints"], asset["tip_vertex_ids"]
    assert 0.180 < hand_length(v, joints, tips) < 0.190
    # Palm breadth across the metacarpal heads.
    mcp_x = joints[[1, 4, 7, 10], 0].mean()
    palm = np.isin(asset["part_ids"], [0, 1, 4, 7, 10])
    band = v[(np.abs(v[:, 0] - mcp_x) < 0.006) & palm]
    assert 0.080 < np.ptp(band[:, 2]) < 0.090
    # Palm thicker than fingers; palm ~2.5-3.2 cm at its middle.
    mid = v[np.abs(v[:, 0] + 0.05) < 0.004]
    mid = mid[np.abs(mid[:, 2]) < 0.015]
    assert 0.025 < np.ptp(mid[:, 1]) < 0.033
    # Finger lengths: middle > ring > index > pinky (MCP to tip).
    length = {f: np.linalg.norm(v[tips[i]] - joints[base]) for i, (f, base) in
              enumerate(zip(("thumb", "index", "middle", "ring", "pinky"), (13, 1, 4, 10, 7)))}
    assert length["middle"] > length["ring"] > length["index"] > length["pinky"]
    # Thumb sits low on the radial side, 35-55 deg from the index in the palm plane, palmar.
    assert joints[13, 2] > joints[1, 2] - 0.005 and -joints[13, 0] < 0.35 * -joints[1, 0]
    thumb = v[tips[0]] - joints[13]
    index = v[tips[1]] - joints[1]
    ang = np.degrees(np.arccos(np.dot(thumb[[0, 2]], index[[0, 2]]) /
                               (np.linalg.norm(thumb[[0, 2]]) * np.linalg.norm(index[[0, 2]]))))
    assert 35 < ang < 55
    assert thumb[1] < 0


def test_tip_vertices_are_the_fingertips(asset, mesh, skel):
    v, _ = mesh
    tips = asset["tip_vertex_ids"]
    assert len(set(tips.tolist())) == 5
    assert np.argmax(v[tips, 2]) == 0  # the thumb is on the +z side
    assert np.all(np.diff(v[tips[1:], 2]) < 0)  # index, middle, ring, pinky from +z to -z
    parts = asset["part_ids"]
    assert list(parts[tips]) == [15, 3, 6, 12, 9]


# ---------------------------------------------------------------------------------------------
# the rig


def test_skinning_weights(asset):
    w, parts = asset["weights"], asset["part_ids"]
    assert np.all(w >= 0)
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert (w > 0).sum(axis=1).max() <= 4
    assert np.mean(np.argmax(w, axis=1) == parts) > 0.9  # part ids are (mostly) the dominant bone
    # Palm mostly on the wrist bone, thenar on the thumb CMC bone; every bone drives something.
    assert np.mean(parts == 0) > 0.25 and np.sum(parts == 13) > 20
    assert all(np.sum(parts == j) >= 5 for j in range(16))
    # Blends exist across each finger joint (no hard seams).
    for j in (2, 3, 5, 6, 8, 9, 11, 12, 14, 15):
        p = PARENTS[j]
        assert np.sum((w[:, j] > 0.2) & (w[:, p] > 0.2)) >= 4, j


def test_joint_regressor_gives_the_designed_joints(asset, skel):
    reg = asset["J_regressor"]
    assert np.all(reg >= 0)
    assert np.allclose(reg.sum(axis=1), 1.0, atol=1e-9)
    assert np.allclose(reg @ asset["v_template"], skel["joints"], atol=1e-6)
    assert skel["joints"][0] == pytest.approx(np.zeros(3))


def test_flexion_axes_bend_towards_the_palm(asset):
    axes = oh.flexion_axes()
    assert np.allclose(np.abs(axes[1:13, 2]), 1.0, atol=0.05) and np.all(axes[1:13, 2] > 0)
    for base, tip in ((1, 1), (4, 2), (7, 4), (10, 3), (13, 0)):
        pose = np.zeros((16, 3))
        pose[base] = 0.6 * axes[base]
        pose[base + 1] = 0.6 * axes[base + 1]
        posed, _ = lbs(asset, pose)
        tid = asset["tip_vertex_ids"][tip]
        move = posed[tid] - asset["v_template"][tid]
        assert move[1] < -0.01, base  # towards the palm (-y)


def depth_inside(v, f, points):
    """Distance from points (inside the hand) to the nearest surface point. Unsigned on purpose:
    a bent LBS finger folds its inner skin through itself, which confuses inside tests."""
    import trimesh

    return trimesh.proximity.closest_point(trimesh.Trimesh(v, f, process=False), points)[1]


@pytest.mark.parametrize("joint", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15])
def test_ninety_degree_flexion_keeps_the_joint(asset, mesh, skel, joint):
    """Bending a joint 90 deg must not collapse it: the skin stays more than half its rest
    distance away from the joint centre and from the bone just past the joint (linear blend
    skinning's failure mode is the skin sinking onto the joint, a candy wrapper)."""
    v, f = mesh
    axes = oh.flexion_axes()
    pose = np.zeros((16, 3))
    pose[joint] = np.pi / 2 * axes[joint]
    posed, pj = lbs(asset, pose)
    rest_joints = asset["J_regressor"] @ v
    # The joint centre, and for PIP/DIP/IP joints also a point a quarter along the bent bone (at
    # MCPs that point meets the palm's own flesh, which LBS lets the finger sink into; a 90 deg
    # thumb MCP is past its range and lays the thumb into the palm).
    ts = (0.0,) if joint in (1, 4, 7, 10, 14) else (0.0, 0.25)
    finger = (joint - 1) // 3  # MANO finger order: index, middle, pinky, ring, thumb
    tip = asset["tip_vertex_ids"][(1, 2, 4, 3, 0)[finger]]

    def samples(jj, verts):
        end = jj[joint + 1] if joint % 3 else verts[tip]  # the child joint, or the fingertip
        return np.stack([jj[joint] + t * (end - jj[joint]) for t in ts])

    rest = depth_inside(v, f, samples(rest_joints, v))
    bent = depth_inside(posed, f, samples(pj, posed))
    assert np.all(rest > 0.004)
    assert np.all(bent > 0.5 * rest), (joint, bent / rest)


# ---------------------------------------------------------------------------------------------
# shape space


def test_shape_directions_move_joints_as_designed(asset, skel):
    params = oh.OpenHandParams()
    _, joint_dirs, _ = oh.shape_directions(params, skel, asset["v_template"], asset["weights"])
    reg = asset["J_regressor"]
    for k in range(10):
        got = reg @ asset["shapedirs"][:, :, k]
        assert np.allclose(got, joint_dirs[:, :, k], atol=6e-4), (k, np.abs(got - joint_dirs[:, :, k]).max())
    # A combination, too (everything is linear).
    b = np.linspace(-2, 2, 10)
    got = reg @ (asset["v_template"] + asset["shapedirs"] @ b)
    assert np.allclose(got, skel["joints"] + joint_dirs @ b, atol=1.5e-3)


def _measure(a, v, skel):
    joints = a["J_regressor"] @ v
    tips = a["tip_vertex_ids"]
    mcp_x = joints[[1, 4, 7, 10], 0].mean()
    band = v[(np.abs(v[:, 0] - mcp_x) < 0.006) & np.isin(a["part_ids"], [0, 1, 4, 7, 10])]
    mid = v[(np.abs(v[:, 0] - 0.55 * mcp_x) < 0.004) & (np.abs(v[:, 2]) < 0.015)]
    finger = {name: np.linalg.norm(v[tips[i]] - joints[base]) for i, (name, base) in
              enumerate(zip(("thumb", "index", "middle", "ring", "pinky"), (13, 1, 4, 10, 7)))}
    axis = (joints[6] - joints[5]) / np.linalg.norm(joints[6] - joints[5])
    rel_p2 = v[a["part_ids"] == 5] - joints[5]  # middle finger, middle phalanx
    girth = np.linalg.norm(rel_p2 - np.outer(rel_p2 @ axis, axis), axis=1).mean()
    return {"length": joints[0, 0] - v[tips[2], 0], "palm_width": np.ptp(band[:, 2]),
            "palm_length": np.linalg.norm(joints[4] - joints[0]), "palm_thickness": np.ptp(mid[:, 1]),
            "girth": girth, "thumb_base_x": joints[13, 0], **finger}


def test_each_shape_direction_changes_what_it_claims(asset, skel):
    v0 = asset["v_template"]
    base = _measure(asset, v0, skel)
    d = []
    for k in range(10):
        m = _measure(asset, v0 + 2.0 * asset["shapedirs"][:, :, k], skel)
        d.append({key: m[key] - base[key] for key in base})
    rel = lambda k, key: d[k][key] / base[key]  # noqa: E731
    assert len(oh.SHAPE_DIRECTIONS) == 10
    # 0: isotropic size.
    assert rel(0, "length") == pytest.approx(0.10, abs=0.01) and rel(0, "palm_width") == pytest.approx(0.10, abs=0.02)
    # 1: palm width grows more than finger length.
    assert d[1]["palm_width"] > 0.005 and abs(rel(1, "middle")) < 0.01 and d[1]["palm_width"] > 5 * abs(d[1]["length"])
    # 2: palm length; fingers unchanged.
    assert d[2]["palm_length"] > 0.005 and abs(rel(2, "middle")) < 0.01
    # 3: four finger lengths, thumb unchanged.
    assert all(rel(3, f) > 0.05 for f in ("index", "middle", "ring", "pinky")) and abs(rel(3, "thumb")) < 0.01
    assert d[3]["palm_length"] == pytest.approx(0.0, abs=3e-4)
    # 4: girth, lengths unchanged.
    assert rel(4, "girth") > 0.08 and abs(rel(4, "middle")) < 0.01
    # 5: palm thickness, lengths unchanged.
    assert rel(5, "palm_thickness") > 0.08 and abs(rel(5, "length")) < 0.01
    # 6: thumb length only.
    assert rel(6, "thumb") > 0.07 and abs(rel(6, "middle")) < 0.005
    # 7: thumb base moves distally.
    assert d[7]["thumb_base_x"] < -0.003 and abs(rel(7, "middle")) < 0.005
    # 8: index longer, ring shorter.
    assert rel(8, "index") > 0.04 and rel(8, "ring") < -0.04
    # 9: pinky length.
    assert rel(9, "pinky") > 0.08 and abs(rel(9, "middle")) < 0.005


def test_shape_space_stays_plausible(asset, mesh, skel):
    v0, f = mesh
    n0 = face_normals(v0, f)
    rng = np.random.default_rng(0)
    betas = [3.0 * s * np.eye(10)[k] for k in range(10) for s in (-1, 1)] + list(rng.normal(size=(100, 10)))
    for b in betas:
        v = v0 + asset["shapedirs"] @ b
        length = v[asset["tip_vertex_ids"][2], 0] * -1 + (asset["J_regressor"] @ v)[0, 0]
        assert 0.15 < length < 0.22, b
        n = face_normals(v, f)
        assert np.all(np.einsum("ij,ij->i", n, n0) > 0), b  # no inverted triangles


# ---------------------------------------------------------------------------------------------
# UVs, pose basis, smplx


def test_uvs_in_unit_square_without_overlap(asset):
    vt, ft = asset["vt"], asset["ft"]
    assert vt.min() >= 0 and vt.max() <= 1
    res = 1024
    count = np.zeros((res, res), dtype=np.int32)
    area = 0.0
    for tri in vt[ft] * res:
        x0, y0 = np.floor(tri.min(axis=0)).astype(int)
        x1, y1 = np.ceil(tri.max(axis=0)).astype(int)
        gx, gy = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5, indexing="ij")
        (ax, ay), (bx, by), (cx, cy) = tri
        det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
        if abs(det) < 1e-12:
            continue
        area += abs(det) / 2
        l0 = ((by - cy) * (gx - cx) + (cx - bx) * (gy - cy)) / det
        l1 = ((cy - ay) * (gx - cx) + (ax - cx) * (gy - cy)) / det
        inside = (l0 > 1e-6) & (l1 > 1e-6) & (1 - l0 - l1 > 1e-6)
        count[x0:x1, y0:y1] += inside
    covered = np.sum(count > 0)
    assert np.sum(count > 1) < 0.005 * covered
    assert covered > 0.4 * res * res  # reasonably packed
    # UV faces are the mesh faces, seams split vertices only.
    assert len(ft) == len(asset["f"])


def test_pose_correctives_are_small_local_and_help(asset):
    pd = asset["posedirs"]
    assert np.abs(pd).max() < 0.02
    rigid = asset["weights"].max(axis=1) == 1.0
    assert np.all(pd[rigid] == 0)
    # At a 90 deg PIP bend the correctives move the skin (towards the volume-keeping blend).
    axes = oh.flexion_axes()
    pose = np.zeros((16, 3))
    pose[5] = np.pi / 2 * axes[5]
    with_pd, _ = lbs(asset, pose)
    without, _ = lbs({**asset, "posedirs": np.zeros_like(pd)}, pose)
    moved = np.linalg.norm(with_pd - without, axis=1)
    assert 0.0005 < moved.max() < 0.01
    assert np.all(moved[asset["weights"][:, 5] == 0] == 0)  # nothing outside the joint's reach


def test_pose_basis_is_orthonormal(asset):
    c = asset["hands_components"]
    assert np.allclose(c @ c.T, np.eye(45), atol=1e-9)
    assert asset["hands_mean"].shape == (45,) and np.abs(asset["hands_mean"]).max() < 1.5
    # The first direction is a whole-hand curl: it flexes the PIPs of all fingers together.
    axes = oh.flexion_axes()
    first = c[0].reshape(15, 3)
    pip = [np.dot(first[j - 1], axes[j]) for j in (2, 5, 8, 11)]
    assert all(np.sign(x) == np.sign(pip[0]) and abs(x) > 0.1 for x in pip)


def test_loads_in_smplx_and_matches_template(asset, tmp_path):
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    shutil.copy(ASSET, tmp_path / "MANO_RIGHT.npz")
    model = smplx.MANO(str(tmp_path), is_rhand=True, use_pca=False, flat_hand_mean=True, ext="npz")
    out = model(betas=torch.zeros(1, 10), global_orient=torch.zeros(1, 3), hand_pose=torch.zeros(1, 45))
    assert np.allclose(out.vertices[0].detach().numpy(), asset["v_template"], atol=1e-6)
    assert np.allclose(out.joints[0].detach().numpy(), asset["J_regressor"] @ asset["v_template"], atol=1e-6)
    # A posed, shaped hand agrees with our reference LBS (same conventions, same sign of flexion).
    axes = oh.flexion_axes()
    pose = np.zeros((16, 3))
    for j in range(1, 16):
        pose[j] = 0.5 * axes[j]
    betas = np.linspace(-1, 1, 10)
    out = model(betas=torch.tensor(betas[None], dtype=torch.float32), global_orient=torch.zeros(1, 3),
                hand_pose=torch.tensor(pose[1:].reshape(1, 45), dtype=torch.float32))
    ours, _ = lbs(asset, pose, betas)
    assert np.allclose(out.vertices[0].detach().numpy(), ours, atol=1e-5)
