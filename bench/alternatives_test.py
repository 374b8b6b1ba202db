# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""What the figures rest on: Pants log parsing and the manual recipe's pins; no Pants, no network."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from alternatives import (
    OUTSIDE_PROCESSES,
    App,
    CacheDirs,
    PantsRun,
    PexRelease,
    ScratchRepo,
    closure_pins,
    direct_requirements,
    disk_bytes,
    first_party_libraries,
    exported_pins,
    size_of,
    stored_files,
)
from testing.lockfile import locked_entry, replace_locked_version

STDERR = """\
10:00:01.00 [INFO] Starting: Resolving the closure of src/python/apps/api:release from 3rdparty/python/default.lock
10:00:01.50 [INFO] Starting: Building 3 requirements for src.python.apps.api/bin.pex from the 3rdparty/python/default.lock resolve: fastapi
10:00:01.60 [INFO] Canceled: Building 3 requirements for src.python.apps.api/bin.pex from the 3rdparty/python/default.lock resolve: fastapi
10:00:02.00 [INFO] Completed: Resolving the closure of src/python/apps/api:release from 3rdparty/python/default.lock
10:00:02.00 [INFO] Starting: Building 3 requirements for src.python.apps.api/bin.pex from the 3rdparty/python/default.lock resolve: fastapi
10:00:03.00 [INFO] Starting: Publishing api to file:///r
10:00:04.00 [INFO] Completed: Building 3 requirements for src.python.apps.api/bin.pex from the 3rdparty/python/default.lock resolve: fastapi
10:00:04.50 [INFO] Completed: Publishing api to file:///r
"""


IMAGE_STDERR = """\
10:00:01.00 [INFO] Starting: Building a base image from /usr/bin/python3.12
10:00:02.00 [INFO] Completed: Building a base image from /usr/bin/python3.12
10:00:02.00 [INFO] Starting: Installing the wheels of deps PEX 0123456789ab for an image
10:00:03.00 [INFO] Completed: Installing the wheels of deps PEX 0123456789ab for an image
10:00:03.00 [INFO] Starting: Building the image layers of deps PEX 0123456789ab
10:00:04.00 [INFO] Completed: Building the image layers of deps PEX 0123456789ab
10:00:04.00 [INFO] Starting: Building the image's sources PEX (Building sources PEX for src/python/apps/api:release)
10:00:05.00 [INFO] Completed: Building the image's sources PEX (Building sources PEX for src/python/apps/api:release)
10:00:05.00 [INFO] Starting: Building the image of api on the host's Python (/usr/bin/python3.12)
10:00:06.00 [INFO] Completed: Building the image of api on the host's Python (/usr/bin/python3.12)
"""


def test_an_image_build_counts_only_its_pex_processes() -> None:
    run = PantsRun(stdout="", stderr=IMAGE_STDERR, seconds=6.0)
    assert len(run.completed) == 5
    assert run.pex_runs == 2  # The wheels' install and the sources PEX; the base and the layers run no pex.

def test_pants_run_counts_pex_processes_and_times_the_rest() -> None:
    run = PantsRun(stdout="", stderr=STDERR, seconds=10.0)
    assert run.pex_runs == 2  # The closure resolve and the PEX build; publishing runs no pex.
    steps = run.steps()
    assert steps["./pants: Building 3 requirements for src.python.apps.api/bin.pex"] == pytest.approx(2.0)
    assert steps["./pants: Resolving the closure of src/python/apps/api:release"] == pytest.approx(1.0)
    # Processes cover 10:00:01.00-10:00:04.50, overlaps counted once.
    assert steps[OUTSIDE_PROCESSES] == pytest.approx(6.5)


LOCK = {
    "locked_resolves": [
        {
            "locked_requirements": [
                {"project_name": "uvicorn", "version": "1", "requires_dists": ["click>=7", 'h11; extra == "standard"', 'colorama; sys_platform == "win32"']},
                {"project_name": "click", "version": "2", "requires_dists": []},
                {"project_name": "h11", "version": "3", "requires_dists": []},
                {"project_name": "colorama", "version": "4", "requires_dists": []},
            ]
        }
    ]
}


def test_closure_pins_follow_markers_and_extras() -> None:
    assert closure_pins(LOCK, ["uvicorn>=0.29"]) == {"uvicorn": "1", "click": "2"}
    assert closure_pins(LOCK, ["uvicorn[standard]"]) == {"uvicorn": "1", "click": "2", "h11": "3"}


def test_exported_pins_keep_what_applies_on_linux() -> None:
    exported = (
        "# uv export\n"
        "click==2 \\\n    --hash=sha256:00\n"
        "colorama==4 ; sys_platform == 'win32' \\\n    --hash=sha256:11\n"
        "Uvicorn==1 \\\n    --hash=sha256:22\n"
    )
    assert exported_pins(exported) == {"click": "2", "uvicorn": "1"}


def test_direct_requirements_are_what_the_released_code_imports(tmp_path: Path) -> None:
    (tmp_path / "3rdparty/python").mkdir(parents=True)
    (tmp_path / "3rdparty/python/requirements.txt").write_text("fastapi>=0.110  # the api\nClick\npytest\n")
    app, common, unused = (tmp_path / "src/python" / d for d in ("apps/api", "libs/common", "libs/unused"))
    for directory in (app, common, unused):
        directory.mkdir(parents=True)
    (app / "main.py").write_text("import fastapi.routing\nfrom . import app\nfrom libs.common.cli import run\n")
    (app / "main_test.py").write_text("import pytest\n")
    (app / "conftest.py").write_text("import pytest\n")
    (common / "cli.py").write_text("from click import command\n")
    (unused / "aws.py").write_text("import boto3\n")  # A library the app does not import.
    assert first_party_libraries(tmp_path, App("api", "apps.api.main")) == ["common"]
    assert direct_requirements(tmp_path, App("api", "apps.api.main")) == {"fastapi", "click"}


