# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The `python_zipapp` target: a plain PEP 441 zipapp of pure-Python code, as pip's `pip.pyz` is.

A zipapp starts with one interpreter start and no bootstrap (a PEX re-executes itself from its
unzipped copy under PEX_ROOT, which costs pexrun about 0.37 s per start), sees the host's
site-packages after its own contents, and passes the environment through untouched.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from pants.backend.python.target_types import (
    InterpreterConstraintsField,
    PexLayout,
    PythonResolveField,
    ResolvedPexEntryPoint,
    ResolvePexEntryPointRequest,
)
from pants.backend.python.util_rules.pex import Pex
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.backend.python.util_rules.python_sources import (
    PythonSourceFilesRequest,
    StrippedPythonSourceFiles,
)
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    OutputPathField,
    PackageFieldSet,
)
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.addresses import Address
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DigestEntries,
    FileEntry,
    MergeDigests,
)
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    InvalidTargetException,
    Target,
    TransitiveTargets,
    TransitiveTargetsRequest,
)
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel
from pants.util.strutil import help_text, softwrap
from pex_release.target_types import (
    PexReleaseDependenciesField,
    PexReleaseEntryPointField,
    PexReleaseShebangField,
)
from pex_release.util_rules.sandbox_sources import program_sources

# -----------------------------------------------------------------------------------------------
# `python_zipapp` target
# -----------------------------------------------------------------------------------------------


class PythonZipappEntryPointField(PexReleaseEntryPointField):
    # A `pex_release` entry point field, so that its dependency inference (entry_points.py)
    # infers the dependency on the entry point's module for zipapps too.
    required = True
    help = help_text(
        """
        What runs when the zipapp starts: a module, `'path.to.module:func'`, or the file name
        shorthand `'main.py'` / `'main.py:func'` relative to this BUILD file. A function's return
        value is the exit status.
        """
    )


class PythonZipappShebangField(PexReleaseShebangField):
    help = help_text(
        """
        The zipapp's first line, so that it runs as `./app.pyz`: e.g. `'/usr/bin/env python3'`
        (`#!` is optional). Without it, run the zipapp as `python3 app.pyz`.
        """
    )


class PythonZipappTarget(Target):
    alias = "python_zipapp"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        PythonZipappEntryPointField,
        PexReleaseDependenciesField,
        PythonResolveField,
        InterpreterConstraintsField,
        PythonZipappShebangField,
        OutputPathField,
    )
    help = help_text(
        f"""
        A PEP 441 zipapp: one `.pyz` file holding the code and its pure-Python requirements,
        with a `__main__.py` that runs the `{PythonZipappEntryPointField.alias}`.

        It starts as fast as the code's own imports (no bootstrap, no extraction), and the
        host's site-packages come after its own contents, so a module the zipapp lacks is
        imported from the host's Python. A zip cannot import native code: a requirement with
        compiled extensions is refused; package such code with `pex_binary`.
        """
    )


@dataclass(frozen=True)
class PythonZipappFieldSet(PackageFieldSet):
    required_fields = (PythonZipappEntryPointField,)

    entry_point: PythonZipappEntryPointField
    shebang: PythonZipappShebangField
    output_path: OutputPathField


# -----------------------------------------------------------------------------------------------
# The zipapp's contents: first-party sources and installed requirements
# -----------------------------------------------------------------------------------------------

# Native code a zip cannot import: extension modules and the shared libraries they load.
_NATIVE_FILE = re.compile(r"\.(so|pyd|dylib)(\.[0-9.]+)?$")
REQUIREMENTS_PEX = "requirements.pex"


@dataclass(frozen=True)
class ZipappRequirements:
    """The files of the installed requirements, as they would sit in site-packages."""

    digest: Digest


