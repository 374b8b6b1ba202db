# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.core.goals.generate_lockfiles import UnrecognizedResolveNamesError
from pants.core.goals.package import BuiltPackage
from pants.core.goals.publish import PublishProcesses
from pants.core.goals.run import RunRequest
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST, DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.process import ProcessExecutionFailure
from pants.engine.target import InvalidFieldException
from pants.option.global_options import KeepSandboxes
from pants.testutil.rule_runner import RuleRunner, engine_error
from pex_release.closure import ClosureLockError
from pex_release.conftest import CLI_APP, requirement, set_repo_options
from pex_release.manifest import CompletePlatform, ReleaseManifest
from pex_release.package import PexReleaseFieldSet, explain_deps_pex_failure
from pex_release.pex_version import PexTooOldError
from pex_release.publish import PublishPexReleaseFieldSet
from pex_release.repository import RepositoryError, open_repository, publish


def build(rule_runner: RuleRunner, spec_path: str, name: str = "release") -> BuiltPackage:
    target = rule_runner.get_target(Address(spec_path, target_name=name))
    return rule_runner.request(BuiltPackage, [PexReleaseFieldSet.create(target)])


def write_app(rule_runner: RuleRunner, path: str, release: str, code: str = CLI_APP) -> None:
    rule_runner.write_files(
        {f"src/python/{path}/main.py": code, f"src/python/{path}/BUILD": f"python_sources()\n{release}"}
    )


def python312() -> str:
    (python,) = sorted(Path(os.environ["PYENV_ROOT"]).glob("versions/3.12.*/bin/python3.12"))[-1:]
    return str(python)


def test_release_files_manifest_and_run(rule_runner: RuleRunner, tmp_path: Path) -> None:
    write_app(
        rule_runner,
        "hello",
        """pex_release(name="release", entry_point="main.py:main", version="2.0.1", env={"GREETING": "hi"},
                      scripts={"shout": "main.py:shout"}, args=["world"])""",
    )
    built = build(rule_runner, "src/python/hello")
    manifest_path = "releases/hello.release.json"
    assert [a.relpath for a in built.artifacts] == [
        f"releases/{json.loads(_read(rule_runner, built, manifest_path))['deps']['file']}",
        "releases/hello-srcs.pex",
        manifest_path,
    ]
    manifest = ReleaseManifest.loads(_read(rule_runner, built, manifest_path), origin=manifest_path)
    assert (manifest.app, manifest.version, manifest.entry_point) == ("hello", "2.0.1", "hello.main:main")
    assert manifest.scripts == {"shout": "hello.main:shout"}
    assert manifest.interpreter_constraints == ("CPython==3.12.*",)
    assert (manifest.env, manifest.args) == ({"GREETING": "hi"}, ("world",))
    assert [(d.name, d.version) for d in manifest.deps.distributions] == [("click", "8.5.1")]
    assert manifest.deps.file == f"deps-{manifest.deps.subset_key[:16]}.pex"

    # The files are what the manifest says, and they run.
    rule_runner.write_digest(built.digest, path_prefix="dist")
    releases = Path(rule_runner.build_root, "dist/releases")
    for blob in manifest.blobs:
        data = (releases / blob.file).read_bytes()
        assert (len(data), _sha256(data)) == (blob.size, blob.sha256)
    env = {"PEX_PATH": str(releases / manifest.deps.file), "PATH": os.environ["PATH"]}
    run = subprocess.run([python312(), releases / "hello-srcs.pex"], env=env, capture_output=True, text=True)
    assert run.stdout == "hello world from hello-srcs.pex\n", run.stderr
    shout = subprocess.run(
        [python312(), releases / "hello-srcs.pex", "quiet"],
        env={**env, "PEX_MODULE": manifest.scripts["shout"]},
        capture_output=True,
        text=True,
    )
    # pex injects `args` for the entry point only, not for a script run through PEX_MODULE.
    assert shout.stdout == "QUIET\n", shout.stderr


def test_equal_closures_share_the_deps_pex(rule_runner: RuleRunner) -> None:
    # The same closure, reached through different requirement lists: pydantic is in fastapi's.
    rule_runner.write_files(
        {"3rdparty/python/BUILD": "".join(requirement(name) for name in ("fastapi", "pydantic"))}
    )
    write_app(rule_runner, "one", 'pex_release(name="release", entry_point="main.py", version="1")', "import fastapi\n")
    write_app(
        rule_runner, "two", 'pex_release(name="release", entry_point="main.py", version="1")', "import fastapi, pydantic\n"
    )
    one, two = (_manifest(rule_runner, build(rule_runner, f"src/python/{app}"), app) for app in ("one", "two"))
    assert one.deps == two.deps
    assert "pydantic" in {d.name for d in one.deps.distributions}
    assert one.sources.sha256 != two.sources.sha256


