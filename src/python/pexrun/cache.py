# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The local cache of a host: blobs by sha256, verified before every use, shared by concurrent pexruns.

    <cache>/blobs/sha256/<hex>                  blobs, written under a temporary name and renamed once verified
    <cache>/manifests/<app>/<version>.json      the releases fetched here; the file's mtime is the last use
    <cache>/run/<app>@<version>/<app>.pex       a link to the sources blob, so `ps` names the release

A read-only cache (e.g. one baked into an image) runs the releases it holds: the record of use and
the link are skipped when they cannot be written, and the release runs from its blob's path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pex_release.manifest import Blob, ManifestError, ReleaseManifest
from pex_release.repository import BlobMismatchError, Repository, file_sha256

CACHE_DIR_ENV = "PEXRUN_CACHE_DIR"
DOWNLOAD_TIMEOUT_ENV = "PEXRUN_DOWNLOAD_TIMEOUT"
DEFAULT_DOWNLOAD_TIMEOUT_SECONDS = 60.0
# A blob's download may take the download timeout plus one second per this many bytes: a slow link
# gets time in proportion to the blob, and a server that trickles or stalls is given up on.
MIN_DOWNLOAD_BYTES_PER_SECOND = 256 * 1024
# A temporary download older than this was left by a pexrun that died; younger ones may be in progress.
_ABANDONED_DOWNLOAD_SECONDS = 24 * 3600


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pexrun"


class CacheError(Exception):
    """The cache cannot hold what a run needs; the message names the path and the fix."""


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


def _lstat_mode(path: Path) -> int | None:
    try:
        return path.lstat().st_mode
    except FileNotFoundError:
        return None


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
    def __init__(self, root: Path, *, download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT_SECONDS) -> None:
        self.root = root
        self.download_timeout = download_timeout
        self._blobs = root / "blobs" / "sha256"
        self._records = root / "manifests"
        self._links = root / "run"

    def blob_path(self, sha256: str) -> Path:
        return self._blobs / sha256

    def fetch_release(self, repository: Repository, manifest: ReleaseManifest, manifest_bytes: bytes) -> FetchedRelease:
        """The verified local copies of the release's deps and sources PEXes, downloaded if missing."""
        # Recorded first, so a concurrent `gc` keeps the blobs this fetch is about to add; a cache
        # that cannot be written (read-only) still runs what it holds: the record only guides gc.
        try:
            _write_atomically(self._records / manifest.app / f"{manifest.version}.json", manifest_bytes)
        except OSError:
            pass
        deps = self.fetch_blob(repository, manifest.deps)
        sources = self.fetch_blob(repository, manifest.sources)
        return FetchedRelease(manifest, deps, self._release_link(manifest, sources))

    def download_seconds(self, blob: Blob) -> float:
        return self.download_timeout + blob.size / MIN_DOWNLOAD_BYTES_PER_SECOND

    def fetch_blob(self, repository: Repository, blob: Blob) -> Path:
        path = self.blob_path(blob.sha256)
        mode = _lstat_mode(path)
        if mode is not None and stat.S_ISREG(mode):
            self._verify_cached(path, blob)
            return path
        if mode is not None:  # a directory, a link, a pipe...: not ours, and in the way
            self._remove_non_file(path, blob)
        # A name of our own, verified, then renamed into place: a concurrent pexrun never sees half a
        # blob, and when two download the same one, the second rename puts identical bytes in place.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{blob.sha256}.", suffix=".download", dir=path.parent)
        except OSError as e:
            raise CacheError(
                f"Cannot download {blob.file} (sha256:{blob.sha256}) into the cache {self.root}: {e.strerror}. "
                "Make it writable, or use another with --cache-dir DIR (or $PEXRUN_CACHE_DIR)."
            ) from None
        os.close(fd)
        try:
            repository.download_blob(blob, Path(temp), seconds=self.download_seconds(blob))
            self._verify_download(Path(temp), blob, repository)
            os.chmod(temp, 0o444)  # blobs are immutable; mkstemp made it 0600
            os.replace(temp, path)
        finally:
            Path(temp).unlink(missing_ok=True)
        return path

    @staticmethod
    def _remove_non_file(path: Path, blob: Blob) -> None:
        try:
            if stat.S_ISDIR(path.lstat().st_mode):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as e:
            raise CacheError(
                f"{path}, where the cache keeps {blob.file} (sha256:{blob.sha256}), is not a file, and pexrun "
                f"cannot remove it ({e.strerror}): remove it (`rm -r {path}`) and run again."
            ) from None

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
                "the repository's copy is damaged: publish the release again, which replaces it."
            )

    def _release_link(self, manifest: ReleaseManifest, sources: Path) -> Path:
        """The link named after the release, or the blob itself where the link cannot be made."""
        link = self._links / f"{manifest.app}@{manifest.version}" / f"{manifest.app}.pex"
        target = os.path.relpath(sources, link.parent)
        if link.is_symlink() and os.readlink(link) == target:
            return link
        temp = link.with_name(f".{link.name}.{uuid.uuid4().hex}")
        try:
            link.parent.mkdir(parents=True, exist_ok=True)
            temp.symlink_to(target)
            os.replace(temp, link)  # atomic, also over a link another pexrun just made
        except OSError:  # a read-only cache, or something else in the way: only `ps` loses the name
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            return sources
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
