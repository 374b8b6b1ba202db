# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`package` for `pex_release_image`: an OCI image of a release, written without a Docker daemon.

The image holds the release's PEXes in pex's loose layout, the deps PEX with its wheels installed,
so that each wheel is a directory python imports in place and one layer of its own
(the sandbox program `build_image` lays them out). The base image comes from a registry (pinned by
digest), from an OCI layout in the repository, or is built from the host's CPython (`python_base`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import EntryPoint, PexLayout
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import (
    Pex,
    PexRequest,
    PexRequirements,
    PythonExecutable,
    VenvPex,
    VenvPexProcess,
)
from pants.backend.python.util_rules.pex_requirements import Resolve
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.engine.addresses import Address, Addresses, UnparsedAddressInputs
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestSubset,
    FileContent,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
    Snapshot,
)
from pants.engine.process import FallibleProcessResult, Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    FieldSet,
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
from pex_release.goals.package import release_version
from pex_release.subsystem import PexReleaseSubsystem
from pex_release.target_types import (
    PexReleaseImageBaseField,
    PexReleaseImageDependenciesField,
    PexReleaseImagePythonField,
    PexReleaseImageReleaseField,
    PexReleaseImageRepositoryField,
    PexReleaseImageTagsField,
    PexReleaseTarget,
)
from pex_release.util_rules.closure import dumps
from pex_release.util_rules.release_plan import DEPS_PEX, SOURCES_PEX, PexReleaseFieldSet, ReleasePlan
from pex_release.util_rules.revision import SourceRevision
from pex_release.util_rules.sandbox_sources import program_sources
from pex_release_core.oci.model import ImageError, Platform, check_tag
from pex_release_core.oci.reference import Reference

IMAGES_DIR = "images"
APP_DIR = "/app"
# Where a fresh container's pex writes its small caches (interpreter identity, its own code): /tmp,
# which stays writable (a tmpfs) when the root file system is read-only.
IMAGE_ENV = FrozenDict(
    {
        "PEX_ROOT": "/tmp/.pex",
        "PYTHONDONTWRITEBYTECODE": "1",
        # At run time pex's one warning here is that it cannot run `ldd` (a distroless base has
        # none) to tell glibc from musl, on every start; the wheels were chosen at build time.
        "PEX_EMIT_WARNINGS": "false",
    }
)
DEPS_ENV = FrozenDict({"PEX_PATH": f"{APP_DIR}/{DEPS_PEX}"})


class ImageBuildError(Exception):
    """An image cannot be built from what its target says; the message names the target and the fix."""


@dataclass(frozen=True)
class PexReleaseImageFieldSet(PackageFieldSet):
    required_fields = (PexReleaseImageReleaseField,)

    release: PexReleaseImageReleaseField
    base_image: PexReleaseImageBaseField
    python: PexReleaseImagePythonField
    repository: PexReleaseImageRepositoryField
    image_tags: PexReleaseImageTagsField


# -----------------------------------------------------------------------------------------------
# The release an image runs
# -----------------------------------------------------------------------------------------------


def release_address_input(field: PexReleaseImageReleaseField) -> UnparsedAddressInputs:
    return UnparsedAddressInputs(
        [field.value],
        owning_address=field.address,
        description_of_origin=f"the `{field.alias}` field of {field.address}",
    )


@dataclass(frozen=True)
class PexReleaseImageInferenceFieldSet(FieldSet):
    required_fields = (PexReleaseImageReleaseField, PexReleaseImageDependenciesField)

    release: PexReleaseImageReleaseField


class InferPexReleaseImageDependencies(InferDependenciesRequest):
    infer_from = PexReleaseImageInferenceFieldSet


@rule(desc="Inferring the release of a `pex_release_image`")
async def infer_pex_release_image_dependencies(
    request: InferPexReleaseImageDependencies,
) -> InferredDependencies:
    addresses = await Get(Addresses, UnparsedAddressInputs, release_address_input(request.field_set.release))
    return InferredDependencies(addresses)


