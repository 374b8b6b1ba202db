# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import zipfile
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
from pex_release.conftest import CLI_APP, make_rule_runner, requirement, set_repo_options
from pex_release.goals.package import LockMismatchError
from pex_release.goals.publish import PublishPexReleaseFieldSet
from pex_release.util_rules.closure import ClosureLockError
from pex_release.util_rules.pex_version import PexTooOldError
from pex_release.util_rules.release_plan import PexReleaseFieldSet, explain_deps_pex_failure
from pex_release_core.manifest import Blob, CompletePlatform, Distribution, ReleaseManifest, ReleasePex, TreeFile, TreeSymlink
from pex_release_core.testutil import python312


def build(rule_runner: RuleRunner, spec_path: str, name: str = "release") -> BuiltPackage:
    target = rule_runner.get_target(Address(spec_path, target_name=name))
    return rule_runner.request(BuiltPackage, [PexReleaseFieldSet.create(target)])


def write_app(rule_runner: RuleRunner, path: str, release: str, code: str = CLI_APP) -> None:
    rule_runner.write_files(
        {f"src/python/{path}/main.py": code, f"src/python/{path}/BUILD": f"python_sources()\n{release}"}
    )


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
        "releases/hello.cdx.json",
        manifest_path,
    ]
    manifest = ReleaseManifest.loads(_read(rule_runner, built, manifest_path), origin=manifest_path)
    # The SBOM, which the manifest names by sha256: the app, and the deps PEX's one distribution.
    sbom = _read(rule_runner, built, "releases/hello.cdx.json")
    assert manifest.sbom == Blob("hello.cdx.json", hashlib.sha256(sbom).hexdigest(), len(sbom))
    document = json.loads(sbom)
    assert (document["specVersion"], document["metadata"]["component"]["name"]) == ("1.6", "hello")
    assert [(c["purl"], c["hashes"][0]["content"]) for c in document["components"]] == [
        ("pkg:pypi/click@8.5.1", CLICK_WHEEL_SHA256)
    ]
    assert manifest.schema == 2
    assert (manifest.app, manifest.version, manifest.entry_point) == ("hello", "2.0.1", "hello.main:main")
    assert manifest.scripts == {"shout": "hello.main:shout"}
    assert manifest.interpreter_constraints == ("CPython==3.12.*",)
    assert (manifest.env, manifest.args) == ({"GREETING": "hi"}, ("world",))
    assert manifest.deps.distributions == (Distribution("click", "8.5.1", CLICK_WHEEL_SHA256, CLICK_WHEEL),)
    assert manifest.deps.file == f"deps-{manifest.deps.subset_key[:16]}.pex"

    # Packed trees: the deps PEX holds the wheel file the lockfile pins, and pex's bootstrap is one
    # file, the same in both PEXes.
    assert (manifest.deps.layout, manifest.sources.layout) == ("packed", "packed")
    deps_files = {f.path: f for f in manifest.deps.files}
    assert deps_files[f".deps/{CLICK_WHEEL}"].sha256 == CLICK_WHEEL_SHA256
    assert deps_files[".bootstrap"] == {f.path: f for f in manifest.sources.files}[".bootstrap"]
    assert {f.path for f in manifest.sources.files} >= {"hello/main.py", "PEX-INFO", "__main__.py"}
    assert TreeSymlink("pex", "__main__.py") in manifest.sources.symlinks

    # The trees are what the manifest says, and they run.
    rule_runner.write_digest(built.digest, path_prefix="dist")
    releases = Path(rule_runner.build_root, "dist/releases")
    for pex in manifest.pexes:
        assert_matches_manifest(releases, pex)
    env = {"PEX_PATH": str(releases / manifest.deps.file), "PATH": os.environ["PATH"]}
    run = subprocess.run([python312(), releases / "hello-srcs.pex"], env=env, capture_output=True, text=True)
    assert run.stdout == "hello world from pex\n", run.stderr  # a packed PEX runs through its `pex` script
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
    assert (manifest.single_file.layout, manifest.deps.layout) == ("zipapp", "packed")
    rule_runner.write_digest(built.digest, path_prefix="dist")
    releases = Path(rule_runner.build_root, "dist/releases")
    assert_matches_manifest(releases, manifest.single_file)
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


