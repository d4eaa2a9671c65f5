#!/usr/bin/env python
"""Benchmark bare SAPIEN rendering of the open-hand mesh (textured), printing JSON.

Every timed frame is a scene change (the hand's vertices move a little, as each dataset
sample does), so the numbers include the per-sample cost of swapping meshes. Reported per
configuration: images/s after warm-up and the first frame's seconds. Also reported: the
process's first-frame cost per mode (shader compilation) and whether Mesa's shader cache
was already warm. On a shared machine, compare numbers only within one run.

    python scripts/bench_render.py --sizes 256 512 --repeats 5
    python scripts/bench_render.py --quick          # 128² only, 2 repeats
    python scripts/bench_render.py --end-to-end --sizes 256 --repeats 3   # AnyHand rows vs bare SAPIEN
    python scripts/bench_render.py --interact --grasps 500 --modes raster --sizes 256 --repeats 3
        # grasps/s synthesised and verified (acceptance figures), then interact rows/s vs bare SAPIEN
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from anyhand_hf.render import Camera, Light, MeshPart, RenderSettings  # noqa: E402
from anyhand_hf.render.sapien_renderer import SapienRenderer, _cache_marker, configure_vulkan, warm_shader_cache  # noqa: E402


def hand_mesh():
    """(vertices, faces, uv) of the open hand (flat pose), or an icosphere stand-in."""
    try:
        from anyhand_hf.hand import HandModel

        hand = HandModel.open()
        out = hand()
        v = out.vertices[0].detach().cpu().numpy().astype(np.float64)
        f = hand.faces.cpu().numpy() if hasattr(hand.faces, "cpu") else np.asarray(hand.faces)
        uv = {"vt": np.asarray(hand.uv["vt"]), "ft": np.asarray(hand.uv["ft"])} if hand.uv else None
        return v - v.mean(0), np.asarray(f, np.int64), uv, "open_hand"
    except Exception as e:  # pragma: no cover - asset missing
        import trimesh

        print(f"open hand unavailable ({e}); using an icosphere", file=sys.stderr)
        m = trimesh.creation.icosphere(subdivisions=3, radius=0.08)
        vt = (m.vertices[:, :2] / 0.16 + 0.5).clip(0, 1)
        return m.vertices, np.asarray(m.faces), {"vt": vt, "ft": np.asarray(m.faces)}, "icosphere"


def skin_texture(size=256, seed=0):
    rng = np.random.default_rng(seed)
    base = np.array([200, 150, 125], float)
    noise = rng.normal(size=(size // 8, size // 8, 1))
    noise = np.kron(noise, np.ones((8, 8, 1)))
    tex = base + 12 * noise + rng.normal(scale=4, size=(size, size, 3))
    return np.clip(tex, 0, 255).astype(np.uint8)


def scene(size: int, v, f, uv, tex, rng):
    jitter = v + rng.normal(scale=0.005, size=3)  # a new mesh (moved) every frame
    parts = [MeshPart("hand", jitter, f, label=1, texture=tex, uv=uv, roughness=0.6, specular=0.3)]
    cam = Camera.look_at([0.0, -0.55, 0.25], [0.0, 0.0, 0.0], np.deg2rad(35), size, size)
    lights = [Light("point", position=(0.4, -0.5, 0.6), color=(1.5, 1.4, 1.3), shadow=True),
              Light("directional", direction=(-0.3, 0.5, -1.0), color=(0.6, 0.6, 0.7))]
    return parts, cam, lights


def run_config(renderer, size, repeats, warmup, mesh, tex, seed=0):
    v, f, uv = mesh
    rng = np.random.default_rng(seed)
    first = None
    for i in range(warmup):
        t = time.perf_counter()
        res = renderer.render(*scene(size, v, f, uv, tex, rng), ambient=(0.15, 0.15, 0.15))
        if i == 0:
            first = time.perf_counter() - t
    t = time.perf_counter()
    timings = []
    for _ in range(repeats):
        res = renderer.render(*scene(size, v, f, uv, tex, rng), ambient=(0.15, 0.15, 0.15))
        timings.append(res.timings)
    dt = time.perf_counter() - t
    out = {"images_per_s": round(repeats / dt, 3), "s_per_image": round(dt / repeats, 4),
           "first_frame_s": round(first, 3) if first is not None else None,
           "hand_pixel_fraction": round(float((res.labels > 0).mean()), 4)}
    for k in ("setup", "raster", "rt", "denoise"):
        vals = [tm[k] for tm in timings if k in tm]
        if vals:
            out[f"mean_{k}_s"] = round(float(np.mean(vals)), 4)
    return out, res


def child(args) -> dict:
    """One configuration in this process (a fresh worker): init, first frame, then timed
    scene changes. Keeps warmup + repeats <= the warmed number of rt scene changes."""
    t0 = time.perf_counter()
    v, f, uv, mesh_name = hand_mesh()
    tex = skin_texture()
    mode, size, spp, dn = args.child_mode, args.child_size, args.child_spp, args.child_denoiser
    r = SapienRenderer(RenderSettings(mode=mode, spp=spp, denoiser=dn))
    init = time.perf_counter() - t0
    out, res = run_config(r, size, args.repeats, args.warmup, (v, f, uv), tex)
    entry = {"mode": mode, "size": size, "spp": spp if mode == "rt" else None,
             "denoiser": dn if mode == "rt" else None, "process_init_s": round(init, 3), **out,
             "mesh": mesh_name}
    if args.save_preview:
        from PIL import Image

        from anyhand_hf import viz

        lab = np.zeros_like(res.rgb)
        for k, c in viz.LABEL_COLORS.items():
            lab[res.labels == k] = c
        Image.fromarray(np.concatenate([res.rgb, viz.colorize_depth(res.depth), lab], axis=1)).save(args.save_preview)
        entry["preview"] = args.save_preview
    r.close()
    return entry


def child_end_to_end(args) -> dict:
    """AnyHand rows end to end (scene sampling, assets, render, composite, depth, labels) or the
    bare SAPIEN renders of the same scenes' meshes, cameras and lights, in a fresh process.
    Scene 0 warms up; scenes 1..n are timed (2 views each: 2n scene changes, within the warmed
    count of rt pipelines)."""
    import torch

    from anyhand_hf.generate import (camera_of, mesh_parts, object_part, pose_hand, render_scene, scene_envmap,
                                     scene_lights)
    from anyhand_hf.hand import HandModel
    from anyhand_hf.scene import SceneConfig, sample_scene

    torch.set_num_threads(1)
    hand, size, n = HandModel.open(), args.child_size, args.repeats
    config = SceneConfig(width=size, height=size)
    r = SapienRenderer(RenderSettings(mode=args.child_mode, spp=args.child_spp, denoiser=args.child_denoiser))
    sample = lambda i: sample_scene(config, 0, args.child_config, "train", i, hand)  # noqa: E731
    if args.child_kind == "e2e":
        render_scene(sample(0), r, hand)
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            render_scene(sample(i), r, hand)
    else:
        def inputs(spec):
            posed, rest = pose_hand(spec, hand)
            parts = mesh_parts(spec, hand, posed, rest, size)
            if spec.object is not None:
                parts.append(object_part(spec))
            return [(parts, camera_of(v), scene_lights(spec), spec.ambient, scene_envmap(spec)[0]) for v in spec.views]

        jobs = [inputs(sample(i)) for i in range(n + 1)]
        for job in jobs[0]:
            r.render(*job)
        t0 = time.perf_counter()
        for scene_jobs in jobs[1:]:
            for job in scene_jobs:
                r.render(*job)
    seconds = time.perf_counter() - t0
    r.close()
    return {"kind": args.child_kind, "config": args.child_config, "mode": args.child_mode, "size": size,
            "spp": args.child_spp if args.child_mode == "rt" else None, "rows": 2 * n,
            "rows_per_s": round(2 * n / seconds, 3)}


def interact_grasps(n: int, seed: int = 0, attempts_log: str | None = None) -> dict:
    """Synthesise `n` accepted grasps as interact scene sampling does (a random hand shape per
    grasp, objects redrawn after a rejection) and report throughput, the rejection rate and
    reasons, and the worst accepted penetration, contact distances and physics slip. With
    `attempts_log`, every attempt is also appended to that JSON-lines file as it happens."""
    import collections

    import torch
    from tqdm import tqdm

    from anyhand_hf.hand.priors import BoundedNormalShapePrior
    from anyhand_hf.scene import SceneConfig
    from anyhand_hf.scene.sampling import open_right_hand, sample_grasp

    torch.set_num_threads(1)
    hand, config, log = open_right_hand(), SceneConfig(), []
    sample_grasp(config, hand, np.zeros(hand.num_betas), np.random.default_rng(seed))  # builds the caches
    t0 = time.perf_counter()
    for i in tqdm(range(n), desc="grasps", unit="grasp", file=sys.stderr):
        rng = np.random.default_rng([seed, i])
        done = len(log)
        sample_grasp(config, hand, BoundedNormalShapePrior().sample(rng, 1)[0], rng, log)
        if attempts_log:
            with open(attempts_log, "a") as f:
                for a in log[done:]:
                    g = a["grasp"]
                    f.write(json.dumps({"grasp": i, "kind": a["kind"], "grasp_type": a["grasp_type"],
                                        "reason": a["reason"], "seconds": round(time.perf_counter() - t0, 2)}
                                       | ({"penetration_m": g.penetration_m, "contacts_m": g.contacts_m,
                                           "slip_m": g.slip_m} if g else {})) + "\n")
    seconds = time.perf_counter() - t0
    accepted = [a["grasp"] for a in log if a["grasp"] is not None]
    others = [min(d for f, d in g.contacts_m.items() if f != "thumb") for g in accepted]
    by_type = collections.defaultdict(collections.Counter)
    for a in log:
        by_type[a["grasp_type"]][a["reason"]] += 1
    return {
        "accepted": len(accepted), "attempts": len(log), "rejection_rate": round(1 - len(accepted) / len(log), 4),
        "rejections": dict(collections.Counter(a["reason"] for a in log if a["grasp"] is None)),
        "by_grasp_type": {g: dict(c) for g, c in sorted(by_type.items())},
        "accepted_by_object": dict(collections.Counter(a["kind"] for a in log if a["grasp"] is not None)),
        "grasps_per_s": round(len(accepted) / seconds, 3), "attempts_per_s": round(len(log) / seconds, 3),
        "max_penetration_mm": round(1e3 * max(g.penetration_m for g in accepted), 3),
        "max_thumb_distance_mm": round(1e3 * max(g.contacts_m["thumb"] for g in accepted), 3),
        "max_other_finger_distance_mm": round(1e3 * max(others), 3),
        "max_slip_mm": round(1e3 * max(g.slip_m for g in accepted), 3),
        "median_slip_mm": round(1e3 * float(np.median([g.slip_m for g in accepted])), 3),
    }


def occlusion_distribution(n_scenes: int, size: int = 256, seed: int = 0) -> dict:
    """`hand_occlusion` (as `meta` records it) over the views of `n_scenes` interact_indoor
    scenes: the share above thresholds and quantiles. Geometry only, no SAPIEN render."""
    import torch

    from anyhand_hf.generate import hand_occlusion, mesh_parts, object_part, pose_hand
    from anyhand_hf.scene import SceneConfig, sample_scene
    from anyhand_hf.scene.sampling import open_right_hand

    torch.set_num_threads(1)
    hand, config, values = open_right_hand(), SceneConfig(width=size, height=size), []
    for i in range(n_scenes):
        spec = sample_scene(config, seed, "interact_indoor", "train", i, hand)
        posed, rest = pose_hand(spec, hand)
        parts = mesh_parts(spec, hand, posed, rest, texture_size=16) + [object_part(spec)]
        values += [hand_occlusion(parts, view) for view in spec.views]
    v = np.asarray(values)
    return {"images": len(v), "share_above": {t: round(float((v > t).mean()), 3) for t in (0.05, 0.2, 0.4, 0.6)},
            "quantiles": {q: round(float(np.quantile(v, q)), 3) for q in (0.1, 0.25, 0.5, 0.75, 0.9)},
            "mean": round(float(v.mean()), 3)}


def end_to_end(args, script: str) -> list[dict]:
    import subprocess

    out = []
    for mode in args.modes:
        for size in args.sizes:
            for spp in (args.spp if mode == "rt" else [1]):
                pair = {}
                for kind in ("bare", "e2e"):
                    cmd = [sys.executable, script, "--child-mode", mode, "--child-size", str(size),
                           "--child-spp", str(spp), "--child-kind", kind, "--child-config", args.config,
                           "--repeats", str(args.repeats)]
                    proc = subprocess.run(cmd, capture_output=True, text=True)
                    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                    pair[kind] = json.loads(line[-1][7:]) if line else {"error": proc.stderr[-1500:]}
                entry = {"mode": mode, "size": size, "spp": spp if mode == "rt" else None,
                         "bare_rows_per_s": pair["bare"].get("rows_per_s"), "e2e_rows_per_s": pair["e2e"].get("rows_per_s")}
                if entry["bare_rows_per_s"] and entry["e2e_rows_per_s"]:
                    entry["e2e_cost_over_bare"] = round(entry["bare_rows_per_s"] / entry["e2e_rows_per_s"], 3)
                else:
                    entry["errors"] = pair
                print(json.dumps(entry), file=sys.stderr, flush=True)
                out.append(entry)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--spp", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=["raster", "rt"])
    ap.add_argument("--no-denoise", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cold-cache-probe", action="store_true",
                    help="also time 2 rt scene changes with an empty Mesa shader cache (minutes on lavapipe)")
    ap.add_argument("--save-preview", default=None, help="PNG: rt colour | depth | labels of the largest rt config")
    ap.add_argument("--end-to-end", action="store_true",
                    help="AnyHand rows/s end to end vs bare SAPIEN renders of the same scenes (--repeats scenes)")
    ap.add_argument("--config", default="single_indoor", help="scene config for --end-to-end")
    ap.add_argument("--interact", action="store_true",
                    help="grasp synthesis figures (--grasps accepted grasps), then --end-to-end rows/s of both "
                         "interact configs")
    ap.add_argument("--grasps", type=int, default=500, help="accepted grasps to synthesise with --interact")
    ap.add_argument("--grasps-log", help="JSON-lines file that gets every grasp attempt as it happens")
    ap.add_argument("--occlusion-scenes", type=int, default=100,
                    help="interact scenes (two views each) whose hand occlusion --interact reports")
    ap.add_argument("--child-kind", help=argparse.SUPPRESS)
    ap.add_argument("--child-config", help=argparse.SUPPRESS)
    ap.add_argument("--child-mode", help=argparse.SUPPRESS)
    ap.add_argument("--child-size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-spp", type=int, default=4, help=argparse.SUPPRESS)
    ap.add_argument("--child-denoiser", default="none", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    configure_vulkan()
    if args.child_mode:
        print("RESULT " + json.dumps(child_end_to_end(args) if args.child_kind else child(args)), flush=True)
        return
    if args.quick:
        args.sizes, args.repeats, args.spp = [128], 2, [4]
    import subprocess
    import tempfile

    try:
        import pyoidn  # noqa: F401

        have_oidn = True
    except ImportError:
        have_oidn = False
    v, f, _, mesh_name = hand_mesh()
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_start": [round(x, 2) for x in os.getloadavg()],
                    "vk_icd": os.environ.get("VK_ICD_FILENAMES"),
                    "note": "shared machine, other jobs running: compare within this run only"},
        "mesh": {"name": mesh_name, "vertices": int(len(v)), "faces": int(len(f))},
        "method": "each config in a fresh worker process (as a recycled builder worker); every "
                  "timed frame is a scene change (new hand mesh); images/s excludes process start",
        "results": [],
    }
    try:
        from importlib.metadata import version

        report["machine"]["sapien"] = version("sapien")
    except Exception:
        pass
    if "rt" in args.modes:
        n = args.warmup + args.repeats
        had = _cache_marker().with_name(_cache_marker().name + "_parts4").exists()
        w = warm_shader_cache(n_changes=max(n, 8))
        report["rt_shader_cache"] = {"marker_present_before": had, "changes_warmed": max(n, 8),
                                     "warm_subprocess_s": None if w is None else round(w, 1)}
    script = os.path.abspath(__file__)
    if args.interact:
        report["method"] = ("grasps: in-process, one thread, as interact scene sampling draws them; rows: fresh "
                            "process per (config, kind, mode), scene 0 warms up, --repeats scenes timed, 2 rows each")
        report["grasps"] = interact_grasps(args.grasps, attempts_log=args.grasps_log)
        print(json.dumps(report["grasps"]), file=sys.stderr, flush=True)
        report["hand_occlusion"] = occlusion_distribution(args.occlusion_scenes)
        print(json.dumps(report["hand_occlusion"]), file=sys.stderr, flush=True)
        for config in ("interact_indoor", "interact_envmap"):
            args.config = config
            report["results"] += [{"config": config, **entry} for entry in end_to_end(args, script)]
        report["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(report, indent=1))
        return
    if args.end_to_end:
        report["method"] = ("fresh process per (kind, mode, spp); scene 0 warms up, --repeats scenes timed, "
                            "2 rows each; bare = SAPIEN render calls only, on the same scenes' meshes")
        report["results"] = end_to_end(args, script)
        report["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(report, indent=1))
        return
    configs = []
    for mode in args.modes:
        for size in args.sizes:
            if mode == "raster":
                configs.append(("raster", size, 1, "none"))
                continue
            for spp in args.spp:
                for dn in (["none", "oidn"] if have_oidn and not args.no_denoise else ["none"]):
                    configs.append(("rt", size, spp, dn))
    preview_cfg = next((c for c in reversed(configs) if c[0] == "rt"), None)
    for cfg in configs:
        cmd = [sys.executable, script, "--child-mode", cfg[0], "--child-size", str(cfg[1]),
               "--child-spp", str(cfg[2]), "--child-denoiser", cfg[3],
               "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
        if args.save_preview and cfg == preview_cfg:
            cmd += ["--save-preview", args.save_preview]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        entry = json.loads(line[-1][7:]) if line else {"config": cfg, "error": proc.stderr[-1500:]}
        report["results"].append(entry)
        print(json.dumps(entry), file=sys.stderr, flush=True)
    if args.cold_cache_probe:
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, MESA_SHADER_CACHE_DIR=d, ANYHAND_RT_WARM_CHANGES="0")
            code = ("import sys, time, json; sys.path.insert(0, %r); "
                    "from bench_render import *; from anyhand_hf.render.sapien_renderer import SapienRenderer;"
                    "v,f,uv,_=hand_mesh(); tex=skin_texture(); r=SapienRenderer(RenderSettings(mode='rt', spp=4), warm=False);"
                    "rng=np.random.default_rng(0); ts=[]\n"
                    "for i in range(2):\n t=time.perf_counter(); r.render(*scene(128, v, f, uv, tex, rng)); ts.append(round(time.perf_counter()-t, 2))\n"
                    "print('RESULT '+json.dumps(ts))") % os.path.dirname(script)
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            report["rt_cold_cache_scene_change_s_128px_4spp"] = json.loads(line[-1][7:]) if line else proc.stderr[-800:]
    report["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
