# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The distroless Python base (python_base.py, build-support/python-base-image) run under podman +
runc, and the container helpers of src/python/testing/containers.py that the image tests use."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from textwrap import dedent
from typing import Iterator

import pytest

from pex_release.sandbox.python_base import GROUP, PASSWD, build_image
from pex_release_core.oci.filesystem import image_filesystem
from pex_release_core.oci.model import Platform
from pex_release_core.oci.reading import read_image
from pex_release_core.testutil import python312
from testing.containers import Podman, podman_in
from testing.servers import free_port

# In the test sandbox, from the dependencies on `//build-support:...`.
PYTHON_BASE_IMAGE = Path("build-support/python-base-image")
OS_PACKAGES = Path("build-support/os-packages")


def python_base_image(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PYTHON_BASE_IMAGE), *map(str, args)], capture_output=True, text=True)


def manifest_digest(layout: Path) -> str:
    (entry,) = json.loads((layout / "index.json").read_bytes())["manifests"]
    return entry["digest"]


@dataclass(frozen=True)
class Base:
    layout: Path  # the OCI image layout
    info: dict  # python_base.RootfsInfo as JSON
    image: str  # the layout loaded into podman


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    with podman_in(tmp_path_factory.mktemp("podman")) as podman:
        yield podman


@pytest.fixture(scope="module")
def base(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Base:
    out = tmp_path_factory.mktemp("base")
    built = python_base_image("--python", python312(), "--output", out / "base")
    assert built.returncode == 0, built.stderr
    return Base(out / "base", json.loads(built.stdout), podman.load(out / "base"))


# What the apps' dependencies need from the base; each line fails loudly if its part is missing.
STDLIB_CHECK = dedent(
    """\
    import ctypes, json, os, socket, sqlite3, ssl, sys, zipfile

    print("json", json.loads(json.dumps({"a": [1]})) == {"a": [1]})
    print("ssl", len(ssl.create_default_context().get_ca_certs()) > 0)
    print("sqlite3", sqlite3.connect(":memory:").execute("select 6 * 7").fetchone()[0])
    with zipfile.ZipFile("/tmp/t.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x", "zipped")
    print("zipfile", zipfile.ZipFile("/tmp/t.zip").read("x").decode())
    print("ctypes", ctypes.CDLL("libc.so.6").getpid() == os.getpid())
    print("c++ runtime", bool(ctypes.CDLL("libstdc++.so.6") and ctypes.CDLL("libgcc_s.so.1")))  # pandas' wheels
    print("bytecode", os.path.exists(json.__cached__), json.__cached__.startswith("/opt/python/"))
    try:
        open("/etc/written", "w")
    except OSError as e:
        print("root fs", e.strerror)
    print("network", [name for _, name in socket.if_nameindex()])
    print("python", sys.executable, "%d.%d" % sys.version_info[:2])
    """
)


def test_base_runs_stdlib_read_only_without_network(podman: Podman, base: Base) -> None:
    assert base.info["python"] == "/opt/python/bin/python3.12" and base.info["version"] == "3.12"
    for python in (base.info["python"], "/usr/bin/python3", "/usr/local/bin/python3"):
        ran = podman.run(base.image, [python, "-c", STDLIB_CHECK])
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.splitlines() == [
            "json True",
            "ssl True",
            "sqlite3 42",
            "zipfile zipped",
            "ctypes True",
            "c++ runtime True",
            "bytecode True True",
            "root fs Read-only file system",
            "network ['lo']",
            f"python {python} 3.12",
        ]
    # The environment from the info: PATH finds python3, passwd names root.
    ran = podman.run(base.image, ["python3", "-c", "import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name, os.environ['LANG'])"])
    assert (ran.returncode, ran.stdout) == (0, "root C.UTF-8\n"), ran.stderr


def test_base_image_files(podman: Podman, base: Base) -> None:
    assert [p.name for p in base.layout.parent.iterdir()] == ["base"]  # the staged root filesystem is gone
    image = read_image(base.layout, reference=str(base.layout), platform=Platform.host())
    assert len(image.layers) == 1 and image.env == base.info["env"]
    files = image_filesystem(image)
    assert files["tmp"].mode == 0o1777
    stdlib = PurePosixPath("opt/python/lib/python3.12")
    in_stdlib = [PurePosixPath(path) for path in files if path.startswith(f"{stdlib}/")]
    for left_out in ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "config-*", "lib-dynload/_tkinter*", "site-packages/*"):
        assert not [path for path in in_stdlib if fnmatch(str(path), f"{stdlib}/{left_out}")], left_out
    assert files[f"{stdlib}/site-packages"].kind == "dir"
    assert not [path for path in files if path.startswith("opt/python/include")]
    for link in ("usr/bin/python3", "usr/local/bin/python3"):
        assert files[link].target == "/opt/python/bin/python3.12"
    # Every .py has its bytecode, and nothing else was compiled.
    sources = {path.with_suffix("") for path in in_stdlib if path.suffix == ".py"}
    compiled = {path.parent.parent / path.name.split(".")[0] for path in in_stdlib if path.parent.name == "__pycache__"}
    assert sources == compiled
    host_ca_bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    for path, content in (("/etc/passwd", PASSWD), ("/etc/group", GROUP), ("/etc/ssl/certs/ca-certificates.crt", host_ca_bundle)):
        ran = podman.run(base.image, ["python3", "-c", "import sys; print(open(sys.argv[1]).read(), end='')", path])
        assert (ran.returncode, ran.stdout) == (0, content), ran.stderr


