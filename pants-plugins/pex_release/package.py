# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`package` for `pex_release`: a deps PEX, a sources PEX and a release manifest per app."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import (
    ConsoleScript,
    EntryPoint,
    InterpreterConstraintsField,
    PexArgsField,
    PexCompletePlatformsField,
    PexEnvField,
    PexExecutionMode,
    PexExecutionModeField,
    PexLayout,
    PexScriptField,
    PythonResolveField,
)
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import (
    CompletePlatforms,
    Pex,
    PexPlatforms,
    PexRequest,
    PexRequirements,
    ReqStrings,
)
from pants.backend.python.util_rules.pex_cli import PexCli
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.addresses import Address
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    FileContent,
    FileEntry,
    MergeDigests,
    SymlinkEntry,
)
from pants.engine.process import Process, ProcessExecutionFailure, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import AllTargets, InvalidFieldException
from pants.engine.unions import UnionRule
from pants.option.global_options import NamedCachesDirOption
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap
from pex_release.closure import (
    CLOSURE_LOCK_PATH,
    ClosureLock,
    ClosureLockRequest,
    LockedDistribution,
    canonical_name,
    dumps,
    platform_resolve_fix,
)
from pex_release.entry_points import (
    CheckedEntryPoints,
    CheckedEntryPointsRequest,
    ReleaseEntryPoints,
    ReleaseEntryPointsRequest,
)
from pex_release.manifest import (
    AbbreviatedPlatform,
    CompletePlatform,
    DepsPex,
    Distribution,
    ReleaseManifest,
    ReleasePex,
    TreeFile,
    TreeSymlink,
)
from pex_release.pex_version import CheckedPexVersion
from pex_release.revision import SourceRevision
from pex_release.target_types import (
    PexReleaseAppField,
    PexReleaseEntryPointField,
    PexReleaseLayoutField,
    PexReleasePlatformsField,
    PexReleaseScriptsField,
    PexReleaseShebangField,
    PexReleaseSingleFileField,
    PexReleaseVersionField,
    check_entry_point_or_script,
)

RELEASES_DIR = "releases"


@dataclass(frozen=True)
class PexReleaseFieldSet(PackageFieldSet, RunFieldSet):
    required_fields = (PexReleaseAppField,)
    run_in_sandbox_behavior = RunInSandboxBehavior.RUN_REQUEST_HERMETIC

    app: PexReleaseAppField
    version: PexReleaseVersionField
    entry_point: PexReleaseEntryPointField
    script: PexScriptField
    scripts: PexReleaseScriptsField
    resolve: PythonResolveField
    interpreter_constraints: InterpreterConstraintsField
    platforms: PexReleasePlatformsField
    complete_platforms: PexCompletePlatformsField
    shebang: PexReleaseShebangField
    env: PexEnvField
    args: PexArgsField
    execution_mode: PexExecutionModeField
    layout: PexReleaseLayoutField
    single_file: PexReleaseSingleFileField

    @property
    def app_name(self) -> str:
        return self.app.value_or_default()

    def check(self) -> None:
        """The target's bad field values, raised when it is built (see target_types.py)."""
        for field in (self.app, self.version, self.scripts, self.platforms, self.shebang):
            field.check(self.address)
        check_entry_point_or_script(self.address, self.entry_point, self.script)

    def sources_pex_args(self) -> tuple[str, ...]:
        """pex options of the PEX that runs the app; the deps PEX stays app-neutral."""
        args = []
        if self.shebang.value is not None:
            args.append(f"--python-shebang={self.shebang.value}")
        if PexExecutionMode(self.execution_mode.value) is PexExecutionMode.VENV:
            args.extend(("--venv", "prepend"))
        return tuple(args)


# -----------------------------------------------------------------------------------------------
# The deps PEX, the sources PEX and the single-file PEX
# -----------------------------------------------------------------------------------------------

DEPS_PEX = "deps.pex"
SOURCES_PEX = "srcs.pex"
SINGLE_FILE_PEX = "app.pex"


