# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import inspect
import subprocess
import sys
import zipfile
from pathlib import Path
from textwrap import dedent

from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.target import InvalidTargetException
from pants.testutil.rule_runner import RuleRunner, engine_error
from pex_release.conftest import CLI_APP
from pex_release.goals.zipapp import PythonZipappFieldSet
from pex_release.sandbox.build_zipapp import write_zipapp
from pex_release_core.testutil import python312


def build(rule_runner: RuleRunner, name: str) -> Path:
    target = rule_runner.get_target(Address("src/python/hello", target_name=name))
    built = rule_runner.request(BuiltPackage, [PythonZipappFieldSet.create(target)])
    rule_runner.write_digest(built.digest)
    (artifact,) = built.artifacts
    return Path(rule_runner.build_root, artifact.relpath)


def run(*args: str | Path, python: str = sys.executable, **env: str) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages, so everything the zipapp imports comes from the zip (or PYTHONPATH).
    return subprocess.run([python, "-S", *args], capture_output=True, text=True, env=env)


def write_hello(rule_runner: RuleRunner, zipapps: str) -> None:
    code = CLI_APP + dedent(
        """

        def host():
            import hostonly  # pants: no-infer-dep

            print(hostonly.WHERE, click.__file__.rsplit(".pyz", 1)[-1])
            return 3
        """
    )
    rule_runner.write_files(
        {
            "src/python/hello/main.py": code,
            "src/python/hello/BUILD": f"python_sources()\n{zipapps}",
        }
    )


def test_zipapp_runs_and_builds_byte_identical(rule_runner: RuleRunner, tmp_path: Path) -> None:
    write_hello(
        rule_runner,
        """
python_zipapp(name="a", entry_point="main.py:main", output_path="a.pyz", shebang="/usr/bin/env python3")
python_zipapp(name="b", entry_point="main.py:main", output_path="b.pyz", shebang="/usr/bin/env python3")
python_zipapp(name="host", entry_point="hello.main:host")
""",
    )
    a, b = build(rule_runner, "a"), build(rule_runner, "b")
    # Two builds (two processes: the output names differ) give the same bytes.
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes().startswith(b"#!/usr/bin/env python3\nPK")
    assert a.stat().st_mode & 0o111
    names = zipfile.ZipFile(a).namelist()
    assert names[0] == "__main__.py" and names[1:] == sorted(names[1:])
    assert {"hello/main.py", "click/", "click/core.py"} <= set(names)
    assert not [n for n in names if n.startswith(".") or ".pex-info" in n or "/." in n]

    result = run(a, "world", python=python312())
    assert (result.returncode, result.stdout) == (0, "hello world from a.pyz\n"), result.stderr

    # The host's modules come after the zip's: a module the zip lacks is imported from the host,
    # one it has is not shadowed. The function's return value is the exit status.
    host = build(rule_runner, "host")
    assert host.name == "host.pyz" and not host.read_bytes().startswith(b"#!")
    (tmp_path / "hostonly.py").write_text("WHERE = 'host'\n")
    (tmp_path / "click.py").write_text("raise ImportError('the host click shadows the zip')\n")
    result = run(host, python=python312(), PYTHONPATH=str(tmp_path))
    assert (result.returncode, result.stdout) == (3, "host /click/__init__.py\n"), result.stderr


def test_native_dependency_is_refused(rule_runner: RuleRunner) -> None:
    write_hello(
        rule_runner,
        """
python_zipapp(name="native", entry_point="main.py:main", dependencies=["3rdparty/python:setproctitle"])
""",
    )
    with engine_error(
        InvalidTargetException,
        contains="target src/python/hello:native needs the distribution setproctitle-",
    ):
        build(rule_runner, "native")
    with engine_error(InvalidTargetException, contains="To fix, package this code with `pex_binary` instead"):
        build(rule_runner, "native")


def test_build_zipapp_script(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "ns" / "greet").mkdir(parents=True)  # `ns` is a namespace package: no __init__.py.
    (tree / "ns" / "greet" / "__init__.py").write_text("")
    (tree / "ns" / "greet" / "__main__.py").write_text("import sys; print('hi', sys.argv[1:])\n")
    write_zipapp(str(tree), str(tmp_path / "one.pyz"), "ns.greet")
    # Other times and modes on disk give the same zip.
    (tree / "ns" / "greet" / "__init__.py").chmod(0o600)
    (tree / "ns" / "greet" / "__main__.py").touch()
    write_zipapp(str(tree), str(tmp_path / "two.pyz"), "ns.greet")
    assert (tmp_path / "one.pyz").read_bytes() == (tmp_path / "two.pyz").read_bytes()
    # A module entry point runs as `python -m` runs it, with the arguments.
    result = run(tmp_path / "one.pyz", "x")
    assert (result.returncode, result.stdout) == (0, "hi ['x']\n"), result.stderr

    (tree / "__main__.py").write_text("")
    result = subprocess.run(
        [sys.executable, inspect.getsourcefile(write_zipapp), "ns.greet", tree, tmp_path / "three.pyz"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "already has a __main__.py; the zipapp's own runs ns.greet" in result.stderr
