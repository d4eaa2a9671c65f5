"""The predictor (anyhand_hf.predictor) and hand detection (anyhand_hf.detect).

The issue's criterion: on a rendered image with known truth, `keypoints_2d` lands on the truth's
2D joints when the model is given the truth's parameters, for left and right hands. The
"model" here is a stand-in that answers with the truth (mirrored into the right-hand world for
left hands, as the real model would see it), after checking that the crop it was handed shows
the hand exactly where the camera (K, box) it was handed says it is. So the test covers the
predictor's own work: the crop, the mirror, the box and K given to the model, and the way back.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from anyhand_hf import viz
from anyhand_hf.crop import MIRROR_POINT, mirror_axis_angle
from anyhand_hf.detect import (
    BUNDLE_MEMBERS,
    Detection,
    HandDetector,
    default_bundle_path,
    prepare_mediapipe_bundle,
)
from anyhand_hf.hand import HandModel
from anyhand_hf.predictor import (
    AnyHandPredictor,
    default_intrinsics,
    render_overlay,
    save_meshes,
    to_rgb_uint8,
)

SIZE = (360, 480)  # (H, W)
BACKGROUND = (60, 90, 120)  # blue-grey: R < B, while the skin colour has R > B
SKIN = (226, 180, 155)
K_CENTRED = viz.intrinsics_from_fov(math.radians(38.0), SIZE)
K_OFFSET = np.array([[520.0, 1.5, 205.3], [0.0, 540.0, 190.8], [0.0, 0.0, 1.0]])  # off-centre, skewed


def _rotation(rng: np.random.Generator) -> np.ndarray:
    axis = rng.normal(size=3)
    return axis / np.linalg.norm(axis) * rng.uniform(0.3, 2.5)


def make_truth(side: str, seed: int, K: np.ndarray, size=SIZE, target=None) -> dict:
    """A posed hand of `side` about 0.5 m in front of the camera, rendered, with its labels."""
    rng = np.random.default_rng(seed)
    hand = HandModel.open(side)
    params = {
        "global_orient": _rotation(rng),
        "hand_pose": rng.normal(scale=0.25, size=45),
        "betas": rng.normal(scale=0.5, size=10),
    }
    tensors = {k: torch.tensor(v, dtype=torch.float32)[None] for k, v in params.items()}
    rest = hand(**tensors).vertices[0].double().numpy()
    if target is None:
        target = np.array([rng.uniform(-0.06, 0.06), rng.uniform(-0.05, 0.05), rng.uniform(0.45, 0.55)])
    transl = np.asarray(target) - rest.mean(0)
    out = hand(**tensors, transl=torch.tensor(transl, dtype=torch.float32)[None])
    verts, kp3 = out.vertices[0].double().numpy(), out.keypoints[0].double().numpy()
    faces = hand.faces.numpy()
    return {
        "side": side, "K": K, "params": params, "transl": transl, "vertices": verts, "keypoints_3d": kp3,
        "keypoints_2d": viz.project_points(kp3, K), "faces": faces,
        "box": np.concatenate([viz.project_points(verts, K).min(0), viz.project_points(verts, K).max(0)]),
    }


def render(truths: list[dict], size=SIZE) -> np.ndarray:
    bg = np.full(size + (3,), BACKGROUND, np.uint8)
    verts = np.concatenate([t["vertices"] for t in truths])
    offsets = np.cumsum([0] + [len(t["vertices"]) for t in truths[:-1]])
    faces = np.concatenate([t["faces"] + o for t, o in zip(truths, offsets)])
    return viz.render_mesh(verts, faces, truths[0]["K"], size, color=SKIN, background=bg)


class TruthModel(torch.nn.Module):
    """Stands in for AnyHandNetD: answers each crop with its truth hand, as a right hand
    (left hands mirrored x -> -x, as the mirrored crop shows them), in the camera frame of the
    K and box it gets. It first checks that the crop shows that hand where (K, box) put it."""

    def __init__(self, truths: list[dict], min_iou: float = 0.9, check_depth: bool = False):
        super().__init__()
        self.check_depth = check_depth
        self.config = SimpleNamespace(image_size=[256, 192], image_mean=[0.485, 0.456, 0.406],
                                      image_std=[0.229, 0.224, 0.225], use_depth=True, depth_max_metres=20.0)
        self.mano = HandModel.open("right")
        self.truths, self.min_iou = truths, min_iou
        self.ious: list[float] = []
        self.calls = 0

    def forward(self, pixel_values, depth_values=None, K=None, box=None):
        assert K is not None and box is not None, "the predictor must pass K and box"
        assert depth_values is not None and depth_values.shape == (len(pixel_values), 1, 256, 192)
        h, w = 256, 192
        mean, std = torch.tensor(self.config.image_mean), torch.tensor(self.config.image_std)
        rgb = (pixel_values.permute(0, 2, 3, 1) * std + mean).numpy() * 255.0
        out = {k: [] for k in ("vertices", "joints_3d", "joints_2d", "global_orient", "hand_pose", "betas", "cam_t")}
        for i in range(len(pixel_values)):
            truth = self.truths[self.calls + i]
            right = truth["side"] == "right"
            sign = np.ones(3) if right else MIRROR_POINT
            orient = truth["params"]["global_orient"] if right else mirror_axis_angle(truth["params"]["global_orient"])
            pose = truth["params"]["hand_pose"] if right else mirror_axis_angle(truth["params"]["hand_pose"])
            cam_t = truth["transl"] * sign
            posed = self.mano(global_orient=torch.tensor(orient, dtype=torch.float32)[None],
                              hand_pose=torch.tensor(pose, dtype=torch.float32)[None],
                              betas=torch.tensor(truth["params"]["betas"], dtype=torch.float32)[None],
                              transl=torch.tensor(cam_t, dtype=torch.float32)[None])
            verts, joints = posed.vertices[0].double().numpy(), posed.keypoints[0].double().numpy()
            # The right hand with mirrored parameters is the mirrored left hand (HandModel's left is exact).
            assert np.abs(verts - truth["vertices"] * sign).max() < 1e-5

            # The crop shows this hand where the model's camera puts it: crop pixel (ours, centres at
            # integers) u = (x - x0) H / b - (H - W) / 2 - 1/2, v = (y - y0) H / b - 1/2 (anyhand_hf.modeling).
            k_i, b_i = K[i].double().numpy(), box[i].double().numpy()
            side = 0.5 * ((b_i[2] - b_i[0]) + (b_i[3] - b_i[1]))
            a = np.array([[h / side, 0, -b_i[0] * h / side - (h - w) / 2 - 0.5],
                          [0, h / side, -b_i[1] * h / side - 0.5], [0, 0, 1]])
            # Every hand of the scene (mirrored with this crop) may show in the crop.
            scene = np.concatenate([t["vertices"] * sign for t in self.truths])
            offsets = np.cumsum([0] + [len(t["vertices"]) for t in self.truths[:-1]])
            faces = np.concatenate([t["faces"] + o for t, o in zip(self.truths, offsets)])
            frags = viz.rasterize(scene, faces, a @ k_i, (h, w))
            expected = frags.mask
            seen = rgb[i, :, :, 0] > rgb[i, :, :, 2] + 10
            iou = (expected & seen).sum() / max((expected | seen).sum(), 1)
            self.ious.append(float(iou))
            assert iou > self.min_iou, f"crop {i} does not show the hand where (K, box) put it: IoU {iou:.3f}"
            if self.check_depth:  # the depth crop is aligned with the image crop, metres, 0 = invalid
                d = depth_values[i, 0].double().numpy()
                depth_iou = (expected & (d > 0)).sum() / max((expected | (d > 0)).sum(), 1)
                assert depth_iou > 0.85, f"depth crop {i} misaligned: IoU {depth_iou:.3f}"
                both = expected & (d > 0)
                assert np.median(np.abs(d[both] - frags.depth[both])) < 2e-3

            answer = {"vertices": verts, "joints_3d": joints, "joints_2d": viz.project_points(joints, k_i),
                      "global_orient": orient, "hand_pose": pose, "betas": truth["params"]["betas"], "cam_t": cam_t}
            for key, value in answer.items():
                out[key].append(torch.tensor(np.asarray(value), dtype=torch.float32))
        self.calls += len(pixel_values)
        return SimpleNamespace(**{k: torch.stack(v) for k, v in out.items()})


# ---- the criterion -------------------------------------------------------------------------


@pytest.mark.parametrize("K", [K_CENTRED, K_OFFSET], ids=["centred", "offset-skewed"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_keypoints_2d_land_on_truth(side, K):
    truth = make_truth(side, seed=3 if side == "right" else 4, K=K)
    image = render([truth])
    depth = viz.rasterize(truth["vertices"], truth["faces"], K, SIZE).depth  # metres, 0 off the hand
    model = TruthModel([truth], check_depth=True)
    predictor = AnyHandPredictor(model)
    margin = np.array([-8.0, -8.0, 8.0, 8.0])
    hands = predictor.predict(image, depth=depth, K=K, boxes=[truth["box"] + margin], is_right=[side == "right"])
    assert len(hands) == 1 and model.ious[0] > 0.9
    hand = hands[0]
    assert hand.is_right == (side == "right")
    err = np.linalg.norm(hand.keypoints_2d - truth["keypoints_2d"], axis=1)
    assert err.max() < 1.0, f"keypoints_2d off by up to {err.max():.3f} px"
    assert np.abs(hand.keypoints_3d - truth["keypoints_3d"]).max() < 1e-5
    assert np.abs(hand.vertices - truth["vertices"]).max() < 1e-5
    # Parameters of this side's hand model, which reproduce the mesh with transl = cam_t.
    assert np.allclose(hand.global_orient, truth["params"]["global_orient"], atol=1e-6)
    assert np.allclose(hand.hand_pose, truth["params"]["hand_pose"], atol=1e-6)
    assert np.allclose(hand.cam_t, truth["transl"], atol=1e-6)
    assert np.array_equal(hand.faces, HandModel.open(side).faces.numpy())
    again = HandModel.open(side)(**{k: torch.tensor(getattr(hand, k), dtype=torch.float32)[None]
                                    for k in ("global_orient", "hand_pose", "betas")},
                                 transl=torch.tensor(hand.cam_t, dtype=torch.float32)[None])
    assert np.abs(again.vertices[0].numpy() - hand.vertices).max() < 1e-5


def test_two_hands_one_image_and_a_detector():
    """Both sides in one image, boxes and sides from a detector object (the protocol)."""
    right = make_truth("right", 11, K_CENTRED, target=(0.07, 0.0, 0.55))
    left = make_truth("left", 12, K_CENTRED, target=(-0.08, 0.01, 0.5))
    image = render([right, left])

    class FakeDetector:
        def detect(self, image_rgb):
            assert image_rgb.dtype == np.uint8 and image_rgb.shape == SIZE + (3,)
            return [Detection(right["box"], True, 0.9), Detection(left["box"], False, 0.8)]

    assert isinstance(FakeDetector(), HandDetector)
    predictor = AnyHandPredictor(TruthModel([right, left]), detector=FakeDetector())
    hands = predictor.predict(Image.fromarray(image), K=K_CENTRED)
    assert [h.is_right for h in hands] == [True, False] and [h.score for h in hands] == [0.9, 0.8]
    for hand, truth in zip(hands, (right, left)):
        assert np.linalg.norm(hand.keypoints_2d - truth["keypoints_2d"], axis=1).max() < 1.0

    overlay = render_overlay(image, hands)
    assert overlay.shape == image.shape and overlay.dtype == np.uint8
    x0, y0, x1, y1 = right["box"].astype(int)
    assert np.abs(overlay[y0:y1, x0:x1].astype(int) - image[y0:y1, x0:x1]).mean() > 5
    assert np.array_equal(overlay[:5, :5], image[:5, :5])  # far from the hands nothing changes
    assert np.array_equal(render_overlay(image, []), image)


def test_save_meshes(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    truth = make_truth("left", 5, K_CENTRED)
    hands = AnyHandPredictor(TruthModel([truth, truth])).predict(render([truth]), K=K_CENTRED,
                                                                 boxes=[truth["box"]] * 2, is_right=False)
    for fmt in ("obj", "glb"):
        paths = save_meshes(hands, tmp_path / fmt, fmt=fmt)
        assert [p.name for p in paths] == [f"hand_00_left.{fmt}", f"hand_01_left.{fmt}"]
        mesh = trimesh.load(paths[0], force="mesh", process=False)
        assert len(mesh.vertices) == len(hands[0].vertices) and len(mesh.faces) == len(hands[0].faces)
        assert np.allclose(mesh.vertices, hands[0].vertices, atol=1e-5)
    with pytest.raises(ValueError, match="obj"):
        save_meshes(hands, tmp_path, fmt="ply")


# ---- inputs ------------------------------------------------------------------------------


def test_image_modes():
    rgb = np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    assert np.array_equal(to_rgb_uint8(rgb), rgb) and np.array_equal(to_rgb_uint8(Image.fromarray(rgb)), rgb)
    rgba = np.dstack([rgb, np.full((20, 30), 255, np.uint8)])
    rgba[0, 0, 3] = 0
    out = to_rgb_uint8(Image.fromarray(rgba, "RGBA"))
    assert np.array_equal(out[0, 0], [255, 255, 255]) and np.array_equal(out[1:], rgb[1:])
    grey = rgb[:, :, 0]
    assert np.array_equal(to_rgb_uint8(Image.fromarray(grey, "L")), np.repeat(grey[:, :, None], 3, 2))
    sixteen = grey.astype(np.uint16) * 257
    assert np.array_equal(to_rgb_uint8(sixteen), np.repeat(grey[:, :, None], 3, 2))
    assert np.array_equal(to_rgb_uint8(Image.fromarray(sixteen)), np.repeat(grey[:, :, None], 3, 2))  # I;16
    assert np.array_equal(to_rgb_uint8(rgb / 255.0), rgb)
    assert to_rgb_uint8(np.zeros((4, 5), bool)).shape == (4, 5, 3)
    with pytest.raises(ValueError, match="shape"):
        to_rgb_uint8(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(TypeError, match="PIL.Image.open"):
        to_rgb_uint8("hand.png")


def test_predict_checks_inputs():
    truth = make_truth("right", 6, K_CENTRED)
    image = render([truth])
    predictor = AnyHandPredictor(TruthModel([truth] * 8))
    box = [truth["box"]]
    with pytest.raises(ValueError, match="no detector"):
        predictor.predict(image)
    with pytest.raises(ValueError, match="aligned with the image"):
        predictor.predict(image, depth=np.ones((10, 10), np.float32), boxes=box)
    with pytest.raises(ValueError, match="millimetres"):
        predictor.predict(image, depth=np.full(SIZE, 500.0, np.float32), boxes=box)
    with pytest.raises(ValueError, match="millimetres"):
        predictor.predict(image, depth=np.full(SIZE, 500, np.uint16), boxes=box)
    with pytest.raises(ValueError, match="x1 > x0"):
        predictor.predict(image, boxes=[[10, 10, 5, 20]])
    with pytest.raises(ValueError, match="is_right has"):
        predictor.predict(image, boxes=box, is_right=[True, False])
    with pytest.raises(ValueError, match="3x3"):
        predictor.predict(image, boxes=box, K=np.eye(4))
    assert predictor.predict(image, boxes=np.zeros((0, 4))) == []
    # Depth in metres (with holes) and a grey 16-bit image go through; the default K is documented.
    depth = np.full(SIZE, 0.5, np.float32)
    depth[::3] = np.nan
    grey16 = (image.mean(2) * 257).astype(np.uint16)
    model = TruthModel([truth], min_iou=-1.0)  # a grey image: the skin test cannot see the hand
    hands = AnyHandPredictor(model).predict(grey16, depth=depth, K=K_CENTRED, boxes=box)
    assert len(hands) == 1 and np.isfinite(hands[0].vertices).all()
    k = default_intrinsics((300, 400))
    assert k[0, 2] == pytest.approx(199.5) and k[1, 2] == pytest.approx(149.5)
    assert 2 * math.degrees(math.atan(200 / k[0, 0])) == pytest.approx(60.0)


# ---- the real model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model():
    pytest.importorskip("transformers")
    from anyhand_hf.modeling import AnyHandConfig, AnyHandNetD

    torch.manual_seed(0)
    return AnyHandNetD(AnyHandConfig.from_preset("tiny", use_depth=True)).eval()


def test_real_tiny_model_end_to_end(tiny_model, tmp_path):
    right = make_truth("right", 21, K_CENTRED, target=(0.07, 0.0, 0.55))
    left = make_truth("left", 22, K_CENTRED, target=(-0.08, 0.01, 0.5))
    image = render([right, left])
    depth = np.full(SIZE, 0.9, np.float32)
    predictor = AnyHandPredictor(tiny_model)
    for d in (None, depth):
        hands = predictor.predict(image, depth=d, K=K_CENTRED, boxes=[right["box"], left["box"]],
                                  is_right=[True, False])
        assert [h.is_right for h in hands] == [True, False]
        for hand in hands:
            n_verts = tiny_model.mano.num_vertices
            assert hand.vertices.shape == (n_verts, 3) and hand.keypoints_3d.shape == (21, 3)
            assert hand.keypoints_2d.shape == (21, 2) and hand.global_orient.shape == (3,)
            assert hand.hand_pose.shape == (45,) and hand.betas.shape == (10,) and hand.cam_t.shape == (3,)
            for value in (hand.vertices, hand.keypoints_3d, hand.keypoints_2d, hand.cam_t):
                assert np.isfinite(value).all()
            assert (hand.vertices[:, 2] > 0).all()
            # This side's hand model with the returned parameters gives the returned mesh.
            side = "right" if hand.is_right else "left"
            again = HandModel.open(side)(**{k: torch.tensor(getattr(hand, k), dtype=torch.float32)[None]
                                            for k in ("global_orient", "hand_pose", "betas")},
                                         transl=torch.tensor(hand.cam_t, dtype=torch.float32)[None])
            assert np.abs(again.vertices[0].numpy() - hand.vertices).max() < 1e-4
    assert render_overlay(image, hands).shape == image.shape
    assert len(save_meshes(hands, tmp_path)) == 2


def test_from_pretrained_and_depth_estimator(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "ckpt")
    calls = []

    def estimate(image_rgb, K):  # a stand-in DepthEstimator: (H, W) metres
        calls.append((image_rgb.shape, K.shape))
        return np.full(image_rgb.shape[:2], 0.6, np.float32)

    predictor = AnyHandPredictor.from_pretrained(tmp_path / "ckpt", depth_estimator=estimate)
    truth = make_truth("right", 41, K_CENTRED)
    image = render([truth])
    hands = predictor.predict(image, K=K_CENTRED, boxes=[truth["box"]])
    assert calls == [(SIZE + (3,), (3, 3))]
    expected = AnyHandPredictor(tiny_model).predict(image, depth=np.full(SIZE, 0.6, np.float32), K=K_CENTRED,
                                                    boxes=[truth["box"]])
    assert np.allclose(hands[0].vertices, expected[0].vertices, atol=1e-5)


def test_real_model_left_is_mirrored_right(tiny_model):
    """A hand predicted as right in an image and as left in the image mirrored about c_x (with
    the mirrored box) are mirror images: the model saw the same crop both times."""
    truth = make_truth("right", 31, K_CENTRED)
    image = render([truth])
    predictor = AnyHandPredictor(tiny_model)
    cx = K_CENTRED[0, 2]  # (W - 1) / 2: the mirror about c_x is np.fliplr
    box = truth["box"]
    mbox = [2 * cx - box[2], box[1], 2 * cx - box[0], box[3]]
    r = predictor.predict(image, K=K_CENTRED, boxes=[box])[0]
    l = predictor.predict(image[:, ::-1], K=K_CENTRED, boxes=[mbox], is_right=[False])[0]
    scale = np.abs(r.vertices).max()
    assert np.abs(l.vertices - r.vertices * MIRROR_POINT).max() < 1e-3 * scale
    assert np.abs(l.keypoints_2d[:, 0] - (2 * cx - r.keypoints_2d[:, 0])).max() < 0.5
    assert np.abs(l.keypoints_2d[:, 1] - r.keypoints_2d[:, 1]).max() < 0.5


# ---- detection ------------------------------------------------------------------------------


def test_prepare_bundle_from_a_wheel(tmp_path):
    """The .task bundle is a stored zip of the two models under MediaPipe's member names, data
    aligned for in-place use; made offline here from a stand-in wheel."""
    wheel = tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    payload = {suffix: bytes([i + 1]) * (1000 + 7 * i) for i, suffix in enumerate(BUNDLE_MEMBERS)}
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mediapipe/__init__.py", "")
        for suffix, data in payload.items():
            zf.writestr("mediapipe/" + suffix, data)
    path = prepare_mediapipe_bundle(tmp_path / "cache", wheel=wheel)
    assert path == tmp_path / "cache" / "mediapipe" / "hand_landmarker.task"
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(BUNDLE_MEMBERS.values())
        for suffix, name in BUNDLE_MEMBERS.items():
            info = zf.getinfo(name)
            assert zf.read(name) == payload[suffix] and info.compress_type == zipfile.ZIP_STORED
            assert (info.header_offset + 30 + len(name) + len(info.extra)) % 64 == 0
    assert prepare_mediapipe_bundle(tmp_path / "cache", wheel=tmp_path / "absent.whl") == path  # cached
    with pytest.raises(RuntimeError, match="no member"):
        bad = tmp_path / "bad.whl"
        zipfile.ZipFile(bad, "w").close()
        prepare_mediapipe_bundle(tmp_path / "other", wheel=bad)


def test_mediapipe_missing_pieces_name_the_fix(tmp_path):
    from anyhand_hf.detect import MediaPipeHandDetector

    with pytest.raises((ImportError, FileNotFoundError), match="install_hand_detector.sh|anyhand_hf.detect prepare"):
        MediaPipeHandDetector(bundle_path=tmp_path / "missing.task")


def _mediapipe_bundle() -> Path:
    pytest.importorskip("mediapipe", reason="mediapipe not installed (bash scripts/install_hand_detector.sh)")
    path = default_bundle_path()
    if not path.is_file():
        pytest.skip(f"no MediaPipe bundle at {path} (python -m anyhand_hf.detect prepare; needs the package index)")
    return path


def _open_hand_render(side: str, view: str) -> tuple[np.ndarray, np.ndarray]:
    """The flat open hand upright (fingers up), seen from its palm or back side."""
    hand = HandModel.open(side)
    out = hand(global_orient=torch.zeros(1, 3), hand_pose=torch.zeros(1, 45))
    verts, kp = out.vertices[0].double().numpy(), out.keypoints[0].double().numpy()
    s = 1.0 if side == "right" else -1.0  # the open right hand's fingers point to -x, its palm to -y
    centre = np.array([-0.09 * s, 0.0, 0.02])
    eye = centre + np.array([0.0, -0.45 if view == "palm" else 0.45, 0.0])
    R, t = viz.look_at(eye, centre, (-s, 0.0, 0.0))
    size = (480, 640)
    K = viz.intrinsics_from_fov(math.radians(40.0), size)
    image = viz.render_mesh(verts @ R.T + t, hand.faces.numpy(), K, size,
                            background=np.full(size + (3,), BACKGROUND, np.uint8))
    return image, viz.project_points(kp @ R.T + t, K)


@pytest.mark.parametrize("side", ["right", "left"])
def test_mediapipe_detects_rendered_open_hand(side):
    from anyhand_hf.detect import MediaPipeHandDetector

    bundle = _mediapipe_bundle()
    image, kp_truth = _open_hand_render(side, "back")
    with MediaPipeHandDetector(bundle) as detector:
        found = detector.detect(image)
    assert len(found) == 1, f"MediaPipe found {len(found)} hands in the render of the {side} open hand"
    det = found[0]
    assert det.is_right == (side == "right")
    assert det.keypoints_2d.shape == (21, 2)
    assert np.linalg.norm(det.keypoints_2d - kp_truth, axis=1).mean() < 20.0
    x0, y0, x1, y1 = det.box_xyxy
    assert (kp_truth[:, 0] > x0).all() and (kp_truth[:, 0] < x1).all()
    assert (kp_truth[:, 1] > y0).all() and (kp_truth[:, 1] < y1).all()
