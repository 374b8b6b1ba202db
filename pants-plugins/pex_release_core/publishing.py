# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Publishing a release: the blobs a repository lacks, then the manifest, last; every file of the
release checked on disk first. The publisher (`pants publish`'s process) runs this."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pex_release_core.manifest import Blob, ManifestError, ReleaseManifest, ReleasePex, TreeSymlink
from pex_release_core.provenance import BuildInputs, statement
from pex_release_core.prune_lock import prune_state, pruned_since
from pex_release_core.repository.base import (
    METADATA_MAX_BYTES,
    AlreadyPublishedError,
    BlobMismatchError,
    NotFoundError,
    Repository,
    RepositoryError,
    manifest_key,
)
from pex_release_core.signing import MANIFEST, PROVENANCE, SignedRelease, SigningKey, write_attestation
from pex_release_core.transfer import concurrently, file_sha256


@dataclass(frozen=True)
class BlobUpload:
    """What publish did with one blob of a release: a file of a tree, or a zipapp PEX."""

    blob: Blob
    uploaded: bool  # False: the repository already had it, intact.


@dataclass(frozen=True)
class PublishReport:
    manifest: ReleaseManifest
    repository_url: str  # Redacted, for messages.
    blobs: tuple[BlobUpload, ...]  # One per blob of the release (files with the same bytes are one blob).
    manifest_written: bool  # False: the same manifest was already there (or a concurrent publish wrote it).
    # True: the same manifest was there before this publish began, so what it uploaded were repairs.
    previously_published: bool
    signed_by: str | None = None  # The signing key's id, when publish signed.
    signature_added: bool = False  # False: that key had signed this manifest already.

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.manifest.app, self.manifest.version)


@dataclass(frozen=True)
class Signer:
    """The team's key, and what provenance says of the build."""

    key: SigningKey
    build: BuildInputs

    def sign(self, repository: Repository, manifest: ReleaseManifest, data: bytes) -> bool:
        """Signs the manifest and its provenance: False if this key had signed both already."""
        release = SignedRelease(manifest.app, manifest.version, data)
        provenance = statement(manifest, release.manifest_sha256, self.build)
        added = write_attestation(repository, self.key, release, PROVENANCE, provenance)
        # The manifest's signature last: a host that finds it finds the provenance too.
        return write_attestation(repository, self.key, release, MANIFEST, data) or added


def publish(repository: Repository, manifest_path: Path, signer: Signer | None = None) -> PublishReport:
    """Uploads the blobs the repository lacks, then the signatures (with a signer), then the manifest, last.

    Every file of the release is checked first: each against its manifest entry (bytes, and a
    tree's symlinks), and each wheel of the deps PEX against the hash its lockfile pins. Then one
    batched check finds the blobs the repository lacks, which are uploaded concurrently.

    A publish killed midway, or failing on one upload, leaves blobs but no manifest, so readers
    never see a release with missing blobs, and running it again completes it. A version is
    published once: the same bytes again upload only what the repository lost or damaged since (a
    repair), other bytes are refused, also when two publishes race. Beside a prune, it ends whole:
    if a prune ran while it published, it uploads again what the prune took (`prune_lock.py`). A
    signer signs before the manifest is written, and a republish with another key adds its signature.
    """
    data, manifest = _read_local_manifest(manifest_path)
    _check_wheels(manifest_path, manifest)
    repository.prepare_to_publish()
    published = _published_manifest(repository, manifest)
    if published is not None:
        _check_same(repository, manifest, data, published)
    local_files = _verified_local_files(manifest_path, manifest)
    prunes_before = prune_state(repository)
    missing = _upload_missing(repository, manifest, local_files)
    signature_added = signer is not None and signer.sign(repository, manifest, data)
    written = False
    if published is None:
        written = repository.create_manifest(manifest.app, manifest.version, data)
        if not written:  # a concurrent publish of this version won the race
            _check_same(repository, manifest, data, repository.read_manifest(manifest.app, manifest.version))
    if pruned_since(repository, prunes_before):
        # That prune may have listed the manifests before ours existed, and deleted blobs this
        # publish found present, or this very version (a republish): put back what it took.
        missing |= _upload_missing(repository, manifest, local_files)
        signature_added = (signer is not None and signer.sign(repository, manifest, data)) or signature_added
        written = repository.create_manifest(manifest.app, manifest.version, data) or written
    repository.update_indexes(manifest.app)  # also completes a publish killed before its indexes
    uploads = tuple(BlobUpload(blob, uploaded=blob.sha256 in missing) for blob in manifest.blobs)
    return PublishReport(
        manifest,
        repository.url,
        uploads,
        written,
        previously_published=published is not None,
        signed_by=signer.key.keyid if signer else None,
        signature_added=signature_added,
    )


def _read_local_manifest(manifest_path: Path) -> tuple[bytes, ReleaseManifest]:
    try:
        with open(manifest_path, "rb") as f:
            data = f.read(METADATA_MAX_BYTES + 1)
    except OSError as e:
        raise RepositoryError(
            f"Cannot read the manifest {manifest_path}: {e.strerror}. Build the release first (`./pants package`)."
        ) from None
    if len(data) > METADATA_MAX_BYTES:
        raise RepositoryError(
            f"{manifest_path} is larger than {METADATA_MAX_BYTES:,} bytes ({METADATA_MAX_BYTES >> 20} MiB), the most a "
            "repository's manifest may be (pexrun reads no more), so nothing was uploaded. Build it again "
            "(`./pants package`); a release that large has too many files to run from a repository."
        )
    try:
        return data, ReleaseManifest.loads(data, origin=str(manifest_path))
    except ManifestError as e:  # e.g. a path out of its tree: never in what the plugin writes
        raise ManifestError(
            f"{str(e).rstrip('.')}. Publish only what `./pants package` writes: build the release again."
        ) from None