@dataclass(frozen=True)
class DepsPexContents:
    """What the deps PEX holds, read from the built file by `inspect_pex.py`."""

    wheels: tuple[str, ...]  # The installed wheels' file names.
    console_scripts: FrozenDict[str, str]  # Script name -> entry point, over all distributions.


@rule(desc="Inspecting a deps PEX", level=LogLevel.DEBUG)
async def inspect_deps_pex(deps: Pex, python: PythonBuildStandaloneBinary) -> DepsPexContents:
    script = await Get(
        Digest,
        CreateDigest([FileContent("inspect_pex.py", importlib.resources.read_binary(__package__, "inspect_pex.py"))]),
    )
    result = await Get(
        ProcessResult,
        Process(
            argv=(python.path, "inspect_pex.py", deps.name),
            input_digest=await Get(Digest, MergeDigests([script, deps.digest])),
            description=f"Inspecting {deps.name}",
            level=LogLevel.DEBUG,
        ),
    )
    contents = json.loads(result.stdout)
    return DepsPexContents(
        wheels=tuple(contents["distributions"]), console_scripts=FrozenDict(contents["console_scripts"])
    )


def resolve_console_script(address: Address, script: ConsoleScript, contents: DepsPexContents) -> EntryPoint:
    entry_point = contents.console_scripts.get(script.name)
    if entry_point is None:
        raise InvalidFieldException(
            softwrap(
                f"""
                The `{PexScriptField.alias}` field of the `pex_release` target {address} is
                {script.name!r}, which no distribution in the app's closure provides (console
                scripts there: {', '.join(sorted(contents.console_scripts)) or 'none'}). To fix,
                add the requirement that provides it to `dependencies`, or use `entry_point`.
                """
            )
        )
    return EntryPoint.parse(entry_point)


@dataclass(frozen=True)
class ReleasePlan:
    """How one release's PEXes are built, with its deps PEX built (it decides the entry point of a
    `script`). The PEXes have fixed names (above), so equal inputs give equal process keys whatever
    the app."""

    deps: Pex
    deps_request: PexRequest
    sources_request: PexRequest
    single_file_request: PexRequest | None  # Always a zipapp.
    layout: PexLayout  # Of the deps PEX and the sources PEX.
    subset_key: str  # The deps PEX's identity.
    closure: ClosureLock | None  # None when the app has no third-party requirements.
    deps_contents: DepsPexContents
    interpreter_constraints: tuple[str, ...]
    complete_platforms: tuple[CompletePlatform, ...]
    main: EntryPoint  # A `script` is resolved to the entry point it names.
    entry_points: ReleaseEntryPoints


@dataclass(frozen=True)
class ReleasePexes:
    """The PEX files of one release."""

    plan: ReleasePlan
    sources: Pex
    single_file: Pex | None


def subset_key(closure: ClosureLock | None, build_options: dict) -> str:
    """The deps PEX's identity: its closure (names, versions, artifact hashes) plus every build
    option that changes its bytes."""
    return hashlib.sha256(
        dumps({"closure": closure.sha256 if closure else None, **build_options})
    ).hexdigest()


def explain_deps_pex_failure(
    address: Address,
    resolve: str,
    constraints: InterpreterConstraints,
    platforms: tuple[str, ...],
    failure: ProcessExecutionFailure,
) -> Exception:
    """The deps PEX build's failure in terms of the target's fields, when pex says which."""
    stderr = failure.stderr.decode(errors="replace")
    unsatisfied = sorted(set(re.findall(r"Dependency on (\S+) not satisfied", stderr)))
    # e.g. `1.) click 8.5.1 (via: click==8.5.1) requires Python >=3.10`
    too_new = sorted(set(re.findall(r"(\S+ \S+) \(via: [^\n]*?\) requires Python (\S+)", stderr)))
    if "No interpreter compatible with the requested constraints" in stderr:
        problem = f"""
            needs a Python interpreter matching its `{InterpreterConstraintsField.alias}`
            ({constraints}), and none was found. To fix, install one (e.g. with pyenv) where
            `[python-bootstrap].search_path` looks, or change the target's
            `{InterpreterConstraintsField.alias}`.
            """
    elif platforms and too_new:
        requires = ", ".join(f"{dist} requires Python {spec}" for dist, spec in too_new)
        problem = f"""
            cannot be built for its `platforms` / `complete_platforms` ({', '.join(platforms)}):
            the lockfile of its resolve `{resolve}` pins versions their Python ({constraints})
            cannot install: {requires}. {platform_resolve_fix(resolve, constraints)}
            """
    elif platforms and unsatisfied:
        problem = f"""
            cannot be built for its `platforms` / `complete_platforms` ({', '.join(platforms)}):
            the lockfile has no wheel of {', '.join(unsatisfied)} for them, and a foreign platform
            cannot build from source. To fix, drop those platforms, pin a version that publishes
            such wheels and run `./pants generate-lockfiles`, or build on a host of that platform.
            """
    else:
        return failure
    return InvalidFieldException(
        f"The `pex_release` target {address} {softwrap(problem)}\n\npex said:\n{stderr.strip()}"
    )


