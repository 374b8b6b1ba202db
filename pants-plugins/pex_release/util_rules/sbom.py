# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Each release's SBOM: a CycloneDX 1.6 JSON document of the app and every distribution of its
deps PEX, written by the `write_sbom` program with cyclonedx-python-lib, a tool this plugin ships
a lockfile for (as Pants does for its own tools), so a repository needs no resolve for it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pants.backend.python.subsystems.python_tool_base import LockfileRules, PythonToolBase
from pants.backend.python.target_types import EntryPoint
from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.engine.fs import CreateDigest, Digest, DigestContents, FileContent
from pants.engine.process import ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel
from pex_release.util_rules.sandbox_sources import program_sources
from pex_release_core.manifest import Distribution

_WRITE_SBOM = "pex_release.sandbox.write_sbom"


class SbomTool(PythonToolBase):
    options_scope = "pex-release-sbom"
    name = "cyclonedx-python-lib"
    help = "The library that writes and checks each `pex_release`'s CycloneDX SBOM (https://cyclonedx.org)."

    default_version = "cyclonedx-python-lib[json-validation]>=11,<12"
    default_requirements = [default_version]
    default_main = EntryPoint(_WRITE_SBOM, "main")

    register_interpreter_constraints = True
    default_interpreter_constraints = ["CPython>=3.9,<3.14"]

    # Regenerated with the command in this directory's BUILD file.
    default_lockfile_resource = ("pex_release.util_rules", "sbom.lock")
    lockfile_rules_type = LockfileRules.SIMPLE


@dataclass(frozen=True)
class ReleaseSbomRequest:
    app: str
    version: str
    distributions: tuple[Distribution, ...]


@dataclass(frozen=True)
class ReleaseSbom:
    content: bytes


@rule(desc="Writing a release's SBOM", level=LogLevel.DEBUG)
async def release_sbom(request: ReleaseSbomRequest, tool: SbomTool) -> ReleaseSbom:
    sources, inputs = await MultiGet(
        Get(Digest, CreateDigest, program_sources(_WRITE_SBOM)),
        Get(
            Digest,
            CreateDigest(
                [
                    FileContent(
                        "sbom-input.json",
                        json.dumps(
                            {
                                "app": request.app,
                                "version": request.version,
                                "distributions": [asdict(d) for d in request.distributions],
                            },
                            sort_keys=True,
                        ).encode(),
                    )
                ]
            ),
        ),
    )
    pex = await Get(VenvPex, PexRequest, tool.to_pex_request(main=tool.main, sources=sources))
    result = await Get(
        ProcessResult,
        VenvPexProcess(
            pex,
            argv=("sbom-input.json", "sbom.cdx.json"),
            input_digest=inputs,
            output_files=("sbom.cdx.json",),
            description=f"Writing the SBOM of {request.app} {request.version}",
            level=LogLevel.DEBUG,
        ),
    )
    (content,) = await Get(DigestContents, Digest, result.output_digest)
    return ReleaseSbom(content.content)


def rules():
    return collect_rules()
