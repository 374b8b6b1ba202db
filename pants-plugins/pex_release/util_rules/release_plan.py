# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The release plan: how one `pex_release`'s PEX files are built, in named steps (its platforms,
the PEX requests Pants makes from the target, the deps PEX from the app's closure of the lockfile),
shared by `package`, `run` and `pex_release_image`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Sequence

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
from pants.core.goals.package import PackageFieldSet
from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, DigestContents, MergeDigests
from pants.engine.process import Process, ProcessExecutionFailure, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import InvalidFieldException
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap
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
    check_env_names,
)
from pex_release.util_rules.closure import (
    CLOSURE_LOCK_PATH,
    ClosureLock,
    ClosureLockRequest,
    dumps,
    platform_resolve_fix,
)
from pex_release.util_rules.entry_points import (
    CheckedEntryPoints,
    CheckedEntryPointsRequest,
    ReleaseEntryPoints,
    ReleaseEntryPointsRequest,
)
from pex_release.util_rules.pex_version import CheckedPexVersion
from pex_release.util_rules.sandbox_sources import program_sources
from pex_release_core.manifest import AbbreviatedPlatform, CompletePlatform


@dataclass(frozen=True)
class PexReleaseFieldSet(PackageFieldSet, RunFieldSet):
    """A `pex_release`'s fields, as `package`, `run` and `pex_release_image` read them. It lives with
    the plan, which takes it, below the goals that register it."""

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
        check_env_names(self.address, self.env)

    def sources_pex_args(self) -> tuple[str, ...]:
        """pex options of the PEX that runs the app; the deps PEX stays app-neutral."""
        args = []
        if self.shebang.value is not None:
            args.append(f"--python-shebang={self.shebang.value}")
        if PexExecutionMode(self.execution_mode.value) is PexExecutionMode.VENV:
            args.extend(("--venv", "prepend"))
        return tuple(args)



DEPS_PEX = "deps.pex"
SOURCES_PEX = "srcs.pex"
SINGLE_FILE_PEX = "app.pex"


_INSPECT_PEX = "pex_release.sandbox.inspect_pex"


@dataclass(frozen=True)
class DepsPexContents:
    """What the deps PEX holds, read from the built file by the `inspect_pex` program."""

    wheels: tuple[str, ...]  # The installed wheels' file names.
    console_scripts: FrozenDict[str, str]  # Script name -> entry point, over all distributions.


@rule(desc="Inspecting a deps PEX", level=LogLevel.DEBUG)
async def inspect_deps_pex(deps: Pex, python: PythonBuildStandaloneBinary) -> DepsPexContents:
    script = await Get(Digest, CreateDigest, program_sources(_INSPECT_PEX))
    result = await Get(
        ProcessResult,
        Process(
            argv=(python.path, "-m", _INSPECT_PEX, deps.name),
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


# -----------------------------------------------------------------------------------------------
# The plan's steps: the fields' checks, the platforms, the PEX requests, the deps PEX
# -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleasePlatforms:
    """The platforms a release is built for (none: this host's), and the Pythons they run."""

    platforms: PexPlatforms
    complete_platforms: CompletePlatforms
    complete_platform_summaries: tuple[CompletePlatform, ...]  # What the manifest records of each file.
    interpreter_constraints: InterpreterConstraints | None  # None: the target's own constraints.

    @property
    def names(self) -> tuple[str, ...]:
        """Every platform, abbreviated or a complete platform's file, for pex and for messages."""
        return (*self.platforms, *self.complete_platforms)


@rule(desc="Reading the platforms of a `pex_release`", level=LogLevel.DEBUG)
async def release_platforms(field_set: PexReleaseFieldSet, python_setup: PythonSetup) -> ReleasePlatforms:
    address = field_set.address
    complete_platforms = await Get(CompletePlatforms, PexCompletePlatformsField, field_set.complete_platforms)
    complete_platform_files = await Get(DigestContents, Digest, complete_platforms.digest)
    try:
        summaries = tuple(CompletePlatform.from_json(f.path, f.content) for f in complete_platform_files)
    except ValueError as e:
        raise InvalidFieldException(
            f"The `{PexCompletePlatformsField.alias}` field in target {address} names a file that {e}"
        ) from None
    platforms = PexPlatforms.create_from_platforms_field(field_set.platforms)
    constraints = platform_interpreter_constraints(
        address,
        field_set.interpreter_constraints,
        (*(AbbreviatedPlatform.parse(p) for p in platforms), *summaries),
        python_setup,
    )
    return ReleasePlatforms(platforms, complete_platforms, summaries, constraints)


@dataclass(frozen=True)
class ReleasePexRequestsRequest:
    field_set: PexReleaseFieldSet
    platforms: ReleasePlatforms
    entry_points: ReleaseEntryPoints


@dataclass(frozen=True)
class ReleasePexRequests:
    """The deps PEX's and the sources PEX's requests as Pants makes them from the target: the deps
    PEX's still resolves from the whole lockfile, the sources PEX's has the `entry_point` (none yet
    for a `script`)."""

    deps: PexRequest
    sources: PexRequest


@rule(desc="Making the PEX requests of a `pex_release`", level=LogLevel.DEBUG)
async def release_pex_requests(request: ReleasePexRequestsRequest) -> ReleasePexRequests:
    field_set, platforms = request.field_set, request.platforms
    common = dict(
        addresses=[field_set.address],
        internal_only=False,
        layout=PexLayout(field_set.layout.value),
        platforms=platforms.platforms,
        complete_platforms=platforms.complete_platforms,
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
                main=request.entry_points.main,
                inject_args=field_set.args.value or (),
                inject_env=field_set.env.value or FrozenDict(),
                additional_args=field_set.sources_pex_args(),
                description=f"Building sources PEX for {field_set.address}",
                warn_for_transitive_files_targets=True,
                **common,
            ),
        ),
    )
    if platforms.interpreter_constraints:
        # What the release runs on, so what the manifest records and the lockfile must cover.
        deps_request, sources_request = (
            dataclasses.replace(r, interpreter_constraints=platforms.interpreter_constraints)
            for r in (deps_request, sources_request)
        )
    return ReleasePexRequests(deps_request, sources_request)


