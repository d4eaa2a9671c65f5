"""A loopback stand-in of the Hugging Face Hub's HTTP API, for tests (the Hub is unreachable here).

It implements just what `huggingface_hub` (with `HF_HUB_DISABLE_XET=1`) and `datasets` call for
`create_repo`, `upload_folder` (preupload, LFS batch + PUT, commit), `repo_info`, `snapshot_download`,
`HfFileSystem` (tree, paths-info, ranged resolve) and `load_dataset("org/name", streaming=True)`:
dataset repos only, one branch (`main`), every commit kept and addressable by its sha.

`Hub.fail_uploads_after(n)` lets `n` more LFS uploads complete and answers the rest with 507
(Insufficient Storage, which clients do not retry): an upload interrupted at a known point.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredFile:
    data: bytes
    lfs: bool

    def entry(self, path: str, commit: Commit) -> dict:
        info = {"type": "file", "path": path, "size": len(self.data), "oid": git_blob_sha1(self.data),
                "lastCommit": commit.summary_dict()}
        if self.lfs:
            sha = hashlib.sha256(self.data).hexdigest()
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(self.data)}\n"
            info["lfs"] = {"oid": sha, "size": len(self.data), "pointerSize": len(pointer)}
        return info


@dataclass
class Commit:
    sha: str
    title: str
    files: dict[str, StoredFile]
    date: str = field(default_factory=lambda: datetime.now(UTC).isoformat().replace("+00:00", "Z"))

    def summary_dict(self) -> dict:
        return {"id": self.sha, "title": self.title, "date": self.date}


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: list[Commit]

    def at(self, revision: str) -> Commit | None:
        if revision in ("main", "HEAD"):
            return self.commits[-1]
        return next((c for c in self.commits if c.sha == revision), None)


class Hub:
    """The stand-in's state plus its server thread; use as a context manager."""

    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}  # sha256 → LFS object
        self.lfs_puts: list[str] = []  # sha256 of every completed LFS upload, in order
        self._lock = threading.Lock()
        self._uploads_left: int | None = None  # None: accept every upload
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_uploads_after(self, n: int | None) -> None:
        """Accept `n` more LFS uploads, then refuse the rest; None accepts every upload again."""
        self._uploads_left = n

    # -- operations -------------------------------------------------------------------------
    def create_repo(self, repo_id: str, private: bool) -> bool:
        """False when it exists already (the Hub answers 409)."""
        with self._lock:
            if repo_id in self.repos:
                return False
            first = Commit(uuid.uuid4().hex + "00000000", "initial commit",
                           {".gitattributes": StoredFile(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", False)})
            self.repos[repo_id] = Repo(repo_id, private, [first])
            return True

    def commit(self, repo: Repo, lines: list[dict]) -> Commit:
        header = next(line["value"] for line in lines if line["key"] == "header")
        with self._lock:
            files = dict(repo.commits[-1].files)
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "file":
                    files[value["path"]] = StoredFile(base64.b64decode(value["content"]), False)
                elif key == "lfsFile":
                    if value["oid"] not in self.blobs:
                        raise KeyError(f"LFS object {value['oid']} of {value['path']} was never uploaded")
                    files[value["path"]] = StoredFile(self.blobs[value["oid"]], True)
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    files = {p: f for p, f in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            commit = Commit(uuid.uuid4().hex + "00000000", header.get("summary", ""), files)
            repo.commits.append(commit)
            return commit

    def store_blob(self, oid: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != oid:
            raise ValueError(f"LFS upload for {oid} does not match its sha256")
        with self._lock:
            self.blobs[oid] = data
            self.lfs_puts.append(oid)


def _tree(commit: Commit, base: str, recursive: bool) -> list[dict]:
    """Entries under `base` (files and directories), like the Hub's tree API."""
    prefix = base.strip("/") + "/" if base.strip("/") else ""
    entries: dict[str, dict] = {}
    for path, stored in sorted(commit.files.items()):
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix):].split("/")
        for depth in range(1, len(parts)):
            directory = prefix + "/".join(parts[:depth])
            if recursive or depth == 1:
                entries.setdefault(directory, {"type": "directory", "path": directory, "size": 0,
                                               "oid": hashlib.sha1(directory.encode()).hexdigest(),
                                               "lastCommit": commit.summary_dict()})
        if recursive or len(parts) == 1:
            entries[path] = stored.entry(path, commit)
    return list(entries.values())


def _handler_for(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        # -- plumbing -------------------------------------------------------------------------
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, payload, status: int = 200) -> None:
            self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

        def _error(self, status: int, code: str, message: str, head: bool = False) -> None:
            self._send(status, json.dumps({"error": message}).encode(),
                       {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message}, head)

        def _repo(self, repo_id: str, head: bool = False) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found", head)
            return repo

        def _commit(self, repo: Repo, revision: str, head: bool = False) -> Commit | None:
            commit = repo.at(unquote(revision))
            if commit is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
            return commit

        # -- routes ---------------------------------------------------------------------------
        def do_HEAD(self) -> None:
            self._route("HEAD")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        def _route(self, method: str) -> None:
            self.body = self._body()  # read it all: the connection is kept alive for the next request
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query)
            repo_re = r"(?P<repo>[^/]+/[^/]+)"
            routes = [
                ("POST", r"/api/repos/create", self.create),
                ("POST", r"/api/validate-yaml", lambda: self._json({"errors": [], "warnings": []})),
                ("POST", rf"/api/datasets/{repo_re}/preupload/(?P<rev>[^/]+)", self.preupload),
                ("POST", rf"/api/datasets/{repo_re}/commit/(?P<rev>[^/]+)", self.commit),
                ("POST", rf"/api/datasets/{repo_re}/paths-info/(?P<rev>[^/]+)", self.paths_info),
                ("POST", rf"/datasets/{repo_re}\.git/info/lfs/objects/batch", self.lfs_batch),
                ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", self.lfs_put),
                ("GET", rf"/api/datasets/{repo_re}/tree/(?P<rev>[^/]+)(?:/(?P<base>.*))?", self.tree),
                ("GET", rf"/api/datasets/{repo_re}(?:/revision/(?P<rev>[^/]+))?", self.info),
                ("GETHEAD", rf"/datasets/{repo_re}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
            ]
            for verb, pattern, handler in routes:
                match = re.fullmatch(pattern, path)
                if match and method in verb:
                    args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    if "query" in handler.__code__.co_varnames:
                        args["query"] = query
                    if "head" in handler.__code__.co_varnames:
                        args["head"] = method == "HEAD"
                    return handler(**args)
            self._error(404, "EntryNotFound", f"stand-in has no route for {method} {path}", method == "HEAD")

        def create(self) -> None:
            payload = json.loads(self.body)
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            if payload.get("type") != "dataset":
                return self._error(400, "BadRequest", "the stand-in holds dataset repos only")
            created = hub.create_repo(repo_id, payload.get("visibility", "public") != "public")
            body = {"url": f"{hub.endpoint}/datasets/{repo_id}", "name": repo_id}
            if not created:  # like the Hub: 409, and the body still names the repo
                body["error"] = "You already created this dataset repo"
            self._json(body, 200 if created else 409)

        def info(self, repo: str, rev: str = "main") -> None:
            found = self._repo(repo)
            commit = found and self._commit(found, rev)
            if commit:
                self._json({"_id": repo, "id": repo, "author": repo.split("/")[0], "sha": commit.sha,
                            "private": found.private, "disabled": False, "gated": False, "tags": [],
                            "downloads": 0, "likes": 0, "lastModified": commit.date,
                            "siblings": [{"rfilename": p} for p in sorted(commit.files)]})

        def tree(self, repo: str, rev: str, query: dict, base: str = "") -> None:
            found = self._repo(repo)
            commit = found and self._commit(found, rev)
            if not commit:
                return
            entries = _tree(commit, base, query.get("recursive", ["false"])[0].lower() == "true")
            if base and not entries:
                return self._error(404, "EntryNotFound", f"{base} does not exist on {rev}")
            self._json(entries)

        def paths_info(self, repo: str, rev: str) -> None:
            found = self._repo(repo)
            commit = found and self._commit(found, rev)
            if not commit:
                return
            body = self.body
            if self.headers.get("Content-Type", "").startswith("application/json"):
                paths = json.loads(body)["paths"]
            else:
                paths = parse_qs(body.decode()).get("paths", [])
            entries = []
            for wanted in paths:
                wanted = wanted.strip("/")
                if wanted in commit.files:
                    entries.append(commit.files[wanted].entry(wanted, commit))
                elif any(p.startswith(wanted + "/") for p in commit.files):
                    entries.append({"type": "directory", "path": wanted, "size": 0,
                                    "oid": hashlib.sha1(wanted.encode()).hexdigest(),
                                    "lastCommit": commit.summary_dict()})
            self._json(entries)

        def resolve(self, repo: str, rev: str, file: str, head: bool) -> None:
            found = self._repo(repo, head)
            commit = found and self._commit(found, rev, head)
            if not commit:
                return
            stored = commit.files.get(file)
            if stored is None:
                return self._error(404, "EntryNotFound", f"{file} does not exist on {rev}", head)
            data = stored.data
            etag = hashlib.sha256(data).hexdigest() if stored.lfs else git_blob_sha1(data)
            headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                       "Content-Type": "application/octet-stream"}
            if stored.lfs:
                headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
            status, byte_range = 200, self.headers.get("Range")
            if byte_range:
                start_text, _, end_text = byte_range.removeprefix("bytes=").partition("-")
                start = int(start_text)
                end = min(int(end_text) if end_text else len(data) - 1, len(data) - 1)
                if start >= len(data):
                    return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                data, status = data[start:end + 1], 206
            self._send(status, data, headers, head)

        def preupload(self, repo: str, rev: str) -> None:
            found = self._repo(repo)
            commit = found and self._commit(found, rev)
            if not commit:
                return
            files = []
            for item in json.loads(self.body)["files"]:
                sample = base64.b64decode(item["sample"])
                binary = b"\0" in sample or item["path"].endswith((".parquet", ".png", ".jpg"))
                mode = "lfs" if binary or item["size"] > 10 * 2**20 else "regular"
                remote = commit.files.get(item["path"])
                oid = None
                if remote is not None:
                    oid = hashlib.sha256(remote.data).hexdigest() if remote.lfs else git_blob_sha1(remote.data)
                files.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
            self._json({"files": files})

        def lfs_batch(self, repo: str) -> None:
            if self._repo(repo) is None:
                return
            objects = []
            for obj in json.loads(self.body)["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"]}
                if obj["oid"] not in hub.blobs:  # no actions: the object is already there
                    entry["actions"] = {"upload": {"href": f"{hub.endpoint}/lfs-upload/{obj['oid']}"}}
                objects.append(entry)
            self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                       {"Content-Type": "application/vnd.git-lfs+json"})

        def lfs_put(self, oid: str) -> None:
            with hub._lock:
                refused = hub._uploads_left == 0
                if hub._uploads_left:
                    hub._uploads_left -= 1
            if refused:
                return self._error(507, "InsufficientStorage", "upload interrupted by the stand-in")
            try:
                hub.store_blob(oid, self.body)
            except ValueError as err:
                return self._error(400, "BadRequest", str(err))
            self._send(200)

        def commit(self, repo: str, rev: str) -> None:
            found = self._repo(repo)
            if found is None:
                return
            lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
            try:
                commit = hub.commit(found, lines)
            except KeyError as err:
                return self._error(422, "BadRequest", str(err))
            self._json({"commitUrl": f"{hub.endpoint}/datasets/{repo}/commit/{commit.sha}",
                        "commitOid": commit.sha, "pullRequestUrl": None})

    return Handler
