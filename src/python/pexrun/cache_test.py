# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pex_release.manifest import Blob, ReleaseManifest
from pex_release.repository import BlobMismatchError, FileRepository, Repository, publish
from pex_release.testutil import make_release, python_env
from pexrun.cache import BlobCache, default_cache_dir


class CountingRepository(FileRepository):
    """A file:// repository that counts downloads."""

    downloads = 0

    def download_blob(self, blob: Blob, dest_path: Path, *, seconds: float) -> None:
        self.downloads += 1
        super().download_blob(blob, dest_path, seconds=seconds)


@pytest.fixture
def repository(tmp_path: Path) -> CountingRepository:
    repository = CountingRepository(f"file://{tmp_path / 'repository'}", tmp_path / "repository")
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        publish(repository, make_release(tmp_path / version, "api", version, sources=version))
    return repository


def release(repository: Repository, version: str) -> tuple[ReleaseManifest, bytes]:
    data = repository.read_manifest("api", version)
    return ReleaseManifest.loads(data, origin="test"), data


def cached_files(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "blobs" / "sha256").iterdir())


def test_a_cold_then_warm_fetch(repository: CountingRepository, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    fetched = cache.fetch_release(repository, manifest, data)
    assert repository.downloads == 2
    assert fetched.deps == cache.blob_path(manifest.deps.sha256)
    assert fetched.sources == tmp_path / "cache" / "run" / "api@1.0.0" / "api.pex"
    assert os.readlink(fetched.sources) == f"../../blobs/sha256/{manifest.sources.sha256}"
    assert (tmp_path / "cache" / "manifests" / "api" / "1.0.0.json").read_bytes() == data
    assert cache.fetch_release(repository, manifest, data) == fetched
    assert repository.downloads == 2  # warm: verified, not downloaded
    assert cached_files(tmp_path / "cache") == sorted([manifest.deps.sha256, manifest.sources.sha256])


def test_a_corrupt_cached_blob_is_refused_deleted_and_named(repository: CountingRepository, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    deps = cache.fetch_release(repository, manifest, data).deps
    deps.chmod(0o644)
    deps.write_bytes(b"bit rot")
    with pytest.raises(BlobMismatchError) as refused:
        cache.fetch_release(repository, manifest, data)
    assert str(refused.value).startswith(
        f"The cached copy of deps-shared.pex (sha256:{manifest.deps.sha256}) in {deps.parent} is corrupt: its 7 bytes "
        f"hash to "
    )
    assert str(refused.value).endswith("pexrun refused to run it and deleted it; run again to fetch it anew.")
    assert not deps.exists()
    cache.fetch_release(repository, manifest, data)  # the rerun fetches it again
    assert deps.read_bytes() == (tmp_path / "1.0.0" / "deps-shared.pex").read_bytes()


def test_a_corrupt_download_leaves_nothing_in_the_cache(repository: CountingRepository, tmp_path: Path) -> None:
    manifest, data = release(repository, "1.0.0")
    (repository.root / "blobs" / "sha256" / manifest.sources.sha256).write_bytes(b"damaged in the repository")
    cache = BlobCache(tmp_path / "cache")
    with pytest.raises(BlobMismatchError) as refused:
        cache.fetch_release(repository, manifest, data)
    assert f"api-srcs.pex (sha256:{manifest.sources.sha256}, {manifest.sources.size:,} bytes) downloaded from" in str(
        refused.value
    )
    assert "the repository's copy is damaged: publish the release again, which replaces it." in str(refused.value)
    assert cached_files(tmp_path / "cache") == [manifest.deps.sha256]  # no half-written or bad file


_FETCH = """
import sys
from pathlib import Path
from pex_release.manifest import ReleaseManifest
from pex_release.repository import open_repository
from pexrun.cache import BlobCache
repository = open_repository(sys.argv[1])
data = repository.read_manifest("api", "1.0.0")
print(BlobCache(Path(sys.argv[2])).fetch_release(repository, ReleaseManifest.loads(data, origin="t"), data).sources)
"""


def test_concurrent_fetches_into_one_cache(repository: CountingRepository, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fetchers = [
        subprocess.Popen(
            [sys.executable, "-c", _FETCH, repository.url, str(cache)],
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(*f.communicate(timeout=120), f.returncode) for f in fetchers]
    assert [(code, err) for _, err, code in results] == [(0, "")] * 4
    assert {out.strip() for out, _, _ in results} == {str(cache / "run" / "api@1.0.0" / "api.pex")}
    manifest, _ = release(repository, "1.0.0")
    assert cached_files(cache) == sorted([manifest.deps.sha256, manifest.sources.sha256])  # no temporary files


def test_gc_keeps_the_most_recently_used_releases_of_each_app(repository: CountingRepository, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    now = time.time()
    for age, version in ((300, "1.2.0"), (200, "1.0.0"), (100, "1.1.0")):
        cache.fetch_release(repository, *release(repository, version))
        record = tmp_path / "cache" / "manifests" / "api" / f"{version}.json"
        os.utime(record, (now - age, now - age))
    abandoned = tmp_path / "cache" / "blobs" / "sha256" / ".abandoned.download"
    abandoned.write_bytes(b"left by a pexrun that died")
    os.utime(abandoned, (now - 2 * 86400, now - 2 * 86400))
    oldest, _ = release(repository, "1.2.0")

    report = cache.gc(keep=2)

    assert report.removed_releases == ("api@1.2.0",)
    assert report.removed_blobs == 2
    assert report.freed_bytes == oldest.sources.size + len(b"left by a pexrun that died")
    assert sorted(p.name for p in (tmp_path / "cache" / "manifests" / "api").iterdir()) == ["1.0.0.json", "1.1.0.json"]
    assert not cache.blob_path(oldest.sources.sha256).exists()
    assert cache.blob_path(oldest.deps.sha256).exists()  # shared with the releases kept
    assert not (tmp_path / "cache" / "run" / "api@1.2.0").exists()
    assert cache.gc(keep=0).removed_releases == ("api@1.1.0", "api@1.0.0")
    assert cached_files(tmp_path / "cache") == []


def test_gc_of_an_empty_cache(tmp_path: Path) -> None:
    assert BlobCache(tmp_path / "nothing-yet").gc(keep=1).removed_releases == ()


def test_the_cache_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PEXRUN_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("PEXRUN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "pexrun"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "pexrun"
