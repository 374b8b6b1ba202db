"""Adopting pex_release in another Pants repository, with the plugin's wheel alone.

A Pants 2.17 repository written from scratch (a CPython 3.9 app, a lockfile it generates) installs
the plugin from the wheel that `./pants package ::` builds here, through `[GLOBAL].plugins` and a
find-links directory: no plugin file is copied, only the wheel and the `./pants` launcher (which
is optional, and used here for the pex tool and interpreters it sets up).
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import STOP_PANTSD, PackagedRepo, PantsRun, on_exit, python, sandbox_repo

# A plain Pants repository with a Python 3.9 app.
PLAIN_PANTS_TOML = """\
[GLOBAL]
pants_version = "2.17.1"
backend_packages = ["pants.backend.python"]

[python]
interpreter_constraints = ["CPython==3.9.*"]
enable_resolves = true
"""
# The same, adopting pex_release from a local directory of wheels.
ADOPTED_PANTS_TOML = """\
[GLOBAL]
pants_version = "2.17.1"
backend_packages = ["pants.backend.python", "pex_release"]
plugins = ["pex-release=={version}"]

[python]
interpreter_constraints = ["CPython==3.9.*"]
enable_resolves = true

[python-repos]
find_links = ["file://%(buildroot)s/wheels"]
"""
APP_BUILD = "python_sources()\n"
RELEASE_TARGET = 'pex_release(name="release", entry_point="main.py:main", version="1.0.0")\n'
APP = """\
import sys

import click


@click.command()
@click.argument("name")
def main(name):
    click.echo(f"hello {name} from python {sys.version_info[0]}.{sys.version_info[1]}")
"""


def added_lines(before: str, after: str) -> list[str]:
    """The lines of `after` that are new or changed with respect to `before`."""
    return [line[2:] for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line.startswith("+ ")]


def pants(repo: Path, store: Path, *args: str, check: bool = True) -> PantsRun:
    # With pantsd, started by the first call (which resolves the plugin) and reused by the next: they
    # pay ~3 s of start-up instead of ~12 s. The test stops it (on_exit).
    env = {**os.environ, "PANTS_PANTSD": "true", "PANTS_LOCAL_STORE_DIR": str(store)}
    proc = subprocess.run(["./pants", *args], cwd=repo, env=env, capture_output=True, text=True)
    run = PantsRun(args, proc.returncode, proc.stdout, proc.stderr)
    return run.assert_ok() if check else run


# pantsbuild/example-python's helloworld/main.py: say_hello() runs from its `__main__` block.
EXAMPLE_PYTHON_MAIN = """\
def say_hello() -> None:
    print("Hello, World!")


if __name__ == "__main__":
    say_hello()
