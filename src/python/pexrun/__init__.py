# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun: fetch, verify and run published releases on any host (`python3 pexrun.pyz --help`).

Run from `pexrun.pyz`, whose zip holds no bytecode (a `.pyc` in a zip serves one Python only), the
first start extracts the zip once into `<cache>/pyz/<the zip's sha256>/` (the sha256 is kept by
the zip's stat in `<cache>/pyz/.stat-<device>-<inode>-<size>-<mtime>`) and compiles it for the
running Python (`__pycache__/*.<cache tag>.pyc`, so each Python version has its own); every later
start imports pexrun, the core and `packaging` from there. The cache is `$PEXRUN_CACHE_DIR`, else
`~/.cache/pexrun` (`--cache-dir` is read only once these imports are done). A cache that cannot be
written imports from the zip, as before. What is extracted is trusted as the cache's blobs are: the
cache belongs to the user who runs pexrun.
"""

# The one place pexrun's version is set: `pexrun --version` prints it, and the wheel
# (`//:pexrun-dist`) takes it from here (pants-plugins/pexrun_dist).
__version__ = "0.1.0"

import os
import sys

_SELF = "pexrun"


def _cache_root() -> str:
    # As pexrun.start.default_cache_dir, which cannot be imported before the import path is chosen.
    return os.environ.get("PEXRUN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "pexrun"
    )


def _digest(archive: str, pyz: str) -> str:
    """The zip's sha256, computed once per version of the file: a start that finds the zip's stat
    (device, inode, size, mtime) in `pyz/.stat-*` reads it from there (hashing costs each start 5 ms)."""
    st = os.stat(archive)
    known = os.path.join(pyz, f".stat-{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}")
    try:
        with open(known) as f:
            return f.read()
    except OSError:
        pass
    import hashlib

    with open(archive, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    try:
        os.makedirs(pyz, exist_ok=True)
        with open(f"{known}.{os.getpid()}", "w") as f:
            f.write(digest)
        os.replace(f"{known}.{os.getpid()}", known)
    except OSError:  # unwritable: hashed again next time
        pass
    return digest


def _extracted(archive: str) -> "str | None":
    """The zip's files extracted and compiled for this Python, made once; None if that cannot be."""
    pyz = os.path.join(_cache_root(), "pyz")
    directory = os.path.join(pyz, _digest(archive, pyz))
    marker = os.path.join(directory, f".compiled.{sys.implementation.cache_tag}")
    if os.path.exists(marker):
        return directory
    import compileall
    import shutil
    import uuid
    import zipfile

    if not os.path.isdir(directory):
        building = f"{directory}.{uuid.uuid4().hex}.tmp"
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(building)
            os.remove(os.path.join(building, "__main__.py"))  # the zip's own, which runs pexrun.main
            try:
                os.rename(building, directory)
            except OSError:  # another pexrun put it there first: the same bytes
                pass
        finally:
            shutil.rmtree(building, ignore_errors=True)
    # Written whatever PYTHONDONTWRITEBYTECODE says; each .pyc is written under a temporary name and renamed.
    compileall.compile_dir(directory, quiet=1)
    with open(marker, "w"):
        pass
    return directory


def _import_compiled() -> None:
    loader = globals().get("__loader__")
    archive = getattr(loader, "archive", None)  # a zipimporter's: we run from pexrun.pyz
    if not archive or sys.implementation.cache_tag is None:
        return
    try:
        directory = _extracted(archive)
    except (OSError, ValueError, EOFError):  # unwritable, full, or a damaged zip: import from the zip
        return
    if directory is None:
        return
    sys.path.insert(0, directory)
    __path__[:] = [os.path.join(directory, _SELF)]  # pexrun's other modules, and the core, from there


_import_compiled()