@dataclass(frozen=True)
class ImageRelease:
    field_set: PexReleaseFieldSet


@rule(desc="Finding the release of a `pex_release_image`", level=LogLevel.DEBUG)
async def image_release(field_set: PexReleaseImageFieldSet) -> ImageRelease:
    (address,) = await Get(Addresses, UnparsedAddressInputs, release_address_input(field_set.release))
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(address, description_of_origin=f"the `release` field of {field_set.address}"),
    )
    if not PexReleaseFieldSet.is_applicable(wrapped.target):
        raise InvalidFieldException(
            softwrap(
                f"""
                The `{PexReleaseImageReleaseField.alias}` field in target {field_set.address} is
                {field_set.release.value!r}, a `{wrapped.target.alias}` target, not a
                `{PexReleaseTarget.alias}`. To fix, name the app's `{PexReleaseTarget.alias}`
                target, e.g. `{PexReleaseImageReleaseField.alias}=":release"`.
                """
            )
        )
    return ImageRelease(PexReleaseFieldSet.create(wrapped.target))


def image_tags(field_set: PexReleaseImageFieldSet, version: str) -> tuple[str, ...]:
    tag_version = version.replace("+", "-")
    tags = tuple(dict.fromkeys(t.replace("{version}", tag_version) for t in field_set.image_tags.value or ()))
    for tag in tags:
        try:
            check_tag(tag)
        except ImageError as e:
            raise InvalidFieldException(
                f"The `{PexReleaseImageTagsField.alias}` field in target {field_set.address} gives the tag {tag!r}: {e}"
            ) from None
    return tags


# -----------------------------------------------------------------------------------------------
# The registry client
# -----------------------------------------------------------------------------------------------


_REGISTRY_TOOL = "pex_release.sandbox.oci_registry"
# What the registry client in the release core does its HTTP with, from the `oci` resolve.
_REGISTRY_TOOL_REQUIREMENTS = ("oras", "requests")


@dataclass(frozen=True)
class OciRegistryTool:
    """The registry tool (`pex_release.sandbox.oci_registry`): it pushes images and pulls base images."""

    pex: VenvPex


@dataclass(frozen=True)
class OciRegistryToolRequest:
    signing: bool = False  # With cryptography, to push the image's cosign signature.


@rule(desc="Building the pex-release registry client")
async def oci_registry_tool(
    request: OciRegistryToolRequest, subsystem: PexReleaseSubsystem, python_setup: PythonSetup
) -> OciRegistryTool:
    resolve = subsystem.registry_resolve
    sources = await Get(Digest, CreateDigest, program_sources(_REGISTRY_TOOL))
    signing = ("cryptography",) if request.signing else ()
    pex_request = PexRequest(
        output_filename="pex-release-registry.pex",
        internal_only=True,
        requirements=PexRequirements(
            (*_REGISTRY_TOOL_REQUIREMENTS, *signing), from_superset=Resolve(resolve, use_entire_lockfile=False)
        ),
        interpreter_constraints=InterpreterConstraints(
            python_setup.resolves_to_interpreter_constraints.get(resolve, python_setup.interpreter_constraints)
        ),
        sources=sources,
        main=EntryPoint(_REGISTRY_TOOL, "main"),
        description="Building the pex-release registry client",
    )
    return OciRegistryTool(await Get(VenvPex, PexRequest, pex_request))


# -----------------------------------------------------------------------------------------------
# The base image
# -----------------------------------------------------------------------------------------------

_BASE = "base"
_PYTHON_BASE = "pex_release.sandbox.python_base"
_LOCAL_BASE = re.compile(r"(?P<transport>oci|oci-archive):(?P<path>[^:]+)(?::(?P<tag>[^:/]+))?")


@dataclass(frozen=True)
class BaseImageRequest:
    address: Address
    base_image: str | None
    interpreter_constraints: InterpreterConstraints


