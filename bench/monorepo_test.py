# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The synthetic monorepo of the scale scenarios: its shape (closures, libraries), its code, its edits."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

from alternatives import closure_pins, direct_requirements, first_party_libraries
from monorepo import CLOSURES, EDITED_LIBRARY, LIBRARIES, apps_using, closure_of, generate

REQUIREMENTS = "fastapi>=0.110\nuvicorn>=0.29\nclick>=8.1\nsetproctitle>=1.3\nnumpy>=1.26\nboto3>=1.34\n"
# A lock with the dependencies that tell the closures apart (as in default.lock).
LOCK = {"locked_resolves": [{"locked_requirements": [
    {"project_name": name, "version": "1", "requires_dists": deps}
    for name, deps in (
        ("fastapi", ["starlette"]), ("starlette", []), ("uvicorn", ["click>=7.0"]), ("click", []),
        ("setproctitle", []), ("numpy", []), ("boto3", ["botocore"]), ("botocore", ["python-dateutil"]),
        ("python-dateutil", []),
    )
]}]}


def _generate(root: Path, count: int):
    (root / "3rdparty/python").mkdir(parents=True)
    (root / "3rdparty/python/requirements.txt").write_text(REQUIREMENTS)
    return generate(root, count)


def test_fifty_apps_spread_evenly_over_five_distinct_closures(tmp_path: Path) -> None:
    apps = _generate(tmp_path, 50)
    assert len({app.name for app in apps}) == 50
    closures = collections.Counter(
        frozenset(closure_pins(LOCK, direct_requirements(tmp_path, app))) for app in apps
    )
    assert len(closures) == 5
    assert set(closures.values()) == {10}
    assert frozenset({"boto3", "botocore", "python-dateutil"}) in closures  # The lockfile edit's closure, alone.
    assert sum("python-dateutil" in closure for closure in closures) == 1


def test_the_edited_library_is_used_by_ten_apps_of_every_closure_and_the_libraries_overlap(tmp_path: Path) -> None:
    apps = _generate(tmp_path, 50)
    users = apps_using(tmp_path, EDITED_LIBRARY, apps)
    assert len(users) == 10
    assert {closure_of(int(app.name[-2:])).name for app in users} == {c.name for c in CLOSURES}
    libraries = {app.name: first_party_libraries(tmp_path, app) for app in apps}
    assert {lib for used in libraries.values() for lib in used} == {lib.name for lib in LIBRARIES}
    assert any(len(used) == 3 for used in libraries.values())  # Overlapping subsets, not a partition.
    assert any(not used for used in libraries.values())
    assert {app.name for app in users} == {name for name, used in libraries.items() if EDITED_LIBRARY in used}


def test_fewer_apps_are_a_prefix_of_more(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    apps = _generate(small, 3)
    assert [app.name for app in apps] == [app.name for app in _generate(large, 50)[:3]]
    for app in apps:
        for path in (small / app.directory).iterdir():
            assert path.read_text() == (large / app.directory / path.name).read_text()
    assert len(apps_using(small, EDITED_LIBRARY, apps)) == 3


def test_the_code_is_valid_python_of_a_realistic_size(tmp_path: Path) -> None:
    apps = _generate(tmp_path, 5)
    for path in (tmp_path / "src/python").rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    for app in apps:
        lines = sum(len(p.read_text().splitlines()) for p in (tmp_path / app.directory).glob("*.py"))
        assert 200 <= lines <= 800, (app.name, lines)
        build = (tmp_path / app.directory / "BUILD").read_text()
        assert 'pex_release(name="release", entry_point="main.py:main")' in build
        assert 'pex_binary(name="bin", entry_point="main.py:main")' in build
    for library in LIBRARIES:
        lines = sum(len(p.read_text().splitlines()) for p in (tmp_path / "src/python/libs" / library.name).glob("*.py"))
        assert 300 <= lines <= 1000, (library.name, lines)