def check_interpreter_constraints(
    address: Address, field: InterpreterConstraintsField, python_setup: PythonSetup
) -> None:
    """Constraints that match no Python Pants knows of fail here, against the target, rather than in
    a Pants `ValueError` about `interpreter_versions_universe` that names no target."""
    constraints = InterpreterConstraints(field.value_or_global_default(python_setup))
    universe = python_setup.interpreter_versions_universe
    try:
        constraints.enumerate_python_versions(universe)
    except ValueError:
        origin = (
            f"The `{field.alias}` field in target {address} is"
            if field.value is not None
            else f"The `pex_release` target {address} has no `{field.alias}` field, and"
            " `[python].interpreter_constraints` is"
        )
        raise InvalidFieldException(
            softwrap(
                f"""
                {origin} `{constraints}`, which matches no Python version Pants knows of
                (`[python].interpreter_versions_universe`: {', '.join(universe)}). To fix, use
                constraints of a Python you build for, e.g. `["CPython==3.12.*"]`; if that Python is
                newer than Pants 2.17 knows, add its version to
                `[python].interpreter_versions_universe` in pants.toml.
                """
            )
        ) from None


def platform_interpreter_constraints(
    address: Address,
    field: InterpreterConstraintsField,
    platforms: Sequence[AbbreviatedPlatform | CompletePlatform],
    python_setup: PythonSetup,
) -> InterpreterConstraints | None:
    """The Pythons a release built for `platforms` runs on, e.g. `CPython==3.9.*` for
    `manylinux2014_x86_64-cp-39-cp39`; None without platforms (it runs on its constraints').

    A major.minor, not a patch version: the platform's wheels are tagged for every patch release
    (`cp39`), and pex's abbreviated `3.12.1` only steers environment markers at build time. The
    target's own `interpreter_constraints`, when set, must include them.
    """
    if not platforms:
        return None
    pythons = sorted({(p.implementation, p.python) for p in platforms})
    derived = InterpreterConstraints(f"{impl}=={major}.{minor}.*" for impl, (major, minor) in pythons)
    names = ", ".join(str(p) for p in platforms)
    universe = python_setup.interpreter_versions_universe
    unknown = sorted({f"{major}.{minor}" for _, (major, minor) in pythons} - set(universe))
    if unknown:
        raise InvalidFieldException(
            softwrap(
                f"""
                The `pex_release` target {address} is built for Python {', '.join(unknown)} (its
                platforms: {names}), which is not in `[python].interpreter_versions_universe`
                ({', '.join(universe)}). To fix, add {', '.join(repr(v) for v in unknown)} to
                `[python].interpreter_versions_universe` in pants.toml.
                """
            )
        )
    if field.value is not None and not InterpreterConstraints(field.value).contains(derived, universe):
        raise InvalidFieldException(
            softwrap(
                f"""
                The `{field.alias}` field in target {address} is
                `{InterpreterConstraints(field.value)}`, which does not include `{derived}`, the Python
                of its platforms ({names}): the release would record constraints it cannot run on.
                To fix, remove `{field.alias}` (a release built for platforms takes its constraints
                from them), or set it to `{list(str(c) for c in derived)}`.
                """
            )
        )
    return derived


