# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Pruning a repository: the versions no one needs, then the blobs no kept manifest names.

Per app, prune keeps the newest N versions by PEP 440 (and every version that is not PEP 440, which
has no place in that order), every version a channel points to, and the versions of each channel's
last K entries, so that a rollback still finds its target. It deletes the others' manifests and
their signatures, then every blob that no remaining manifest names and that is older than a grace
period (a publish uploads its blobs and signs before it writes its manifest). Beside concurrent
publishes and promotions it holds the prune lock (`prune_lock.py`) and reads what to keep only once
it holds it. Each manifest it deletes is read first, for its size. A prune killed at any point
leaves only whole releases (manifests go before the blobs they name) and the next prune finishes
the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pex_release_core.channels import channel_history, list_channels
from pex_release_core.manifest import ManifestError, ReleaseManifest
from pex_release_core.prune_lock import DEFAULT_LEASE_SECONDS, PruneLease, acquire
from pex_release_core.repository.base import (
    Repository,
    RepositoryError,
    StoredObject,
    attestations_root_key,
    blob_key,
    manifest_key,
)
from pex_release_core.transfer import concurrently

DEFAULT_KEEP_HISTORY = 5
DEFAULT_GRACE_SECONDS = 3600.0
BLOBS = blob_key("")  # blobs/sha256/
# Deletions go in batches (one request each on S3), the lease renewed before each: a batch must
# take well under half a lease.
_DELETE_BATCH = 1000


@dataclass(frozen=True)
class PruneReport:
    kept: dict[str, tuple[str, ...]]  # app -> its kept versions, oldest first
    deleted_manifests: tuple[tuple[str, str, int], ...]  # (app, version, size)
    deleted_blobs: tuple[StoredObject, ...]
    young_blobs: int  # unreferenced, but within the grace period: kept
    dry_run: bool
    freed_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        freed = sum(size for *_, size in self.deleted_manifests) + sum(blob.size for blob in self.deleted_blobs)
        object.__setattr__(self, "freed_bytes", freed)


def prune(
    repository: Repository,
    *,
    keep: int,
    version_key: Callable[[str], tuple[int, Any]],
    keep_history: int = DEFAULT_KEEP_HISTORY,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    dry_run: bool = False,
) -> PruneReport:
    """version_key orders versions: (0, a PEP 440 Version) or (1, anything) for the others."""
    if keep < 1:
        raise RepositoryError(
            "prune --keep must be 1 or more: with 0 an app would keep only what its channels point to, and a "
            "release just published but not promoted yet would go. Keep at least the newest version."
        )
    lease = None if dry_run else acquire(repository, seconds=lease_seconds)
    try:
        kept, doomed = {}, []
        for app in repository.list_apps():
            versions = repository.list_versions(app)
            # Read once the lock is held: a promotion written before it is seen here, and one
            # written after it sees the lock and checks its version again.
            kept_versions = _kept_versions(repository, app, versions, keep, keep_history, version_key)
            kept[app] = tuple(sorted(kept_versions, key=version_key))
            app_doomed = [(app, v, _size(repository, app, v)) for v in versions if v not in kept_versions]
            if lease is not None and app_doomed:
                _delete(lease, [manifest_key(app, v) for _, v, _ in app_doomed])
                repository.update_indexes(app)
            if lease is not None:
                gone = {v for _, v, _ in app_doomed}
                _delete(lease, _unneeded_attestations(repository, app, set(versions) - gone, gone, grace_seconds))
            doomed += app_doomed
        # Listed again after the deletions, so a manifest published meanwhile keeps its blobs.
        referenced = _referenced_blobs(repository, skip={(app, v) for app, v, _ in doomed})
        oldest_young = repository.now() - grace_seconds
        unreferenced = [o for o in repository.list_objects(BLOBS) if o.key not in referenced]
        old = [o for o in unreferenced if o.modified < oldest_young]
        if lease is not None:
            _delete(lease, [BLOBS + o.key for o in old])
        return PruneReport(kept, tuple(doomed), tuple(old), len(unreferenced) - len(old), dry_run)
    finally:
        if lease is not None:
            lease.release()


def _kept_versions(
    repository: Repository,
    app: str,
    versions: list[str],
    keep: int,
    keep_history: int,
    version_key: Callable[[str], tuple[int, Any]],
) -> set[str]:
    pep_440 = sorted((v for v in versions if version_key(v)[0] == 0), key=version_key)
    kept = set(pep_440[-keep:]) | (set(versions) - set(pep_440))
    for channel in list_channels(repository, app):
        kept |= {entry.version for entry in channel_history(repository, app, channel, last=max(keep_history, 1))}
    return kept


def _unneeded_attestations(
    repository: Repository, app: str, published: set[str], deleted: set[str], grace_seconds: float
) -> list[str]:
    """The signatures and provenance of the versions just deleted, and of others without a manifest
    (left by a killed prune) once older than the grace period: publish signs before it writes its
    manifest."""
    root = attestations_root_key(app)
    oldest_young = repository.now() - grace_seconds
    return [
        root + o.key
        for o in repository.list_objects(root)
        if (version := o.key.split("/")[0]) in deleted or (version not in published and o.modified < oldest_young)
    ]


def _size(repository: Repository, app: str, version: str) -> int:
    return len(repository.read_manifest(app, version))


def _referenced_blobs(repository: Repository, *, skip: set[tuple[str, str]]) -> set[str]:
    """The sha256 of every blob a manifest in the repository names, but those of the (app,
    version) releases in skip. A manifest that cannot be read stops the prune: what it names is
    unknown."""
    releases = [(app, v) for app in repository.list_apps() for v in repository.list_versions(app) if (app, v) not in skip]

    def blobs_of(release: tuple[str, str]) -> set[str]:
        origin = f"{manifest_key(*release)} in {repository.url}"
        try:
            manifest = ReleaseManifest.loads(repository.read_manifest(*release), origin=origin)
        except ManifestError as e:
            raise RepositoryError(
                f"{e} prune stopped before deleting any blob, since it cannot tell which blobs this release needs: "
                "fix or remove that manifest and prune again."
            ) from None
        return {blob.sha256 for blob in manifest.blobs}

    referenced: set[str] = set()
    for blobs in concurrently(blobs_of, releases):
        referenced |= blobs
    return referenced


def _delete(lease: PruneLease, keys: list[str]) -> None:
    for start in range(0, len(keys), _DELETE_BATCH):
        lease.renew()
        lease.repository.delete_keys(keys[start : start + _DELETE_BATCH])
