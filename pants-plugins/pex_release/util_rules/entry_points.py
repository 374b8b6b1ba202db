# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The entry points of a `pex_release`: resolving them, and inferring the dependencies they need."""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.dependency_inference.module_mapper import (
    PythonModuleOwners,
    PythonModuleOwnersRequest,
)
from pants.backend.python.dependency_inference.subsystem import PythonInferSubsystem
from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import (
    EntryPoint,
    PythonResolveField,
    ResolvedPexEntryPoint,
    ResolvePexEntryPointRequest,
)
from pants.engine.addresses import Address
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    DependenciesRequest,
    ExplicitlyProvidedDependencies,
    FieldSet,
    InferDependenciesRequest,
    InferredDependencies,
    InvalidFieldException,
)
from pants.engine.unions import UnionRule
from pants.util.strutil import softwrap
from pex_release.target_types import (
    PexReleaseDependenciesField,
    PexReleaseEntryPointField,
    PexReleaseScriptsField,
)


@dataclass(frozen=True)
class ReleaseEntryPoints:
    """The release's main entry point (None when it runs a console `script`) and its `scripts`,
    with file name shorthands (`main.py:func`) turned into modules."""

    main: EntryPoint | None
    scripts: tuple[tuple[str, EntryPoint], ...]

    @property
    def all(self) -> tuple[tuple[str, EntryPoint], ...]:
        main = ((PexReleaseEntryPointField.alias, self.main),) if self.main else ()
        return (*main, *((f"{PexReleaseScriptsField.alias}[{n!r}]", ep) for n, ep in self.scripts))


@dataclass(frozen=True)
class ReleaseEntryPointsRequest:
    entry_point: PexReleaseEntryPointField
    scripts: PexReleaseScriptsField


@rule(desc="Resolving the entry points of a `pex_release`")
async def resolve_release_entry_points(request: ReleaseEntryPointsRequest) -> ReleaseEntryPoints:
    address = request.entry_point.address
    names = sorted((request.scripts.value or {}).keys())
    fields = [
        request.entry_point,
        *(PexReleaseEntryPointField(request.scripts.value[n], address) for n in names),
    ]
    main, *scripts = await MultiGet(
        Get(ResolvedPexEntryPoint, ResolvePexEntryPointRequest(f)) for f in fields
    )
    return ReleaseEntryPoints(
        main=main.val, scripts=tuple((n, s.val) for n, s in zip(names, scripts) if s.val)
    )


@dataclass(frozen=True)
class CheckedEntryPointsRequest:
    address: Address
    entry_points: ReleaseEntryPoints
    resolve: str


@dataclass(frozen=True)
class CheckedEntryPoints:
    """Proof that every entry point's module is provided by the app's code or requirements."""


@rule(desc="Checking the entry points of a `pex_release`")
async def check_entry_points(request: CheckedEntryPointsRequest) -> CheckedEntryPoints:
    owners = await MultiGet(
        Get(PythonModuleOwners, PythonModuleOwnersRequest(ep.module, resolve=request.resolve))
        for _, ep in request.entry_points.all
    )
    for (field, ep), owner in zip(request.entry_points.all, owners):
        if not owner.unambiguous and not owner.ambiguous:
            raise InvalidFieldException(
                softwrap(
                    f"""
                    The `{field}` field of the `pex_release` target {request.address} runs the
                    module `{ep.module}`, which is not in the app's sources or requirements
                    (resolve `{request.resolve}`). To fix, point it at a module of the app, e.g.
                    `entry_point="main.py"`, or add the target that owns `{ep.module}` to the
                    repository.
                    """
                )
            )
    return CheckedEntryPoints()


@dataclass(frozen=True)
class PexReleaseEntryPointInferenceFieldSet(FieldSet):
    required_fields = (PexReleaseDependenciesField, PexReleaseEntryPointField, PythonResolveField)

    dependencies: PexReleaseDependenciesField
    entry_point: PexReleaseEntryPointField
    scripts: PexReleaseScriptsField
    resolve: PythonResolveField


class InferPexReleaseEntryPointDependencies(InferDependenciesRequest):
    infer_from = PexReleaseEntryPointInferenceFieldSet


@rule(desc="Inferring dependencies from a `pex_release`'s entry points")
async def infer_pex_release_entry_point_dependencies(
    request: InferPexReleaseEntryPointDependencies,
    python_infer: PythonInferSubsystem,
    python_setup: PythonSetup,
) -> InferredDependencies:
    if not python_infer.entry_points:
        return InferredDependencies([])
    field_set = request.field_set
    explicitly_provided, entry_points = await MultiGet(
        Get(ExplicitlyProvidedDependencies, DependenciesRequest(field_set.dependencies)),
        Get(ReleaseEntryPoints, ReleaseEntryPointsRequest(field_set.entry_point, field_set.scripts)),
    )
    resolve = field_set.resolve.normalized_value(python_setup)
    all_owners = await MultiGet(
        Get(PythonModuleOwners, PythonModuleOwnersRequest(ep.module, resolve=resolve))
        for _, ep in entry_points.all
    )
    inferred: set[Address] = set()
    for (field, ep), owners in zip(entry_points.all, all_owners):
        explicitly_provided.maybe_warn_of_ambiguous_dependency_inference(
            owners.ambiguous,
            field_set.address,
            import_reference="module",
            context=f"The pex_release target {field_set.address} has `{field}` running `{ep.module}`",
        )
        disambiguated = explicitly_provided.disambiguated(owners.ambiguous)
        inferred.update(owners.unambiguous or ((disambiguated,) if disambiguated else ()))
    return InferredDependencies(sorted(inferred))


def rules():
    return [
        *collect_rules(),
        UnionRule(InferDependenciesRequest, InferPexReleaseEntryPointDependencies),
    ]
