"""Every package in the tree ships: a wheel would silently drop a folder missing from pyproject."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    folders = {"anyhand_hf." + ".".join(p.parent.relative_to(ROOT / "anyhand_hf").parts)
               for p in (ROOT / "anyhand_hf").rglob("__init__.py")}
    folders = {f.rstrip(".") for f in folders}
    for name, folder in tool["package-dir"].items():
        if name != "anyhand_hf" and (ROOT / folder / "__init__.py").exists():
            folders.add(name)
    assert folders == listed, f"unlisted: {sorted(folders - listed)}, missing: {sorted(listed - folders)}"
