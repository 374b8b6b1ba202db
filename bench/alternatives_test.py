# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""What the figures rest on: Pants log parsing and the manual recipe's pins; no Pants, no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from alternatives import OUTSIDE_PROCESSES, App, PantsRun, closure_pins, direct_requirements, exported_pins

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
    app, common = tmp_path / "src/python/apps/api", tmp_path / "src/python/libs/common"
    app.mkdir(parents=True)
    common.mkdir(parents=True)
    (app / "main.py").write_text("import fastapi.routing\nfrom . import app\n")
    (app / "main_test.py").write_text("import pytest\n")
    (app / "conftest.py").write_text("import pytest\n")
    (common / "cli.py").write_text("from click import command\n")
    assert direct_requirements(tmp_path, App("api", "apps.api.main")) == {"fastapi", "click"}