def test_single_file_and_console_script(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {"3rdparty/python/BUILD": "".join(requirement(name) for name in ("click", "fastapi", "uvicorn"))}
    )
    write_app(
        rule_runner,
        "tool",
        'pex_release(name="release", script="uvicorn", version="1", single_file=True, '
        'dependencies=["3rdparty/python:fastapi", "3rdparty/python:uvicorn"])',
    )
    built = build(rule_runner, "src/python/tool")
    manifest = _manifest(rule_runner, built, "tool")
    assert manifest.entry_point == "uvicorn.main:main"  # the console script, resolved
    assert manifest.single_file is not None and manifest.single_file.file == "tool.pex"
    rule_runner.write_digest(built.digest, path_prefix="dist")
    releases = Path(rule_runner.build_root, "dist/releases")
    for command, env in (
        ([releases / "tool.pex"], {}),
        ([releases / "tool-srcs.pex"], {"PEX_PATH": str(releases / manifest.deps.file)}),
    ):
        result = subprocess.run([python312(), *command, "--version"], env=env, capture_output=True, text=True)
        assert result.stdout.startswith("Running uvicorn"), result.stderr


def test_run_request_uses_deps_on_the_pex_path(rule_runner: RuleRunner) -> None:
    write_app(rule_runner, "hello", 'pex_release(name="release", entry_point="main.py:main")')
    target = rule_runner.get_target(Address("src/python/hello", target_name="release"))
    run_request = rule_runner.request(RunRequest, [PexReleaseFieldSet.create(target)])
    assert run_request.args[1:] == ("{chroot}/srcs.pex",)
    assert dict(run_request.extra_env) == {"PEX_PATH": "{chroot}/deps.pex"}


def test_unknown_console_script(rule_runner: RuleRunner) -> None:
    write_app(rule_runner, "tool", 'pex_release(name="release", script="nope", version="1", dependencies=["3rdparty/python:click"])')
    with engine_error(InvalidFieldException, contains="is 'nope', which no distribution in the app's closure provides"):
        build(rule_runner, "src/python/tool")


def test_duplicate_app_names_are_an_error(rule_runner: RuleRunner) -> None:
    write_app(rule_runner, "a/api", 'pex_release(name="release", entry_point="main.py:main", version="1")')
    write_app(rule_runner, "b/api", 'pex_release(name="release", entry_point="main.py:main", version="1")')
    with engine_error(InvalidFieldException, contains="src/python/a/api:release, src/python/b/api:release all release the app `api`"):
        build(rule_runner, "src/python/a/api")


def test_entry_point_module_not_in_sources(rule_runner: RuleRunner) -> None:
    write_app(rule_runner, "hello", 'pex_release(name="release", entry_point="hello.nope:main", version="1")')
    with engine_error(InvalidFieldException, contains="runs the module `hello.nope`, which is not in the app's sources"):
        build(rule_runner, "src/python/hello")


def test_unknown_resolve(rule_runner: RuleRunner) -> None:
    write_app(rule_runner, "hello", 'pex_release(name="release", entry_point="main.py:main", resolve="nope")')
    with engine_error(UnrecognizedResolveNamesError, contains="the field `resolve` in the target src/python/hello:release"):
        build(rule_runner, "src/python/hello")


def test_requirement_missing_from_lockfile(rule_runner: RuleRunner) -> None:
    write_app(
        rule_runner,
        "hello",
        'python_requirement(name="new", requirements=["left-pad-ng"])\n'
        'pex_release(name="release", entry_point="main.py:main", dependencies=[":new"], version="1")',
    )
    with engine_error(ClosureLockError, contains="depends on left-pad-ng, which the lockfile 3rdparty/python/default.lock"):
        build(rule_runner, "src/python/hello")


def test_stale_lockfile(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"3rdparty/python/BUILD": "python_requirement(name='click', requirements=['click>=99'])\n"})
    write_app(rule_runner, "hello", 'pex_release(name="release", entry_point="main.py:main", version="1")')
    with engine_error(ClosureLockError, contains="(click>=99): the lockfile is stale. To fix, run `./pants generate-lockfiles --resolve=python-default`"):
        build(rule_runner, "src/python/hello")


