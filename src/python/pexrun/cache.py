# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The local blob cache: blobs by sha256, verified before every use, safe for concurrent pexruns.

    <cache>/blobs/sha256/<hex>                 verified blobs
    <cache>/manifests/<app>/<version>.json     releases run or fetched here; mtime = last use
    <cache>/run/<app>@<version>/<app>.pex      a link to the sources blob, so `ps` names the release
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pex_release.manifest import Blob, ReleaseManifest
from pex_release.repository import BlobMismatchError, Repository, sha256_of


def default_cache_dir() -> Path:
    configured = os.environ.get("PEXRUN_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pexrun"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(temp, path)


@dataclass(frozen=True)
class FetchedRelease:
    manifest: ReleaseManifest
    deps: Path
    sources: Path  # Named after the release: <cache>/run/<app>@<version>/<app>.pex


class BlobCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / "sha256" / sha256

    def fetch(self, repository: Repository, blob: Blob) -> Path:
        """The verified local copy of `blob`, downloaded if missing.

        Every use re-hashes the cached bytes: a corrupt copy is deleted and reported, never run.
        """
        path = self.blob_path(blob.sha256)
        if path.exists():
            self._verify(path, blob, source="cached")
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Download under a name of our own, verify, then rename: concurrent pexruns never see
        # a partial blob, and the last rename of identical bytes wins harmlessly.
        fd, temp = tempfile.mkstemp(prefix=f".{blob.sha256}.", suffix=".part", dir=path.parent)
        os.close(fd)
        try:
            repository.download_blob(blob.sha256, Path(temp))
            self._verify(Path(temp), blob, source=f"downloaded from {repository.url}")
            os.chmod(temp, 0o555)
            os.replace(temp, path)
        finally:
            Path(temp).unlink(missing_ok=True)
        return path

    @staticmethod
    def _verify(path: Path, blob: Blob, *, source: str) -> None:
        sha256, size = sha256_of(path)
        if (sha256, size) != (blob.sha256, blob.size):
            path.unlink(missing_ok=True)
            raise BlobMismatchError(
                f"The {source} blob {blob.file} (sha256 {blob.sha256}) is corrupt: its bytes hash to "
                f"{sha256} ({size:,} bytes, expected {blob.size:,}). Refusing to run it; the bad copy "
                "was deleted, so running again fetches it anew."
            )

    def fetch_release(self, repository: Repository, manifest: ReleaseManifest, manifest_bytes: bytes) -> FetchedRelease:
        deps = self.fetch(repository, manifest.deps)
        sources = self.fetch(repository, manifest.sources)
        record = self.root / "manifests" / manifest.app / f"{manifest.version}.json"
        _atomic_write(record, manifest_bytes)  # also marks the release as just used, for gc
        return FetchedRelease(manifest, deps, self._named_link(manifest, sources))

    def _named_link(self, manifest: ReleaseManifest, sources: Path) -> Path:
        link = self.root / "run" / f"{manifest.app}@{manifest.version}" / f"{manifest.app}.pex"
        link.parent.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(sources, link.parent)
        if not (link.is_symlink() and os.readlink(link) == target):
            temp = link.with_name(f".{link.name}.{os.getpid()}")
            temp.unlink(missing_ok=True)
            temp.symlink_to(target)
            os.replace(temp, link)
        return link

    def gc(self, keep: int) -> tuple[list[str], int]:
        """Keeps the blobs of the `keep` most recently used releases of each app.

        Returns the releases dropped and the bytes freed.
        """
        kept_blobs: set[str] = set()
        dropped: list[str] = []
        for app_dir in sorted((self.root / "manifests").glob("*")):
            records = sorted(app_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for index, record in enumerate(records):
                release = ReleaseManifest.loads(record.read_bytes(), origin=str(record))
                if index < keep:
                    kept_blobs.update(b.sha256 for b in release.blobs)
                    continue
                dropped.append(f"{release.app}@{release.version}")
                record.unlink()
                run_dir = self.root / "run" / f"{release.app}@{release.version}"
                if run_dir.is_dir():
                    shutil.rmtree(run_dir)
        freed = 0
        for blob in (self.root / "blobs" / "sha256").glob("*"):
            # Dot-files are downloads in progress.
            if blob.name not in kept_blobs and not blob.name.startswith("."):
                freed += blob.stat().st_size
                blob.unlink()
        return dropped, freed
