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
from typing import Any, Mapping, Optional, Sequence

import pytest

from pex_release import build_image, oci
from pex_release.oci import (
    INDEX_MEDIA_TYPE,
    Descriptor,
    ImageError,
    OciImage,
    Platform,
    check_tag,
    find_python,
    image_filesystem,
    image_from_rootfs,
    read_image,
    write_image,
    write_layer,
)

AMD64 = Platform.parse("linux/amd64")
PLUGINS_DIR = Path(oci.__file__).resolve().parent.parent
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
WHEEL = "-1.0-py3-none-any.whl"
FIX_PYTHON = "To fix, set the target's `python` field to the path of a Python 3.12 in the image"


def python312() -> str:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(root.glob("versions/3.12.*/bin/python3.12"))
    assert found, f"these tests need a CPython 3.12 in {root}/versions"
    return str(found[-1])


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    root.mkdir(parents=True, exist_ok=True)
    return root


def make_rootfs(
    root: Path, *, version: str = "3.12", python_mode: int = 0o755, link: str = "/opt/python/bin/python3.12"
) -> Path:
    """A root filesystem with the files find_python looks at: a `python3` symlink, the
    interpreter (a stand-in) and its standard library's os.py."""
    write_tree(root, {f"opt/python/bin/python{version}": "#!fake\n", f"opt/python/lib/python{version}/os.py": ""})
    (root / f"opt/python/bin/python{version}").chmod(python_mode)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3").symlink_to(link)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    return root


def make_base(
    tmp_path: Path,
    name: str = "base",
    *,
    platform: str = "linux/amd64",
    env: Mapping[str, str] = BASE_ENV,
    **rootfs: Any,
) -> Path:
    image_from_rootfs(
        tmp_path / name,
        make_rootfs(tmp_path / f"{name}-rootfs", **rootfs),
        platform=Platform.parse(platform),
        env=env,
        created_by="test base",
        tags=["3.12"],
    )
    return tmp_path / name


def base_image(tmp_path: Path, reference: str = "base:3.12", **kwargs: Any) -> OciImage:
    return read_image(make_base(tmp_path, **kwargs), reference=reference, platform=AMD64)


def layout_files(layout: Path) -> dict[str, bytes]:
    return {str(p.relative_to(layout)): p.read_bytes() for p in sorted(layout.rglob("*")) if p.is_file()}


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
        [python312(), "-m", "pex_release.build_image", "spec.json"],
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


# --- Layers ---------------------------------------------------------------------------------------


def tar_names(blob: Path) -> list[str]:
    with tarfile.open(blob, "r:gz") as tar:
        return tar.getnames()


def test_write_layer_places_the_tree_under_its_parents_in_name_order(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"b.py": "", "a/x.py": "", "a-b/y.py": "", "skip/z.py": ""})
    (root / "run").write_text("#!/bin/sh\n")
    (root / "run").chmod(0o700)
    (root / "link").symlink_to("a/x.py")

    layer = write_layer(tmp_path / "blobs", root, "/app/srcs.pex/", created_by="t", exclude=["skip"])

    with tarfile.open(tmp_path / "blobs" / layer.descriptor.hex, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == [
        "app",
        "app/srcs.pex",
        "app/srcs.pex/a",
        "app/srcs.pex/a/x.py",
        "app/srcs.pex/a-b",
        "app/srcs.pex/a-b/y.py",
        "app/srcs.pex/b.py",
        "app/srcs.pex/link",
        "app/srcs.pex/run",
    ]
    assert {name: oct(m.mode) for name, m in members.items() if m.isfile()} == {
        "app/srcs.pex/a/x.py": "0o644",
        "app/srcs.pex/a-b/y.py": "0o644",
        "app/srcs.pex/b.py": "0o644",
        "app/srcs.pex/run": "0o755",
    }
    assert members["app/srcs.pex/link"].linkname == "a/x.py"
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, 0, "", "")}
    gz = (tmp_path / "blobs" / layer.descriptor.hex).read_bytes()
    assert gz[3:8] == bytes(5)  # no flags (so no file name) and no time
    assert layer.descriptor.size == len(gz) and layer.descriptor.digest == f"sha256:{hashlib.sha256(gz).hexdigest()}"