def test_a_truncated_lockfile_is_named(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"3rdparty/python/default.lock": "{\n  \"locked_resolves\": [\n"})  # cut short
    write_app(rule_runner, "hello", 'pex_release(name="release", entry_point="main.py:main", version="1")')
    with engine_error(ClosureLockError, contains="The lockfile 3rdparty/python/default.lock (resolve `python-default`) is not a pex JSON lockfile"):
        build(rule_runner, "src/python/hello")


def test_no_interpreter_for_constraints(rule_runner: RuleRunner) -> None:
    write_app(
        rule_runner,
        "hello",
        'pex_release(name="release", entry_point="main.py:main", version="1", interpreter_constraints=["CPython==3.12.0"])',
    )
    with engine_error(InvalidFieldException, contains="needs a Python interpreter matching its `interpreter_constraints`"):
        build(rule_runner, "src/python/hello")


def test_platform_without_wheels_names_the_requirement(rule_runner: RuleRunner) -> None:
    write_app(
        rule_runner,
        "daemon",
        'pex_release(name="release", entry_point="main.py:main", version="1", '
        'platforms=["linux_riscv64-cp-312-cp312"], dependencies=["3rdparty/python:setproctitle"])',
    )
    with engine_error(InvalidFieldException, contains="the lockfile has no wheel of setproctitle for them"):
        build(rule_runner, "src/python/daemon")


def test_foreign_platform_with_wheels_builds(rule_runner: RuleRunner) -> None:
    write_app(
        rule_runner,
        "hello",
        'pex_release(name="release", entry_point="main.py:main", version="1", platforms=["macosx_11_0_arm64-cp-312-cp312"])',
    )
    manifest = _manifest(rule_runner, build(rule_runner, "src/python/hello"), "hello")
    assert manifest.platforms == ("macosx_11_0_arm64-cp-312-cp312",)
    assert [d.name for d in manifest.deps.distributions] == ["click"]


def _read(rule_runner: RuleRunner, built: BuiltPackage, path: str) -> bytes:
    (content,) = [c for c in rule_runner.request(DigestContents, [built.digest]) if c.path == path]
    return content.content


