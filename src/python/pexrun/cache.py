# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The local cache of a host: blobs by sha256, verified before every use, shared by concurrent pexruns.

    <cache>/blobs/sha256/<hex>                  blobs, written under a temporary name and renamed once verified
    <cache>/manifests/<app>/<version>.json      the releases fetched here; the file's mtime is the last use
    <cache>/run/<app>@<version>/<app>.pex       a link to the sources blob, so `ps` names the release
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pex_release.manifest import Blob, ManifestError, ReleaseManifest
from pex_release.repository import BlobMismatchError, Repository, file_sha256

CACHE_DIR_ENV = "PEXRUN_CACHE_DIR"
# A temporary download older than this was left by a pexrun that died; younger ones may be in progress.
_ABANDONED_DOWNLOAD_SECONDS = 24 * 3600


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pexrun"


@dataclass(frozen=True)
class FetchedRelease:
    manifest: ReleaseManifest
    deps: Path  # The deps PEX, for PEX_PATH.
    sources: Path  # The sources PEX, through the link named after the release.


@dataclass(frozen=True)
class GcReport:
    removed_releases: tuple[str, ...]  # `<app>@<version>`
    removed_blobs: int
    freed_bytes: int


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


class BlobCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs" / "sha256"
        self._records = root / "manifests"
        self._links = root / "run"

    def blob_path(self, sha256: str) -> Path:
        return self._blobs / sha256

    def fetch_release(self, repository: Repository, manifest: ReleaseManifest, manifest_bytes: bytes) -> FetchedRelease:
        """The verified local copies of the release's deps and sources PEXes, downloaded if missing."""
        # Recorded first, so a concurrent `gc` keeps the blobs this fetch is about to add.
        _write_atomically(self._records / manifest.app / f"{manifest.version}.json", manifest_bytes)
        deps = self.fetch_blob(repository, manifest.deps)
        sources = self.fetch_blob(repository, manifest.sources)
        return FetchedRelease(manifest, deps, self._release_link(manifest, sources))

    def fetch_blob(self, repository: Repository, blob: Blob) -> Path:
        path = self.blob_path(blob.sha256)
        if path.exists():
            self._verify_cached(path, blob)
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of our own, verified, then renamed into place: a concurrent pexrun never sees half a
        # blob, and when two download the same one, the second rename puts identical bytes in place.
        fd, temp = tempfile.mkstemp(prefix=f".{blob.sha256}.", suffix=".download", dir=path.parent)
        os.close(fd)
        try:
            repository.download_blob(blob.sha256, Path(temp))
            self._verify_download(Path(temp), blob, repository)
            os.chmod(temp, 0o444)  # blobs are immutable; mkstemp made it 0600
            os.replace(temp, path)
        finally:
            Path(temp).unlink(missing_ok=True)
        return path

    @staticmethod
    def _verify_cached(path: Path, blob: Blob) -> None:
        sha256, size = file_sha256(path)
        if (sha256, size) != (blob.sha256, blob.size):
            path.unlink(missing_ok=True)
            raise BlobMismatchError(
                f"The cached copy of {blob.file} (sha256:{blob.sha256}) in {path.parent} is corrupt: its {size:,} "
                f"bytes hash to {sha256}. pexrun refused to run it and deleted it; run again to fetch it anew."
            )

    @staticmethod
    def _verify_download(path: Path, blob: Blob, repository: Repository) -> None:
        sha256, size = file_sha256(path)
        if (sha256, size) != (blob.sha256, blob.size):
            raise BlobMismatchError(
                f"{blob.file} (sha256:{blob.sha256}, {blob.size:,} bytes) downloaded from {repository.url} is "
                f"corrupt: its {size:,} bytes hash to {sha256}. Nothing was cached or run. If it happens again, "
                f"the repository's copy is damaged: delete blobs/sha256/{blob.sha256} there and publish the release again."
            )

    def _release_link(self, manifest: ReleaseManifest, sources: Path) -> Path:
        link = self._links / f"{manifest.app}@{manifest.version}" / f"{manifest.app}.pex"
        target = os.path.relpath(sources, link.parent)
        if link.is_symlink() and os.readlink(link) == target:
            return link
        link.parent.mkdir(parents=True, exist_ok=True)
        temp = link.with_name(f".{link.name}.{uuid.uuid4().hex}")
        temp.symlink_to(target)
        os.replace(temp, link)  # atomic, also over a link another pexrun just made
        return link

    def gc(self, keep: int) -> GcReport:
        """Keeps the blobs of each app's `keep` most recently used releases and removes the rest."""
        kept_blobs: set[str] = set()
        removed: list[str] = []
        app_dirs = sorted(self._records.iterdir()) if self._records.is_dir() else []
        for app_dir in app_dirs:
            records = sorted(app_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for record in records[:keep]:
                kept_blobs.update(self._blobs_of(record))
            for record in records[keep:]:
                removed.append(f"{app_dir.name}@{record.stem}")
                record.unlink()
                shutil.rmtree(self._links / f"{app_dir.name}@{record.stem}", ignore_errors=True)
        removed_blobs, freed = self._remove_blobs(keep=kept_blobs)
        return GcReport(tuple(removed), removed_blobs, freed)

    @staticmethod
    def _blobs_of(record: Path) -> set[str]:
        try:
            manifest = ReleaseManifest.loads(record.read_bytes(), origin=str(record))
        except ManifestError:
            record.unlink()  # unreadable: treat the release as unused, and fetch it again when it is run
            return set()
        return {blob.sha256 for blob in manifest.blobs}

    def _remove_blobs(self, *, keep: set[str]) -> tuple[int, int]:
        removed, freed = 0, 0
        blobs = list(self._blobs.iterdir()) if self._blobs.is_dir() else []
        for blob in blobs:
            try:
                stat = blob.stat()
            except FileNotFoundError:  # a concurrent gc, or a download that just finished
                continue
            if blob.name.startswith("."):
                if time.time() - stat.st_mtime < _ABANDONED_DOWNLOAD_SECONDS:
                    continue  # a download in progress
            elif blob.name in keep:
                continue
            blob.unlink(missing_ok=True)
            removed, freed = removed + 1, freed + stat.st_size
        return removed, freed
