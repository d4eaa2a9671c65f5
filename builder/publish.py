"""`anyhand push`: publish a finished, verified build folder as a Hugging Face dataset repo.

Only a folder that `verify` accepts is published (every shard matches its manifest record, the
card names exactly the planned shards), and only the files a build owns: the card, its preview,
the shards and the manifest (`.anyhand/`, so a downloaded copy can be verified and resumed like
a local build); temporary files of a running build never leave the machine.

Uploads resume: `upload_folder` skips files the repo already holds unchanged and LFS objects
the Hub already has, so re-running an interrupted push sends only what is missing. With
`hf_xet` (the default install) it also commits a large folder in several batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi

from .build import verify
from .card import CARD_FILE, PREVIEW_FILE, data_files_pattern
from .manifest import META_DIR, PARAMS_FILE, record_path
from .plan import plan_shards


@dataclass
class PushReport:
    repo_url: str
    commit_url: str
    files: list[str]  # paths in the repo that this dataset consists of
    configs: tuple[str, ...]


def build_files(out: Path) -> tuple[list[str], list[str], tuple[str, ...]]:
    """A verified build's files (relative paths), the globs that select exactly them (a few per
    config and split: listing every shard would make matching quadratic in the shard count), and
    its configs. Raises `BuildError` naming each problem when the folder is unfinished or
    disagrees with its manifest or card."""
    params = verify(out)
    shards = plan_shards(params)
    records = [record_path(out, s).relative_to(out).as_posix() for s in shards]
    files = [CARD_FILE, PREVIEW_FILE, PARAMS_FILE] + [s.path for s in shards] + records
    shard_globs = {data_files_pattern(s) for s in shards}
    patterns = [CARD_FILE, PREVIEW_FILE, PARAMS_FILE, *sorted(shard_globs),
                *sorted(f"{META_DIR}/shards/{g.removesuffix('.parquet')}.json" for g in shard_globs)]
    return files, patterns, params.configs


def push(out: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> PushReport:
    """Create the dataset repo `repo_id` if needed (private when asked; an existing repo keeps its
    visibility) and upload the build in `out` to it."""
    out = Path(out)
    files, patterns, configs = build_files(out)
    api = HfApi(token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=out, repo_id=repo_id, repo_type="dataset", allow_patterns=patterns,
                                   commit_message=f"AnyHand dataset ({', '.join(configs)})")
    except (OSError, RuntimeError) as err:  # huggingface_hub's HTTP, token and upload errors
        cause = f" ({err.__cause__})" if err.__cause__ else ""
        raise RuntimeError(f"pushing {out} to {repo_id} stopped: {err}{cause}. Run the same command again to "
                           "resume: what the repo already holds is not uploaded again.") from err
    return PushReport(str(repo_url), commit.commit_url, files, configs)
