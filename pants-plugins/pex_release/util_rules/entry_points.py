# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The entry points of a `pex_release`: resolving them, checking that what they run exists (read from
the syntax tree, without importing the app), and inferring the dependencies they need."""

from __future__ import annotations

import ast
import difflib
import logging
import os
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
    PythonSourceField,
    ResolvedPexEntryPoint,
    ResolvePexEntryPointRequest,
)
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    DependenciesRequest,
    ExplicitlyProvidedDependencies,
    FieldSet,
    HydratedSources,
    HydrateSourcesRequest,
    InferDependenciesRequest,
    InferredDependencies,
    InvalidFieldException,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap
from pex_release.target_types import (
    PexReleaseDependenciesField,
    PexReleaseEntryPointField,
    PexReleaseScriptsField,
)

logger = logging.getLogger(__name__)


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
class ModuleNames:
    """What a module's syntax tree says it defines at its top level, read without importing it."""

    names: frozenset[str]  # Functions, classes, assignments and imports.
    classes: FrozenDict[str, frozenset[str]]  # Each plain class's attributes (its methods among them).
    open_ended: bool  # A `from x import *` or a module `__getattr__`: any name may exist.
    main_block: bool  # An `if __name__ == "__main__":` block, which a module entry point runs.

    @classmethod
    def parse(cls, source: bytes) -> ModuleNames | None:
        """None when this Python cannot parse it (newer syntax): then nothing can be told."""
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return None
        names, classes, open_ended, main_block = set(), {}, False, False
        for node in tree.body:
            bound = _bound_names(node)
            names.update(bound)
            # A class whose attributes are its body's alone: one with a base (but `object`), a metaclass
            # or a decorator may have others, which are not checked.
            plain = isinstance(node, ast.ClassDef) and not node.keywords and not node.decorator_list
            if plain and all(isinstance(b, ast.Name) and b.id == "object" for b in node.bases):
                classes[node.name] = frozenset(n for child in node.body for n in _bound_names(child))
            open_ended |= isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
            open_ended |= "__getattr__" in bound and not isinstance(node, ast.ClassDef)
            main_block |= isinstance(node, ast.If) and _is_main_test(node.test)
        return cls(frozenset(names), FrozenDict(classes), open_ended, main_block)

    def problem(self, attribute: str, file: str) -> str | None:
        """What is wrong with `function` or `Class.method` as an attribute of the module (whose file,
        as an `entry_point` of the target spells it, is `file`); None if it is defined, or may be."""
        if self.open_ended:
            return None
        name, _, member = attribute.partition(".")
        if name not in self.names:
            return f"which does not define `{name}`{self._suggestion(name, self.names, file)}"
        member = member.partition(".")[0]
        if member and name in self.classes and member not in self.classes[name]:
            return f"whose class `{name}` does not define `{member}`{self._suggestion(member, self.classes[name], file)}"
        return None

    def _suggestion(self, name: str, defined: frozenset[str], file: str) -> str:
        public = sorted(n for n in defined if not n.startswith("_"))
        shown = ", ".join(f"`{n}`" for n in public[:10]) + (", ..." if len(public) > 10 else "")
        listed = f" (it defines {shown})" if public else " (it defines no public name)"
        close = difflib.get_close_matches(name, public, n=1)
        if close:
            return f"{listed}. Did you mean `{close[0]}`?"
        if self.main_block:
            return f"{listed}. It runs as a script (`if __name__ == \"__main__\":`): to run it so, set `entry_point=\"{file}\"`."
        return listed


def _is_main_test(test: ast.expr) -> bool:
    """`__name__ == "__main__"`, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = {ast.dump(test.left), ast.dump(test.comparators[0])}
    return sides == {ast.dump(ast.Name(id="__name__", ctx=ast.Load())), ast.dump(ast.Constant(value="__main__"))}


def _bound_names(node: ast.stmt) -> set[str]:
    """The names a top-level statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).partition(".")[0] for a in node.names if a.name != "*"}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
        # Definitions under `if TYPE_CHECKING:`, `try: ... except ImportError:` and the like count.
        children = [*getattr(node, "body", []), *getattr(node, "orelse", []), *getattr(node, "finalbody", [])]
        children += [s for h in getattr(node, "handlers", []) for s in h.body]
        return {n for child in children for n in _bound_names(child)}
    return set()


@dataclass(frozen=True)
class _AttributeRequest:
    address: Address  # The release's.
    field: str
    entry_point: EntryPoint
    owner: Address  # The target that provides the entry point's module.


@dataclass(frozen=True)
class _CheckedAttribute:
    """Proof that the entry point's module defines its function (or may: see ModuleNames)."""


@rule(desc="Checking the function of a `pex_release` entry point", level=LogLevel.DEBUG)
async def check_entry_point_attribute(request: _AttributeRequest) -> _CheckedAttribute:
    ep = request.entry_point
    wrapped = await Get(
        WrappedTarget, WrappedTargetRequest(request.owner, description_of_origin=f"the entry point of {request.address}")
    )
    if not wrapped.target.has_field(PythonSourceField):
        # A distribution's module: its wheel is read only when the deps PEX is built.
        logger.debug(f"{request.address}: `{ep.spec}` comes from {request.owner}, a requirement; not read")
        return _CheckedAttribute()
    sources = await Get(HydratedSources, HydrateSourcesRequest(wrapped.target[PythonSourceField]))
    (source,) = await Get(DigestContents, Digest, sources.snapshot.digest)
    names = ModuleNames.parse(source.content)
    if names is None:
        logger.debug(f"{request.address}: {source.path} does not parse with Pants' Python; `{ep.spec}` not checked")
        return _CheckedAttribute()
    assert ep.function is not None
    problem = names.problem(ep.function, os.path.relpath(source.path, request.address.spec_path))
    if problem:
        raise InvalidFieldException(
            f"The `{request.field}` field of the `pex_release` target {request.address} runs `{ep.spec}`: "
            f"the module `{ep.module}` ({source.path}) is read without running it, {problem}"
        )
    return _CheckedAttribute()


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
    await MultiGet(
        Get(_CheckedAttribute, _AttributeRequest(request.address, field, ep, owner.unambiguous[0]))
        for (field, ep), owner in zip(request.entry_points.all, owners)
        if ep.function and len(owner.unambiguous) == 1
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
