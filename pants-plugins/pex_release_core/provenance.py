# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""A release's build provenance: an in-toto Statement v1 (https://in-toto.io/Statement/v1) with an
SLSA Provenance v1 predicate (https://slsa.dev/provenance/v1), which publish signs with the
release's manifest (`signing.py`).

Its subjects are the manifest and each PEX of the release (a tree's digest is the manifest's
`sha256` of its listing, `manifest.tree_sha256`); the predicate names the build (app, version,
resolve and the lockfile's sha256), the source (its URL without credentials and the revision)
and the builder (this pex-release's version). It records no time, so the same release gives the same
statement, and a republish keeps its signature.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pex_release_core import __version__
from pex_release_core.manifest import ReleaseManifest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/pex-release/pex-release/pex_release@v1"
BUILDER_ID = "https://github.com/pex-release/pex-release/publish"
_GIT_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # SHA-1 or SHA-256


@dataclass(frozen=True)
class BuildInputs:
    """What the build of a release was given, beside its manifest: the publish rule knows these."""

    resolve: str
    lockfile: str  # Its path in the source repository.
    lockfile_sha256: str
    source_url: str | None  # The source repository's `origin`, without credentials.


def statement(manifest: ReleaseManifest, manifest_sha256: str, inputs: BuildInputs) -> bytes:
    subjects = [{"name": f"{manifest.app}@{manifest.version}.release.json", "digest": {"sha256": manifest_sha256}}]
    subjects += [{"name": pex.file, "digest": {"sha256": pex.sha256}} for pex in manifest.pexes]
    dependencies: list[dict[str, Any]] = [{"name": inputs.lockfile, "digest": {"sha256": inputs.lockfile_sha256}}]
    commit = manifest.revision.removesuffix("-dirty")
    if _GIT_COMMIT.fullmatch(commit):  # not outside git, where the revision is unknown
        source = {"digest": {"gitCommit": commit}, **({"uri": f"git+{inputs.source_url}"} if inputs.source_url else {})}
        dependencies.insert(0, source)
    document = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "app": manifest.app,
                    "version": manifest.version,
                    "resolve": inputs.resolve,
                    "revision": manifest.revision,
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {"builder": {"id": BUILDER_ID, "version": {"pex-release": __version__}}},
        },
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
