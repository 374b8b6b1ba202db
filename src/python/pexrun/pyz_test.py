# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun.pyz's own bytecode: extracted and compiled once per Python into pexrun's cache."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import installer
import packaging

import pex_release_core
import pexrun
from pex_release_core.testutil import python312
from pexrun.main_test import AS_ANY_USER

# Where the modules were imported from, and whether from bytecode.
PROBE = "import sys; sys.path.insert(0, sys.argv[1]); import pexrun.main as m; print(m.__file__, m.__cached__)"


def write_pyz(path: Path) -> Path:
    """A zip of pexrun, the core, packaging and installer (the requirements pexrun imports at start), as
    `python_zipapp` makes pexrun.pyz (without its bytecode)."""
    with zipfile.ZipFile(path, "w") as zf:
        for package in (pexrun, pex_release_core, packaging, installer):
            root = Path(package.__file__).parent
            for file in sorted(root.rglob("*.py")):
                zf.write(file, file.relative_to(root.parent).as_posix())
        zf.writestr("__main__.py", "import sys\nfrom pexrun.main import main\nsys.exit(main())\n")
    return path


def imported_from(python: str, pyz: Path, cache: Path, **env: str) -> tuple[str, str]:
    result = subprocess.run(
        [*env.pop("prefix", "").split(), python, "-c", PROBE, str(pyz)],
        env={"PATH": os.environ["PATH"], "PEXRUN_CACHE_DIR": str(cache), **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    module, cached = result.stdout.split()
    return module, cached


def test_pexruns_modules_come_from_bytecode_compiled_for_each_python(tmp_path: Path) -> None:
    pyz, cache = write_pyz(tmp_path / "pexrun.pyz"), tmp_path / "cache"
    extracted = cache / "pyz" / hashlib.sha256(pyz.read_bytes()).hexdigest()
    for python, tag in ((sys.executable, sys.implementation.cache_tag), (python312(), "cpython-312")):
        for _ in range(2):  # the first start compiles, whatever PYTHONDONTWRITEBYTECODE says; the second reads it
            module, cached = imported_from(python, pyz, cache, PYTHONDONTWRITEBYTECODE="1")
            assert module == str(extracted / "pexrun" / "main.py")
            assert cached == str(extracted / "pexrun" / "__pycache__" / f"main.{tag}.pyc") and os.path.isfile(cached)
    assert sorted(p.name for p in extracted.glob(".compiled.*")) == sorted(
        [f".compiled.{sys.implementation.cache_tag}", ".compiled.cpython-312"]
    )
    # Another pexrun.pyz (a new version) gets its own directory; gc need not know this one.
    write_pyz(other := tmp_path / "other.pyz")
    with zipfile.ZipFile(other, "a") as zf:
        zf.writestr("pexrun/_extra.py", "")
    assert imported_from(sys.executable, other, cache)[0] != str(extracted / "pexrun" / "main.py")
    # The zip's sha256 is kept by its stat: a pyz replaced in place (a new stat) is hashed again.
    assert [p.name.startswith(".stat-") for p in sorted((cache / "pyz").glob(".stat-*"))] == [True, True]
    os.replace(other, pyz)
    assert imported_from(sys.executable, pyz, cache)[0] != str(extracted / "pexrun" / "main.py")


def test_a_cache_it_cannot_write_imports_from_the_zip(tmp_path: Path) -> None:
    pyz, cache = write_pyz(tmp_path / "pexrun.pyz"), tmp_path / "cache"
    cache.mkdir(mode=0o555)
    module, _ = imported_from(sys.executable, pyz, cache, prefix=" ".join(AS_ANY_USER))
    assert module == str(pyz / "pexrun" / "main.py")