"""


def test_a_new_repository_adopts_the_plugin_from_its_wheel(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    dist = packaged_repo.repo.root / "dist"
    (wheel,) = dist.glob("pex_release-*-py3-none-any.whl")
    version = wheel.name.split("-")[1]

    repo = tmp_path / "adopter"
    files = {
        "pants.toml": ADOPTED_PANTS_TOML.replace("{version}", version),
        "BUILD": 'python_requirements(name="reqs")\n',
        "requirements.txt": "click\n",
        "src/python/hello/main.py": APP,
        "src/python/hello/BUILD": APP_BUILD + "\n" + RELEASE_TARGET,
    }
    for relpath, content in files.items():
        (repo / relpath).parent.mkdir(parents=True, exist_ok=True)
        (repo / relpath).write_text(content)
    (repo / "wheels").mkdir()
    shutil.copy2(wheel, repo / "wheels" / wheel.name)
    shutil.copy2(sandbox_repo() / "pants", repo / "pants")

    # What adoption cost: at most 5 lines of configuration, plus the target.
    config = added_lines(PLAIN_PANTS_TOML, files["pants.toml"])
    assert config == [
        'backend_packages = ["pants.backend.python", "pex_release"]',
        f'plugins = ["pex-release=={version}"]',
        "",
        "[python-repos]",
        'find_links = ["file://%(buildroot)s/wheels"]',
    ]
    assert len([line for line in config if line.strip()]) <= 5
    assert added_lines(APP_BUILD, files["src/python/hello/BUILD"]) == ["", RELEASE_TARGET.strip()]

    # The packaged repository's store: the plugin's tool PEXes built there are hits here (Pants
    # shares one store between repositories by default). The plugin's resolution is not in it.
    store = packaged_repo.repo.store
    with on_exit(os.path.realpath(sys.executable), "-c", STOP_PANTSD, str(repo)):
        adopt(repo, store, dist, version, tmp_path)

    # Nothing of the plugin but its wheel: no plugin source, no pythonpath.
    assert not any(p.name == "pex_release" for p in repo.rglob("*"))
    assert "pythonpath" not in files["pants.toml"]


def adopt(repo: Path, store: Path, dist: Path, version: str, tmp_path: Path) -> None:
    """Lockfile, package, run and publish in the adopting repository, as its users would."""
    lockfiles = pants(repo, store, "generate-lockfiles")
    # Pants installed the plugin from the wheel.
    assert f"Resolving plugins: pex-release=={version}" in lockfiles.stderr
    assert '"project_name": "click"' in (repo / "3rdparty/python/default.lock").read_text()

    pants(repo, store, "package", "::")
    releases = repo / "dist" / "releases"
    manifest = json.loads((releases / "hello.release.json").read_text())
    assert (manifest["app"], manifest["version"], manifest["interpreter_constraints"]) == ("hello", "1.0.0", ["CPython==3.9.*"])
    assert [d["name"] for d in manifest["deps"]["distributions"]] == ["click"]

    # The release runs on CPython 3.9 from its files...
    python39 = python("3.9")
    run = subprocess.run(
        [python39, releases / manifest["sources"]["file"], "world"],
        env={"PATH": os.environ["PATH"], "PEX_PATH": str(releases / manifest["deps"]["file"])},
        capture_output=True,
        text=True,
    )
    assert (run.returncode, run.stdout) == (0, "hello world from python 3.9\n"), run.stderr

    # ...and, published to the default file:// repository, with pexrun.
    publish = pants(repo, store, "publish", "src/python/hello:release")
    repository = f"file://{repo}/dist/pex-release-repository"
    assert f"hello@1.0.0 published to {repository}" in publish.stderr
    pexrun = subprocess.run(
        [python39, dist / "pexrun.pyz", "run", "--cache-dir", tmp_path / "pexrun-cache", repository, "hello", "--", "world"],
        capture_output=True,
        text=True,
    )
    assert (pexrun.returncode, pexrun.stdout) == (0, "hello world from python 3.9\n"), pexrun.stderr

    # example-python's layout, as a new user adopted it: `main.py:main` names no function of the module,
    # and is refused at package time, saying so; `main.py`, the module run as a script, works.
    (repo / "src/python/helloworld").mkdir()
    (repo / "src/python/helloworld/main.py").write_text(EXAMPLE_PYTHON_MAIN)
    build_file = repo / "src/python/helloworld/BUILD"
    build_file.write_text(APP_BUILD + 'pex_release(name="release", entry_point="main.py:main", version="1.0.0")\n')
    refused = pants(repo, store, "package", "src/python/helloworld:release", check=False)
    assert refused.returncode != 0
    assert (
        "The `entry_point` field of the `pex_release` target src/python/helloworld:release runs `helloworld.main:main`: "
        "the module `helloworld.main` (src/python/helloworld/main.py) is read without running it, which does not "
        'define `main` (it defines `say_hello`). It runs as a script (`if __name__ == "__main__":`): to run it so, '
        'set `entry_point="main.py"`.'
    ) in " ".join(refused.stderr.split()), refused.stderr[-3000:]
    assert not (releases / "helloworld.release.json").exists()
    build_file.write_text(APP_BUILD + 'pex_release(name="release", entry_point="main.py", version="1.0.0")\n')
    pants(repo, store, "package", "src/python/helloworld:release")
    hello = json.loads((releases / "helloworld.release.json").read_text())
    run = subprocess.run([python39, releases / hello["sources"]["file"]], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (0, "Hello, World!\n"), run.stderr