def test_write_layer_takes_its_time_from_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    layer = write_layer(tmp_path / "blobs", write_tree(tmp_path / "tree", {"a.py": ""}), "app", created_by="t")
    with tarfile.open(tmp_path / "blobs" / layer.descriptor.hex, "r:gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


@pytest.mark.parametrize("target", ["../../../etc/passwd", "/etc/passwd"])
def test_write_layer_refuses_a_symlink_out_of_its_directory(tmp_path: Path, target: str) -> None:
    root = write_tree(tmp_path / "tree", {"a.py": ""})
    (root / "escape").symlink_to(target)

    with pytest.raises(ImageError) as error:
        write_layer(tmp_path / "blobs", root, "app/srcs.pex", created_by="t")

    message = str(error.value)
    assert message.startswith(f"{root}/escape is a symlink to {target}, which would point out of /app/srcs.pex ")
    assert [p.name for p in (tmp_path / "blobs").iterdir()] == []


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


# --- Reading images -------------------------------------------------------------------------------


def test_read_image_reads_a_layout_and_a_tarball_of_one(tmp_path: Path) -> None:
    layout = make_base(tmp_path)
    tarball = tmp_path / "base.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(layout, arcname=".")

    for path in (layout, tarball):
        image = read_image(path, reference="registry.example.com/acme/python:3.12", platform=AMD64)
        assert (image.platform, image.env, len(image.layers)) == (AMD64, BASE_ENV, 1)
        assert image.manifest.digest == json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
        assert find_python(image, "python3", "3.12") == "/usr/bin/python3"
        # Modes are normalized, but a sticky directory keeps 1777: /tmp stays writable for every user.
        modes = {path: entry.mode for path, entry in image_filesystem(image).items()}
        assert (modes["tmp"], modes["opt/python/bin/python3.12"], modes["opt/python/lib/python3.12/os.py"]) == (
            0o1777,
            0o755,
            0o644,
        )


def multi_platform_layout(tmp_path: Path, platforms: Sequence[str]) -> Path:
    """An image index over one image per platform, as a multi-arch pull writes it."""
    layout = tmp_path / "multi"
    (layout / "blobs/sha256").mkdir(parents=True)
    entries = []
    for platform in platforms:
        single = make_base(tmp_path, platform.replace("/", "-"), platform=platform)
        for blob in (single / "blobs/sha256").iterdir():
            shutil.copy(blob, layout / "blobs/sha256" / blob.name)
        (entry,) = json.loads((single / "index.json").read_text())["manifests"]
        entries.append({**entry, "annotations": {}, "platform": Platform.parse(platform).to_json()})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}).encode()
    digest = hashlib.sha256(index).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(index)
    top = Descriptor(INDEX_MEDIA_TYPE, f"sha256:{digest}", len(index)).to_json()
    top["annotations"] = {oci.REF_NAME_ANNOTATION: "3.12"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return layout


def test_read_image_picks_the_platforms_image_from_an_index(tmp_path: Path) -> None:
    layout = multi_platform_layout(tmp_path, ["linux/amd64", "linux/arm64"])

    for wanted in ("linux/arm64", "linux/arm64/v8", "linux/amd64"):
        image = read_image(layout, reference="python:3.12", platform=Platform.parse(wanted))
        assert image.platform.architecture == Platform.parse(wanted).architecture


def test_read_image_accepts_docker_schema_2_and_write_image_gives_its_layers_oci_media_types(tmp_path: Path) -> None:
    layout = make_base(tmp_path)
    blobs = layout / "blobs/sha256"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    manifest["mediaType"] = oci.DOCKER_MANIFEST_MEDIA_TYPE
    manifest["config"]["mediaType"] = oci.DOCKER_CONFIG_MEDIA_TYPE
    manifest["layers"][0]["mediaType"] = oci.DOCKER_LAYER_MEDIA_TYPE
    data = json.dumps(manifest).encode()
    (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    index["manifests"][0].update(
        mediaType=oci.DOCKER_MANIFEST_MEDIA_TYPE, digest=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data)
    )
    (layout / "index.json").write_text(json.dumps(index))

    base = read_image(layout, reference="base:3.12", platform=AMD64)
    assert base.layers[0].media_type == oci.DOCKER_LAYER_MEDIA_TYPE
    written = write_image(
        tmp_path / "image", base=base, layers=[], entrypoint=["x"], working_dir="/", env={}, labels={}, tags=["1"]
    )

    image = json.loads((tmp_path / "image/blobs/sha256" / written.hex).read_bytes())
    assert image["mediaType"] == oci.MANIFEST_MEDIA_TYPE
    assert [layer["mediaType"] for layer in image["layers"]] == [oci.LAYER_MEDIA_TYPE]
    assert image["layers"][0]["digest"] == base.layers[0].digest


def read_error(path: Path, reference: str = "base:3.12", platform: Platform = AMD64) -> str:
    with pytest.raises(ImageError) as error:
        read_image(path, reference=reference, platform=platform)
    return str(error.value)


def test_read_image_refuses_an_image_for_another_platform(tmp_path: Path) -> None:
    assert read_error(make_base(tmp_path, platform="linux/arm64")) == (
        "Base image base:3.12 is for linux/arm64, not linux/amd64. To fix, use a base image built for linux/amd64 "
        "(or a multi-platform one that includes it), or build for linux/arm64."
    )


def test_read_image_lists_the_platforms_of_an_index_without_the_wanted_one(tmp_path: Path) -> None:
    layout = multi_platform_layout(tmp_path, ["linux/s390x", "linux/arm64"])

    assert read_error(layout, "python:3.12") == (
        "Base image python:3.12 has no image for linux/amd64; it has images for: linux/arm64, linux/s390x. "
        "To fix, use a base image built for linux/amd64, or build for one of those platforms."
    )


def test_read_image_lists_the_tags_when_the_reference_names_another(tmp_path: Path) -> None:
    layout = make_base(tmp_path)

    assert read_error(layout, "base:3.13") == (
        f"Base image base:3.13: {layout} has no image with the tag '3.13'; it has: 3.12. "
        "To fix, name one of those in the reference (`...:TAG`)."
    )


def test_read_image_asks_for_a_tag_when_the_layout_holds_several_images(tmp_path: Path) -> None:
    layout = tmp_path / "two"
    image_from_rootfs(layout, make_rootfs(tmp_path / "rootfs"), platform=AMD64, env={}, created_by="t", tags=["a", "b"])

    assert read_error(layout, str(layout)) == (
        f"Base image {layout}: {layout} holds 2 images (a, b), and the reference does not say which. "
        "To fix, add one's tag to the reference (`...:TAG`)."
    )
    assert read_image(layout, reference=f"{layout}:b", platform=AMD64).reference == f"{layout}:b"


def test_read_image_verifies_every_blob(tmp_path: Path) -> None:
    layout = make_base(tmp_path)
    layer = read_image(layout, reference="base:3.12", platform=AMD64).layers[0]
    blob = layout / "blobs/sha256" / layer.hex
    data = bytearray(blob.read_bytes())
    data[-20] ^= 0xFF
    blob.write_bytes(bytes(data))

    message = read_error(layout)

    assert message.startswith(f"Base image base:3.12: layer 0 blob {layer.digest} in {layout} is corrupt: its bytes ")
    assert message.endswith(
        f" ({layer.size} bytes), not {layer.digest} ({layer.size} bytes). To fix, fetch or export the base image again."
    )
    blob.unlink()
    assert read_error(layout) == (
        f"Base image base:3.12: layer 0 blob {layer.digest} is missing from {layout}. "
        "To fix, fetch or export the base image again."
    )


def test_read_image_refuses_what_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not an image\n")
    fix = "To fix, point to an OCI image layout directory or a tarball of one"

    assert read_error(tmp_path / "empty").startswith(
        f"Base image base:3.12: {tmp_path}/empty is not an OCI image layout (it has no oci-layout and index.json). "
        + fix
    )
    assert read_error(tmp_path / "notes.txt").startswith(
        f"Base image base:3.12: {tmp_path}/notes.txt is neither a directory nor a tarball. {fix}"
    )
    missing = tmp_path / "missing"
    assert read_error(missing).startswith(f"Base image base:3.12: {missing} does not exist. {fix}")


# --- The image's files and its Python -------------------------------------------------------------


def test_image_filesystem_applies_whiteouts(tmp_path: Path) -> None:
    lower = write_tree(tmp_path / "lower", {"etc/a": "", "etc/b": "", "data/x": "", "data/sub/y": "", "old/file": ""})
    image_from_rootfs(tmp_path / "base", lower, platform=AMD64, env={}, created_by="lower", tags=["1"])
    base = read_image(tmp_path / "base", reference="base:1", platform=AMD64)
    upper = write_tree(tmp_path / "upper", {"etc/.wh.a": "", "data/.wh..wh..opq": "", "data/new": "", "old": "a file"})
    out = tmp_path / "image"
    layer = write_layer(out / "blobs/sha256", upper, "", created_by="upper")
    write_image(out, base=base, layers=[layer], entrypoint=["/bin/true"], working_dir="/", env={}, labels={}, tags=[])

    files = image_filesystem(read_image(out, reference="image", platform=AMD64))

    assert {path: entry.kind for path, entry in files.items()} == {
        "data": "dir",
        "data/new": "file",
        "etc": "dir",
        "etc/b": "file",
        "old": "file",
    }


def python_error(image: OciImage, python: str = "python3", version: str = "3.12") -> str:
    with pytest.raises(ImageError) as error:
        find_python(image, python, version)
    return str(error.value)


def test_find_python_follows_relative_and_absolute_symlinks(tmp_path: Path) -> None:
    rootfs = make_rootfs(tmp_path / "rootfs", link="../../opt/python/bin/python3.12")
    (rootfs / "bin").symlink_to("usr/bin")  # a merged /usr
    image_from_rootfs(tmp_path / "base", rootfs, platform=AMD64, env={"PATH": "/bin"}, created_by="t")
    image = read_image(tmp_path / "base", reference="base", platform=AMD64)

    assert find_python(image, "python3", "3.12") == "/bin/python3"
    assert find_python(image, "/usr/bin/python3", "3.12") == "/usr/bin/python3"
    assert find_python(image, "/opt/python/bin/python3.12", "3.12") == "/opt/python/bin/python3.12"


def test_find_python_names_a_missing_python(tmp_path: Path) -> None:
    image = base_image(tmp_path)

    assert python_error(image, "/usr/local/bin/python3.12") == (
        f"Base image base:3.12 has no /usr/local/bin/python3.12. {FIX_PYTHON}, or use a base image that has one."
    )


def test_find_python_searches_the_images_path(tmp_path: Path) -> None:
    image = base_image(tmp_path, env={"PATH": "/usr/local/bin:/sbin"})

    assert python_error(image) == (
        f"Base image base:3.12 has no python3 on its PATH (/usr/local/bin:/sbin). {FIX_PYTHON}, or use a base image "
        "that has one."
    )
    assert find_python(base_image(tmp_path / "default", env={}), "python3", "3.12") == "/usr/bin/python3"


def test_find_python_refuses_a_file_that_is_not_executable(tmp_path: Path) -> None:
    image = base_image(tmp_path, python_mode=0o644)

    assert python_error(image) == (
        "Base image base:3.12: /usr/bin/python3 (a symlink to /opt/python/bin/python3.12) is not executable "
        f"(mode 0644). {FIX_PYTHON}, or use a base image that has one."
    )


def test_find_python_names_the_version_it_found(tmp_path: Path) -> None:
    image = base_image(tmp_path, version="3.11")

    assert python_error(image, "/opt/python/bin/python3.11") == (
        "Base image base:3.12: /opt/python/bin/python3.11 has the standard library of Python 3.11 "
        "(/opt/python/lib/python3.11/os.py), not Python 3.12 (/opt/python/lib/python3.12/os.py is missing). "
        f"{FIX_PYTHON}, or use a base image that has one."
    )


def test_find_python_reports_a_symlink_loop(tmp_path: Path) -> None:
    image = base_image(tmp_path, link="python3")

    assert python_error(image) == (
        "Base image base:3.12: /usr/bin/python3 does not resolve: its symlinks loop (more than 40 hops, at "
        f"/usr/bin/python3 -> python3). {FIX_PYTHON}, or use a base image that has one."
    )


# --- Writing images -------------------------------------------------------------------------------


def test_write_image_merges_the_base_config_and_drops_its_cmd(tmp_path: Path) -> None:
    first = write_image(
        tmp_path / "first",
        base=base_image(tmp_path),
        layers=[],
        entrypoint=["/usr/bin/python3"],
        cmd=["-V"],
        working_dir="/",
        env={"LANG": "C"},
        labels={"a": "1", "b": "1"},
        tags=["1"],
    )
    base = read_image(tmp_path / "first", reference="first:1", platform=AMD64)
    assert base.manifest == first and base.config["config"]["Cmd"] == ["-V"]

    write_image(
        tmp_path / "second",
        base=base,
        layers=[],
        entrypoint=["/usr/bin/python3", "/app/srcs.pex"],
        working_dir="/app",
        env={"PATH": "/opt/python/bin:/usr/bin", "PEX_ROOT": "/tmp/.pex"},
        labels={"b": "2"},
        tags=[],
    )

    image = read_image(tmp_path / "second", reference="second", platform=AMD64)
    assert image.config["config"] == {
        "Entrypoint": ["/usr/bin/python3", "/app/srcs.pex"],
        "Env": ["PATH=/opt/python/bin:/usr/bin", "LANG=C", "PEX_ROOT=/tmp/.pex"],
        "Labels": {"a": "1", "b": "2"},
        "WorkingDir": "/app",
    }
    index = json.loads((tmp_path / "second/index.json").read_text())
    assert index["manifests"] == [image.manifest.to_json()]
    manifest = json.loads(image.blob(image.manifest).read_bytes())
    assert manifest["annotations"] == {oci.BASE_DIGEST_ANNOTATION: first.digest}


@pytest.mark.parametrize("tag", ["1.4.0", "latest", "_x", "A" * 128, "1.4.0-py3.12_amd64"])
def test_check_tag_accepts_tags_of_the_distribution_spec(tag: str) -> None:
    check_tag(tag)


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "A" * 129, "acme/api", "1.4.0+build", "v1 "])
def test_check_tag_refuses_other_tags_and_quotes_the_rule(tag: str) -> None:
    with pytest.raises(ImageError) as error:
        check_tag(tag)
    assert str(error.value) == (
        f"{tag!r} is not a valid image tag: a tag is 1 to 128 characters, letters, digits, `_`, `.` and `-`, and "
        "does not start with `.` or `-` (the distribution spec's [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}). To fix, "
        "change the tag, e.g. `1.4.0` or `1.4.0-py312`."
    )


def test_platform_parse_host_and_str() -> None:
    assert Platform.parse("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8" and str(AMD64) == "linux/amd64"
    assert Platform.host().os == "linux" and Platform.host().architecture in ("amd64", "arm64")
    with pytest.raises(ImageError, match="'linux' is not a platform: write os/architecture"):
        Platform.parse("linux")