@rule(desc="Planning the PEX files of a `pex_release`", level=LogLevel.DEBUG)
async def plan_release(field_set: PexReleaseFieldSet, python_setup: PythonSetup, pex_cli: PexCli) -> ReleasePlan:
    # Before any work: an old pex would otherwise fail later, and less clearly.
    await Get(CheckedPexVersion)
    address = field_set.address
    field_set.check()
    # Before anything resolves the target's dependencies, which checks these constraints too.
    check_interpreter_constraints(address, field_set.interpreter_constraints, python_setup)
    entry_points, complete_platforms = await MultiGet(
        Get(ReleaseEntryPoints, ReleaseEntryPointsRequest(field_set.entry_point, field_set.scripts)),
        Get(CompletePlatforms, PexCompletePlatformsField, field_set.complete_platforms),
    )
    complete_platform_files = await Get(DigestContents, Digest, complete_platforms.digest)
    try:
        complete_platform_summaries = tuple(
            CompletePlatform.from_json(f.path, f.content) for f in complete_platform_files
        )
    except ValueError as e:
        raise InvalidFieldException(
            f"The `{PexCompletePlatformsField.alias}` field in target {address} names a file that {e}"
        ) from None
    platforms = PexPlatforms.create_from_platforms_field(field_set.platforms)
    platform_constraints = platform_interpreter_constraints(
        address,
        field_set.interpreter_constraints,
        (*(AbbreviatedPlatform.parse(p) for p in platforms), *complete_platform_summaries),
        python_setup,
    )
    resolve = field_set.resolve.normalized_value(python_setup)
    await Get(CheckedEntryPoints, CheckedEntryPointsRequest(address, entry_points, resolve))

    layout = PexLayout(field_set.layout.value)
    # A tree's deps PEX holds the wheel files the lockfile pins, byte for byte: nothing to install or
    # re-zip at build time, and a wheel is one blob whichever app's release holds it.
    pre_install_wheels = layout is PexLayout.ZIPAPP
    common = dict(
        addresses=[address],
        internal_only=False,
        layout=layout,
        platforms=platforms,
        complete_platforms=complete_platforms,
        include_local_dists=False,
    )
    deps_request, sources_request = await MultiGet(
        Get(
            PexRequest,
            PexFromTargetsRequest(
                output_filename=DEPS_PEX, include_source_files=False, include_requirements=True, **common
            ),
        ),
        Get(
            PexRequest,
            PexFromTargetsRequest(
                output_filename=SOURCES_PEX,
                include_source_files=True,
                include_requirements=False,
                main=entry_points.main,
                inject_args=field_set.args.value or (),
                inject_env=field_set.env.value or FrozenDict(),
                additional_args=field_set.sources_pex_args(),
                description=f"Building sources PEX for {address}",
                warn_for_transitive_files_targets=True,
                **common,
            ),
        ),
    )
    if platform_constraints:
        # What the release runs on, so what the manifest records and the lockfile must cover.
        deps_request, sources_request = (
            dataclasses.replace(r, interpreter_constraints=platform_constraints)
            for r in (deps_request, sources_request)
        )

    req_strings = (await Get(ReqStrings, PexRequirements, deps_request.requirements)).req_strings
    closure = (
        await Get(
            ClosureLock,
            ClosureLockRequest(
                address,
                resolve,
                req_strings,
                deps_request.interpreter_constraints,
                platforms=(*platforms, *complete_platforms),
            ),
        )
        if req_strings
        else None
    )
    key = subset_key(
        closure,
        {
            "interpreter_constraints": [str(c) for c in deps_request.interpreter_constraints],
            "platforms": list(platforms),
            "complete_platforms": str(complete_platforms.digest.fingerprint),
            "layout": layout.value,
            "pre_install_wheels": pre_install_wheels,
            "pex": pex_cli.version,
        },
    )
    if not pre_install_wheels:
        deps_request = dataclasses.replace(
            deps_request, additional_args=(*deps_request.additional_args, "--no-pre-install-wheels")
        )
    if closure:
        # Built from the closure lock alone: no dependency on the whole lockfile.
        deps_request = dataclasses.replace(
            deps_request,
            requirements=PexRequirements(closure.pins),
            additional_inputs=await Get(
                Digest, MergeDigests([deps_request.additional_inputs, closure.digest])
            ),
            additional_args=(
                *deps_request.additional_args,
                "--lock",
                CLOSURE_LOCK_PATH,
                # A foreign platform cannot build an sdist; without this, pex builds it for the
                # local interpreter instead of failing.
                *(("--no-build",) if platforms or complete_platforms else ()),
            ),
            description=f"Building deps PEX {key[:12]} ({len(closure.pins)} distributions) for {address}",
        )
    else:
        deps_request = dataclasses.replace(deps_request, requirements=PexRequirements())
    try:
        deps = await Get(Pex, PexRequest, deps_request)
    except ProcessExecutionFailure as e:
        raise explain_deps_pex_failure(
            address, resolve, deps_request.interpreter_constraints, (*platforms, *complete_platforms), e
        ) from None

    deps_contents = await Get(DepsPexContents, Pex, deps)
    # The target's validate() makes sure exactly one of `entry_point` and `script` is set.
    main = entry_points.main or resolve_console_script(address, field_set.script.value, deps_contents)
    sources_request = dataclasses.replace(sources_request, main=main)
    single_file_request = (
        dataclasses.replace(
            sources_request,
            output_filename=SINGLE_FILE_PEX,
            layout=PexLayout.ZIPAPP,
            # A subset of the deps PEX, resolved from it: no second download or resolve. pex
            # installs the wheels of a `--no-pre-install-wheels` deps PEX for it.
            requirements=PexRequirements(closure.pins if closure else (), from_superset=deps),
            description=f"Building single-file PEX for {address}",
        )
        if field_set.single_file.value
        else None
    )
    return ReleasePlan(
        deps=deps,
        deps_request=deps_request,
        sources_request=sources_request,
        single_file_request=single_file_request,
        layout=layout,
        subset_key=key,
        closure=closure,
        deps_contents=deps_contents,
        interpreter_constraints=tuple(str(c) for c in deps_request.interpreter_constraints),
        complete_platforms=complete_platform_summaries,
        main=main,
        entry_points=entry_points,
    )


