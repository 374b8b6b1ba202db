# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Builds a small Python base image from a CPython installed on this host, as an OCI image layout.

    python -m pex_release.sandbox.python_base --python PATH --output DIR

"Distroless": CPython under /opt/python (its stdlib compiled to bytecode, without the test suite,
IDLE, tkinter, turtledemo, ensurepip, headers and static library), the host's shared libraries
that it and its extension modules load (found with `ldd`), the loader, the C++ runtime that
manylinux wheels such as pandas link, a CA bundle, /etc/passwd and /etc/group (root, nobody), a
world-writable /tmp, and /usr/bin/python3 and /usr/local/bin/python3. No shell, no package manager.

The interpreter must be CPython on Linux with glibc (pyenv's `--enable-shared` builds included: the
shared libpython gets a link in the loader's default directory, so no LD_LIBRARY_PATH or rpath
change is needed). The image is one layer, written by the release core's
`oci.writing`, and its config sets the
environment. It is the same for the same host files: fixed modes, bytecode with `unchecked-hash`
invalidation and the in-image path (so it needs no writable disk at run time), and
reproducible layers. The root filesystem is staged in a temporary directory beside the output and
removed. Standard library only, Python 3.9+; prints the image's python, version and environment as
JSON on stdout.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Mapping

from pex_release_core.oci.model import ImageError, Platform
from pex_release_core.oci.writing import image_from_rootfs

PREFIX = PurePosixPath("/opt/python")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

# Not copied from the stdlib directory (glob patterns of paths relative to it).
EXCLUDED_STDLIB = (
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3/tests",  # holds deliberately invalid sources, which compileall rejects
    "config-*",  # the static library and the build's makefiles
    "site-packages/*",  # whatever the host installed (pip, .pth files)
    "*/__pycache__",
    "__pycache__",
)
# Extension modules of the excluded packages and of the test suite; _tkinter would also pull X11.
EXCLUDED_EXTENSIONS = ("_tkinter.*", "_test*", "_ctypes_test.*", "xxlimited*", "xxsubtype.*", "_xxtestfuzz.*")
# Libraries that manylinux wheels may link without bundling them (PEP 600's policy, less the
# graphical ones): the C++ runtime for pandas and friends, and the glibc parts split out before 2.34.
WHEEL_SYSTEM_LIBRARIES = (
    "libstdc++.so.6",
    "libgcc_s.so.1",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libutil.so.1",
    "libresolv.so.2",
)
PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"
# What the interpreter says about itself.
_PROBE = """\
import json, os, sys, sysconfig
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": "%d.%d" % sys.version_info[:2],
    "executable": os.path.realpath(sys.executable),
    "stdlib": sysconfig.get_path("stdlib"),
}))
"""


class PythonBaseError(Exception):
    """The interpreter or the host cannot give a base image; the message says why and what to do."""


@dataclass(frozen=True)
class RootfsInfo:
    python: str  # the interpreter's path in the image
    version: str  # "3.12"
    env: Mapping[str, str]  # what the image's config should set

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


@dataclass(frozen=True)
class HostPython:
    executable: Path  # the real binary (a pyenv shim or a venv's link resolved)
    version: str
    stdlib: Path  # with lib-dynload/ in it, as CPython installs it
    libpython: Path | None  # the shared library the binary loads (an --enable-shared build), on the host

    @property
    def binary_name(self) -> str:
        return f"python{self.version}"


