# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Finding a release in a repository: its versions, the one to run, and its manifest."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from pex_release_core.manifest import ManifestError, ReleaseManifest
from pex_release_core.repository.base import NotFoundError, Repository, manifest_key


def _version_order(version: str) -> tuple[int, Version | str]:
    try:
        return 0, Version(version)
    except InvalidVersion:
        return 1, version  # not PEP 440, so never chosen as the latest: listed last


def published_versions(repository: Repository, app: str) -> list[str]:
    """The app's versions, oldest first; NotFoundError (listing the apps) if it has none."""
    versions = repository.list_versions(app)
    if not versions:
        apps = repository.list_apps()
        published = f"Published apps: {', '.join(apps)}." if apps else "It has no releases yet."
        raise NotFoundError(f"{app} is not published in {repository.url}. {published}")
    return sorted(versions, key=_version_order)


def latest_version(repository: Repository, app: str) -> str:
    """The highest PEP 440 version, choosing pre-releases only when there is nothing else, as pip does."""
    versions = [v for v in published_versions(repository, app) if _version_order(v)[0] == 0]
    candidates = list(SpecifierSet().filter(versions))
    if not candidates:
        raise NotFoundError(f"{app} has no PEP 440 versions in {repository.url}: name one, as {app}@<version>.")
    return max(candidates, key=Version)


def read_release(repository: Repository, app: str, version: str | None) -> tuple[ReleaseManifest, bytes]:
    """The manifest of app at version (by default the latest), parsed and as published."""
    version = version or latest_version(repository, app)
    try:
        data = repository.read_manifest(app, version)
    except NotFoundError:
        versions = published_versions(repository, app)  # or: the app is not published at all
        raise NotFoundError(
            f"{app} {version} is not published in {repository.url}. Published versions of {app}: {', '.join(versions)}."
        ) from None
    origin = f"{manifest_key(app, version)} in {repository.url}"
    manifest = ReleaseManifest.loads(data, origin=origin)
    if (manifest.app, manifest.version) != (app, version):
        raise ManifestError(
            f"{origin} is the manifest of {manifest.app} {manifest.version}, not of {app} {version}: the "
            "repository was edited by hand. Publish the release again to a clean location."
        )
    return manifest, data
