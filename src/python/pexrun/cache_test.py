# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from pex_release_core.manifest import Blob, ReleaseManifest, ReleasePex, TreeSymlink
from pex_release_core.publishing import publish
from pex_release_core.repository.base import NotFoundError, Repository, blob_key
from pex_release_core.repository.file import FileRepository
from pex_release_core.testutil import RELEASE_DEPS_SHOW, damage_blob, make_release
from pexrun import cache as cache_module
from pexrun.cache import BlobCache, CacheError, default_cache_dir


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


def cached_blobs(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "blobs" / "sha256").iterdir())


def trees(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "trees").iterdir())


def tree_contents(root: Path) -> dict[str, object]:
    """Each file's bytes and each symlink's target, by path: what a PEX directory holds."""
    return {
        str(p.relative_to(root)): os.readlink(p) if p.is_symlink() else p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_symlink() or p.is_file()
    }


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files the cache hashes, in order."""
    calls: list[Path] = []
    real = cache_module.file_sha256

    def counting(path: Path) -> tuple[str, int]:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(cache_module, "file_sha256", counting)
    return calls


def test_a_cold_then_warm_fetch(repository: CountingRepository, tmp_path: Path, hashed: list[Path]) -> None:
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    fetched = cache.fetch_release(repository, manifest, data)
    assert repository.downloads == len(manifest.blobs) == 11  # 5 + 7 files, `.bootstrap` once for both trees
    assert fetched.deps == tmp_path / "cache" / "trees" / manifest.deps.sha256 / "pex"
    assert fetched.sources == tmp_path / "cache" / "trees" / manifest.sources.sha256 / "pex"
    for pex, built in ((manifest.deps, fetched.deps), (manifest.sources, fetched.sources)):
        assert tree_contents(built) == tree_contents(tmp_path / "1.0.0" / pex.file)
        for file in pex.files:  # hard links to the blobs, read-only as they are
            assert (built / file.path).stat().st_ino == cache.blob_path(file.sha256).stat().st_ino
            assert stat.S_IMODE((built / file.path).stat().st_mode) == 0o444
    assert (tmp_path / "cache" / "manifests" / "api" / "1.0.0.json").read_bytes() == data

    hashed.clear()
    assert cache.fetch_release(repository, manifest, data) == fetched
    assert repository.downloads == 11
    assert hashed == []  # warm: each entry's stat is checked, no file is hashed
    assert trees(tmp_path / "cache") == sorted([manifest.deps.sha256, manifest.sources.sha256])


def test_a_new_release_downloads_only_the_files_it_does_not_share(repository: CountingRepository, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cache.fetch_release(repository, *release(repository, "1.0.0"))
    manifest, data = release(repository, "1.1.0")
    fetched = cache.fetch_release(repository, manifest, data)
    assert repository.downloads == 11 + 1  # only 1.1.0's release.txt: the deps tree is the same one
    assert tree_contents(fetched.sources) == tree_contents(tmp_path / "1.1.0" / manifest.sources.file)


def with_executable_main(path: Path) -> Path:
    """The release at path, with its sources' `__main__.py` executable (as pex writes it)."""
    manifest = ReleaseManifest.loads(path.read_bytes(), origin=str(path))
    sources = manifest.sources
    files = tuple(dataclasses.replace(f, mode="0755") if f.path == "__main__.py" else f for f in sources.files)
    sources = ReleasePex.tree(sources.file, sources.layout, files, sources.symlinks)
    path.write_bytes(dataclasses.replace(manifest, sources=sources).dumps())
    return path


def test_an_executable_file_is_a_copy_of_its_blob_with_mode_0555(tmp_path: Path) -> None:
    repository = FileRepository(f"file://{tmp_path / 'repository'}", tmp_path / "repository")
    publish(repository, with_executable_main(make_release(tmp_path / "dist", "api", "1.0.0")))
    manifest, data = release(repository, "1.0.0")
    cache = BlobCache(tmp_path / "cache")
    main = cache.fetch_release(repository, manifest, data).sources / "__main__.py"
    blob = cache.blob_path(next(f.sha256 for f in manifest.sources.files if f.path == "__main__.py"))
    assert (stat.S_IMODE(main.stat().st_mode), stat.S_IMODE(blob.stat().st_mode)) == (0o555, 0o444)
    assert main.stat().st_ino != blob.stat().st_ino and main.read_bytes() == blob.read_bytes()
    assert cache.fetch_release(repository, manifest, data).repairs == ()  # the copy is what its record says