def probe(python: Path) -> HostPython:
    if not python.exists():
        raise PythonBaseError(f"no interpreter at {python}; give the path of a CPython (e.g. $(pyenv root)/versions/3.12.1/bin/python3.12)")
    try:
        probed = subprocess.run([str(python), "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PythonBaseError(f"{python} cannot be run as a Python interpreter ({e}); give the path of a CPython")
    try:
        facts = json.loads(probed.stdout)
    except ValueError:
        facts = None
    if probed.returncode != 0 or not isinstance(facts, dict):
        said = (probed.stderr.strip().splitlines() or ["nothing"])[-1]
        raise PythonBaseError(f"{python} is not a working Python 3 interpreter (asked about itself, it said: {said}); give the path of a CPython")
    if facts["implementation"] != "cpython":
        raise PythonBaseError(f"{python} is {facts['implementation']} {facts['version']}, not CPython; give the path of a CPython")
    stdlib, executable = Path(facts["stdlib"]), Path(facts["executable"])
    for needed in (stdlib / "os.py", stdlib / "lib-dynload"):
        if not needed.exists():
            raise PythonBaseError(f"{python}: {needed} is missing; give a complete CPython installation")
    libpython = next((Path(path) for _, name, path in _ldd([executable]) if name.startswith("libpython") and path), None)
    return HostPython(executable=executable, version=facts["version"], stdlib=stdlib, libpython=libpython)


# --- Copying ------------------------------------------------------------------------------------


def _copy_file(source: Path, target: Path) -> None:
    """Copies the bytes with a fixed mode: 0755 when the source is executable, else 0644."""
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o755 if source.stat().st_mode & 0o111 else 0o644)


def _excluded(relative: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(relative, pattern) for pattern in patterns)


def _copy_tree(source: Path, target: Path, excluded: Iterable[str]) -> None:
    for dirpath, dirnames, filenames in os.walk(source):
        directory = Path(dirpath)
        relative = directory.relative_to(source)
        kept = [d for d in dirnames if not _excluded((relative / d).as_posix(), excluded)]
        dirnames[:] = sorted(kept)
        (target / relative).mkdir(mode=0o755, parents=True, exist_ok=True)
        for name in sorted(filenames):
            path = relative / name
            if _excluded(path.as_posix(), excluded):
                continue
            if (directory / name).is_symlink():
                (target / path).symlink_to(os.readlink(directory / name))
            else:
                _copy_file(directory / name, target / path)


def _in_image(root: Path, path: PurePosixPath) -> Path:
    return root / path.relative_to("/")


def copy_host_path(path: PurePosixPath, root: Path) -> None:
    """Copies the host file `path` to the same path under root, re-creating the symbolic links met
    on the way (e.g. Debian's /lib -> usr/lib and /lib64/ld-linux-x86-64.so.2 -> /lib/...), so
    that every name the loader or a binary uses resolves the same way in the image."""
    for _ in range(40):  # the kernel's own limit on links followed
        walked = PurePosixPath("/")
        for index, part in enumerate(path.parts[1:]):
            walked = walked / part
            host = Path(walked)
            if host.is_symlink():
                link = os.readlink(host)
                copy = _in_image(root, walked)
                if not copy.is_symlink():
                    copy.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                    copy.symlink_to(link)
                # The components before this one have no links, so the target can be normalized.
                resolved = PurePosixPath(os.path.normpath(walked.parent / link))
                path = resolved.joinpath(*path.parts[index + 2 :])
                break
        else:
            _copy_file(Path(path), _in_image(root, path))
            return
    raise PythonBaseError(f"too many symbolic links in {path}")


# --- Shared libraries ---------------------------------------------------------------------------


def _ldd(files: list[Path]) -> Iterator[tuple[Path, str, str | None]]:
    """(file, library name, host path or None when not found) for every library the files load."""
    if shutil.which("ldd") is None:
        raise PythonBaseError("ldd is not on PATH; it finds the libraries the interpreter needs (Debian: libc-bin)")
    run = subprocess.run(["ldd", *map(str, files)], capture_output=True, text=True)
    current = files[0]
    for line in run.stdout.splitlines():
        if not line.startswith("\t"):
            current = Path(line.rstrip(":"))  # a header, since ldd got several files
            continue
        name, arrow, rest = line.strip().partition(" => ")
        if not arrow:  # the loader itself ("/lib64/ld-linux-x86-64.so.2 (0x...)") or the vdso
            name = name.split(" (")[0]
            if name.startswith("/"):
                yield current, name, name
        elif rest.startswith("not found"):
            yield current, name, None
        elif rest.startswith("/"):
            yield current, name, rest.split(" (")[0]


def library_closure(host: HostPython, binaries: list[Path]) -> list[PurePosixPath]:
    """The host paths of the libraries that `binaries` load, the loader and WHEEL_SYSTEM_LIBRARIES
    (with theirs), less the interpreter's own libpython; sorted."""
    found: dict[str, str] = {}
    for file, name, path in _ldd(binaries):
        if path is None:
            raise PythonBaseError(f"{file.name} needs {name}, which is not installed on this host; install it, or use a Python built without that module")
        found[name] = path
    if "libc.so.6" not in found:
        raise PythonBaseError(f"{host.executable} does not load glibc's libc.so.6; only glibc Linux builds of CPython are supported")
    system_dir = Path(os.path.realpath(found["libc.so.6"])).parent
    extras = [system_dir / name for name in WHEEL_SYSTEM_LIBRARIES]
    missing = [path.name for path in extras if not path.exists()]
    if missing:
        raise PythonBaseError(f"{', '.join(missing)} not found in {system_dir}; install them (Debian: libstdc++6, libgcc-s1, libc6)")
    found.update((path.name, str(path)) for path in extras)
    for file, name, path in _ldd(extras):
        if path is None:
            raise PythonBaseError(f"{file.name} needs {name}, which is not installed on this host; install it")
        found[name] = path
    own = host.libpython.name if host.libpython else None
    return sorted({PurePosixPath(path) for name, path in found.items() if name != own})


# --- The root filesystem ------------------------------------------------------------------------


def _copy_python(host: HostPython, root: Path) -> tuple[list[Path], RootfsInfo]:
    """Copies the interpreter under PREFIX; returns its ELF files in the image and the image's info."""
    prefix = _in_image(root, PREFIX)
    binary = prefix / "bin" / host.binary_name
    _copy_file(host.executable, binary)
    for alias in ("python3", "python"):
        (binary.parent / alias).symlink_to(binary.name)
    stdlib = prefix / "lib" / f"python{host.version}"
    _copy_tree(host.stdlib, stdlib, EXCLUDED_STDLIB)
    dynload = stdlib / "lib-dynload"
    for extension in dynload.glob("*.so"):
        if _excluded(extension.name, EXCLUDED_EXTENSIONS):
            extension.unlink()
    elf_files = [binary, *sorted(dynload.glob("*.so"))]
    if host.libpython:
        _copy_file(host.libpython, prefix / "lib" / host.libpython.name)
        elf_files.append(prefix / "lib" / host.libpython.name)
    python = str(PREFIX / "bin" / host.binary_name)
    env = {
        "PATH": f"{PREFIX}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "SSL_CERT_FILE": str(HOST_CA_BUNDLE),
    }
    return elf_files, RootfsInfo(python=python, version=host.version, env=env)


def _add_system_files(root: Path, info: RootfsInfo, ca_bundle: Path) -> None:
    if not ca_bundle.is_file():
        raise PythonBaseError(f"no CA bundle at {ca_bundle}; install ca-certificates (Debian) or pass --ca-bundle")
    _copy_file(ca_bundle, _in_image(root, PurePosixPath(info.env["SSL_CERT_FILE"])))
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    for name in ("passwd", "group"):
        (root / "etc" / name).chmod(0o644)
    for directory, mode in (("tmp", 0o1777), ("root", 0o700), ("usr/bin", 0o755), ("usr/local/bin", 0o755)):
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory).chmod(mode)
    for link in ("usr/bin/python3", "usr/local/bin/python3"):
        (root / link).symlink_to(info.python)


