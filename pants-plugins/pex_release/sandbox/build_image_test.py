# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any, Mapping, Optional

import pytest

from pex_release.sandbox import build_image
from pex_release_core.oci.testutil import FIX_PYTHON, layout_files, make_base, tar_names, write_tree
from pex_release_core.testutil import python312

PLUGINS_DIR = Path(build_image.__file__).resolve().parents[2]
WHEEL = "-1.0-py3-none-any.whl"



# --- build_image.py, end to end -------------------------------------------------------------------

SOURCES = {
    ".bootstrap/pex/__init__.py": "",
    ".bootstrap/pex/pex.py": "BOOTSTRAP = 1\n",
    "PEX-INFO": '{"entry_point": "hello:main"}',
    "__main__.py": "print('main')\n",
    "hello/__init__.py": "def main():\n    return 0\n",
}
DEPS = {
    ".bootstrap/pex/__init__.py": "",
    "PEX-INFO": '{"distributions": {"bar-2.0-py3-none-any.whl": "b", "foo-1.0-py3-none-any.whl": "f"}}',
    "__main__.py": "print('deps')\n",
    ".deps/bar-2.0-py3-none-any.whl/bar/__init__.py": "BAR = 2\n",
    ".deps/foo-1.0-py3-none-any.whl/foo/__init__.py": "FOO = 1\n",
}


def spec(**overrides: Any) -> dict[str, Any]:
    return {
        "base": "base",
        "base_reference": "base:3.12",
        "platform": "linux/amd64",
        "python": "python3",
        "python_version": "3.12",
        "deps": "deps.pex",
        "sources": "srcs.pex",
        "app_dir": "/app",
        "env": {"PEX_PATH": "/app/deps.pex", "PEX_ROOT": "/tmp/.pex", "PYTHONDONTWRITEBYTECODE": "1"},
        "labels": {"org.opencontainers.image.version": "1.4.0"},
        "tags": ["1.4.0", "latest"],
        "output": "image",
        "summary": "image.json",
        **overrides,
    }


def run_build_image(workdir: Path, **overrides: Any) -> subprocess.CompletedProcess[str]:
    (workdir / "spec.json").write_text(json.dumps(spec(**overrides)))
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    return subprocess.run(
        [python312(), "-m", build_image.__name__, "spec.json"],
        cwd=workdir,
        env={**env, "PYTHONPATH": str(PLUGINS_DIR)},
        capture_output=True,
        text=True,
    )


def build(workdir: Path, output: str = "image") -> dict[str, Any]:
    result = run_build_image(workdir, output=output, summary=f"{output}.json")
    assert (result.returncode, result.stderr) == (0, "")
    return json.loads((workdir / f"{output}.json").read_text())


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A sandbox as the plugin's rule sets it up: a base image, a deps PEX and a sources PEX."""
    work = tmp_path / "work"
    make_base(work)
    write_tree(work / "srcs.pex", SOURCES)
    write_tree(work / "deps.pex", DEPS)
    return work


def layers_by_role(summary: Mapping[str, Any]) -> dict[tuple[str, Optional[str]], str]:
    return {(layer["role"], layer["name"]): layer["digest"] for layer in summary["layers"] if layer["role"] != "base"}


def test_two_builds_of_equal_inputs_are_byte_identical(workdir: Path, tmp_path: Path) -> None:
    first = build(workdir)
    # The same inputs elsewhere, with other file times and permissions of the kind a checkout varies.
    again = tmp_path / "again"
    shutil.copytree(workdir, again, symlinks=True, ignore=shutil.ignore_patterns("image*"))
    for path in (again / "srcs.pex").rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
        path.chmod(0o775 if path.is_dir() else 0o664)

    second = build(again)

    assert second == first
    assert layout_files(again / "image") == layout_files(workdir / "image")
    assert [(layer["role"], layer["name"]) for layer in first["layers"]] == [
        ("base", None),
        ("bootstrap", None),
        ("wheel", "bar-2.0-py3-none-any.whl"),
        ("wheel", "foo-1.0-py3-none-any.whl"),
        ("deps", None),
        ("sources", None),
    ]
    assert (first["platform"], first["tags"]) == ("linux/amd64", ["1.4.0", "latest"])
    # The inputs are left as they were: the bytecode went to the staging copy.
    assert not list(workdir.glob("*.pex/**/__pycache__"))


