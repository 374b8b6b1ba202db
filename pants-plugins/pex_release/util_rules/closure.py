# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""An app's resolved closure: the part of the shared lockfile that its requirements pull in.

The deps PEX is built from a *closure lockfile* holding only that part, so its build (and its
process cache key) depends on the closure, not on the whole lockfile: a lockfile edit outside
the closure rebuilds nothing, and apps with equal closures share one deps PEX.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Iterable

from pants.backend.python.subsystems.setup import InvalidLockfileBehavior, PythonSetup
from pants.backend.python.util_rules import pex_cli
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_cli import PexCli, PexCliProcess
from pants.backend.python.util_rules.pex_requirements import (
    LoadedLockfile,
    LoadedLockfileRequest,
    Lockfile,
    Resolve,
    ResolvePexConfig,
    ResolvePexConfigRequest,
    validate_metadata,
)
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, DigestContents, FileContent
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.strutil import softwrap
from pex_release.util_rules.pex_version import MINIMUM_PEX_VERSION

logger = logging.getLogger(__name__)

CLOSURE_LOCK_PATH = "__closure.lock"

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class ClosureLockError(Exception):
    """The lockfile cannot provide an app's requirements."""


def canonical_name(name: str) -> str:
    # PEP 503 normalization: lockfile `project_name`s are canonical, `requires_dists` are raw.
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if not match:
        raise ValueError(f"Not a PEP 508 requirement: {requirement!r}")
    return canonical_name(match.group(1))