def test_outside_git_a_release_without_version_fails_before_it_builds(
    rule_runner: RuleRunner, caplog: pytest.LogCaptureFixture
) -> None:
    # The rule runner's build root is no git checkout. The entry point is wrong too: that error would
    # come from planning the build, so the version's coming first shows nothing was built before it.
    write_app(rule_runner, "hello", 'pex_release(name="release", entry_point="hello.nope:main")')
    with caplog.at_level(logging.INFO), engine_error(
        InvalidFieldException,
        contains="has no `version` and the source tree is not a git checkout with a commit to derive one from",
    ):
        build(rule_runner, "src/python/hello")
    # Pants' git rule, not asked outside a checkout, logs no exception repr.
    assert not [r for r in caplog.records if "GitBinaryException" in r.getMessage()], caplog.text


# example-python's helloworld/main.py: a say_hello() that its `__main__` block calls.
HELLO_WORLD = "def say_hello():\n    print('Hello, World!')\n\n\nif __name__ == '__main__':\n    say_hello()\n"


@pytest.mark.parametrize(
    "entry_point, message",
    [
        (
            "main.py:main",
            "The `entry_point` field of the `pex_release` target src/python/hello:release runs `hello.main:main`: "
            "the module `hello.main` (src/python/hello/main.py) is read without running it, "
            "which does not define `main` (it defines `say_hello`). It runs as a script "
            '(`if __name__ == "__main__":`): to run it so, set `entry_point="main.py"`.',
        ),
        ("main.py:say_helo", "which does not define `say_helo` (it defines `say_hello`). Did you mean `say_hello`?"),
    ],
)
def test_an_entry_point_function_its_module_does_not_define_fails_the_package(
    rule_runner: RuleRunner, entry_point: str, message: str
) -> None:
    write_app(rule_runner, "hello", f'pex_release(name="release", entry_point="{entry_point}", version="1")', HELLO_WORLD)
    with engine_error(InvalidFieldException, contains=message):
        build(rule_runner, "src/python/hello")


def test_entry_points_the_syntax_tree_cannot_rule_out_are_packaged(rule_runner: RuleRunner) -> None:
    # A name a star import may bring, a script of `scripts`, and the module run as a script.
    write_app(
        rule_runner,
        "hello",
        'pex_release(name="release", entry_point="main.py", version="1", scripts={"hello-star": "star.py:anything"})',
        HELLO_WORLD,
    )
    rule_runner.write_files({"src/python/hello/star.py": "from os.path import *\n"})
    manifest = _manifest(rule_runner, build(rule_runner, "src/python/hello"), "hello")
    assert (manifest.entry_point, dict(manifest.scripts)) == ("hello.main", {"hello-star": "hello.star:anything"})


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


# click's wheel in the repository's lockfile.
CLICK_WHEEL = "click-8.5.1-py3-none-any.whl"
CLICK_WHEEL_SHA256 = "8bb5376d2006950386f8c6427613334a2acadc5f559cb80e638d00b4df957e37"