def test_a_sources_change_changes_only_the_sources_layer(workdir: Path) -> None:
    before = build(workdir)
    (workdir / "srcs.pex/hello/__init__.py").write_text("def main():\n    return 1\n")

    after = build(workdir, "image2")

    changed = {key for key, digest in layers_by_role(after).items() if layers_by_role(before)[key] != digest}
    assert changed == {("sources", None)}
    assert after["config"] != before["config"] and after["manifest"] != before["manifest"]


def test_a_wheel_bump_changes_only_that_wheels_layer_and_the_deps_metadata(workdir: Path) -> None:
    before = layers_by_role(build(workdir))
    deps = workdir / "deps.pex"
    (deps / ".deps/foo-1.0-py3-none-any.whl").rename(deps / ".deps/foo-1.1-py3-none-any.whl")
    (deps / ".deps/foo-1.1-py3-none-any.whl/foo/__init__.py").write_text("FOO = 11\n")
    (deps / "PEX-INFO").write_text(DEPS["PEX-INFO"].replace("foo-1.0", "foo-1.1"))

    after = layers_by_role(build(workdir, "image2"))

    unchanged = {key for key in after if before.get(key) == after[key]}
    assert unchanged == {("bootstrap", None), ("wheel", "bar-2.0-py3-none-any.whl"), ("sources", None)}
    assert set(after) - unchanged == {("wheel", "foo-1.1-py3-none-any.whl"), ("deps", None)}
    assert after[("deps", None)] != before[("deps", None)]


def test_the_config_has_the_entrypoint_env_and_labels(workdir: Path) -> None:
    summary = build(workdir)

    config = json.loads((workdir / "image/blobs" / summary["config"].replace(":", "/")).read_bytes())
    assert config["config"] == {
        "Entrypoint": ["/usr/bin/python3", "/app/srcs.pex"],
        "Env": [
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "LANG=C.UTF-8",
            "PEX_PATH=/app/deps.pex",
            "PEX_ROOT=/tmp/.pex",
            "PYTHONDONTWRITEBYTECODE=1",
        ],
        "Labels": {"org.opencontainers.image.version": "1.4.0"},
        "WorkingDir": "/app",
    }
    assert [h["created_by"] for h in config["history"]] == [
        "test base",
        "pex-release: pex bootstrap",
        "pex-release: wheel bar-2.0-py3-none-any.whl",
        "pex-release: wheel foo-1.0-py3-none-any.whl",
        "pex-release: deps PEX",
        "pex-release: sources PEX",
    ]
    assert config["rootfs"]["diff_ids"] == [layer["diff_id"] for layer in summary["layers"]]


def test_an_app_without_requirements_has_no_deps_layers(workdir: Path) -> None:
    result = run_build_image(workdir, deps=None)

    assert (result.returncode, result.stderr) == (0, "")
    summary = json.loads((workdir / "image.json").read_text())
    assert [layer["role"] for layer in summary["layers"]] == ["base", "bootstrap", "sources"]


def test_build_image_takes_a_tarball_of_the_base(workdir: Path) -> None:
    with tarfile.open(workdir / "base.tar", "w") as tar:
        tar.add(workdir / "base", arcname=".")
    from_directory = build(workdir)

    result = run_build_image(workdir, base="base.tar", output="from-tarball", summary="from-tarball.json")

    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads((workdir / "from-tarball.json").read_text()) == from_directory
    assert layout_files(workdir / "from-tarball") == layout_files(workdir / "image")