@dataclass(frozen=True)
class BaseImage:
    """A base image in a digest: an OCI layout directory (or a tar of one) at `path`."""

    digest: Digest
    path: str
    reference: str  # What it is, for messages: `[host/]name[:tag][@digest]`, a tag choosing among several.


@dataclass(frozen=True)
class HostPythonBaseRequest:
    interpreter_constraints: InterpreterConstraints


def base_image_error(address: Address, base_image: str, problem: str) -> ImageBuildError:
    return ImageBuildError(
        softwrap(
            f"""
            The `{PexReleaseImageBaseField.alias}` field in target {address} is {base_image!r}:
            {problem}
            """
        )
    )


@rule(desc="Getting a base image", level=LogLevel.DEBUG)
async def get_base_image(request: BaseImageRequest) -> BaseImage:
    value = request.base_image
    if value is None:
        return await Get(BaseImage, HostPythonBaseRequest(request.interpreter_constraints))
    local = _LOCAL_BASE.fullmatch(value)
    if local:
        path = os.path.normpath(os.path.join(request.address.spec_path, local["path"]))
        if os.path.isabs(path) or path == os.pardir or path.startswith(os.pardir + os.sep):
            # Pants reads only files of the repository (a glob out of it is its IntrinsicError).
            raise base_image_error(
                request.address,
                value,
                f"the path resolves to {path!r}, outside the repository. To fix, put the image in the "
                "repository and give its path relative to the BUILD file's directory.",
            )
        globs = [path] if local["transport"] == "oci-archive" else [f"{path}/**"]
        snapshot = await Get(Snapshot, PathGlobs(globs))
        if not snapshot.files:
            what = "file" if local["transport"] == "oci-archive" else "OCI layout directory"
            raise base_image_error(
                request.address,
                value,
                f"there is no {what} {path} in the repository. To fix, build it there, or give the "
                "path relative to the BUILD file's directory.",
            )
        return BaseImage(snapshot.digest, path, f"{path}:{local['tag']}" if local["tag"] else path)
    try:
        reference = Reference.parse(value, require_digest=True)
    except ValueError as e:
        raise base_image_error(request.address, value, str(e)) from None
    tool = await Get(OciRegistryTool, OciRegistryToolRequest())
    result = await Get(
        FallibleProcessResult,
        VenvPexProcess(
            tool.pex,
            argv=("pull", "--reference", str(reference), "--platform", str(Platform.host()), "--output", _BASE),
            output_directories=(_BASE,),
            description=f"Pulling base image {value}",
            level=LogLevel.DEBUG,
        ),
    )
    if result.exit_code != 0:
        raise base_image_error(request.address, value, result.stderr.decode(errors="replace").strip())
    return BaseImage(result.output_digest, _BASE, value)


