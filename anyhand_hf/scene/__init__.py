"""Scene sampling: `(seed, config, split, index)` -> `SceneSpec`, pure JSON-serialisable data."""

from .sampling import CONFIGS, SPLITS, project, sample_rng, sample_scene, sample_scenes, stable_hash
from .spec import AppearanceSpec, BackgroundSpec, CameraView, LightSpec, ObjectSpec, SceneConfig, SceneSpec

__all__ = [
    "AppearanceSpec", "BackgroundSpec", "CONFIGS", "CameraView", "LightSpec", "ObjectSpec", "SPLITS", "SceneConfig",
    "SceneSpec",
    "project", "sample_rng", "sample_scene", "sample_scenes", "stable_hash",
]