def dumps(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def prefilter_lock(lock: dict, req_strings: Iterable[str]) -> tuple[dict, tuple[str, ...]]:
    """A lock holding every project reachable by name from `req_strings`, and the names it lacks.

    A superset of the closure: it follows every `requires_dists` edge, ignoring markers and
    extras, so pex still decides the exact closure. Projects that cannot be reached are dropped,
    which is what keeps an unrelated lockfile edit from changing this lock's bytes.
    """
    req_strings = sorted(req_strings)
    by_name = {
        canonical_name(locked["project_name"]): locked
        for resolve in lock["locked_resolves"]
        for locked in resolve["locked_requirements"]
    }
    top_level = [requirement_name(r) for r in req_strings]
    missing = tuple(sorted({name for name in top_level if name not in by_name}))
    keep: set[str] = set()
    todo = list(top_level)
    while todo:
        name = todo.pop()
        if name in keep or name not in by_name:
            continue
        keep.add(name)
        todo.extend(requirement_name(dist) for dist in by_name[name].get("requires_dists", ()))
    candidate = dict(
        lock,
        requirements=req_strings,
        locked_resolves=[
            dict(
                resolve,
                locked_requirements=[
                    locked
                    for locked in resolve["locked_requirements"]
                    if canonical_name(locked["project_name"]) in keep
                ],
            )
            for resolve in lock["locked_resolves"]
        ],
    )
    return candidate, missing


@dataclass(frozen=True, order=True)
class LockedArtifact:
    filename: str
    sha256: str


@dataclass(frozen=True)
class LockedDistribution:
    name: str
    version: str
    artifacts: tuple[LockedArtifact, ...]

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


def locked_distributions(lock: dict) -> tuple[LockedDistribution, ...]:
    distributions = {}
    for resolve in lock["locked_resolves"]:
        for locked in resolve["locked_requirements"]:
            name = canonical_name(locked["project_name"])
            artifacts = tuple(
                sorted(
                    LockedArtifact(filename=a["url"].rsplit("/", 1)[-1], sha256=a["hash"])
                    for a in locked["artifacts"]
                    if a.get("algorithm") == "sha256"
                )
            )
            distributions[name] = LockedDistribution(name, locked["version"], artifacts)
    return tuple(distributions[name] for name in sorted(distributions))


def normalize_closure_lock(subset: dict) -> tuple[bytes, tuple[LockedDistribution, ...]]:
    """The closure lock's canonical bytes: its `requirements` become the sorted pins.

    Apps that list their requirements differently but resolve to the same closure thus get
    byte-identical closure locks, and so share a deps PEX.
    """
    distributions = locked_distributions(subset)
    return dumps(dict(subset, requirements=[d.pin for d in distributions])), distributions


@dataclass(frozen=True)
class ClosureLockRequest:
    address: Address  # Whose requirements these are, for error messages.
    resolve: str
    req_strings: tuple[str, ...]
    interpreter_constraints: InterpreterConstraints
    # The `platforms` / `complete_platforms` these constraints come from, if any, for messages.
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClosureLock:
    """A pex lockfile (at `CLOSURE_LOCK_PATH` in `digest`) holding exactly an app's closure."""

    digest: Digest
    sha256: str
    distributions: tuple[LockedDistribution, ...]

    @property
    def pins(self) -> tuple[str, ...]:
        return tuple(d.pin for d in self.distributions)


def _fix_lockfile(resolve: str) -> str:
    return f"To fix, run `./pants generate-lockfiles --resolve={resolve}` and commit the lockfile."


# What `pex3 lock subset` prints when the lock cannot satisfy a requirement (pex 2.33 and later).
_UNSATISFIED = re.compile(r"^(There is no lock entry for \S+|The locked version of \S+ .* does not satisfy) ", re.M)


def explain_subset_failure(request: ClosureLockRequest, lockfile_url: str, pex_version: str, stderr: str) -> str:
    """Why `pex3 lock subset` failed, from what pex said: only an unsatisfied requirement is a
    stale lockfile; a pex without the subcommand is too old; anything else is shown as is."""
    requirements = f"the requirements of the `pex_release` target {request.address} ({', '.join(sorted(request.req_strings))})"
    if "invalid choice: 'subset'" in stderr:
        problem = f"""
            The pex tool Pants runs has no `pex3 lock subset`, which resolving {requirements}
            needs: it is older than pex {MINIMUM_PEX_VERSION}, although `[pex-cli].version` is
            {pex_version}. To fix, point `[pex-cli].known_versions` / `url_template` at a pex
            {pex_version} file (`./pants help-advanced pex-cli`).
            """
    elif _UNSATISFIED.search(stderr):
        problem = f"""
            The lockfile {lockfile_url} (resolve `{request.resolve}`) cannot satisfy
            {requirements}: the lockfile is stale. {_fix_lockfile(request.resolve)}
            """
    else:
        problem = f"`pex3 lock subset` failed on {lockfile_url} (resolve `{request.resolve}`) for {requirements}."
    return softwrap(problem) + "\n\npex said:\n" + stderr.strip()


def platform_resolve_fix(resolve: str, constraints: InterpreterConstraints) -> str:
    """How to build for platforms whose Python the resolve's lockfile was not locked for."""
    # e.g. `py39` for `CPython==3.9.*`
    new_resolve = "-".join("py" + "".join(ch for ch in str(c) if ch.isdigit()) for c in constraints)
    return softwrap(
        f"""
        To fix, build it from a resolve whose interpreter constraints cover {constraints}: e.g. a
        separate resolve for these apps, `{new_resolve} = "3rdparty/python/{new_resolve}.lock"` in
        `[python.resolves]` and `{new_resolve} = {json.dumps([str(c) for c in constraints])}` in
        `[python.resolves_to_interpreter_constraints]`, then `./pants generate-lockfiles
        --resolve={new_resolve}` and `resolve="{new_resolve}"` on the target; or widen the
        interpreter constraints of `{resolve}` and regenerate its lockfile.
        """
    )


@rule(desc="Resolving an app's closure from the lockfile")
async def closure_lock(request: ClosureLockRequest, python_setup: PythonSetup, pex: PexCli) -> ClosureLock:
    lockfile = await Get(Lockfile, Resolve(request.resolve, use_entire_lockfile=False))
    loaded, resolve_config = await MultiGet(
        Get(LoadedLockfile, LoadedLockfileRequest(lockfile)),
        Get(ResolvePexConfig, ResolvePexConfigRequest(request.resolve)),
    )
    if loaded.metadata:
        locked_for = loaded.metadata.valid_for_interpreter_constraints
        universe = python_setup.interpreter_versions_universe
        if (
            request.platforms
            and python_setup.invalid_lockfile_behavior is InvalidLockfileBehavior.error
            and not locked_for.contains(request.interpreter_constraints, universe)
        ):
            raise ClosureLockError(
                softwrap(
                    f"""
                    The `pex_release` target {request.address} cannot be built for its platforms
                    ({', '.join(request.platforms)}), whose Python is {request.interpreter_constraints}:
                    the lockfile of its resolve `{request.resolve}` ({lockfile.url}) is locked for
                    {locked_for} only, so its pins need not install there.
                    {platform_resolve_fix(request.resolve, request.interpreter_constraints)}
                    """
                )
            )
        # Pants never sees the closure lock, so validate the real one as Pants would.
        validate_metadata(
            loaded.metadata,
            request.interpreter_constraints,
            loaded.original_lockfile,
            consumed_req_strings=request.req_strings,
            validate_consumed_req_strings=False,
            python_setup=python_setup,
            resolve_config=resolve_config,
        )
    (lock_content,) = await Get(DigestContents, Digest, loaded.lockfile_digest)
    try:
        lock = json.loads(lock_content.content)
    except json.JSONDecodeError as e:
        raise ClosureLockError(
            f"The lockfile {lockfile.url} (resolve `{request.resolve}`) is not a pex JSON lockfile ({e}). "
            + _fix_lockfile(request.resolve)
        ) from e
    candidate, missing = prefilter_lock(lock, request.req_strings)
    if missing:
        raise ClosureLockError(
            softwrap(
                f"""
                The `pex_release` target {request.address} depends on {', '.join(missing)},
                which the lockfile {lockfile.url} (resolve `{request.resolve}`) does not hold:
                the lockfile is stale. {_fix_lockfile(request.resolve)}
                """
            )
        )
    candidate_digest = await Get(
        Digest, CreateDigest([FileContent("candidate.lock", dumps(candidate))])
    )
    process = await Get(
        Process,
        PexCliProcess(
            subcommand=("lock", "subset"),
            extra_args=(*sorted(request.req_strings), "--lock", "candidate.lock", "-o", "subset.json"),
            additional_input_digest=candidate_digest,
            output_files=("subset.json",),
            description=f"Resolving the closure of {request.address} from {lockfile.url}",
        ),
    )
    result = await Get(FallibleProcessResult, Process, process)
    if result.exit_code != 0:
        raise ClosureLockError(
            explain_subset_failure(request, lockfile.url, pex.version, result.stderr.decode(errors="replace"))
        )
    (subset,) = await Get(DigestContents, Digest, result.output_digest)
    closure_bytes, distributions = normalize_closure_lock(json.loads(subset.content))
    digest = await Get(Digest, CreateDigest([FileContent(CLOSURE_LOCK_PATH, closure_bytes)]))
    return ClosureLock(
        digest=digest, sha256=hashlib.sha256(closure_bytes).hexdigest(), distributions=distributions
    )


def rules():
    return [*collect_rules(), *pex_cli.rules()]