def installed_requirement_files(
    address: Address, pex_name: str, entries: DigestEntries
) -> tuple[FileEntry, ...]:
    """The importable files of each wheel installed in a loose PEX's `.deps/<wheel>/`: not pex's
    own bookkeeping (`.layout.json`, `<project>.pex-info/`) or scripts and data (`.prefix/`)."""
    deps = f"{pex_name}/.deps/"
    files: dict[str, FileEntry] = {}
    owner: dict[str, str] = {}
    native: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        if not isinstance(entry, FileEntry) or not entry.path.startswith(deps):
            continue
        wheel, _, path = entry.path[len(deps) :].partition("/")
        top = path.split("/", 1)[0]
        if top.startswith(".") or top.endswith(".pex-info"):
            continue
        if _NATIVE_FILE.search(path):
            native[wheel].append(path)
        previous = files.get(path)
        if previous and previous.file_digest != entry.file_digest:
            raise InvalidTargetException(
                softwrap(
                    f"""
                    The `{PythonZipappTarget.alias}` target {address} needs {owner[path]} and
                    {wheel}, which both install `{path}` with different contents. To fix, drop
                    one of them from the target's dependencies.
                    """
                )
            )
        files[path] = FileEntry(path, entry.file_digest)
        owner[path] = wheel
    if native:
        (wheel, paths), *others = sorted(native.items())
        also = f" (also native: {', '.join(w for w, _ in others)})" if others else ""
        raise InvalidTargetException(
            softwrap(
                f"""
                The `{PythonZipappTarget.alias}` target {address} needs the distribution
                {wheel}, which holds native code ({', '.join(sorted(paths)[:3])}), and a zipapp
                cannot import native code from inside its zip. To fix, package this code with
                `pex_binary` instead, or remove the dependency on that distribution{also}.
                """
            )
        )
    return tuple(files[path] for path in sorted(files))


@rule(desc="Installing a `python_zipapp`'s requirements", level=LogLevel.DEBUG)
async def zipapp_requirements(field_set: PythonZipappFieldSet) -> ZipappRequirements:
    # pex resolves the requirements from the resolve's lockfile and installs them; a loose PEX
    # keeps each installed wheel as plain files, which are taken as they are.
    pex = await Get(
        Pex,
        PexFromTargetsRequest(
            [field_set.address],
            output_filename=REQUIREMENTS_PEX,
            internal_only=False,
            include_source_files=False,
            layout=PexLayout.LOOSE,
        ),
    )
    entries = await Get(DigestEntries, Digest, pex.digest)
    files = installed_requirement_files(field_set.address, pex.name, entries)
    return ZipappRequirements(await Get(Digest, CreateDigest(files)))


# -----------------------------------------------------------------------------------------------
# `package`
# -----------------------------------------------------------------------------------------------

_TREE = "__zipapp__"
_BUILD_ZIPAPP = "pex_release.sandbox.build_zipapp"


@rule(desc="Packaging a `python_zipapp`", level=LogLevel.DEBUG)
async def package_python_zipapp(
    field_set: PythonZipappFieldSet, python: PythonBuildStandaloneBinary
) -> BuiltPackage:
    field_set.shebang.check(field_set.address)
    output_filename = field_set.output_path.value_or_default(file_ending="pyz")
    entry_point, transitive, requirements, script = await MultiGet(
        Get(ResolvedPexEntryPoint, ResolvePexEntryPointRequest(field_set.entry_point)),
        Get(TransitiveTargets, TransitiveTargetsRequest([field_set.address])),
        Get(ZipappRequirements, PythonZipappFieldSet, field_set),
        Get(Digest, CreateDigest, program_sources(_BUILD_ZIPAPP)),
    )
    # Sources with their source roots stripped, as they are imported.
    sources = await Get(StrippedPythonSourceFiles, PythonSourceFilesRequest(transitive.closure))
    tree = await Get(
        Digest, MergeDigests([sources.stripped_source_files.snapshot.digest, requirements.digest])
    )
    input_digest = await Get(Digest, MergeDigests([script, await Get(Digest, AddPrefix(tree, _TREE))]))
    shebang = ("--shebang", field_set.shebang.value) if field_set.shebang.value else ()
    assert entry_point.val is not None  # The field is required.
    result = await Get(
        ProcessResult,
        Process(
            argv=(python.path, "-m", _BUILD_ZIPAPP, *shebang, entry_point.val.spec, _TREE, output_filename),
            input_digest=input_digest,
            output_files=(output_filename,),
            description=f"Writing {output_filename}",
            level=LogLevel.DEBUG,
        ),
    )
    return BuiltPackage(result.output_digest, (BuiltPackageArtifact(output_filename),))


def rules():
    return [*collect_rules(), UnionRule(PackageFieldSet, PythonZipappFieldSet)]