def _manifest(rule_runner: RuleRunner, built: BuiltPackage, app: str) -> ReleaseManifest:
    path = f"releases/{app}.release.json"
    return ReleaseManifest.loads(_read(rule_runner, built, path), origin=path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_packed_layout_release_is_a_directory_with_a_tree_digest(rule_runner: RuleRunner, tmp_path: Path) -> None:
    write_app(
        rule_runner,
        "hello",
        'pex_release(name="release", entry_point="main.py:main", version="1", layout="packed", '
        'shebang="/usr/bin/env python3.12")',
    )
    built = build(rule_runner, "src/python/hello")
    manifest = _manifest(rule_runner, built, "hello")
    rule_runner.write_digest(built.digest, path_prefix="dist")
    releases = Path(rule_runner.build_root, "dist/releases")
    deps, sources = releases / manifest.deps.file, releases / manifest.sources.file
    assert deps.is_dir() and (sources / "__main__.py").is_file()
    files = [p for p in sources.rglob("*") if p.is_file() and not p.is_symlink()]
    assert manifest.sources.size == sum(p.stat().st_size for p in files)
    # (Checked before running it: a packed PEX writes bytecode caches into its directory.)
    run = subprocess.run(
        [python312(), sources, "packed"], env={"PEX_PATH": str(deps)}, capture_output=True, text=True
    )
    assert run.stdout == "hello packed from pex\n", run.stderr  # a packed PEX runs through its `pex` script
    # Publishing needs single files, and says so.
    with pytest.raises(RepositoryError, match=r"has PEX directories .* built with `layout='packed'`"):
        publish(open_repository(f"file://{tmp_path / 'repository'}"), releases / "hello.release.json")


def test_too_old_pex_fails_before_any_work(rule_runner: RuleRunner) -> None:
    # Pants 2.17's own default pex: the check fails before the closure step would run it.
    set_repo_options(rule_runner, "--pex-cli-version=v2.1.137")
    write_app(rule_runner, "hello", 'pex_release(name="release", entry_point="main.py:main", version="1")')
    too_old = "needs pex 2.33.1 or newer (for `pex3 lock subset`), but Pants is set to use pex v2.1.137"
    with engine_error(PexTooOldError, contains=too_old):
        build(rule_runner, "src/python/hello")
    # publish, given a package built elsewhere, checks too before building its publisher tool.
    target = rule_runner.get_target(Address("src/python/hello", target_name="release"))
    request = PublishPexReleaseFieldSet.create(target)._request((BuiltPackage(EMPTY_DIGEST, ()),))
    with engine_error(PexTooOldError, contains=too_old):
        rule_runner.request(PublishProcesses, [request])


# -----------------------------------------------------------------------------------------------
# Bad input elsewhere, interpreter constraints and platforms
# -----------------------------------------------------------------------------------------------

NO_DEPS_APP = "def main():\n    print('hello')\n"


def test_a_bad_target_elsewhere_fails_only_itself(rule_runner: RuleRunner) -> None:
    write_app(rule_runner, "good", 'pex_release(name="release", entry_point="main.py:main", version="1")', NO_DEPS_APP)
    write_app(
        rule_runner, "typo", 'pex_release(name="release", entry_point="main.py:main", platforms=["linux-x86_64"])', NO_DEPS_APP
    )
    write_app(rule_runner, "elsewhere", 'pex_release(name="release", entry_point="main.py:main", resolve="nope")', NO_DEPS_APP)
    assert _manifest(rule_runner, build(rule_runner, "src/python/good"), "good").app == "good"
    with engine_error(InvalidFieldException, contains="The `platforms` field in target src/python/typo:release has 'linux-x86_64'"):
        build(rule_runner, "src/python/typo")
    with engine_error(UnrecognizedResolveNamesError, contains="the field `resolve` in the target src/python/elsewhere:release"):
        build(rule_runner, "src/python/elsewhere")


def test_a_platform_release_records_its_platforms_python(rule_runner: RuleRunner) -> None:
    write_app(
        rule_runner,
        "hello",
        'pex_release(name="release", entry_point="main.py:main", version="1", platforms=["manylinux2014_x86_64-cp-39-cp39"])',
        NO_DEPS_APP,
    )
    manifest = _manifest(rule_runner, build(rule_runner, "src/python/hello"), "hello")
    assert (manifest.platforms, manifest.interpreter_constraints) == (("manylinux2014_x86_64-cp-39-cp39",), ("CPython==3.9.*",))


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            'interpreter_constraints=["CPython==3.99.*"]',
            "The `interpreter_constraints` field in target src/python/hello:release is `CPython==3.99.*`, which matches no "
            "Python version Pants knows of (`[python].interpreter_versions_universe`: 2.7, 3.5,",
        ),
        (
            'platforms=["manylinux2014_x86_64-cp-39-cp39"], interpreter_constraints=["CPython==3.12.*"]',
            "The `interpreter_constraints` field in target src/python/hello:release is `CPython==3.12.*`, which does not "
            "include `CPython==3.9.*`, the Python of its platforms (manylinux2014_x86_64-cp-39-cp39)",
        ),
    ],
    ids=["no known Python", "contradicts the platforms"],
)
def test_bad_interpreter_constraints(rule_runner: RuleRunner, fields: str, message: str) -> None:
    write_app(rule_runner, "hello", f'pex_release(name="release", entry_point="main.py:main", version="1", {fields})')
    with engine_error(InvalidFieldException, contains=message):
        build(rule_runner, "src/python/hello")


def test_a_platform_the_lockfile_was_not_locked_for(rule_runner: RuleRunner) -> None:
    write_app(
        rule_runner,
        "hello",
        'pex_release(name="release", entry_point="main.py:main", version="1", platforms=["manylinux2014_x86_64-cp-39-cp39"])',
    )
    with pytest.raises(ExecutionError) as error:
        build(rule_runner, "src/python/hello")
    (underlying,) = error.value.wrapped_exceptions
    assert isinstance(underlying, ClosureLockError)
    assert _one_line(underlying) == (
        "The `pex_release` target src/python/hello:release cannot be built for its platforms "
        "(manylinux2014_x86_64-cp-39-cp39), whose Python is CPython==3.9.*: the lockfile of its resolve `python-default` "
        "(3rdparty/python/default.lock) is locked for CPython==3.12.* only, so its pins need not install there. "
        "To fix, build it from a resolve whose interpreter constraints cover CPython==3.9.*: e.g. a separate resolve "
        'for these apps, `py39 = "3rdparty/python/py39.lock"` in `[python.resolves]` and `py39 = ["CPython==3.9.*"]` in '
        "`[python.resolves_to_interpreter_constraints]`, then `./pants generate-lockfiles --resolve=py39` and "
        '`resolve="py39"` on the target; or widen the interpreter constraints of `python-default` and regenerate its lockfile.'
    )