@dataclass(frozen=True)
class ReleaseDepsRequest:
    address: Address
    resolve: str
    deps_request: PexRequest  # As Pants makes it: resolved from the whole lockfile.
    platforms: ReleasePlatforms
    layout: PexLayout


@dataclass(frozen=True)
class ReleaseDeps:
    """The deps PEX, built from the app's closure of the lockfile alone, and what it holds."""

    pex: Pex
    request: PexRequest
    subset_key: str
    closure: ClosureLock | None  # None when the app has no third-party requirements.
    contents: DepsPexContents


@rule(desc="Building the deps PEX of a `pex_release`", level=LogLevel.DEBUG)
async def release_deps(request: ReleaseDepsRequest, pex_cli: PexCli) -> ReleaseDeps:
    address, platforms, layout, deps_request = request.address, request.platforms, request.layout, request.deps_request
    # A tree's deps PEX holds the wheel files the lockfile pins, byte for byte: nothing to install or
    # re-zip at build time, and a wheel is one blob whichever app's release holds it.
    pre_install_wheels = layout is PexLayout.ZIPAPP
    req_strings = (await Get(ReqStrings, PexRequirements, deps_request.requirements)).req_strings
    closure = (
        await Get(
            ClosureLock,
            ClosureLockRequest(
                address,
                request.resolve,
                req_strings,
                deps_request.interpreter_constraints,
                platforms=platforms.names,
            ),
        )
        if req_strings
        else None
    )
    key = subset_key(
        closure,
        {
            "interpreter_constraints": [str(c) for c in deps_request.interpreter_constraints],
            "platforms": list(platforms.platforms),
            "complete_platforms": str(platforms.complete_platforms.digest.fingerprint),
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
                *(("--no-build",) if platforms.names else ()),
            ),
            description=f"Building deps PEX {key[:12]} ({len(closure.pins)} distributions) for {address}",
        )
    else:
        deps_request = dataclasses.replace(deps_request, requirements=PexRequirements())
    try:
        deps = await Get(Pex, PexRequest, deps_request)
    except ProcessExecutionFailure as e:
        raise explain_deps_pex_failure(
            address, request.resolve, deps_request.interpreter_constraints, platforms.names, e
        ) from None
    contents = await Get(DepsPexContents, Pex, deps)
    return ReleaseDeps(deps, deps_request, key, closure, contents)


# -----------------------------------------------------------------------------------------------
# The plan
# -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedRelease:
    """A `pex_release` whose fields passed the checks that build nothing, with its resolve's name."""

    resolve: str


@rule(desc="Checking the fields of a `pex_release`", level=LogLevel.DEBUG)
async def check_release(field_set: PexReleaseFieldSet, python_setup: PythonSetup) -> CheckedRelease:
    # Before any work: an old pex would otherwise fail later, and less clearly.
    await Get(CheckedPexVersion)
    field_set.check()
    # Before anything resolves the target's dependencies, which checks these constraints too.
    check_interpreter_constraints(field_set.address, field_set.interpreter_constraints, python_setup)
    return CheckedRelease(resolve=field_set.resolve.normalized_value(python_setup))


@rule(desc="Planning the PEX files of a `pex_release`", level=LogLevel.DEBUG)
async def plan_release(field_set: PexReleaseFieldSet) -> ReleasePlan:
    address = field_set.address
    resolve = (await Get(CheckedRelease, PexReleaseFieldSet, field_set)).resolve
    entry_points, platforms = await MultiGet(
        Get(ReleaseEntryPoints, ReleaseEntryPointsRequest(field_set.entry_point, field_set.scripts)),
        Get(ReleasePlatforms, PexReleaseFieldSet, field_set),
    )
    await Get(CheckedEntryPoints, CheckedEntryPointsRequest(address, entry_points, resolve))
    layout = PexLayout(field_set.layout.value)
    requests = await Get(ReleasePexRequests, ReleasePexRequestsRequest(field_set, platforms, entry_points))
    deps = await Get(ReleaseDeps, ReleaseDepsRequest(address, resolve, requests.deps, platforms, layout))
    # The target's validate() makes sure exactly one of `entry_point` and `script` is set.
    main = entry_points.main or resolve_console_script(address, field_set.script.value, deps.contents)
    sources_request = dataclasses.replace(requests.sources, main=main)
    single_file_request = (
        dataclasses.replace(
            sources_request,
            output_filename=SINGLE_FILE_PEX,
            layout=PexLayout.ZIPAPP,
            # A subset of the deps PEX, resolved from it: no second download or resolve. pex
            # installs the wheels of a `--no-pre-install-wheels` deps PEX for it.
            requirements=PexRequirements(deps.closure.pins if deps.closure else (), from_superset=deps.pex),
            description=f"Building single-file PEX for {address}",
        )
        if field_set.single_file.value
        else None
    )
    return ReleasePlan(
        deps=deps.pex,
        deps_request=deps.request,
        sources_request=sources_request,
        single_file_request=single_file_request,
        layout=layout,
        subset_key=deps.subset_key,
        closure=deps.closure,
        deps_contents=deps.contents,
        interpreter_constraints=tuple(str(c) for c in deps.request.interpreter_constraints),
        complete_platforms=platforms.complete_platform_summaries,
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



def rules():
    return collect_rules()