def test_deps_layers_built_on_their_own_give_the_same_image(workdir: Path) -> None:
    in_one_run = build(workdir)
    deps_spec = {"mode": "deps-layers", "deps": "deps.pex", "app_dir": "/app", "python_version": "3.12"}

    result = run_build_image(workdir, **deps_spec, output="deps-layers", summary=None)
    assert (result.returncode, result.stderr) == (0, "")
    result = run_build_image(workdir, deps=None, deps_layers="deps-layers", output="two-runs", summary="two-runs.json")

    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads((workdir / "two-runs.json").read_text()) == in_one_run
    assert layout_files(workdir / "two-runs") == layout_files(workdir / "image")
    result = run_build_image(workdir, app_dir="/srv", deps=None, deps_layers="deps-layers", output="srv")
    assert result.returncode == 1 and not (workdir / "srv").exists()
    assert (
        "The deps layers in deps-layers were built for /app and Python 3.12, not /srv and Python 3.12. To fix, "
        "build them again with this image's app_dir and Python."
    ) in result.stderr


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"base": "empty"}, "Base image base:3.12: empty is not an OCI image layout"),
        ({"base": "nothing-here"}, "Base image base:3.12: nothing-here does not exist"),
        ({"platform": "linux/arm64"}, "Base image base:3.12 is for linux/amd64, not linux/arm64."),
        ({"python": "/usr/bin/python3.12"}, f"Base image base:3.12 has no /usr/bin/python3.12. {FIX_PYTHON}"),
        ({"tags": ["1.4.0", "v1.4.0+build"]}, "'v1.4.0+build' is not a valid image tag"),
        ({"sources": "srcs.pex/hello"}, "The sources PEX srcs.pex/hello has no .bootstrap/ directory"),
    ],
)
def test_bad_input_exits_1_with_the_message_and_leaves_no_output(
    workdir: Path, overrides: dict[str, Any], message: str
) -> None:
    (workdir / "empty").mkdir()

    result = run_build_image(workdir, **overrides)

    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    inputs = ["base", "base-rootfs", "deps.pex", "empty", "spec.json", "srcs.pex"]
    assert sorted(p.name for p in workdir.iterdir()) == inputs


def test_build_image_refuses_to_compile_for_another_python_version(workdir: Path) -> None:
    result = run_build_image(workdir, python_version="3.11")

    assert result.returncode == 1
    assert "build_image.py runs with Python 3.12, but the image's Python is 3.11" in result.stderr
    assert not (workdir / "image").exists()


# --- A real loose PEX pair: skopeo and umoci accept the image, and the app runs from its files ---


def make_wheel(directory: Path, name: str, version: str, module: str) -> None:
    """A pure-Python wheel, written by hand so that the test needs no build backend."""
    import base64
    import zipfile

    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": module.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: oci_test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)