# What pex 2.103.5 said when building click 8.5.1 (locked for CPython==3.12.*) for a cp39 platform.
PEX_REQUIRES_PYTHON_STDERR = b"""\
Failed to resolve compatible artifacts from lock __closure.lock for 1 target:
1. cp39-cp39-manylinux2014_x86_64:
    Failed to resolve all requirements for abbreviated platform cp39-cp39-manylinux2014_x86_64 from __closure.lock:

Configured with:
    build: False
    use_wheel: True

Dependency on click not satisfied, 1 incompatible candidate found:
1.) click 8.5.1 (via: click==8.5.1) requires Python >=3.10
"""


def test_requires_python_is_named_as_the_cause_in_a_real_build(rule_runner: RuleRunner) -> None:
    # With lockfile validation off, pex itself meets click's `requires-python`.
    set_repo_options(rule_runner, "--python-invalid-lockfile-behavior=ignore")
    write_app(
        rule_runner,
        "hello",
        'pex_release(name="release", entry_point="main.py:main", version="1", platforms=["manylinux2014_x86_64-cp-39-cp39"])',
    )
    with engine_error(
        InvalidFieldException,
        contains=(
            "The `pex_release` target src/python/hello:release cannot be built for its `platforms` / `complete_platforms` "
            "(manylinux2014_x86_64-cp-39-cp39): the lockfile of its resolve `python-default` pins versions their Python "
            "(CPython==3.9.*) cannot install: click 8.5.1 requires Python >=3.10. To fix,"
        ),
    ):
        build(rule_runner, "src/python/hello")


def test_requires_python_is_named_as_the_cause() -> None:
    failure = ProcessExecutionFailure(1, b"", PEX_REQUIRES_PYTHON_STDERR, "Building deps PEX", keep_sandboxes=KeepSandboxes.never)
    error = explain_deps_pex_failure(
        Address("src/python/hello", target_name="release"),
        "python-default",
        InterpreterConstraints(["CPython==3.9.*"]),
        ("manylinux2014_x86_64-cp-39-cp39",),
        failure,
    )
    assert isinstance(error, InvalidFieldException)
    headline, pex_said = str(error).split("\n\npex said:\n")
    assert headline.startswith(
        "The `pex_release` target src/python/hello:release cannot be built for its `platforms` / `complete_platforms` "
        "(manylinux2014_x86_64-cp-39-cp39): the lockfile of its resolve `python-default` pins versions their Python "
        "(CPython==3.9.*) cannot install: click 8.5.1 requires Python >=3.10. To fix, build it from a resolve whose "
        "interpreter constraints cover CPython==3.9.*"
    )
    assert "\n" not in headline  # one paragraph, without stray line breaks or indentation
    assert pex_said == PEX_REQUIRES_PYTHON_STDERR.decode().strip()


# A complete platform as `pex3 interpreter inspect --markers --tags` writes it, cut to a few tags.
CP39_COMPLETE_PLATFORM = {
    "path": "/usr/bin/python3.9",
    "compatible_tags": ["cp39-cp39-manylinux_2_17_x86_64", "cp39-abi3-manylinux_2_17_x86_64", "py39-none-any", "py3-none-any"],
    "marker_environment": {
        "implementation_name": "cpython",
        "implementation_version": "3.9.18",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "6.1.0",
        "platform_system": "Linux",
        "platform_version": "#1 SMP",
        "python_full_version": "3.9.18",
        "python_version": "3.9",
        "sys_platform": "linux",
    },
}


def test_a_complete_platform_release_records_what_it_targets(rule_runner: RuleRunner) -> None:
    platform_json = json.dumps(CP39_COMPLETE_PLATFORM, indent=2).encode()
    rule_runner.write_files({"src/python/hello/cp39.json": platform_json})
    write_app(
        rule_runner,
        "hello",
        'file(name="cp39", source="cp39.json")\n'
        'pex_release(name="release", entry_point="main.py:main", version="1", complete_platforms=[":cp39"])',
        NO_DEPS_APP,
    )
    manifest = _manifest(rule_runner, build(rule_runner, "src/python/hello"), "hello")
    assert manifest.complete_platforms == (
        CompletePlatform(
            file="src/python/hello/cp39.json",
            sha256=_sha256(platform_json),
            implementation="CPython",
            python_version="3.9.18",
            tag="cp39-cp39-manylinux_2_17_x86_64",
        ),
    )
    assert manifest.interpreter_constraints == ("CPython==3.9.*",)
    assert manifest.platform_tags == ("cp39-cp39-manylinux_2_17_x86_64",)


def _one_line(error: object) -> str:
    return " ".join(str(error).split())