def _check_wheels(manifest_path: Path, manifest: ReleaseManifest) -> None:
    """Refuses a deps PEX with a wheel that is not the artifact its lockfile pins: the manifest's
    sha256 of each `.deps/` wheel (which the local files are then checked against) must be the
    lockfile's."""
    mismatches = manifest.deps.wheel_mismatches()
    if mismatches:
        wheels = "; ".join(
            f"{manifest.deps.file}/{path} has sha256 {actual}, the lockfile pins {locked}"
            for path, locked, actual in mismatches
        )
        raise BlobMismatchError(
            f"{manifest.app} {manifest.version}: {manifest_path} names wheels that are not the artifacts the "
            f"lockfile pins ({wheels}), so nothing was uploaded. To fix, build the release again from the "
            "lockfile (`./pants package`); if the wheel's index serves other bytes than those locked, "
            "regenerate the lockfile (`./pants generate-lockfiles`) and review the change."
        )


def _published_manifest(repository: Repository, manifest: ReleaseManifest) -> bytes | None:
    try:
        return repository.read_manifest(manifest.app, manifest.version)
    except NotFoundError:
        return None


def _check_same(repository: Repository, manifest: ReleaseManifest, data: bytes, published: bytes) -> None:
    if published != data:
        raise AlreadyPublishedError(
            f"{manifest.app} {manifest.version} is already published in {repository.url} with different content "
            f"({manifest_key(manifest.app, manifest.version)} has sha256 {hashlib.sha256(published).hexdigest()}, "
            f"this build's {hashlib.sha256(data).hexdigest()}), and a published version never changes. "
            "To fix, release a new `version`."
        )


def _verified_local_files(manifest_path: Path, manifest: ReleaseManifest) -> dict[str, Path]:
    """The local file of each blob, by sha256, once every file and symlink of every PEX, and the
    SBOM, on disk were checked against the manifest."""
    files: dict[str, Path] = {}
    for pex in manifest.pexes:
        for blob in pex.blobs:
            files.setdefault(blob.sha256, _verified_local_file(manifest_path, manifest, blob))
        for symlink in pex.symlinks:
            _check_local_symlink(manifest_path, manifest, pex, symlink)
    if manifest.sbom is not None:
        files.setdefault(manifest.sbom.sha256, _verified_local_file(manifest_path, manifest, manifest.sbom))
    return files


def _verified_local_file(manifest_path: Path, manifest: ReleaseManifest, blob: Blob) -> Path:
    path = manifest_path.parent / blob.file
    try:
        sha256, size = file_sha256(path)
    except OSError as e:
        raise RepositoryError(
            f"{manifest.app} {manifest.version}: cannot read {path}, which {manifest_path} names: {e.strerror}. "
            "Build the release again (`./pants package`)."
        ) from None
    if (sha256, size) != (blob.sha256, blob.size):
        raise BlobMismatchError(
            f"{manifest.app} {manifest.version}: {path} does not match {manifest_path}: its {size:,} bytes hash to "
            f"{sha256}, the manifest says {blob.size:,} bytes with sha256 {blob.sha256}. It changed after the "
            "build: build the release again (`./pants package`)."
        )
    return path


def _check_local_symlink(manifest_path: Path, manifest: ReleaseManifest, pex: ReleasePex, symlink: TreeSymlink) -> None:
    path = manifest_path.parent / pex.file / symlink.path
    try:
        found = f"a symlink to {os.readlink(path)!r}"
    except FileNotFoundError:
        found = "missing"
    except OSError:  # EINVAL: there, but not a symlink
        found = "not a symlink"
    if found != f"a symlink to {symlink.target!r}":
        raise BlobMismatchError(
            f"{manifest.app} {manifest.version}: {path} does not match {manifest_path}: it is {found}, the manifest "
            f"says a symlink to {symlink.target!r}. It changed after the build: build the release again "
            "(`./pants package`)."
        )


def _upload_missing(repository: Repository, manifest: ReleaseManifest, local_files: dict[str, Path]) -> set[str]:
    """Uploads, concurrently, the blobs the repository lacks; returns their sha256."""
    missing = repository.missing_blobs(manifest.blobs)
    concurrently(
        lambda blob: _upload(repository, manifest, blob, local_files[blob.sha256]),
        [blob for blob in manifest.blobs if blob.sha256 in missing],
    )
    return missing


def _upload(repository: Repository, manifest: ReleaseManifest, blob: Blob, path: Path) -> None:
    try:
        repository.upload_blob(path, blob.sha256)
    except (RepositoryError, OSError) as e:
        # The error of the store or of the local file, prefixed with the file and what it means.
        reason = str(e) if isinstance(e, RepositoryError) else f"{path}: {e.strerror or e}."
        raise (type(e) if isinstance(e, RepositoryError) else RepositoryError)(
            f"{manifest.app} {manifest.version}: uploading {blob.file} failed, so the manifest was not written "
            f"(publishing again uploads what is still missing): {reason}"
        ) from None