@pytest.fixture
def other_file_system(tmp_path: Path) -> Iterator[Path]:
    """A directory on another file system than tmp_path's (tmpfs), where hard links to tmp_path fail."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    directory = Path(tempfile.mkdtemp(dir=shm))
    yield directory
    shutil.rmtree(directory)


def test_blobs_on_another_file_system_are_copied_into_trees(
    repository: CountingRepository, tmp_path: Path, other_file_system: Path, hashed: list[Path]
) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "blobs").symlink_to(other_file_system)
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    deps = cache.fetch_release(repository, manifest, data).deps
    assert tree_contents(deps) == tree_contents(tmp_path / "1.0.0" / manifest.deps.file)
    for file in manifest.deps.files:
        copy, blob = (deps / file.path).stat(), cache.blob_path(file.sha256).stat()
        assert (copy.st_dev, stat.S_IMODE(copy.st_mode), copy.st_nlink) == (tmp_path.stat().st_dev, 0o444, 1)
        assert blob.st_dev != copy.st_dev
    hashed.clear()
    assert cache.fetch_release(repository, manifest, data).repairs == () and hashed == []


def test_a_touched_tree_is_hashed_once_and_kept(repository: CountingRepository, tmp_path: Path, hashed: list[Path]) -> None:
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    sources = cache.fetch_release(repository, manifest, data).sources
    directory = sources.parent.stat().st_ino
    os.utime(sources / "release.txt")  # a new mtime, the same bytes
    hashed.clear()
    again = cache.fetch_release(repository, manifest, data)
    assert (again.repairs, repository.downloads) == ((), 11)
    assert sorted(hashed) == sorted(sources / f.path for f in manifest.sources.files)  # that tree's files, once
    assert sources.parent.stat().st_ino == directory  # kept, not rebuilt
    hashed.clear()
    cache.fetch_release(repository, manifest, data)
    assert hashed == []  # its new stat was recorded


def test_a_tree_file_edited_in_place_is_replaced_with_its_blob(repository: CountingRepository, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    sources = cache.fetch_release(repository, manifest, data).sources
    edited = sources / "release.txt"
    blob = cache.blob_path(next(f.sha256 for f in manifest.sources.files if f.path == "release.txt"))
    edited.chmod(0o644)
    edited.write_text("edited")
    assert blob.read_text() == "edited"  # a hard link: the blob's bytes changed with it

    again = cache.fetch_release(repository, manifest, data)

    assert again.sources == sources
    assert (sources / "release.txt").read_text() == blob.read_text() == "api 1.0.0"
    assert stat.S_IMODE((sources / "release.txt").stat().st_mode) == 0o444
    assert repository.downloads == 11 + 1  # the damaged blob, again
    assert again.repairs == (
        f"{sources} (api-srcs.pex) had changed since pexrun built it: a file's bytes, mode or type, or a symlink, "
        "differs from the manifest. pexrun built it again from verified blobs.",
        f"The cached copy of api-srcs.pex/release.txt (sha256:{blob.name}) in {blob.parent} was corrupt: its 6 bytes "
        f"hashed to {hashlib.sha256(b'edited').hexdigest()}. pexrun deleted it and downloaded it again.",
    )
    assert [p.name for p in (tmp_path / "cache" / "trees").iterdir() if p.name.startswith(".")] == []


def test_a_change_with_its_mtime_set_back_is_found_by_fetch_only(repository: CountingRepository, tmp_path: Path) -> None:
    """The threat model: a run trusts mtimes; `fetch` (verify) hashes every file."""
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    deps = cache.fetch_release(repository, manifest, data).deps
    module = deps / "release_deps.py"
    st = module.stat()
    module.chmod(0o644)
    module.write_text("NAME = 'x'\n" + " " * (st.st_size - 11))  # the same size
    module.chmod(0o444)
    os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.fetch_release(repository, manifest, data).repairs == ()
    assert module.read_text().startswith("NAME = 'x'")  # unseen by a run: a deliberate change
    verified = cache.fetch_release(repository, manifest, data, verify=True)
    assert len(verified.repairs) == 2 and verified.repairs[0].startswith(f"{deps} (deps-shared.pex) had changed")
    assert (deps / "release_deps.py").read_text() == f"NAME = 'shared'\n\n\n{RELEASE_DEPS_SHOW}"


def test_a_missing_tree_file_is_restored(repository: CountingRepository, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    deps = cache.fetch_release(repository, manifest, data).deps
    (deps / "pex").unlink()
    (deps / ".deps" / "release_deps-1.0-py3-none-any.whl").unlink()
    again = cache.fetch_release(repository, manifest, data)
    assert again.repairs == (f"{deps} (deps-shared.pex) had changed since pexrun built it: a file's bytes, mode or type, "
                             "or a symlink, differs from the manifest. pexrun built it again from verified blobs.",)
    assert tree_contents(deps) == tree_contents(tmp_path / "1.0.0" / manifest.deps.file)
    assert repository.downloads == 11  # its blobs were still in the cache


def test_a_corrupt_cached_blob_is_replaced_when_a_tree_is_built(repository: CountingRepository, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    manifest, data = release(repository, "1.0.0")
    cache.fetch_release(repository, manifest, data)
    shared = cache.blob_path(next(f.sha256 for f in manifest.sources.files if f.path == ".bootstrap"))
    shared.chmod(0o644)
    shared.write_bytes(b"bit rot")  # the deps and sources trees link it
    again = cache.fetch_release(repository, manifest, data)
    assert len(again.repairs) == 3  # two trees rebuilt, one blob downloaded again
    assert f"The cached copy of deps-shared.pex/.bootstrap (sha256:{shared.name})" in again.repairs[2]
    assert (again.deps / ".bootstrap").read_text() == (again.sources / ".bootstrap").read_text() == "the same in every tree\n"


def test_a_blob_missing_from_the_repository(repository: CountingRepository, tmp_path: Path) -> None:
    manifest, data = release(repository, "1.2.0")
    missing = next(f for f in manifest.sources.files if f.path == "release.txt")
    damage_blob(repository, blob_key(missing.sha256), "deleted")
    cache = BlobCache(tmp_path / "cache")
    with pytest.raises(NotFoundError) as refused:
        cache.fetch_release(repository, manifest, data)
    assert str(refused.value) == (
        f"api 1.2.0 cannot be fetched. The blob api-srcs.pex/release.txt (sha256:{missing.sha256}) is not in the "
        f"repository {repository.url}, though a manifest names it. Publish the release again to restore it. A later "
        "run completes once it is there."
    )
    assert not (tmp_path / "cache" / "trees").exists()  # every blob is fetched before any tree is built
    assert not [p for p in (tmp_path / "cache" / "blobs" / "sha256").iterdir() if p.name.startswith(".")]
    publish(repository, tmp_path / "1.2.0" / "api.release.json")
    fetched = cache.fetch_release(repository, manifest, data)
    assert (fetched.sources / "release.txt").read_text() == "api 1.2.0"


def unchecked(pex: ReleasePex, **changes: object) -> ReleasePex:
    """pex with changes that its checks would refuse: as if manifest.py let a bad path through."""
    bad = object.__new__(type(pex))
    for field in dataclasses.fields(pex):
        object.__setattr__(bad, field.name, changes.get(field.name, getattr(pex, field.name)))
    return bad


@pytest.mark.parametrize(
    "files, symlinks, refused",
    [
        ([("../../../../outside.txt", "release.txt")], [], "api 1.0.0: api-srcs.pex/../../../../outside.txt leads outside"),
        ([("{tmp}/outside.txt", "release.txt")], [], "api 1.0.0: api-srcs.pex/{tmp}/outside.txt leads outside"),
        ([], [("out", "../../../../outside")], "api 1.0.0: the symlink api-srcs.pex/out -> ../../../../outside leads outside"),
        ([], [("up", "..")], "api 1.0.0: the symlink api-srcs.pex/up -> .. leads outside"),
    ],
)
def test_paths_outside_the_tree_are_refused_and_nothing_is_written_there(
    repository: CountingRepository, tmp_path: Path, files: list[tuple[str, str]], symlinks: list[tuple[str, str]], refused: str
) -> None:
    manifest, data = release(repository, "1.0.0")
    by_path = {f.path: f for f in manifest.sources.files}
    bad = unchecked(
        manifest.sources,
        files=(*manifest.sources.files, *(dataclasses.replace(by_path[like], path=p.format(tmp=tmp_path)) for p, like in files)),
        symlinks=(*manifest.sources.symlinks, *(TreeSymlink(p, target) for p, target in symlinks)),
    )
    before = sorted(tmp_path.rglob("*"))
    cache = BlobCache(tmp_path / "cache")
    with pytest.raises(CacheError) as error:
        cache.fetch_release(repository, dataclasses.replace(manifest, sources=bad), data)
    assert str(error.value).startswith(refused.format(tmp=tmp_path))
    assert str(error.value).endswith(
        "the tree pexrun builds for it: pexrun refused the release and wrote nothing outside its cache. The manifest "
        "is damaged or was edited by hand: publish the release again."
    )
    assert [p for p in sorted(tmp_path.rglob("*")) if not p.is_relative_to(tmp_path / "cache")] == before
    assert trees(tmp_path / "cache") == [manifest.deps.sha256]  # no sources tree, nor a half-built one


def test_gc_keeps_the_trees_and_blobs_of_the_most_recently_used_releases(
    repository: CountingRepository, tmp_path: Path
) -> None:
    cache = BlobCache(tmp_path / "cache")
    now = time.time()
    for age, version in ((300, "1.2.0"), (200, "1.0.0"), (100, "1.1.0")):
        cache.fetch_release(repository, *release(repository, version))
        record = tmp_path / "cache" / "manifests" / "api" / f"{version}.json"
        os.utime(record, (now - age, now - age))
    abandoned_download = tmp_path / "cache" / "blobs" / "sha256" / ".abandoned.download"
    abandoned_download.write_bytes(b"left by a pexrun that died")
    abandoned_tree = tmp_path / "cache" / "trees" / ".abandoned.tree"
    (abandoned_tree / "pex").mkdir(parents=True)
    (abandoned_tree / "pex" / "copied.py").write_bytes(b"a copy")
    in_progress = tmp_path / "cache" / "trees" / ".in-progress.tree"
    in_progress.mkdir()
    legacy_link = tmp_path / "cache" / "run" / "api@0.9.0" / "api.pex"  # an older pexrun's, for `ps`
    legacy_link.parent.mkdir(parents=True)
    legacy_link.symlink_to("../../blobs/sha256/0123")
    for abandoned in (abandoned_download, abandoned_tree):
        os.utime(abandoned, (now - 2 * 86400, now - 2 * 86400))
    oldest, _ = release(repository, "1.2.0")
    only_oldest = next(f for f in oldest.sources.files if f.path == "release.txt")
    record = (cache.pex_path(oldest.sources).parent / "stat.json").stat().st_size

    report = cache.gc(keep=2)

    assert report.removed_releases == ("api@1.2.0",)
    assert (report.removed_trees, report.removed_blobs) == (1, 1)  # 1.2.0's sources tree and its release.txt
    assert report.freed_bytes == only_oldest.size + record + len(b"left by a pexrun that died") + len(b"a copy")
    assert sorted(p.name for p in (tmp_path / "cache" / "manifests" / "api").iterdir()) == ["1.0.0.json", "1.1.0.json"]
    assert not cache.blob_path(only_oldest.sha256).exists()
    assert not cache.pex_path(oldest.sources).exists()
    assert cache.pex_path(oldest.deps).exists()  # shared with the releases kept
    assert in_progress.exists() and not abandoned_tree.exists()
    assert not (tmp_path / "cache" / "run").exists()
    kept, kept_data = release(repository, "1.1.0")
    assert cache.fetch_release(repository, kept, kept_data).repairs == ()
    report = cache.gc(keep=0)
    assert report.removed_releases == ("api@1.1.0", "api@1.0.0")
    assert report.removed_trees == 3
    assert cached_blobs(tmp_path / "cache") == []
    assert trees(tmp_path / "cache") == [".in-progress.tree"]


def test_gc_of_an_empty_cache(tmp_path: Path) -> None:
    assert BlobCache(tmp_path / "nothing-yet").gc(keep=1).removed_releases == ()


def test_a_zipapp_release_runs_from_its_blobs(tmp_path: Path) -> None:
    repository = CountingRepository(f"file://{tmp_path / 'repository'}", tmp_path / "repository")
    publish(repository, make_release(tmp_path / "dist", "api", "1.0.0", layout="zipapp"))
    manifest, data = release(repository, "1.0.0")
    cache = BlobCache(tmp_path / "cache")
    fetched = cache.fetch_release(repository, manifest, data)
    assert (fetched.deps, fetched.sources) == (cache.blob_path(manifest.deps.sha256), cache.blob_path(manifest.sources.sha256))
    assert not (tmp_path / "cache" / "trees").exists()


def test_the_cache_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PEXRUN_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("PEXRUN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "pexrun"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "pexrun"


@pytest.mark.parametrize("displaced", ["blobs/sha256", "blobs", "trees"])
def test_a_cache_directory_replaced_by_a_file_is_healed(repository: CountingRepository, tmp_path: Path, displaced: str) -> None:
    cache_dir = tmp_path / "cache"
    (cache_dir / displaced).parent.mkdir(parents=True, exist_ok=True)
    (cache_dir / displaced).write_text("in the way")
    manifest, data = release(repository, "1.0.0")
    fetched = BlobCache(cache_dir).fetch_release(repository, manifest, data)
    assert (cache_dir / displaced).is_dir()
    assert tree_contents(fetched.sources) == tree_contents(tmp_path / "1.0.0" / manifest.sources.file)


def test_a_cache_directory_that_is_a_link_to_a_directory_is_kept(repository: CountingRepository, tmp_path: Path) -> None:
    other_disk = tmp_path / "other-disk"
    other_disk.mkdir()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "blobs").symlink_to(other_disk)
    manifest, data = release(repository, "1.0.0")
    BlobCache(tmp_path / "cache").fetch_release(repository, manifest, data)
    assert (tmp_path / "cache" / "blobs").is_symlink()
    assert sorted(p.name for p in (other_disk / "sha256").iterdir()) == sorted({b.sha256 for b in manifest.blobs})


class FullDiskRepository(FileRepository):
    """A file:// repository whose downloads hit a full disk (or a spent quota) after a few bytes."""

    errno = errno.ENOSPC

    def download_blob(self, blob: Blob, dest_path: Path, *, seconds: float) -> None:
        dest_path.write_bytes(b"part")
        raise OSError(self.errno, os.strerror(self.errno))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_names_the_cache_and_the_option_and_leaves_no_part(tmp_path: Path, code: int) -> None:
    repository = FullDiskRepository(f"file://{tmp_path / 'repository'}", tmp_path / "repository")
    publish(repository, make_release(tmp_path / "release", "api", "1.0.0"))
    repository.errno = code
    manifest, data = release(repository, "1.0.0")
    cache_dir = tmp_path / "cache"
    with pytest.raises(CacheError) as raised:
        BlobCache(cache_dir).fetch_release(repository, manifest, data)
    message = str(raised.value)
    assert message.startswith(f"The cache {cache_dir} has no room for ")
    assert f"{os.strerror(code)}. Free space there (`pexrun gc --keep N`" in message
    assert "or use another cache with --cache-dir DIR (or $PEXRUN_CACHE_DIR)." in message
    assert list((cache_dir / "blobs" / "sha256").iterdir()) == []  # no partial download left