@rule(desc="Building the PEX files of a `pex_release`", level=LogLevel.DEBUG)
async def build_release_pexes(field_set: PexReleaseFieldSet) -> ReleasePexes:
    plan = await Get(ReleasePlan, PexReleaseFieldSet, field_set)
    sources, *single_file = await MultiGet(
        Get(Pex, PexRequest, request) for request in (plan.sources_request, plan.single_file_request) if request
    )
    return ReleasePexes(plan, sources, single_file[0] if single_file else None)


# -----------------------------------------------------------------------------------------------
# The release: files in dist/releases/ and the manifest
# -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PexReleaseApps:
    """Every `pex_release` target in the repository, by app name."""

    addresses_by_app: FrozenDict[str, tuple[Address, ...]]

    def check_unique(self, field_set: PexReleaseFieldSet) -> None:
        addresses = self.addresses_by_app.get(field_set.app_name, ())
        if len(addresses) > 1:
            raise InvalidFieldException(
                softwrap(
                    f"""
                    The `pex_release` targets {', '.join(str(a) for a in addresses)} all release
                    the app `{field_set.app_name}` (their `{PexReleaseAppField.alias}` field, which
                    defaults to the BUILD file's directory name). Apps must be unique in the
                    repository: to fix, set a distinct `{PexReleaseAppField.alias}` on each.
                    """
                )
            )


@rule
async def pex_release_apps(all_targets: AllTargets) -> PexReleaseApps:
    by_app: defaultdict[str, list[Address]] = defaultdict(list)
    for target in all_targets:
        if target.has_field(PexReleaseAppField):
            by_app[target[PexReleaseAppField].value_or_default()].append(target.address)
    return PexReleaseApps(FrozenDict((app, tuple(sorted(a))) for app, a in by_app.items()))


