# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Writing launch records, which pexrun.start replays on a warm `run` (see its docstring)."""

from __future__ import annotations

import contextlib
import marshal
import os
from pathlib import Path
from typing import Mapping, Sequence

from pex_release_core.repository.base import Repository, manifest_key
from pex_release_core.repository.file import FileRepository
from pexrun.cache import BlobCache, CacheError, FetchedRelease, write_atomically
from pexrun.launch import Interpreter
from pexrun.start import fingerprint, launch_record_path
from pexrun.venvs import ReleaseVenv, VenvCache


def _file_check(path: str) -> tuple[str, dict[str, list[int]]]:
    return os.path.dirname(path), {os.path.basename(path): fingerprint(path)}


def _manifest_check(path: str, verified: bytes) -> tuple[str, dict[str, list[int]]]:
    """The check of the repository's manifest file, once it is seen to hold the bytes this run verified
    (it may have been replaced since they were read); raises ValueError if not."""
    check = _file_check(path)
    with open(path, "rb") as f:
        if f.read() != verified or _file_check(path) != check:
            raise ValueError(f"{path} changed while pexrun ran it")
    return check


def _start_layout(venv: ReleaseVenv) -> dict[str, object] | None:
    """The venv's start layout, or None (the warm start then execs its python) if it cannot be had."""
    try:
        return VenvCache.start_layout(venv)
    except (CacheError, ValueError):
        return None


def record_launch(
    cache_dir: Path,
    key: tuple,
    repository: Repository,
    release: FetchedRelease,
    manifest_bytes: bytes,
    venv: ReleaseVenv,
    interpreter: Interpreter,
    trusted_keys: Sequence[Path],
    command: Sequence[str],
    inject_env: Mapping[str, str],
) -> None:
    """Records, for the invocation `key`, the command that starts the release from its venv and the
    stat of every file the decision to run it rested on, as verified (`manifest_bytes`: the manifest
    as read and checked). A repository other than
    `file://` is asked on every run: nothing is recorded. Neither is anything in a read-only cache."""
    if not isinstance(repository, FileRepository):
        return
    manifest = release.manifest
    cache = BlobCache(cache_dir)
    with contextlib.suppress(OSError, ValueError):  # a record missing or damaged: the next run verifies again
        published = str(repository.root / manifest_key(manifest.app, manifest.version))
        paths = [interpreter.path, *(str(path) for path in trusted_keys)]
        checks = [_manifest_check(published, manifest_bytes)]
        checks += [_file_check(p) for p in sorted({*paths, *(os.path.realpath(p) for p in paths)})]
        checks += [(str(root), entries) for root, entries in (cache.tree_stat(manifest.deps), cache.tree_stat(manifest.sources))]
        checks.append((str(venv.root), VenvCache(cache_dir).venv_stat(venv)))
        path = Path(launch_record_path(str(cache_dir), manifest.app, manifest.version))
        try:
            records = marshal.loads(path.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            records = {}
        if not isinstance(records, dict):
            records = {}
        records[key] = {
            "checks": checks,
            "exec": list(command),
            "inject_env": dict(inject_env),
            "sources": str(release.sources),
            "venv": _start_layout(venv),
        }
        write_atomically(path, marshal.dumps(records))