def test_a_full_disk_while_building_a_tree_names_the_cache(
    repository: CountingRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_module.os, "link", no_room)
    monkeypatch.setattr(cache_module.shutil, "copyfile", no_room)
    manifest, data = release(repository, "1.0.0")
    with pytest.raises(CacheError, match=rf"The cache {tmp_path / 'cache'} has no room for the tree of "):
        BlobCache(tmp_path / "cache").fetch_release(repository, manifest, data)
    assert [p for p in (tmp_path / "cache" / "trees").iterdir()] == []  # the partial tree was removed


@pytest.mark.parametrize("ahead_hours", [25, 24 * 365])
def test_gc_with_a_clock_ahead_keeps_a_tree_another_pexrun_is_building(
    repository: CountingRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead_hours: int
) -> None:
    cache = BlobCache(tmp_path / "cache")
    cache.fetch_release(repository, *release(repository, "1.0.0"))
    building = tmp_path / "cache" / "trees" / f".{'d' * 64}.0123abcd"  # another pexrun's, just begun
    (building / "pex").mkdir(parents=True)
    downloading = tmp_path / "cache" / "blobs" / "sha256" / f".{'e' * 64}.x.download"
    downloading.write_bytes(b"partial")
    skewed = time.time() + ahead_hours * 3600  # this host's clock, not the file system's
    monkeypatch.setattr(time, "time", lambda: skewed)
    cache.gc(keep=1)
    assert building.is_dir() and downloading.exists()
