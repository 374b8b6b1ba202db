# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The local cache of a host: blobs by sha256 and the release trees built from them, shared by
concurrent pexruns.

    <cache>/blobs/sha256/<hex>                  blobs (mode 0444), written under a temporary name and renamed once verified
    <cache>/trees/<tree sha256>/pex/            a tree PEX (packed or loose layout): each file a hard link to its blob (a
                                                copy, mode 0555, if executable), each symlink as the manifest says
    <cache>/trees/<tree sha256>/stat.json       each entry's (inode, size, mode, mtime) when the tree was last verified
    <cache>/trees/.<tree sha256>.<random>       a tree being built, renamed into place once whole
    <cache>/manifests/<app>/<version>.json      the releases fetched here; the file's mtime is the last use
    <cache>/signatures/<manifest sha256>/<key>  empty: these manifest bytes were found signed by this trusted key
    <cache>/venvs/<deps tree sha256>/...        the deps tree's wheels installed, per interpreter (pexrun.venvs)
    <cache>/launches/<app>/<version>/...        what a warm run replays (pexrun.start)

What is checked when. A blob is verified by sha256 when it is downloaded, and a cached one whenever
a tree is built from it (and whenever a zipapp PEX runs). A tree is built in a directory of its own
and renamed into place whole, so a tree in place is complete whatever happened to the pexrun that
built it. A warm start compares each of a tree's entries' lstat with its stat.json instead of
hashing: a write changes a file's mtime, a chmod its mode, a replacement (rename, copy over, new
link) its inode, a truncation its size. On any difference pexrun hashes the tree's files: if they
are intact it records their new stat (a `touch`, a copied cache), else it verifies the tree's blobs
(downloading damaged ones again) and builds the tree anew. The cache belongs to the user who runs
pexrun, so this guards against accidents, killed runs and damaged downloads, not against that user:
it trusts mtimes (a change whose mtime is deliberately set back goes unseen), and it cannot see bytes
a failing disk changes below the file system; `pexrun fetch` hashes every file for that.
The ctime would catch a reset mtime, but every tree links the same blobs (pex's `.bootstrap`), and
each link or unlink of a blob, by any tree, changes its ctime: every other tree would be re-hashed.

A read-only cache (e.g. one baked into an image) runs the releases it holds: the record of use and a
new stat.json are skipped when they cannot be written.

Older pexruns linked `<cache>/run/<app>@<version>/<app>.pex` to the sources PEX, for `ps`, which
shows the venv's python and pexrun_main.py instead (pexrun.venvs): gc removes those links.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from pex_release_core.manifest import Blob, ManifestError, ReleaseManifest, ReleasePex, TreeFile
from pex_release_core.repository.base import BlobMismatchError, NotFoundError, Repository
from pex_release_core.transfer import concurrently, file_sha256, file_system_now
from pexrun import start
from pexrun.progress import Progress

DEFAULT_DOWNLOAD_TIMEOUT_SECONDS = 60.0
# A blob's download may take the download timeout plus one second per this many bytes: a slow link
# gets time in proportion to the blob, and a server that trickles or stalls is given up on.
MIN_DOWNLOAD_BYTES_PER_SECOND = 256 * 1024
# A temporary download or tree older than this was left by a pexrun that died; younger ones may be in progress.
_ABANDONED_SECONDS = 24 * 3600
_TREE = "pex"  # The PEX directory, in <cache>/trees/<tree sha256>/.
_TREE_RECORD = "stat.json"
SIGNATURES_DIR = "signatures"  # Written by pexrun.releases.VerifiedSignatures, removed with their releases by gc.
VENVS_DIR = "venvs"  # Written by pexrun.venvs.VenvCache, one per deps tree and interpreter, removed with their tree by gc.
_BLOB_MODE = 0o444  # Blobs, and the tree files linked to them, are read-only: a cache is not edited.
_EXECUTABLE_MODE = 0o555


def default_cache_dir() -> Path:
    return Path(start.default_cache_dir())


class CacheError(Exception):
    """The cache cannot hold what a run needs; the message names the path and the fix."""


@dataclass(frozen=True)
class FetchedRelease:
    manifest: ReleaseManifest
    deps: Path  # The deps PEX (a tree's directory, or a zipapp's blob), for PEX_PATH.
    sources: Path  # The sources PEX, which python runs.
    repairs: tuple[str, ...] = ()  # What was found damaged in the cache and put right, for a warning.


@dataclass(frozen=True)
class GcReport:
    removed_releases: tuple[str, ...]  # `<app>@<version>`
    removed_trees: int
    removed_venvs: int  # Counted by deps tree: all the venvs of one tree count one.
    removed_blobs: int
    freed_bytes: int


def _lstat_mode(path: Path) -> int | None:
    try:
        return path.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # not there, or a file in place of a parent
        return None


# Writes that fail for lack of room: the disk is full, or the user's quota is spent.
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def make_directory(root: Path, path: Path) -> None:
    """path, a directory below the cache `root`, made; healed first where anything that is not a
    directory (a file, a dangling link) stands at it or at one of its parents below root: the cache
    keeps nothing else there. A link to a directory is kept (a cache may put a part on another disk)."""
    for directory in (*reversed(path.relative_to(root).parents), path.relative_to(root)):
        in_cache = root / directory
        if directory != Path(".") and os.path.lexists(in_cache) and not in_cache.is_dir():
            with contextlib.suppress(FileNotFoundError):  # another pexrun removed it
                in_cache.unlink()
    path.mkdir(parents=True, exist_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


def _tree_mode(file: TreeFile) -> int:
    return _EXECUTABLE_MODE if file.executable else _BLOB_MODE


def _tree_entries(pex: ReleasePex) -> list[str]:
    return [*(f.path for f in pex.files), *(s.path for s in pex.symlinks)]


def _inside(root: Path, path: str, what: str) -> Path:
    """root/path, refused unless it resolves inside root. Manifests' paths are checked when they are
    read; this keeps pexrun's writes inside its cache whatever a manifest says."""
    joined, real_root = root / path, os.path.realpath(root)
    resolved = os.path.realpath(joined)
    if resolved != real_root and not resolved.startswith(real_root + os.sep):
        raise CacheError(
            f"{what} leads outside the tree pexrun builds for it: pexrun refused the release and wrote nothing "
            "outside its cache. The manifest is damaged or was edited by hand: publish the release again."
        )
    return joined


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on directory between pexruns; the kernel releases it when its holder dies."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _freed_by_removing(path: str) -> int:
    """The bytes removing path frees: its size, unless it is not a file or another link keeps it."""
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            return st.st_size
    return 0


def _remove(path: Path) -> int:
    """Removes a blob, a tree or a temporary one; returns the bytes that freed (a tree's files linked
    to a blob still there free none)."""
    if not stat.S_ISDIR(path.lstat().st_mode):
        freed = _freed_by_removing(str(path))
        path.unlink()
        return freed
    freed = sum(_freed_by_removing(os.path.join(parent, name)) for parent, _, names in os.walk(path) for name in names)
    shutil.rmtree(path, ignore_errors=True)
    return freed


def move_into_place(building: Path, directory: Path, replacing: int | None, unchanged: Callable[[], bool]) -> None:
    """Renames the directory `building` (a tree or a venv built whole) to `directory`, over the damaged
    one whose inode is `replacing`, if any."""
    replaced = building.with_name(building.name + ".replaced")
    with _locked(directory.parent):
        try:
            current: int | None = directory.lstat().st_ino
        except FileNotFoundError:
            current = None
        # Another pexrun built it meanwhile: that copy is as good, and may be running already.
        if current is not None and current != replacing and unchanged():
            return
        if current is not None:  # the damaged one, replaced whole
            os.rename(directory, replaced)
        os.rename(building, directory)
    if os.path.lexists(replaced):
        _remove(replaced)


@contextlib.contextmanager
def room_for(root: Path, what: str) -> Iterator[None]:
    """A full disk or a spent quota while writing `what` into the cache `root`, as an error that names
    the cache and the fix."""
    try:
        yield
    except OSError as e:
        if e.errno not in _NO_SPACE:
            raise
        raise CacheError(
            f"The cache {root} has no room for {what}: {e.strerror}. Free space there (`pexrun gc "
            "--keep N` removes the releases not among each app's N most recently run), or use another cache "
            "with --cache-dir DIR (or $PEXRUN_CACHE_DIR)."
        ) from None


class BlobCache:
    def __init__(self, root: Path, *, download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT_SECONDS) -> None:
        self.root = root
        self.download_timeout = download_timeout
        self._blobs = root / "blobs" / "sha256"
        self._trees = root / "trees"
        self._records = root / "manifests"
        self._legacy_links = root / "run"

    def blob_path(self, sha256: str) -> Path:
        return self._blobs / sha256

    def pex_path(self, pex: ReleasePex) -> Path:
        """Where the cache holds a PEX: a tree's directory, or a zipapp's blob."""
        return self._trees / pex.sha256 / _TREE if pex.is_tree else self.blob_path(pex.sha256)

    def fetch_release(
        self,
        repository: Repository,
        manifest: ReleaseManifest,
        manifest_bytes: bytes,
        *,
        verify: bool = False,
        progress: Progress | None = None,
    ) -> FetchedRelease:
        """The release's deps and sources PEXes in the cache, downloaded, built or repaired as needed,
        with what is downloaded and built shown on `progress`.

        A tree in place is trusted when its entries' stat is unchanged; with `verify`, its files are
        hashed all the same."""
        # Recorded first, so a concurrent `gc` keeps the blobs this fetch is about to add; a cache
        # that cannot be written (read-only) still runs what it holds: the record only guides gc.
        try:
            write_atomically(self._records / manifest.app / f"{manifest.version}.json", manifest_bytes)
        except OSError:
            pass
        release = f"{manifest.app} {manifest.version}"
        pexes = (manifest.deps, manifest.sources)
        repairs: list[str] = []
        to_build: dict[str, tuple[ReleasePex, int | None]] = {}
        for pex in pexes:
            if pex.is_tree and pex.sha256 not in to_build:
                damage = self._tree_damage(pex, verify=verify)
                if damage is not None:
                    replacing, note = damage
                    to_build[pex.sha256] = (pex, replacing)
                    repairs += [note] if note else []
        # Zipapps are verified on every use; trees' blobs only when the tree is built.
        blobs: dict[str, Blob] = {}
        for pex in pexes:
            if not pex.is_tree or pex.sha256 in to_build:
                for blob in pex.blobs:
                    blobs.setdefault(blob.sha256, blob)  # named, in messages, by the first file with its bytes
        if progress:
            progress.expect(blob for blob in blobs.values() if not self.blob_path(blob.sha256).exists())
        try:
            repairs += self._ensure_blobs(repository, list(blobs.values()), progress)
        except NotFoundError as e:
            raise NotFoundError(f"{release} cannot be fetched. {e} A later run completes once it is there.") from None
        for pex, replacing in to_build.values():
            if progress:
                progress.building(pex.file, len(pex.files))
            self._build_tree(pex, release, replacing)
        return FetchedRelease(manifest, self.pex_path(manifest.deps), self.pex_path(manifest.sources), tuple(repairs))

    # --- Blobs -------------------------------------------------------------------------------------

    def fetch_blob(self, repository: Repository, blob: Blob) -> tuple[Path, list[str]]:
        """One blob in the cache, verified (a release's SBOM): its path, and a note if a damaged
        copy was replaced."""
        note = self._ensure_blob(repository, blob)
        return self.blob_path(blob.sha256), [note] if note else []

    def download_seconds(self, blob: Blob) -> float:
        return self.download_timeout + blob.size / MIN_DOWNLOAD_BYTES_PER_SECOND

    def _ensure_blobs(self, repository: Repository, blobs: Sequence[Blob], progress: Progress | None) -> list[str]:
        """Verifies each blob in the cache, downloads the missing ones and replaces the damaged ones,
        several at a time; returns a note for each damaged one. The first failure (in the order of
        blobs) is raised once the blobs under way are done; those not started are not."""
        notes = concurrently(lambda blob: self._ensure_blob(repository, blob, progress), blobs)
        return [note for note in notes if note]

    def _ensure_blob(self, repository: Repository, blob: Blob, progress: Progress | None = None) -> str | None:
        path = self.blob_path(blob.sha256)
        mode = _lstat_mode(path)
        note = None
        if mode is not None and stat.S_ISREG(mode):
            try:
                sha256, size = file_sha256(path)
            except FileNotFoundError:  # removed meanwhile by another pexrun that found it damaged
                sha256, size = "", 0
            if (sha256, size) == (blob.sha256, blob.size):
                if stat.S_IMODE(mode) != _BLOB_MODE:  # so the trees linked to it have the mode they record
                    with contextlib.suppress(OSError):
                        path.chmod(_BLOB_MODE)
                return None
            if sha256:
                self._remove_damaged(path, blob, f"its {size:,} bytes hash to {sha256}")
                note = (
                    f"The cached copy of {blob.file} (sha256:{blob.sha256}) in {path.parent} was corrupt: its "
                    f"{size:,} bytes hashed to {sha256}. pexrun deleted it and downloaded it again."
                )
        elif mode is not None:  # a directory, a link, a pipe...: not ours, and in the way
            self._remove_damaged(path, blob, "it is not a file")
        self._download(repository, blob, progress)
        return note

    def _download(self, repository: Repository, blob: Blob, progress: Progress | None) -> None:
        # A name of our own, verified, then renamed into place: a concurrent pexrun never sees half a
        # blob, and when two download the same one, the second rename puts identical bytes in place.
        path = self.blob_path(blob.sha256)
        try:
            make_directory(self.root, path.parent)
            fd, temp = tempfile.mkstemp(prefix=f".{blob.sha256}.", suffix=".download", dir=path.parent)
        except OSError as e:
            raise CacheError(
                f"Cannot download {blob.file} (sha256:{blob.sha256}) into the cache {self.root}: {e.strerror}. "
                "Make it writable, or use another with --cache-dir DIR (or $PEXRUN_CACHE_DIR)."
            ) from None
        os.close(fd)
        try:
            with room_for(self.root, f"{blob.file} (sha256:{blob.sha256}, {blob.size:,} bytes)"):
                repository.download_blob(blob, Path(temp), seconds=self.download_seconds(blob))
                self._verify_download(Path(temp), blob, repository)
                os.chmod(temp, _BLOB_MODE)  # mkstemp made it 0600
                os.replace(temp, path)
            if progress:
                progress.downloaded(blob)
        finally:
            Path(temp).unlink(missing_ok=True)

    @staticmethod
    def _remove_damaged(path: Path, blob: Blob, damage: str) -> None:
        try:
            if stat.S_ISDIR(path.lstat().st_mode):
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except FileNotFoundError:  # another pexrun removed it
            pass
        except OSError as e:
            raise CacheError(
                f"{path}, where the cache keeps {blob.file} (sha256:{blob.sha256}), is damaged ({damage}), and "
                f"pexrun cannot remove it ({e.strerror}): remove it (`rm -r {path}`) and run again."
            ) from None

    @staticmethod
    def _verify_download(path: Path, blob: Blob, repository: Repository) -> None:
        sha256, size = file_sha256(path)
        if (sha256, size) != (blob.sha256, blob.size):
            raise BlobMismatchError(
                f"{blob.file} (sha256:{blob.sha256}, {blob.size:,} bytes) downloaded from {repository.url} is "
                f"corrupt: its {size:,} bytes hash to {sha256}. Nothing was cached or run. If it happens again, "
                "the repository's copy is damaged: publish the release again, which replaces it."
            )

    # --- Trees -------------------------------------------------------------------------------------

    def _tree_damage(self, pex: ReleasePex, *, verify: bool) -> tuple[int | None, str] | None:
        """None when the tree is in place and intact. Otherwise it must be built: returns the inode of
        the directory the new tree replaces (None if there is none) and a note that says what was
        wrong with it ("" if it was missing)."""
        if not verify and self._tree_unchanged(pex):
            return None
        directory = self._trees / pex.sha256
        try:
            inode = directory.lstat().st_ino
        except (FileNotFoundError, NotADirectoryError):  # not there, or `trees` is not a directory
            return None, ""
        if self._tree_intact(pex):
            with contextlib.suppress(OSError):  # read-only: it is hashed again next time
                write_atomically(directory / _TREE_RECORD, self._tree_record(pex))
            return None
        return inode, (
            f"{self.pex_path(pex)} ({pex.file}) had changed since pexrun built it: a file's bytes, mode or type, "
            "or a symlink, differs from the manifest. pexrun built it again from verified blobs."
        )

    def tree_stat(self, pex: ReleasePex) -> tuple[Path, dict[str, list[int]]]:
        """A tree's directory, and its entries' stat as last verified (raises OSError or ValueError
        if that record is missing or damaged)."""
        record = json.loads((self._trees / pex.sha256 / _TREE_RECORD).read_bytes())
        if not isinstance(record, dict):
            raise ValueError(f"{self._trees / pex.sha256 / _TREE_RECORD} is damaged")
        return self.pex_path(pex), record

    def _tree_unchanged(self, pex: ReleasePex) -> bool:
        """Whether each entry's stat is the one recorded when the tree was last verified."""
        root = str(self.pex_path(pex))
        try:
            record = json.loads((self._trees / pex.sha256 / _TREE_RECORD).read_bytes())
            entries = _tree_entries(pex)
            return (
                isinstance(record, dict)
                and len(record) == len(entries)
                and all(record.get(path) == start.fingerprint(f"{root}/{path}") for path in entries)
            )
        except (OSError, ValueError):
            return False

    def _tree_intact(self, pex: ReleasePex) -> bool:
        """Whether the tree's files have the bytes and modes, and its symlinks the targets, of the manifest."""
        root = self.pex_path(pex)
        try:
            for file in pex.files:
                mode = (root / file.path).lstat().st_mode
                if not stat.S_ISREG(mode) or stat.S_IMODE(mode) != _tree_mode(file):
                    return False
                if file_sha256(root / file.path) != (file.sha256, file.size):
                    return False
            return all(os.readlink(root / link.path) == link.target for link in pex.symlinks)
        except OSError:  # missing, or not a symlink
            return False

    def _tree_record(self, pex: ReleasePex, root: Path | None = None) -> bytes:
        root_path = str(root or self.pex_path(pex))
        return json.dumps({path: start.fingerprint(f"{root_path}/{path}") for path in _tree_entries(pex)}).encode()

    def _build_tree(self, pex: ReleasePex, release: str, replacing: int | None) -> None:
        """Builds the tree from verified blobs in a directory of its own, then renames it into place
        (over the damaged tree whose directory has inode `replacing`)."""
        try:
            make_directory(self.root, self._trees)
            building = self._trees / f".{pex.sha256}.{uuid.uuid4().hex}"  # not mkdtemp: its 0700 ignores the umask
            building.mkdir()
        except OSError as e:
            raise CacheError(
                f"Cannot build {pex.file} of {release} in the cache {self.root}: {e.strerror}. Make it writable, "
                "or use another with --cache-dir DIR (or $PEXRUN_CACHE_DIR)."
            ) from None
        try:
            with room_for(self.root, f"the tree of {pex.file} of {release}"):
                root = building / _TREE
                root.mkdir()
                for file in pex.files:
                    path = _inside(root, file.path, f"{release}: {pex.file}/{file.path}")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._place(file, path)
                for link in pex.symlinks:
                    what = f"{release}: the symlink {pex.file}/{link.path} -> {link.target}"
                    path = _inside(root, link.path, what)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.symlink_to(link.target)
                    _inside(root, link.path, what)  # now through the link: its target must be inside too
                (building / _TREE_RECORD).write_bytes(self._tree_record(pex, root))
                move_into_place(building, self._trees / pex.sha256, replacing, lambda: self._tree_unchanged(pex))
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def _place(self, file: TreeFile, path: Path) -> None:
        blob = self.blob_path(file.sha256)
        if not file.executable:  # a link has the blob's mode, 0444
            try:
                os.link(blob, path)
                return
            except OSError:  # another file system, or the blob's limit of links: a copy will do
                pass
        shutil.copyfile(blob, path)
        path.chmod(_tree_mode(file))

    # --- gc ----------------------------------------------------------------------------------------

    def gc(self, keep: int) -> GcReport:
        """Keeps the trees, venvs, blobs, signature and launch records of each app's `keep` most recently
        used releases and removes the rest, and the temporary files, trees and venvs of pexruns that died."""
        kept_blobs: set[str] = set()
        kept_trees: set[str] = set()
        kept_manifests: set[str] = set()  # their sha256, which names their signatures' records
        removed: list[str] = []
        app_dirs = sorted(self._records.iterdir()) if self._records.is_dir() else []
        for app_dir in app_dirs:
            records = sorted(app_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for record in records[:keep]:
                kept = self._manifest_of(record)
                if kept is not None:
                    manifest, manifest_sha256 = kept
                    kept_blobs.update(blob.sha256 for blob in manifest.blobs)
                    kept_trees.update(pex.sha256 for pex in manifest.pexes if pex.is_tree)
                    kept_manifests.add(manifest_sha256)
            for record in records[keep:]:
                removed.append(f"{app_dir.name}@{record.stem}")
                record.unlink()
        shutil.rmtree(self._legacy_links, ignore_errors=True)
        # Trees first: a blob's bytes are freed once no tree links them.
        removed_trees, trees_freed = self._remove_unkept(self._trees, keep=kept_trees)
        removed_venvs, venvs_freed = self._remove_unkept(self.root / VENVS_DIR, keep=kept_trees)
        removed_blobs, blobs_freed = self._remove_unkept(self._blobs, keep=kept_blobs)
        # A signature record only saves a check: a removed release that runs again is checked again.
        self._remove_unkept(self.root / SIGNATURES_DIR, keep=kept_manifests)
        self._remove_launches_of_removed_releases()
        return GcReport(tuple(removed), removed_trees, removed_venvs, removed_blobs, trees_freed + venvs_freed + blobs_freed)

    def _remove_launches_of_removed_releases(self) -> None:
        """A launch record (pexrun.start) replays a run of a release only while the release is kept."""
        launches = self.root / start.LAUNCHES_DIR
        for launch in sorted(launches.glob("*/*")) if launches.is_dir() else ():
            if not (self._records / launch.parent.name / f"{launch.name}.json").exists():
                shutil.rmtree(launch, ignore_errors=True)

    @staticmethod
    def _manifest_of(record: Path) -> tuple[ReleaseManifest, str] | None:
        """The release a record holds, and the sha256 of its bytes (which names its signature records)."""
        data = record.read_bytes()
        try:
            return ReleaseManifest.loads(data, origin=str(record)), hashlib.sha256(data).hexdigest()
        except ManifestError:
            record.unlink()  # unreadable: treat the release as unused, and fetch it again when it is run
            return None

    @staticmethod
    def _remove_unkept(directory: Path, *, keep: set[str]) -> tuple[int, int]:
        """Removes the blobs or trees in directory not in keep, and temporary ones (named `.*`) that
        were abandoned; returns how many of those kept were removed, and the bytes freed."""
        removed, freed = 0, 0
        if not directory.is_dir():
            return removed, freed
        # By the file system's clock: this host's may be ahead of the one that stamped a tree in progress.
        now = file_system_now(directory)
        for entry in list(directory.iterdir()):
            try:
                if entry.name.startswith("."):
                    if now - entry.lstat().st_mtime < _ABANDONED_SECONDS:
                        continue  # a download or a tree in progress
                elif entry.name in keep:
                    continue
                else:
                    removed += 1
                freed += _remove(entry)
            except FileNotFoundError:  # a concurrent gc, or a download that just finished
                continue
        return removed, freed
