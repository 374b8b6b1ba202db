# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Finding a release in a repository: its versions, the one to run (the highest, or a channel's),
and its manifest."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from pex_release_core.channels import ChannelEntry, ChannelError, channel_head, whole_release
from pex_release_core.manifest import ManifestError, ReleaseManifest
from pex_release_core.repository.base import NotFoundError, Repository, manifest_key
from pex_release_core.signing import MANIFEST, PROVENANCE, PublicKey, SignatureError, SignedRelease, verified_signer
from pexrun.cache import SIGNATURES_DIR, write_atomically


def version_key(version: str) -> tuple[int, Version | str]:
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
    return sorted(versions, key=version_key)


def latest_version(repository: Repository, app: str) -> str:
    """The highest PEP 440 version, choosing pre-releases only when there is nothing else, as pip does."""
    versions = [v for v in published_versions(repository, app) if version_key(v)[0] == 0]
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


def release_signer(repository: Repository, manifest: ReleaseManifest, data: bytes, trusted: Sequence[PublicKey]) -> PublicKey:
    """The trusted key that signed these manifest bytes (read_release checked they are app@version's)."""
    key, _ = verified_signer(repository, trusted, SignedRelease(manifest.app, manifest.version, data), MANIFEST)
    return key


def release_provenance(
    repository: Repository, manifest: ReleaseManifest, data: bytes, trusted: Sequence[PublicKey]
) -> tuple[PublicKey, dict[str, Any]]:
    """The release's provenance statement, once found signed by a trusted key and naming this
    release's manifest and PEXes as its subjects."""
    release = SignedRelease(manifest.app, manifest.version, data)
    key, envelope = verified_signer(repository, trusted, release, PROVENANCE)
    what = f"{manifest.app} {manifest.version}'s provenance, signed by {key.keyid},"
    try:
        statement = json.loads(envelope.payload)
        subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    except (ValueError, KeyError, TypeError) as e:
        raise SignatureError(f"{what} is not an in-toto statement ({type(e).__name__}: {e}).") from None
    expected = {f"{manifest.app}@{manifest.version}.release.json": release.manifest_sha256}
    expected.update((pex.file, pex.sha256) for pex in manifest.pexes)
    if subjects != expected:
        raise SignatureError(f"{what} names other subjects than the release's manifest and PEXes: it is another release's.")
    return key, statement


class VerifiedSignatures:
    """The manifests this host found signed, and by which trusted key: a warm start skips the
    check, and the import of the library that makes it (about 25 ms). The cache is trusted as its
    trees are: whoever can write it can change what runs without touching this."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / SIGNATURES_DIR

    def signer(self, repository: Repository, manifest: ReleaseManifest, data: bytes, trusted: Sequence[PublicKey]) -> PublicKey:
        checked = self.root / hashlib.sha256(data).hexdigest()
        for key in trusted:
            if (checked / key.keyid).exists():
                return key
        key = release_signer(repository, manifest, data, trusted)
        with contextlib.suppress(OSError):  # a read-only cache checks every time
            write_atomically(checked / key.keyid, b"")
        return key


def checked_release(repository: Repository, app: str, version: str, trusted: Sequence[PublicKey] = ()) -> str:
    """The sha256 of app version's manifest, once it was found signed by a trusted key (if any is
    given), and it and every blob it names were found intact."""
    manifest, data = read_release(repository, app, version)
    if trusted:
        release_signer(repository, manifest, data, trusted)
    return whole_release(repository, manifest, data)


class ServedSerials:
    """The highest serial of each channel this host acted on, per repository, app and channel: a
    lower one is an old entry put back, or newer ones deleted, and is refused unless accepted."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "channels"

    def _path(self, repository: Repository, app: str, channel: str) -> Path:
        return self.root / hashlib.sha256(repository.url.encode()).hexdigest()[:32] / app / channel

    def check(self, repository: Repository, head: ChannelEntry, *, accept_serial: int | None) -> None:
        path = self._path(repository, head.app, head.channel)
        try:
            served = int(path.read_text())
        except (FileNotFoundError, ValueError):
            served = 0
        if head.serial < served and head.serial != accept_serial:
            raise ChannelError(
                f"{head.app}'s channel {head.channel} in {repository.url} is at entry {head.serial}, but this host "
                f"already acted on entry {served}: an old entry was put back (a replay), or newer ones were "
                f"deleted, so it was not used. If the channel was reset on purpose, accept it once with "
                f"--accept-serial {head.serial}."
            )
        if head.serial != served:
            self._record(path, head.serial)

    @staticmethod
    def _record(path: Path, serial: int) -> None:
        # A read-only cache (one baked into an image) still checks what it holds; it cannot raise it.
        with contextlib.suppress(OSError):
            write_atomically(path, f"{serial}\n".encode())


def channel_release(
    repository: Repository, app: str, channel: str, *, served: ServedSerials, accept_serial: int | None
) -> tuple[ReleaseManifest, bytes, ChannelEntry]:
    """The release the channel points to, as it was promoted (its manifest's bytes)."""
    head = channel_head(repository, app, channel)
    if head is None:
        raise NotFoundError(
            f"{app}'s channel {channel} in {repository.url} has no entries: promote a version to it first "
            f"(`pexrun promote {repository.url} {app}@<version> --channel {channel}`)."
        )
    manifest, data = read_release(repository, app, head.version)
    if hashlib.sha256(data).hexdigest() != head.manifest_sha256:
        raise ChannelError(
            f"{app}'s channel {channel} in {repository.url} points to {app} {head.version} with manifest sha256 "
            f"{head.manifest_sha256} (entry {head.serial}), but the repository's manifest of it has sha256 "
            f"{hashlib.sha256(data).hexdigest()}: it was replaced after the promotion, so it was not used."
        )
    served.check(repository, head, accept_serial=accept_serial)
    return manifest, data, head