@rule(desc="Building a base image from the host's Python")
async def host_python_base(request: HostPythonBaseRequest) -> BaseImage:
    python, modules, path = await MultiGet(
        Get(PythonExecutable, InterpreterConstraints, request.interpreter_constraints),
        Get(Digest, CreateDigest, program_sources(_PYTHON_BASE)),
        # python_base runs the host's `ldd` and `strip`.
        Get(EnvironmentVars, EnvironmentVarsRequest(["PATH"])),
    )
    result = await Get(
        FallibleProcessResult,
        Process(
            # The interpreter's fingerprint is in the key: a new build of it makes a new base.
            argv=(python.path, "-m", _PYTHON_BASE, "--python", python.path, "--output", _BASE),
            input_digest=modules,
            output_directories=(_BASE,),
            env={"PATH": path.get("PATH", ""), "PEX_RELEASE_PYTHON_FINGERPRINT": python.fingerprint or ""},
            description=f"Building a base image from {python.path}",
        ),
    )
    if result.exit_code != 0:
        raise ImageBuildError(
            f"Cannot build a base image from the host's Python {python.path}: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return BaseImage(result.output_digest, _BASE, f"the host's Python ({python.path})")


# -----------------------------------------------------------------------------------------------
# `package`
# -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImagePexes:
    """The release's PEXes as an image holds them: loose, the deps PEX with installed wheels."""

    deps: Pex | None
    sources: Pex


@rule(desc="Building the PEXes of an image", level=LogLevel.DEBUG)
async def image_pexes(plan: ReleasePlan) -> ImagePexes:
    sources_request = dataclasses.replace(
        plan.sources_request,
        layout=PexLayout.LOOSE,
        description=f"Building the image's sources PEX ({plan.sources_request.description})",
    )
    deps_request = (
        # Resolved from the release's deps PEX: no download, the same wheels. Installed here, once
        # per closure, instead of in every container that starts.
        dataclasses.replace(
            plan.deps_request,
            layout=PexLayout.LOOSE,
            requirements=PexRequirements(plan.closure.pins, from_superset=plan.deps),
            additional_inputs=EMPTY_DIGEST,
            additional_args=(),
            description=f"Installing the wheels of deps PEX {plan.subset_key[:12]} for an image",
        )
        if plan.closure
        else None
    )
    sources, *deps = await MultiGet(
        Get(Pex, PexRequest, request) for request in (sources_request, deps_request) if request
    )
    return ImagePexes(deps=deps[0] if deps else None, sources=sources)


@dataclass(frozen=True)
class ImageFiles:
    """Where an image goes in dist/: its OCI layout and a summary of its layers."""

    app: str

    @property
    def layout(self) -> str:
        return f"{IMAGES_DIR}/{self.app}.oci"

    @property
    def summary(self) -> str:
        return f"{IMAGES_DIR}/{self.app}.image.json"

    @staticmethod
    def layout_of(summary: str) -> str:
        return summary[: -len(".image.json")] + ".oci"


_DEPS_LAYERS = "deps-layers"


@dataclass(frozen=True)
class DepsLayersRequest:
    deps: Pex
    subset_key: str
    python: PythonExecutable
    script: Digest


@dataclass(frozen=True)
class DepsLayers:
    """The image layers of a deps PEX (`build_image`'s deps-layers mode): compiled and compressed
    once per closure, not again for each source edit."""

    digest: Digest


@rule(desc="Building the image layers of a deps PEX", level=LogLevel.DEBUG)
async def deps_layers(request: DepsLayersRequest) -> DepsLayers:
    spec = {"mode": "deps-layers", "deps": DEPS_PEX, "app_dir": APP_DIR, "output": _DEPS_LAYERS}
    input_digest = await Get(
        Digest,
        MergeDigests(
            [request.script, request.deps.digest, await Get(Digest, CreateDigest([FileContent(_SPEC, dumps(spec))]))]
        ),
    )
    result = await Get(
        ProcessResult,
        Process(
            argv=(request.python.path, "-m", _BUILD_IMAGE, _SPEC),
            input_digest=input_digest,
            output_directories=(_DEPS_LAYERS,),
            description=f"Building the image layers of deps PEX {request.subset_key[:12]}",
        ),
    )
    return DepsLayers(result.output_digest)


_BUILD_IMAGE = "pex_release.sandbox.build_image"
_IMAGE = "image"
_SUMMARY = "image.json"
_SPEC = "image-spec.json"


def image_labels(app: str, version: str, revision: SourceRevision) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": app,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision.revision,
    }
    if revision.source_url:
        labels["org.opencontainers.image.source"] = revision.source_url
    return labels