@dataclass(frozen=True)
class ReleaseFiles:
    """Where each PEX of a release goes in dist/. The deps PEX is named by its subset key, so
    apps that share it share one file."""

    app: str
    subset_key: str

    @property
    def deps(self) -> str:
        return f"deps-{self.subset_key[:16]}.pex"

    @property
    def sources(self) -> str:
        return f"{self.app}-srcs.pex"

    @property
    def single_file(self) -> str:
        return f"{self.app}.pex"

    @property
    def manifest(self) -> str:
        return f"{self.app}.release.json"

    def placed(self, built_path: str) -> str | None:
        """Where a file built under a fixed name (e.g. `deps.pex/PEX-INFO`) goes in dist/."""
        top, sep, rest = built_path.partition("/")
        names = {DEPS_PEX: self.deps, SOURCES_PEX: self.sources, SINGLE_FILE_PEX: self.single_file}
        return f"{RELEASES_DIR}/{names[top]}{sep}{rest}" if top in names else None


_Pex = TypeVar("_Pex", bound=ReleasePex)


def release_pex(cls: type[_Pex], file: str, layout: PexLayout, placed: DigestEntries, **extra: Any) -> _Pex:
    """The PEX `file` of dist/releases/, as the manifest describes it: a zipapp's sha256 and size, or
    a tree's files (mode from the executable bit, all Pants records) and symlinks."""
    prefix = f"{RELEASES_DIR}/{file}"
    if layout is PexLayout.ZIPAPP:
        (digest,) = (e.file_digest for e in placed if isinstance(e, FileEntry) and e.path == prefix)
        return cls(file, layout.value, digest.fingerprint, digest.serialized_bytes_length, **extra)
    files, symlinks = [], []
    for entry in placed:
        if not entry.path.startswith(prefix + "/"):
            continue
        path = entry.path[len(prefix) + 1 :]
        if isinstance(entry, FileEntry):
            digest = entry.file_digest
            mode = "0755" if entry.is_executable else "0644"
            files.append(TreeFile(path, digest.fingerprint, digest.serialized_bytes_length, mode))
        elif isinstance(entry, SymlinkEntry):
            symlinks.append(TreeSymlink(path, entry.target))
    return cls.tree(file, layout.value, tuple(files), tuple(symlinks), **extra)


class LockMismatchError(Exception):
    """A deps PEX holds a wheel whose bytes are not the artifact the lockfile pins."""


def check_deps_wheels(address: Address, deps: DepsPex, named_caches_dir: str) -> None:
    """Fails the build when a wheel of the deps tree is not the one the lockfile pins: what a
    corrupted copy in pex's download cache (which pex trusts by the lock's hash) would give."""
    mismatches = deps.wheel_mismatches()
    if not mismatches:
        return
    wheels = "; ".join(
        f"{path} has sha256 {actual}, the lockfile pins {locked}" for path, locked, actual in mismatches
    )
    caches = " ".join(f"{named_caches_dir}/pex_root/downloads/*/{locked}" for _, locked, _ in mismatches)
    raise LockMismatchError(
        softwrap(
            f"""
            The deps PEX {deps.file} of the `pex_release` target {address} holds wheels that are not
            the artifacts the lockfile pins: {wheels}. pex took them from its download cache (or
            Pants this deps PEX from its process cache, local or remote), and a copy there is
            damaged. To fix, delete pex's copies (`rm -r {caches}`) and build again without the
            process cache: `./pants --no-local-cache --no-remote-cache-read package {address}`.
            """
        )
    )


def manifest_distributions(wheels: tuple[str, ...], closure: ClosureLock | None) -> tuple[Distribution, ...]:
    """What the deps PEX holds, with the artifact the lockfile pins for each."""
    locked: dict[str, LockedDistribution] = {d.name: d for d in (closure.distributions if closure else ())}
    distributions = []
    for filename in wheels:
        name = canonical_name(filename.split("-", 1)[0])
        dist = locked[name]
        # A wheel pex built from an sdist is not in the lock; the sdist it came from is.
        (artifact, *_) = [a for a in dist.artifacts if a.filename == filename] or [
            a for a in dist.artifacts if not a.filename.endswith(".whl")
        ]
        distributions.append(
            Distribution(name=name, version=dist.version, sha256=artifact.sha256, file=artifact.filename)
        )
    return tuple(sorted(distributions, key=lambda d: d.name))