def test_two_builds_give_identical_layouts(base: Base, tmp_path: Path) -> None:
    info = build_image(tmp_path / "base", Path(python312()))
    assert manifest_digest(tmp_path / "base") == manifest_digest(base.layout)
    blobs = [sorted(p.name for p in (layout / "blobs" / "sha256").iterdir()) for layout in (tmp_path / "base", base.layout)]
    assert blobs[0] == blobs[1]
    assert json.loads(info.to_json()) == base.info


def test_host_reaches_a_server_in_a_container_with_network_host(podman: Podman, base: Base) -> None:
    port = free_port()
    server = podman.start(base.image, ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", "/etc"], network="host")
    try:
        server.wait_for_port(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/passwd", timeout=30) as response:
            assert response.read().decode() == PASSWD
    finally:
        server.stop()
    assert not server.running()


# What PyPy answers python_base's probe, whatever the arguments.
PYPY_ANSWER = dedent(
    """\
    #!/bin/sh
    echo '{"implementation": "pypy", "version": "3.10", "executable": "/opt/pypy/bin/pypy3.10", "stdlib": "/opt/pypy/lib/pypy3.10"}'
    """
)


@pytest.mark.parametrize(
    "python, error",
    [
        (
            "missing/python3.12",
            "no interpreter at missing/python3.12; give the path of a CPython (e.g. $(pyenv root)/versions/3.12.1/bin/python3.12)",
        ),
        ("/bin/true", "/bin/true is not a working Python 3 interpreter (asked about itself, it said: nothing); give the path of a CPython"),
        ("{tmp}/pypy/bin/python3", "{tmp}/pypy/bin/python3 is pypy 3.10, not CPython; give the path of a CPython"),
    ],
    ids=["missing", "not-python", "pypy"],
)
def test_refuses_an_interpreter_that_is_not_cpython(python: str, error: str, tmp_path: Path) -> None:
    fake_pypy = tmp_path / "pypy" / "bin" / "python3"
    fake_pypy.parent.mkdir(parents=True)
    fake_pypy.write_text(PYPY_ANSWER)
    fake_pypy.chmod(0o755)
    python, error = (s.replace("{tmp}", str(tmp_path)) for s in (python, error))
    refused = python_base_image("--python", python, "--output", tmp_path / "out" / "base")
    assert refused.returncode == 1
    assert refused.stderr == f"python-base-image: error: {error}\n"
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written


def test_refuses_an_interpreter_whose_libraries_are_missing(tmp_path: Path) -> None:
    installed = subprocess.run([str(OS_PACKAGES), "patchelf"], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    # A copy of the CPython installation whose zlib module needs a library that no host has.
    real = Path(python312()).resolve().parent.parent
    prefix = tmp_path / "python"
    (prefix / "bin").mkdir(parents=True)
    shutil.copy2(real / "bin" / "python3.12", prefix / "bin" / "python3.12")
    ignored = shutil.ignore_patterns("test", "site-packages", "__pycache__")
    shutil.copytree(real / "lib" / "python3.12", prefix / "lib" / "python3.12", ignore=ignored)
    (zlib,) = (prefix / "lib" / "python3.12" / "lib-dynload").glob("zlib.*.so")
    subprocess.run(["patchelf", "--add-needed", "libpex-release-missing.so.1", str(zlib)], check=True)
    refused = python_base_image("--python", prefix / "bin" / "python3.12", "--output", tmp_path / "out" / "base")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"python-base-image: error: {zlib.name} needs libpex-release-missing.so.1, which is not installed on this host; "
        "install it, or use a Python built without that module\n"
    )
    assert list((tmp_path / "out").iterdir()) == []  # the partial tree and layout are gone


def test_leaves_nothing_behind_when_a_late_step_fails(tmp_path: Path) -> None:
    refused = python_base_image("--python", python312(), "--output", tmp_path / "base", "--ca-bundle", tmp_path / "no-such.crt")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"python-base-image: error: no CA bundle at {tmp_path / 'no-such.crt'}; install ca-certificates (Debian) or pass --ca-bundle\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_refuses_an_output_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "keep").write_text("mine")
    refused = python_base_image("--python", python312(), "--output", tmp_path / "base")
    assert refused.returncode == 1
    assert refused.stderr == f"python-base-image: error: {tmp_path / 'base'} exists and is not an empty directory; remove it or name a new one\n"
    assert [p.name for p in tmp_path.iterdir()] == ["base"] and [p.name for p in (tmp_path / "base").iterdir()] == ["keep"]


# --- testing/containers.py --------------------------------------------------------------------


def test_load_runs_an_oci_layout(podman: Podman, base: Base, tmp_path: Path) -> None:
    # An OCI layout of the base, written by podman itself; load() must give back the same image.
    podman.podman("push", base.image, f"oci:{tmp_path / 'layout'}:v1")
    loaded = podman.load(tmp_path / "layout", "v1")
    ran = podman.run(loaded, ["python3", "-c", "print('from the layout')"])
    assert (ran.returncode, ran.stdout) == (0, "from the layout\n"), ran.stderr


def test_run_reports_exit_code_env_and_kills_on_timeout(podman: Podman, base: Base) -> None:
    ran = podman.run(base.image, ["python3", "-c", "import os, sys; print(os.environ['GREETING']); sys.exit(3)"], env={"GREETING": "hi"})
    assert (ran.returncode, ran.stdout) == (3, "hi\n")
    with pytest.raises(subprocess.TimeoutExpired):
        podman.run(base.image, ["python3", "-c", "import time; time.sleep(600)"], timeout=5)
    assert podman.podman("ps", "--all", "--quiet").stdout == ""  # killed and removed


def test_wait_for_port_says_why_a_server_did_not_come_up(podman: Podman, base: Base) -> None:
    server = podman.start(base.image, ["python3", "-c", "print('no server here')"], network="host")
    try:
        with pytest.raises(AssertionError, match=r"exited before listening on port \d+; its output:\nno server here"):
            server.wait_for_port(free_port(), timeout=30)
    finally:
        server.stop()


@pytest.mark.parametrize("driver", ["overlay", "vfs"])
def test_podman_keeps_its_storage_under_its_directory_and_resets_it(driver: str, base: Base, tmp_path: Path) -> None:
    with podman_in(tmp_path / "podman", driver) as podman:
        stored = podman.podman("info", "--format", "{{.Store.GraphDriverName}} {{.Store.GraphRoot}} {{.Host.OCIRuntime.Name}} {{.Store.RunRoot}}")
        driver_name, graph_root, runtime, run_root = stored.stdout.split()
        assert (driver_name, graph_root, runtime) == (driver, str(tmp_path / "podman" / "storage"), "runc")
        assert len(run_root) <= 50  # else each run waits 20 s for its exit code (see build-support/containers)
        ran = podman.run(podman.load(base.layout), ["python3", "-c", "print('stored')"])
        assert (ran.returncode, ran.stdout) == (0, "stored\n"), ran.stderr
    assert not (tmp_path / "podman" / "storage").exists()


def test_remove_all(base: Base, tmp_path: Path) -> None:
    with podman_in(tmp_path / "podman") as podman:
        podman.start(podman.load(base.layout), ["python3", "-c", "import time; time.sleep(600)"])
        podman.remove_all()
        assert podman.podman("ps", "--all", "--quiet").stdout == ""
        assert podman.podman("images", "--quiet").stdout == ""