@rule(desc="Packaging a `pex_release_image`")
async def package_pex_release_image(field_set: PexReleaseImageFieldSet) -> BuiltPackage:
    release, revision = await MultiGet(
        Get(ImageRelease, PexReleaseImageFieldSet, field_set), Get(SourceRevision)
    )
    # Checked before anything is built.
    version = release_version(release.field_set, revision)
    tags = image_tags(field_set, version)
    # The plan only: an image needs neither the release's sources PEX nor its single-file PEX.
    plan = await Get(ReleasePlan, PexReleaseFieldSet, release.field_set)
    app = release.field_set.app_name
    interpreter_constraints = InterpreterConstraints(plan.interpreter_constraints)
    image_pexes, base, python, script = await MultiGet(
        Get(ImagePexes, ReleasePlan, plan),
        Get(BaseImage, BaseImageRequest(field_set.address, field_set.base_image.value, interpreter_constraints)),
        Get(PythonExecutable, InterpreterConstraints, interpreter_constraints),
        Get(Digest, CreateDigest, program_sources(_BUILD_IMAGE)),
    )
    deps_layers = (
        await Get(DepsLayers, DepsLayersRequest(image_pexes.deps, plan.subset_key, python, script))
        if image_pexes.deps
        else None
    )
    spec = {
        "base": base.path,
        "base_reference": base.reference,
        "platform": str(Platform.host()),
        "python": field_set.python.value,
        "deps_layers": _DEPS_LAYERS if deps_layers else None,
        "sources": SOURCES_PEX,
        "app_dir": APP_DIR,
        "env": {**IMAGE_ENV, **(DEPS_ENV if deps_layers else {})},
        "labels": image_labels(app, version, revision),
        "tags": list(tags),
        "output": _IMAGE,
        "summary": _SUMMARY,
    }
    input_digest = await Get(
        Digest,
        MergeDigests(
            [
                script,
                await Get(Digest, CreateDigest([FileContent(_SPEC, dumps(spec))])),
                base.digest,
                image_pexes.sources.digest,
                *((deps_layers.digest,) if deps_layers else ()),
            ]
        ),
    )
    result = await Get(
        FallibleProcessResult,
        Process(
            # Run with the release's Python: it compiles the image's bytecode.
            argv=(python.path, "-m", _BUILD_IMAGE, _SPEC),
            input_digest=input_digest,
            output_directories=(_IMAGE,),
            output_files=(_SUMMARY,),
            description=f"Building the image of {app} on {base.reference}",
        ),
    )
    if result.exit_code != 0:
        raise ImageBuildError(
            f"Cannot build the image of {field_set.address}: {result.stderr.decode(errors='replace').strip()}"
        )
    files = ImageFiles(app)
    summary, image = await MultiGet(
        Get(DigestContents, DigestSubset(result.output_digest, PathGlobs([_SUMMARY]))),
        Get(Digest, DigestSubset(result.output_digest, PathGlobs([f"{_IMAGE}/**"]))),
    )
    image = await Get(Digest, RemovePrefix(image, _IMAGE))
    layout, summary_digest = await MultiGet(
        Get(Digest, AddPrefix(image, files.layout)),
        Get(Digest, CreateDigest([FileContent(files.summary, summary[0].content)])),
    )
    digest = await Get(Digest, MergeDigests([layout, summary_digest]))
    return BuiltPackage(
        digest,
        (
            BuiltPackageArtifact(files.layout, extra_log_lines=image_log_lines(json.loads(summary[0].content))),
            BuiltPackageArtifact(files.summary),
        ),
    )


def image_log_lines(summary: dict) -> tuple[str, ...]:
    """What `package` says of an image: its digest and tags, and its layers' sizes by role."""
    by_role: dict[str, list[int]] = {}
    for layer in summary["layers"]:
        by_role.setdefault(layer["role"], []).append(layer["size"])
    layers = ", ".join(f"{role} {len(sizes)} ({sum(sizes):,} bytes)" for role, sizes in by_role.items())
    return (
        f"    image {summary['manifest']['digest']} for {summary['platform']}, tags {', '.join(summary['tags']) or '(none)'}",
        f"    layers: {layers}",
    )


def rules():
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, PexReleaseImageFieldSet),
        UnionRule(InferDependenciesRequest, InferPexReleaseImageDependencies),
    ]
