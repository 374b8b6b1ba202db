# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Test helpers shared by the plugin's tests, pexrun's and the prune benchmark: small releases and
what to check in a repository, with no pytest (the behaviour every writable repository must have,
`RepositoryContract`, is in repository_contract.py).

The releases' "PEXes" stand in for real ones: pexrun only runs `python <sources> args` with PEX_PATH
naming the deps PEX, so a sources tree (or PEP 441 zipapp) whose `__main__.py` imports from PEX_PATH
does what a PEX does. Trees are shaped like pex's packed layout: a `.bootstrap` every tree shares, a
`.deps/` wheel in the deps tree, and a `pex` symlink to `__main__.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable


from pex_release_core.manifest import Blob, DepsPex, Distribution, ReleaseManifest, ReleasePex, TreeFile, TreeSymlink
from pex_release_core.publishing import PublishReport
from pex_release_core.repository.base import (
    Repository,
    blob_key,
)
from pex_release_core.repository.file import FileRepository
from pex_release_core.repository.s3 import S3Repository

# The sources "PEX": imports from the deps "PEX" as a PEX would, and reports how it was started.
REPORTER_MAIN = """\
import json, os, sys
sys.path.insert(0, os.environ["PEX_PATH"])
import release_deps
print(json.dumps({
    "argv0": sys.argv[0],
    "args": sys.argv[1:],
    "pid": os.getpid(),
    "deps": release_deps.NAME,
    "pex_path": os.environ["PEX_PATH"],
    "pex_module": os.environ.get("PEX_MODULE"),
    "app": os.environ.get("PEXRUN_APP"),
    "version": os.environ.get("PEXRUN_VERSION"),
}))
"""


def write_zip(path: Path, files: dict[str, str]) -> Path:
    """A zip with fixed timestamps, so equal contents give equal bytes (and equal blobs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_pex(directory: Path, name: str, files: dict[str, str], layout: str, **extra: object) -> ReleasePex:
    """Writes a stand-in PEX into directory: a zipapp of files, or a tree of them with a `.bootstrap`
    and a `pex` symlink, as pex's packed layout has; returns its manifest entry."""
    if layout == "zipapp":
        path = write_zip(directory / name, files)
        return (DepsPex if extra else ReleasePex)(name, layout, _sha256(path), path.stat().st_size, **extra)
    root = directory / name
    tree_files = []
    for relpath, text in sorted({".bootstrap": "the same in every tree\n", **files}.items()):
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        tree_files.append(TreeFile(relpath, _sha256(path), path.stat().st_size))
    (root / "pex").symlink_to("__main__.py")
    return (DepsPex if extra else ReleasePex).tree(name, layout, tuple(tree_files), (TreeSymlink("pex", "__main__.py"),), **extra)


def make_release(
    directory: Path,
    app: str,
    version: str,
    *,
    deps: str = "shared",
    sources: str = "",
    interpreter_constraints: tuple[str, ...] = ("CPython>=3.9",),
    layout: str = "packed",
    sbom: str | None = None,
) -> Path:
    """Writes `<app>.release.json` and its deps and sources PEXes into directory, as `./pants package`
    writes a release into dist/releases; returns the manifest's path.

    Releases with the same `deps` share a deps PEX; `sources` changes the sources PEX's `release.txt`;
    `sbom`, when given, is the content of its SBOM, `<app>.cdx.json`.
    The deps PEX holds a wheel, `.deps/release_deps-1.0-py3-none-any.whl`, whose sha256 the
    manifest records as the lockfile's.
    """
    wheel = "release_deps-1.0-py3-none-any.whl"
    deps_files = {"release_deps.py": f"NAME = {deps!r}\n", "__main__.py": "raise SystemExit('a deps PEX')\n"}
    if layout != "zipapp":
        deps_files[f".deps/{wheel}"] = f"the wheel of {deps}\n"
    wheel_sha256 = hashlib.sha256(deps_files.get(f".deps/{wheel}", "").encode()).hexdigest()
    manifest = ReleaseManifest(
        app=app,
        version=version,
        revision="0123456789abcdef0123456789abcdef01234567",
        entry_point=f"{app}.main",
        scripts={"report": f"{app}.report:main"},
        interpreter_constraints=interpreter_constraints,
        deps=write_pex(
            directory,
            f"deps-{deps}.pex",
            deps_files,
            layout,
            subset_key=hashlib.sha256(deps.encode()).hexdigest(),
            distributions=(Distribution("release-deps", "1.0", wheel_sha256, wheel),),
        ),
        sources=write_pex(directory, f"{app}-srcs.pex", {"__main__.py": REPORTER_MAIN, "release.txt": f"{app} {sources}"}, layout),
    )
    if sbom is not None:
        (directory / f"{app}.cdx.json").write_text(sbom)
        digest = hashlib.sha256(sbom.encode()).hexdigest()
        manifest = dataclasses.replace(manifest, sbom=Blob(f"{app}.cdx.json", digest, len(sbom.encode())))
    path = directory / f"{app}.release.json"
    path.write_bytes(manifest.dumps())
    return path


def damage_blob(repository: Repository, key: str, damage: str) -> None:
    """Damages a stored blob as a disk, an operator or a lifecycle rule might: "deleted", or
    "corrupted" (other bytes of the same size)."""
    if damage == "corrupted":
        repository._put(key, b"x" * len(repository._get(key)))
    elif isinstance(repository, FileRepository):
        (repository.root / key).unlink()
    else:
        assert isinstance(repository, S3Repository)
        repository._client.delete_object(Bucket=repository._bucket, Key=repository._key(key))


def python_env() -> dict[str, str]:
    """This process's environment, with its sys.path, for child Pythons that import our modules."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def edit_manifest(path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Rewrites a manifest's JSON through edit, with no checks: bad manifests for the error tests."""
    data = json.loads(path.read_bytes())
    edit(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def add_source_files(manifest_path: Path, files: dict[str, str]) -> Path:
    """Adds files to the sources tree of a `make_release` release, and to its manifest."""
    manifest = ReleaseManifest.loads(manifest_path.read_bytes(), origin=str(manifest_path))
    sources = manifest.sources
    added = []
    for relpath, text in files.items():
        path = manifest_path.parent / sources.file / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        added.append(TreeFile(relpath, _sha256(path), path.stat().st_size))
    sources = ReleasePex.tree(sources.file, sources.layout, (*sources.files, *added), sources.symlinks)
    manifest_path.write_bytes(dataclasses.replace(manifest, sources=sources).dumps())
    return manifest_path


def uploaded_files(report: PublishReport) -> set[str]:
    """The files (`<pex>/<path>`) whose blobs the publish uploaded."""
    return {u.blob.file for u in report.blobs if u.uploaded}


def assert_stored_intact(repository: Repository) -> None:
    """Every stored blob holds the bytes its key names: no blob half-written or damaged."""
    for name in repository._list("blobs/sha256/"):
        assert hashlib.sha256(repository._get(blob_key(name))).hexdigest() == name


# The files of `make_release`'s deps tree, and of a sources tree whose `__main__.py` every app shares.
SHARED_DEPS_FILES = {
    "deps-shared.pex/.bootstrap",  # The same in every tree: the sources tree's is this blob too.
    "deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl",
    "deps-shared.pex/__main__.py",
    "deps-shared.pex/release_deps.py",
}


def python312() -> str:
    """A CPython 3.12 under pyenv, for tests that build or run what the apps run on."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(root.glob("versions/3.12.*/bin/python3.12"))
    assert found, f"these tests need a CPython 3.12 in {root}/versions"
    return str(found[-1])