def _write_manifest(repo: Path, app: str, manifest: dict) -> None:
    (repo / "dist/releases").mkdir(parents=True, exist_ok=True)
    (repo / "dist/releases" / f"{app}.release.json").write_text(json.dumps(manifest))


def test_a_publish_counts_every_file_it_added_and_the_wheels_among_them(tmp_path: Path) -> None:
    wheel, bootstrap, source = "a" * 64, "b" * 64, "c" * 64
    _write_manifest(
        tmp_path / "repo",
        "reports",
        {
            "deps": {"file": "deps-1.pex", "layout": "packed", "files": [
                {"path": ".bootstrap", "sha256": bootstrap, "size": 5},
                {"path": ".deps/six-1.17.0-py2.py3-none-any.whl", "sha256": wheel, "size": 7},
            ]},
            "sources": {"file": "reports-srcs.pex", "layout": "packed", "files": [{"path": "main.py", "sha256": source, "size": 3}]},
            "single_file": {"file": "reports.pex", "layout": "zipapp", "sha256": "d" * 64, "size": 11},
        },
    )
    alternative = PexRelease(ScratchRepo(tmp_path / "repo"), CacheDirs(tmp_path / "caches"), tmp_path / "repository")
    assert alternative.first_deploy_bytes([App("reports", "apps.reports.main")]) == 5 + 7 + 3 + 11
    blobs = tmp_path / "repository/blobs/sha256"
    blobs.mkdir(parents=True)
    (blobs / bootstrap).write_bytes(b"12345")  # already there
    before = stored_files(tmp_path / "repository")
    (blobs / wheel).write_bytes(b"1234567")
    (blobs / source).write_bytes(b"123")
    (tmp_path / "repository/apps/reports").mkdir(parents=True)
    (tmp_path / "repository/apps/reports/1.json").write_bytes(b"{}")
    outcome = alternative.uploads([App("reports", "apps.reports.main")], before)
    assert outcome.bytes_uploaded == 7 + 3 + 2
    assert outcome.details == {"files uploaded": 3, "wheels uploaded": 1, "wheel bytes uploaded": 7}


def test_the_size_of_a_tree_is_its_files(tmp_path: Path) -> None:
    (tmp_path / "t/.deps").mkdir(parents=True)
    (tmp_path / "t/.deps/w.whl").write_bytes(b"x" * 10)
    (tmp_path / "t/__main__.py").write_bytes(b"y" * 3)
    (tmp_path / "t/pex").symlink_to("__main__.py")
    assert size_of(tmp_path / "t") == 13
    assert size_of(tmp_path / "t/__main__.py") == 3


def test_a_locked_version_is_replaced_and_nothing_else(tmp_path: Path) -> None:
    lock = tmp_path / "3rdparty/python/default.lock"
    lock.parent.mkdir(parents=True)
    header = "// This lockfile was autogenerated by Pants.\n//\n"
    lock.write_text(header + json.dumps(LOCK, indent=2, sort_keys=True) + "\n")
    artifacts = [{"algorithm": "sha256", "hash": "e" * 64, "url": "https://example.com/click-2.1-py3-none-any.whl"}]
    replace_locked_version(tmp_path, "click", "2.1", artifacts)
    assert locked_entry(lock, "click") == {"project_name": "click", "version": "2.1", "requires_dists": [], "artifacts": artifacts}
    assert locked_entry(lock, "uvicorn") == LOCK["locked_resolves"][0]["locked_requirements"][0]
    assert lock.read_text().startswith(header)  # the Pants header is untouched


def test_ci_builds_only_the_alternatives_targets_that_depend_on_what_changed(tmp_path: Path) -> None:
    alternative = PexRelease(ScratchRepo(tmp_path / "repo"), CacheDirs(tmp_path / "caches"), tmp_path / "repository")
    apps = [App("api", "apps.api.main"), App("cli", "apps.cli.main:cli")]
    assert alternative.goal_args(["package", "publish"], apps, None) == [
        "package", "publish", "src/python/apps/api:release", "src/python/apps/cli:release"
    ]
    # Global options go before the goals: after a goal, Pants reads a flag as that goal's.
    assert alternative.goal_args(["package", "publish"], apps, "HEAD~1") == [
        "--changed-since=HEAD~1", "--changed-dependents=transitive", "--filter-target-type=pex_release",
        "package", "publish",
    ]


def test_disk_bytes_counts_each_inode_once_and_links_by_their_own_size(tmp_path: Path) -> None:
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs/wheel").write_bytes(b"x" * 1000)
    (tmp_path / "tree/lib").mkdir(parents=True)
    os.link(tmp_path / "blobs/wheel", tmp_path / "tree/lib/wheel")
    os.link(tmp_path / "blobs/wheel", tmp_path / "tree/wheel-again")
    (tmp_path / "tree/lib/module.py").write_bytes(b"y" * 10)
    os.symlink("lib", tmp_path / "tree/lib64")  # a venv's: counted as a link, not followed
    assert disk_bytes(tmp_path / "tree") == 1000 + 10 + len("lib")
    assert disk_bytes(tmp_path) == 1000 + 10 + len("lib")  # the blob and its links: one inode
    assert disk_bytes(tmp_path / "absent") == 0