def _link_libpython(root: Path, libpython: str, libraries: list[PurePosixPath]) -> None:
    """Links libpython into the directory holding libc: one the loader searches by default, so the
    binary finds it without LD_LIBRARY_PATH (its build-time RUNPATH names a host directory)."""
    libc = next(path for path in libraries if path.name == "libc.so.6")
    system_dir = PurePosixPath(os.path.realpath(libc)).parent
    _in_image(root, system_dir / libpython).symlink_to(PREFIX / "lib" / libpython)


def _strip(files: list[Path]) -> None:
    # A build with debug info (pyenv's libpython: 30 MB) shrinks several times; the code is unchanged.
    strip = shutil.which("strip")
    if strip:
        subprocess.run([strip, "--strip-unneeded", *map(str, files)], check=True)


def _compile_stdlib(host: HostPython, root: Path) -> None:
    prefix = _in_image(root, PREFIX)
    stdlib = prefix / "lib" / f"python{host.version}"
    # unchecked-hash: the .pyc records its source's hash, not its mtime, and is used unchecked. With
    # the staging prefix replaced by the image's, the bytes are the same on every build (checked on
    # 3.12 with other hash seeds and with -j 2 as well).
    compiled = subprocess.run(
        [str(host.executable), "-I", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
         "-s", str(prefix), "-p", str(PREFIX), str(stdlib)],
        capture_output=True, text=True,
    )  # fmt: skip
    if compiled.returncode != 0:
        raise PythonBaseError(f"compiling the stdlib of {host.executable} failed:\n{compiled.stdout}{compiled.stderr}")


@contextmanager
def _staged(dest: Path) -> Iterator[Path]:
    """A new directory beside dest to build in, renamed to dest at the end, or removed on an error,
    so a failure leaves nothing behind. dest must not exist or be empty."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PythonBaseError(f"{dest} exists and is not an empty directory; remove it or name a new one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(mode=0o755)
        yield staging
        staging.chmod(0o755)
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_rootfs(dest: Path, python: Path, *, ca_bundle: Path = HOST_CA_BUNDLE) -> RootfsInfo:
    """Writes the root filesystem to dest, which must not exist or be empty."""
    with _staged(dest) as staging:
        host = probe(python)
        elf_files, info = _copy_python(host, staging)
        libraries = library_closure(host, elf_files)
        for library in libraries:
            copy_host_path(library, staging)
        if host.libpython:
            _link_libpython(staging, host.libpython.name, libraries)
        _strip(elf_files)
        _add_system_files(staging, info, ca_bundle)
        _compile_stdlib(host, staging)
    return info


def build_image(dest: Path, python: Path, *, ca_bundle: Path = HOST_CA_BUNDLE) -> RootfsInfo:
    """Writes the base image as an OCI image layout to dest, which must not exist or be empty. Its
    root filesystem is built in a temporary directory beside dest, removed at the end."""
    with _staged(dest) as layout, tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.rootfs-") as scratch:
        info = build_rootfs(Path(scratch) / "rootfs", python, ca_bundle=ca_bundle)
        image_from_rootfs(
            layout, Path(scratch) / "rootfs", platform=Platform.host(), env=info.env, created_by=f"python_base {info.python}"
        )
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=os.path.basename(sys.argv[0]), description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", type=Path, required=True, help="The host's CPython to copy (a pyenv version's bin/python3.12, say).")
    parser.add_argument("--output", type=Path, required=True, help="The directory to write the OCI image layout to; it must not exist or be empty.")
    parser.add_argument("--ca-bundle", type=Path, default=HOST_CA_BUNDLE, help="The CA certificates to install (default: %(default)s).")
    args = parser.parse_args(argv)
    try:
        info = build_image(args.output, args.python, ca_bundle=args.ca_bundle)
    except (PythonBaseError, ImageError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 1
    print(info.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
