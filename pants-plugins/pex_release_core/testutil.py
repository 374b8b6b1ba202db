# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Test helpers shared by the plugin's tests, pexrun's and the prune benchmark: small releases and
what to check in a repository, with no pytest (the behaviour every writable repository must have,
`RepositoryContract`, is in repository_contract.py).

The releases' "PEXes" stand in for real ones, in both of the ways pexrun runs a release. Trees are
shaped like pex's packed layout: a `.bootstrap` every tree shares, a `pex` symlink to `__main__.py`,
a PEX-INFO, and in the deps tree a real wheel, `.deps/release_deps-1.0-py3-none-any.whl`, which
pexrun installs into its venv and runs the entry point of the sources' PEX-INFO from. The sources'
`__main__.py` stands in for pex's runtime (`python <sources> args`, with PEX_PATH naming the deps
PEX, as pexrun runs zipapps and releases under `PEX_*` variables): it imports from PEX_PATH and runs
PEX_MODULE or the entry point. Either way the entry point prints how it was started.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
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

# The entry point of every release (`<app>.main`; its script `report` is `<app>.report:main`):
# reports how it was started, and where its deps came from.
REPORTER_MAIN = """\
import json, os, sys
import release_deps

def report(entry):
    print(json.dumps({
        "argv0": sys.argv[0],
        "args": sys.argv[1:],
        "pid": os.getpid(),
        "deps": release_deps.NAME,
        "deps_from": os.path.dirname(release_deps.__file__),
        "entry": entry,
        "pex": os.environ.get("PEX"),
        "pex_path": os.environ.get("PEX_PATH"),
        "release_env": {name: value for name, value in sorted(os.environ.items()) if name.startswith("RELEASE_")},
        "app": os.environ.get("PEXRUN_APP"),
        "version": os.environ.get("PEXRUN_VERSION"),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "path": sys.path,
    }))

if __name__ == "__main__":
    report("main")
"""
# The deps' console script `release-deps-show`.
RELEASE_DEPS_SHOW = """\
def show():
    import json, sys
    print(json.dumps({"script": NAME, "argv0": sys.argv[0], "args": sys.argv[1:]}))
"""
REPORTER_SCRIPT = "from {app}.main import report\n\ndef main():\n    report('report')\n"