def release_version(field_set: PexReleaseFieldSet, revision: SourceRevision) -> str:
    version = field_set.version.value or revision.derived_version()
    if version is None:
        raise InvalidFieldException(
            softwrap(
                f"""
                The `pex_release` target {field_set.address} has no `{PexReleaseVersionField.alias}`
                and the source tree is not a git checkout with a commit to derive one from. To fix,
                set `{PexReleaseVersionField.alias}="1.0.0"` (any PEP 440 version) on the target.
                """
            )
        )
    return version


@rule(desc="Packaging a `pex_release`")
async def package_pex_release(
    field_set: PexReleaseFieldSet, apps: PexReleaseApps, named_caches: NamedCachesDirOption
) -> BuiltPackage:
    apps.check_unique(field_set)
    pexes, revision = await MultiGet(
        Get(ReleasePexes, PexReleaseFieldSet, field_set), Get(SourceRevision)
    )
    version = release_version(field_set, revision)
    plan = pexes.plan
    files = ReleaseFiles(field_set.app_name, plan.subset_key)
    built = await Get(
        Digest,
        MergeDigests(p.digest for p in (plan.deps, pexes.sources, pexes.single_file) if p),
    )
    entries = await Get(DigestEntries, Digest, built)
    placed_digest = await Get(
        Digest,
        CreateDigest(
            dataclasses.replace(e, path=files.placed(e.path)) for e in entries if files.placed(e.path)
        ),
    )
    placed = await Get(DigestEntries, Digest, placed_digest)

    deps = release_pex(
        DepsPex,
        files.deps,
        plan.layout,
        placed,
        subset_key=plan.subset_key,
        distributions=manifest_distributions(plan.deps_contents.wheels, plan.closure),
    )
    check_deps_wheels(field_set.address, deps, str(named_caches.val))
    entry_point = plan.main.spec
    manifest = ReleaseManifest(
        app=field_set.app_name,
        version=version,
        revision=revision.revision,
        entry_point=entry_point,
        scripts={name: ep.spec for name, ep in plan.entry_points.scripts},
        interpreter_constraints=plan.interpreter_constraints,
        platforms=tuple(field_set.platforms.value or ()),
        complete_platforms=plan.complete_platforms,
        env=dict(field_set.env.value or {}),
        args=tuple(field_set.args.value or ()),
        deps=deps,
        sources=release_pex(ReleasePex, files.sources, plan.layout, placed),
        single_file=(
            release_pex(ReleasePex, files.single_file, PexLayout.ZIPAPP, placed) if pexes.single_file else None
        ),
    )
    manifest_path = f"{RELEASES_DIR}/{files.manifest}"
    manifest_digest = await Get(Digest, CreateDigest([FileContent(manifest_path, manifest.dumps())]))
    digest = await Get(Digest, MergeDigests([placed_digest, manifest_digest]))

    def artifact(pex: ReleasePex, role: str) -> BuiltPackageArtifact:
        what = f"{len(pex.files):,} files, {pex.size:,} bytes" if pex.is_tree else f"{pex.size:,} bytes"
        return BuiltPackageArtifact(
            f"{RELEASES_DIR}/{pex.file}", extra_log_lines=(f"    {role}: {what}, sha256 {pex.sha256[:16]}",)
        )

    return BuiltPackage(
        digest,
        (
            artifact(manifest.deps, f"deps PEX of {manifest.app} ({len(manifest.deps.distributions)} distributions)"),
            artifact(manifest.sources, f"sources PEX of {manifest.app}"),
            *((artifact(manifest.single_file, f"single-file PEX of {manifest.app}"),) if manifest.single_file else ()),
            BuiltPackageArtifact(
                manifest_path, extra_log_lines=(f"    release {manifest.app} {manifest.version} ({manifest.revision})",)
            ),
        ),
    )


def rules():
    return [*collect_rules(), UnionRule(PackageFieldSet, PexReleaseFieldSet)]