def run_pex_tool(*args: str) -> None:
    # The pex the launcher points `[pex-cli]` at: its cache may also hold tools built with older flags.
    pex = os.environ["PANTS_PEX_CLI_URL_TEMPLATE"].removeprefix("file://").format(
        version=os.environ["PANTS_PEX_CLI_VERSION"]
    )
    result = subprocess.run(
        [python312(), pex, *args],
        env={**os.environ, "PIP_CONFIG_FILE": "/dev/null"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def real_pexes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A loose deps PEX (one local wheel, pre-installed) and a loose sources PEX, built by pex."""
    work = tmp_path_factory.mktemp("real")
    (work / "wheels").mkdir()
    make_wheel(work / "wheels", "pex_release_tinydep", "1.0", "VALUE = 'pex_release_tinydep 1.0'\n")
    write_tree(work / "src", {"hello/__init__.py": "import pex_release_tinydep\n\ndef main():\n    print('hi', pex_release_tinydep.VALUE)\n"})
    # The index too: on a machine whose PEX_ROOT is empty, pex downloads the pip it runs from there (the
    # project's name is on no index, so it comes from the wheels directory).
    cert = os.environ.get("PANTS_CA_CERTS_PATH")
    run_pex_tool("-f", str(work / "wheels"), *(["--cert", cert] if cert else []), "pex_release_tinydep==1.0",
                 "--layout", "loose", "-o", str(work / "deps.pex"))
    run_pex_tool("-D", str(work / "src"), "-e", "hello:main", "--layout", "loose", "-o", str(work / "srcs.pex"))
    return work


def test_skopeo_and_umoci_accept_the_image_of_a_real_pex_pair_and_it_runs(real_pexes: Path, tmp_path: Path) -> None:
    subprocess.run(["build-support/os-packages", "skopeo", "umoci"], check=True)
    work = tmp_path / "work"
    make_base(work)
    for pex in ("deps.pex", "srcs.pex"):
        shutil.copytree(real_pexes / pex, work / pex, symlinks=True)
    # Bytecode the input already has, named after where it was compiled: the image gets its own.
    subprocess.run([python312(), "-m", "compileall", "-q", str(work / "deps.pex/.deps")], check=True)
    input_pyc = work / f"deps.pex/.deps/pex_release_tinydep{WHEEL}/pex_release_tinydep/__pycache__/__init__.cpython-312.pyc"
    compiled_before = input_pyc.read_bytes()
    summary = build(work)
    assert build(work, "again") == summary
    assert layout_files(work / "again") == layout_files(work / "image")

    inspect = subprocess.run(["skopeo", "inspect", f"oci:{work}/image:1.4.0"], check=True, capture_output=True)
    inspected = json.loads(inspect.stdout)
    assert inspected["Digest"] == summary["manifest"]["digest"]
    assert inspected["Layers"] == [layer["digest"] for layer in summary["layers"]]
    for layer in summary["layers"]:
        blob = work / "image/blobs" / layer["digest"].replace(":", "/")
        unzipped = subprocess.run(["gzip", "-dc", str(blob)], check=True, capture_output=True).stdout
        assert f"sha256:{hashlib.sha256(unzipped).hexdigest()}" == layer["diff_id"]
    assert [layer["name"] for layer in summary["layers"] if layer["role"] == "wheel"] == [f"pex_release_tinydep{WHEEL}"]

    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{work}/image:1.4.0", str(bundle)], check=True, capture_output=True)
    process = json.loads((bundle / "config.json").read_text())["process"]
    assert (process["args"], process["cwd"]) == (["/usr/bin/python3", "/app/srcs.pex"], "/app")
    assert "PEX_PATH=/app/deps.pex" in process["env"]

    # The image's /app, run by this host's Python 3.12: the layers put the two PEXes back together.
    app = bundle / "rootfs/app"
    ran = subprocess.run(
        [python312(), str(app / "srcs.pex")],
        env={"PEX_PATH": str(app / "deps.pex"), "PEX_ROOT": str(tmp_path / "pex_root"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
    )
    assert (ran.returncode, ran.stdout) == (0, "hi pex_release_tinydep 1.0\n"), ran.stderr
    # Compiled at build time, under the names the files have in the image.
    pycs = {
        "/app/srcs.pex/hello/__init__.py": app / "srcs.pex/hello/__pycache__/__init__.cpython-312.pyc",
        "/app/deps.pex/.deps/pex_release_tinydep-1.0-py3-none-any.whl/pex_release_tinydep/__init__.py": (
            app / "deps.pex/.deps/pex_release_tinydep-1.0-py3-none-any.whl/pex_release_tinydep/__pycache__/__init__.cpython-312.pyc"
        ),
    }
    read = "import marshal, sys; print(marshal.loads(open(sys.argv[1], 'rb').read()[16:]).co_filename)"
    for name, pyc in pycs.items():
        co_filename = subprocess.run([python312(), "-c", read, str(pyc)], check=True, capture_output=True, text=True)
        assert co_filename.stdout == f"{name}\n"
    assert input_pyc.read_bytes() == compiled_before


# --- The deps layers: a layer per wheel, the smallest sharing one ---------------------------------


def test_wheel_groups_share_one_layer_among_the_smallest_beyond_the_limit() -> None:
    sizes = {f"w{i:03d}{WHEEL}": 1000 + i for i in range(103)}
    sizes[f"w050{WHEEL}"] = 1  # small, though in the middle by name

    groups = build_image.wheel_groups(sizes)

    assert len(groups) == 100
    assert groups[-1] == (f"w000{WHEEL}", f"w001{WHEEL}", f"w002{WHEEL}", f"w050{WHEEL}")
    assert [g for g in groups[:-1] if len(g) != 1] == []
    assert build_image.wheel_groups({n: 1 for n in list(sizes)[:100]}) == [(n,) for n in sorted(sizes)[:100]]


def test_deps_layers_put_the_smallest_wheels_into_one_shared_layer(tmp_path: Path) -> None:
    deps = write_tree(tmp_path / "deps.pex", {**DEPS, ".deps/big-1.0-py3-none-any.whl/big/__init__.py": "B" * 5000})

    layers = build_image.deps_layers(tmp_path / "blobs", deps, "/app", tmp_path / "staging", max_wheel_layers=2)

    wheels = [r for r in layers if r.role == "wheel"]
    assert [r.name for r in wheels] == [f"big{WHEEL}", f"bar-2.0-py3-none-any.whl, foo{WHEEL}"]
    shared = tar_names(tmp_path / "blobs" / wheels[1].layer.descriptor.hex)
    assert {n.split("/")[3] for n in shared if n.count("/") >= 3} == {"bar-2.0-py3-none-any.whl", f"foo{WHEEL}"}