# The sources' `__main__.py`, for pex's runtime: the deps after the sources on sys.path, as pex puts
# PEX_PATH, then PEX_MODULE or the entry point.
PEX_RUNTIME_MAIN = """\
import os, runpy, sys
sys.path.insert(1, os.environ["PEX_PATH"])
module, _, function = os.environ.get("PEX_MODULE", "{app}.main").partition(":")
if function:
    sys.exit(getattr(__import__(module, fromlist=["_"]), function)())
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def wheel(name: str, version: str, files: dict[str, str], console_scripts: dict[str, str]) -> bytes:
    """A pure-Python wheel of files and console scripts, with its metadata and RECORD, byte-identical
    for equal inputs."""
    dist_info = f"{name}-{version}.dist-info"
    contents = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: pex-release tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": "[console_scripts]\n" + "".join(f"{n} = {e}\n" for n, e in console_scripts.items()),
    }
    record = [f"{path},sha256={_record_hash(text)},{len(text.encode())}" for path, text in sorted(contents.items())]
    contents[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    buffer = io.BytesIO()
    write_zip(buffer, contents)
    return buffer.getvalue()


def _record_hash(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def write_zip(path: Path | io.BytesIO, files: dict[str, str]) -> Path | io.BytesIO:
    """A zip with fixed timestamps, so equal contents give equal bytes (and equal blobs)."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_pex(directory: Path, name: str, files: dict[str, str | bytes], layout: str, **extra: object) -> ReleasePex:
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
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
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
    inject_env: dict[str, str] | None = None,
    inject_args: tuple[str, ...] = (),
    script: str | None = None,
) -> Path:
    """Writes `<app>.release.json` and its deps and sources PEXes into directory, as `./pants package`
    writes a release into dist/releases; returns the manifest's path.

    Releases with the same `deps` share a deps PEX; `sources` changes the sources PEX's `release.txt`;
    `sbom`, when given, is the content of its SBOM, `<app>.cdx.json`; `inject_env` and `inject_args`
    go into its manifest and its sources' PEX-INFO, as pex_release's `env` and `args` fields put them;
    `script` makes it run the deps' console script of that name (`release-deps-show`) instead of its
    entry point. The deps PEX holds a wheel, `.deps/release_deps-1.0-py3-none-any.whl`, whose sha256
    the manifest records as the lockfile's.
    """
    wheel_file = "release_deps-1.0-py3-none-any.whl"
    module = f"NAME = {deps!r}\n\n\n{RELEASE_DEPS_SHOW}"
    deps_files: dict[str, str | bytes] = {"release_deps.py": module, "__main__.py": "raise SystemExit('a deps PEX')\n"}
    if layout != "zipapp":
        scripts = {"release-deps-show": "release_deps:show"}
        deps_files[f".deps/{wheel_file}"] = wheel("release_deps", "1.0", {"release_deps.py": module}, scripts)
        deps_files["PEX-INFO"] = json.dumps({"deps_are_wheel_files": True})
    wheel_sha256 = hashlib.sha256(deps_files.get(f".deps/{wheel_file}", b"")).hexdigest()
    sources_files = {
        "__main__.py": PEX_RUNTIME_MAIN.replace("{app}", app),
        "PEX-INFO": json.dumps(
            {
                **({"script": script} if script else {"entry_point": f"{app}.main"}),
                **({"inject_env": inject_env} if inject_env else {}),
                **({"inject_args": list(inject_args)} if inject_args else {}),
            }
        ),
        f"{app}/__init__.py": "",  # zipimport finds no namespace packages
        f"{app}/main.py": REPORTER_MAIN,
        f"{app}/report.py": REPORTER_SCRIPT.format(app=app),
        "release.txt": f"{app} {sources}",
    }
    manifest = ReleaseManifest(
        app=app,
        version=version,
        revision="0123456789abcdef0123456789abcdef01234567",
        entry_point=script or f"{app}.main",
        scripts={"report": f"{app}.report:main"},
        interpreter_constraints=interpreter_constraints,
        env=inject_env or {},
        args=inject_args,
        deps=write_pex(
            directory,
            f"deps-{deps}.pex",
            deps_files,
            layout,
            subset_key=hashlib.sha256(deps.encode()).hexdigest(),
            distributions=(Distribution("release-deps", "1.0", wheel_sha256, wheel_file),),
        ),
        sources=write_pex(directory, f"{app}-srcs.pex", sources_files, layout),
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
    """Adds files to the sources tree of a `make_release` release, and to its manifest (in place of
    those at the same paths)."""
    manifest = ReleaseManifest.loads(manifest_path.read_bytes(), origin=str(manifest_path))
    sources = manifest.sources
    kept = tuple(f for f in sources.files if f.path not in files)
    added = []
    for relpath, text in files.items():
        path = manifest_path.parent / sources.file / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        added.append(TreeFile(relpath, _sha256(path), path.stat().st_size))
    sources = ReleasePex.tree(sources.file, sources.layout, (*kept, *added), sources.symlinks)
    manifest_path.write_bytes(dataclasses.replace(manifest, sources=sources).dumps())
    return manifest_path


def uploaded_files(report: PublishReport) -> set[str]:
    """The files (`<pex>/<path>`) whose blobs the publish uploaded."""
    return {u.blob.file for u in report.blobs if u.uploaded}


def assert_stored_intact(repository: Repository) -> None:
    """Every stored blob holds the bytes its key names: no blob half-written or damaged."""
    for name in repository._list("blobs/sha256/"):
        assert hashlib.sha256(repository._get(blob_key(name))).hexdigest() == name


# The files of `make_release`'s (packed) deps tree of `deps="shared"`, which every such release shares.
SHARED_DEPS_FILES = {
    "deps-shared.pex/.bootstrap",  # The same in every tree: the sources tree's is this blob too.
    "deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl",
    "deps-shared.pex/PEX-INFO",
    "deps-shared.pex/__main__.py",
    "deps-shared.pex/release_deps.py",
}


def python312() -> str:
    """A CPython 3.12 under pyenv, for tests that build or run what the apps run on."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(root.glob("versions/3.12.*/bin/python3.12"))
    assert found, f"these tests need a CPython 3.12 in {root}/versions"
    return str(found[-1])
