# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`publish` for `pex_release` (uploads a release's missing blobs, then its manifest) and for
`pex_release_image` (pushes the image's missing blobs, then its manifest and tags, to a registry).

The upload runs as a process of the publisher tool, a PEX of this plugin's own `publisher`,
`repository` and `manifest` modules (the same code `pexrun` reads repositories with), plus boto3
from the shared lockfile for `s3://` repositories, as Pants runs twine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import EntryPoint, PythonResolveField
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import PexRequest, PexRequirements, VenvPex, VenvPexProcess
from pants.backend.python.util_rules.pex_requirements import Resolve
from pants.base.build_root import BuildRoot
from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.core.util_rules.system_binaries import SEARCH_PATHS, BinaryPathRequest, BinaryPaths, BinaryPathTest
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import CreateDigest, Digest, DigestContents, DigestSubset, MergeDigests, PathGlobs
from pants.engine.process import InteractiveProcess, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import InvalidFieldException
from pex_release.goals.image import IMAGES_DIR, ImageFiles, OciRegistryTool, OciRegistryToolRequest
from pex_release.goals.package import RELEASES_DIR
from pex_release.subsystem import PexReleaseSubsystem
from pex_release.target_types import PexReleaseAppField, PexReleaseImageRepositoryField
from pex_release.util_rules.pex_version import CheckedPexVersion
from pex_release.util_rules.revision import SourceRevision
from pex_release.util_rules.sandbox_sources import program_sources
from pex_release_core.oci.reference import Repository
from pex_release_core.redaction import redact_url

_PUBLISHER = "pex_release.sandbox.publisher"


class PublishPexReleaseRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class PublishPexReleaseFieldSet(PublishFieldSet):
    publish_request_type = PublishPexReleaseRequest
    required_fields = (PexReleaseAppField,)

    app: PexReleaseAppField
    resolve: PythonResolveField

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData({"publisher": "pex-release", **super().get_output_data()})


@dataclass(frozen=True)
class SigningArgs:
    """What the publisher signs with: the key's path (never its bytes) and what provenance names."""

    key_file: str
    resolve: str
    lockfile: str
    lockfile_sha256: str
    source_url: str | None

    def argv(self) -> tuple[str, ...]:
        source = ("--source-url", self.source_url) if self.source_url else ()
        return (
            "--signing-key", self.key_file,
            "--resolve", self.resolve,
            "--lockfile", self.lockfile,
            "--lockfile-sha256", self.lockfile_sha256,
            *source,
        )  # fmt: skip


def publisher_args(
    repository_url: str,
    s3_endpoint_url: str | None,
    channel: str | None,
    signing: SigningArgs | None,
    manifests: tuple[str, ...],
) -> tuple[str, ...]:
    endpoint = ("--s3-endpoint-url", s3_endpoint_url) if s3_endpoint_url else ()
    promotion = ("--channel", channel) if channel else ()
    return ("--repository", repository_url, *endpoint, *promotion, *(signing.argv() if signing else ()), *manifests)


@dataclass(frozen=True)
class PublisherToolRequest:
    needs_boto3: bool
    needs_cryptography: bool = False


@rule(desc="Building the pex-release publisher")
async def publisher_pex_request(
    request: PublisherToolRequest, subsystem: PexReleaseSubsystem, python_setup: PythonSetup
) -> PexRequest:
    resolve = subsystem.publisher_resolve
    sources = await Get(Digest, CreateDigest, program_sources(_PUBLISHER))
    needed = [name for name, needs in (("boto3", request.needs_boto3), ("cryptography", request.needs_cryptography)) if needs]
    return PexRequest(
        output_filename="pex-release-publisher.pex",
        internal_only=True,
        requirements=(
            PexRequirements(needed, from_superset=Resolve(resolve, use_entire_lockfile=False))
            if needed
            else PexRequirements()
        ),
        interpreter_constraints=InterpreterConstraints(
            python_setup.resolves_to_interpreter_constraints.get(resolve, python_setup.interpreter_constraints)
        ),
        sources=sources,
        main=EntryPoint(_PUBLISHER, "main"),
        description="Building the pex-release publisher",
    )


@dataclass(frozen=True)
class SigningArgsRequest:
    key_file: str
    resolve: str


@rule(desc="Reading what provenance names")
async def signing_args(request: SigningArgsRequest, python_setup: PythonSetup) -> SigningArgs:
    lockfile = python_setup.resolves[request.resolve]
    contents, revision = await MultiGet(
        Get(DigestContents, PathGlobs([lockfile])),
        Get(SourceRevision),
    )
    return SigningArgs(
        key_file=request.key_file,
        resolve=request.resolve,
        lockfile=lockfile,
        lockfile_sha256=hashlib.sha256(b"".join(c.content for c in contents)).hexdigest(),
        source_url=revision.source_url,
    )


@rule(desc="Publishing a `pex_release`")
async def publish_pex_release(
    request: PublishPexReleaseRequest, subsystem: PexReleaseSubsystem, buildroot: BuildRoot, python_setup: PythonSetup
) -> PublishProcesses:
    await Get(CheckedPexVersion)
    repository_url = subsystem.repository(buildroot.path)
    channel = subsystem.channel  # checked before anything is built
    key_file = subsystem.signing_key_file(buildroot.path)
    signing = (
        await Get(SigningArgs, SigningArgsRequest(key_file, request.field_set.resolve.normalized_value(python_setup)))
        if key_file
        else None
    )
    packages_digest = await Get(Digest, MergeDigests(pkg.digest for pkg in request.packages))
    manifests = await Get(
        DigestContents, DigestSubset(packages_digest, PathGlobs([f"{RELEASES_DIR}/*.release.json"]))
    )
    names = tuple(sorted(f"{m['app']}@{m['version']}" for m in (json.loads(c.content) for c in manifests)))
    publisher_request = await Get(
        PexRequest,
        PublisherToolRequest(needs_boto3=repository_url.startswith("s3://"), needs_cryptography=signing is not None),
    )
    publisher_pex, env = await MultiGet(
        Get(VenvPex, PexRequest, publisher_request),
        Get(EnvironmentVars, EnvironmentVarsRequest(subsystem.publish_env_vars)),
    )
    process = await Get(
        Process,
        VenvPexProcess(
            publisher_pex,
            argv=publisher_args(
                repository_url, subsystem.s3_endpoint_url, channel, signing, tuple(c.path for c in manifests)
            ),
            input_digest=packages_digest,
            extra_env=env,
            description=f"Publishing {', '.join(names)} to {redact_url(repository_url)}",
        ),
    )
    return PublishProcesses(
        [
            PublishPackages(
                names=names,
                process=InteractiveProcess.from_process(process),
                description=redact_url(repository_url),
            )
        ]
    )


# -----------------------------------------------------------------------------------------------
# `pex_release_image`
# -----------------------------------------------------------------------------------------------


class PublishPexReleaseImageRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class PublishPexReleaseImageFieldSet(PublishFieldSet):
    publish_request_type = PublishPexReleaseImageRequest
    required_fields = (PexReleaseImageRepositoryField,)

    repository: PexReleaseImageRepositoryField

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData({"publisher": "pex-release-image", **super().get_output_data()})


def image_destination(field_set: PublishPexReleaseImageFieldSet, registry: str | None) -> str:
    """The target's `repository`, with `{registry}` replaced by `[pex-releases].registry`."""
    value = field_set.repository.value
    problem = None
    if "{registry}" in value and not registry:
        problem = (
            "it names `{registry}`, and `[pex-releases].registry` is not set. To fix, set it in "
            "pants.toml or as PANTS_PEX_RELEASES_REGISTRY=host[:port]"
        )
    else:
        try:
            Repository.parse(value.replace("{registry}", registry or ""))
        except ValueError as e:
            problem = str(e)
    if problem:
        raise InvalidFieldException(
            f"The `{PexReleaseImageRepositoryField.alias}` field in target {field_set.address} is {value!r}: {problem}."
        )
    return value.replace("{registry}", registry or "")


@dataclass(frozen=True)
class ImageSigningArgs:
    """How a push signs: the cosign form with the team's key, simple signing with a GPG key."""

    key_file: str | None = None
    gpg: str | None = None
    gpg_key: str | None = None
    lookaside: str | None = None

    def argv(self) -> tuple[str, ...]:
        cosign = ("--signing-key", self.key_file) if self.key_file else ()
        gpg = (
            ("--gpg", self.gpg, "--gpg-key", self.gpg_key, "--lookaside", self.lookaside)
            if self.gpg and self.gpg_key and self.lookaside
            else ()
        )
        return (*cosign, *gpg)


def push_args(layout: str, repository: str, tags: Sequence[str], signing: ImageSigningArgs) -> tuple[str, ...]:
    return ("push", "--layout", layout, "--repository", repository, *(a for t in tags for a in ("--tag", t)), *signing.argv())


@rule(desc="Finding gpg")
async def image_signing_args(subsystem: PexReleaseSubsystem, buildroot: BuildRoot) -> ImageSigningArgs:
    key_file = subsystem.signing_key_file(buildroot.path)
    if not subsystem.image_gpg_key:
        return ImageSigningArgs(key_file)
    lookaside = subsystem.image_signature_store(buildroot.path)
    request = BinaryPathRequest(binary_name="gpg", search_path=SEARCH_PATHS, test=BinaryPathTest(["--version"]))
    paths = await Get(BinaryPaths, BinaryPathRequest, request)
    gpg = paths.first_path_or_raise(request, rationale="sign images with [pex-releases].image_gpg_key")
    return ImageSigningArgs(key_file, gpg.path, subsystem.image_gpg_key, lookaside)


@rule(desc="Pushing a `pex_release_image`")
async def push_pex_release_image(
    request: PublishPexReleaseImageRequest, subsystem: PexReleaseSubsystem
) -> PublishProcesses:
    field_set = request.field_set
    signing = await Get(ImageSigningArgs)
    destination = image_destination(field_set, subsystem.registry)
    packages_digest = await Get(Digest, MergeDigests(pkg.digest for pkg in request.packages))
    (summary,) = await Get(
        DigestContents, DigestSubset(packages_digest, PathGlobs([f"{IMAGES_DIR}/*.image.json"]))
    )
    tags = tuple(json.loads(summary.content)["tags"])
    tool, env = await MultiGet(
        Get(OciRegistryTool, OciRegistryToolRequest(signing=signing.key_file is not None)),
        Get(EnvironmentVars, EnvironmentVarsRequest(subsystem.registry_env_vars)),
    )
    process = await Get(
        Process,
        VenvPexProcess(
            tool.pex,
            argv=push_args(ImageFiles.layout_of(summary.path), destination, tags, signing),
            input_digest=packages_digest,
            extra_env=env,
            description=f"Pushing {destination}",
        ),
    )
    return PublishProcesses(
        [
            PublishPackages(
                names=tuple(f"{destination}:{tag}" for tag in tags) or (destination,),
                process=InteractiveProcess.from_process(process),
                description=destination,
            )
        ]
    )


def rules():
    return [*collect_rules(), *PublishPexReleaseFieldSet.rules(), *PublishPexReleaseImageFieldSet.rules()]