def assert_matches_manifest(releases: Path, pex: ReleasePex) -> None:
    """The file or tree in dist/releases/ holds exactly what the manifest lists, byte for byte."""
    path = releases / pex.file
    if not pex.is_tree:
        data = path.read_bytes()
        assert (len(data), _sha256(data)) == (pex.size, pex.sha256)
        return
    on_disk = sorted(p for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
    assert [str(p.relative_to(path)) for p in on_disk] == sorted([*(f.path for f in pex.files), *(s.path for s in pex.symlinks)])
    for f in pex.files:
        data = (path / f.path).read_bytes()
        mode = "0755" if os.access(path / f.path, os.X_OK) else "0644"
        assert TreeFile(f.path, _sha256(data), len(data), mode) == f
    for link in pex.symlinks:
        assert os.readlink(path / link.path) == link.target


def test_zipapp_layout_release_is_one_file_per_pex(rule_runner: RuleRunner) -> None:
    write_app(
        rule_runner,
        "hello",
        'pex_release(name="release", entry_point="main.py:main", version="1", layout="zipapp")',
    )
    built = build(rule_runner, "src/python/hello")
    manifest = _manifest(rule_runner, built, "hello")
    assert (manifest.deps.layout, manifest.sources.layout) == ("zipapp", "zipapp")
    assert not (manifest.deps.files or manifest.sources.files)
    rule_runner.write_digest(built.digest, path_prefix="dist")
    releases = Path(rule_runner.build_root, "dist/releases")
    for pex in manifest.pexes:
        assert_matches_manifest(releases, pex)
    # Wheels are installed at build time in a zipapp: `.deps/<wheel>/` is a directory in the zip.
    with zipfile.ZipFile(releases / manifest.deps.file) as deps:
        assert f".deps/{CLICK_WHEEL}/click/__init__.py" in deps.namelist()
    run = subprocess.run(
        [python312(), releases / manifest.sources.file, "zipapp"],
        env={"PEX_PATH": str(releases / manifest.deps.file), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
    )
    assert run.stdout == "hello zipapp from hello-srcs.pex\n", run.stderr
    # A zipapp deps PEX is another build than a packed one: another subset key, another name.
    write_app(rule_runner, "packed", 'pex_release(name="release", entry_point="main.py:main", version="1")')
    packed = _manifest(rule_runner, build(rule_runner, "src/python/packed"), "packed")
    assert packed.deps.subset_key != manifest.deps.subset_key


def test_a_wheel_that_is_not_the_locked_artifact_fails_the_build(tmp_path: Path) -> None:
    # pex trusts its download cache by the lock's hash: damage click's copy there, and the deps tree
    # holds a wheel the lockfile does not pin. Own caches, so no other build sees the damage: hard
    # links to the machine's pex cache (what is downloaded once need not be again), and a new file
    # for the copy that is damaged.
    named_caches = tmp_path / "named_caches"
    machine_pex_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "pants/named_caches/pex_root")
    # An entry that other builds move while it is copied is left out, and downloaded again.
    with contextlib.suppress(shutil.Error, FileNotFoundError):
        shutil.copytree(machine_pex_root, named_caches / "pex_root", symlinks=True, copy_function=os.link, ignore=shutil.ignore_patterns("*.lck"))
    first = make_rule_runner(str(named_caches), isolated_local_store=True)
    write_app(first, "hello", 'pex_release(name="release", entry_point="main.py:main", version="1")')
    build(first, "src/python/hello")
    (cached,) = named_caches.glob(f"pex_root/downloads/*/{CLICK_WHEEL_SHA256}/{CLICK_WHEEL}")
    unlinked = cached.with_name(f"{cached.name}.damaged")
    shutil.copyfile(cached, unlinked)
    with zipfile.ZipFile(unlinked, "a") as wheel:
        wheel.writestr("click/extra.py", "print('not what the lockfile pins')\n")
    unlinked.replace(cached)
    damaged = _sha256(cached.read_bytes())

    second = make_rule_runner(str(named_caches), isolated_local_store=True)
    write_app(second, "hello", 'pex_release(name="release", entry_point="main.py:main", version="1")')
    with pytest.raises(ExecutionError) as error:
        build(second, "src/python/hello")
    (underlying,) = error.value.wrapped_exceptions
    assert isinstance(underlying, LockMismatchError)
    message = _one_line(underlying)
    assert message.startswith("The deps PEX deps-"), message
    assert (
        f"of the `pex_release` target src/python/hello:release holds wheels that are not the artifacts the lockfile "
        f"pins: .deps/{CLICK_WHEEL} has sha256 {damaged}, the lockfile pins {CLICK_WHEEL_SHA256}. "
    ) in message
    assert (
        f"To fix, delete pex's copies (`rm -r {named_caches}/pex_root/downloads/*/{CLICK_WHEEL_SHA256}`) and build "
        "again without the process cache: `./pants --no-local-cache --no-remote-cache-read package "
        "src/python/hello:release`."
    ) in message


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
