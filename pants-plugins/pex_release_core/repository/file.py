# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`file://` repositories: a directory, written with a temporary file and a rename per key."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from pex_release_core.repository.base import (
    DEFAULT_METADATA_TIMEOUT_SECONDS,
    BlobMismatchError,
    NotFoundError,
    Repository,
    RepositoryError,
    StoredObject,
    blob_key,
)
from pex_release_core.transfer import file_sha256, file_system_now

# A write's temporary file (`.<name>.<random>.tmp`, beside its final path) older than this (by the
# file system's clock, not this host's) was left by a publish that was killed: no write takes an
# hour between two of its bytes, or between its last byte and its rename, so younger ones may belong
# to a concurrent publish and are left alone.
_STALE_TEMPORARY_SECONDS = 3600
_TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # as tempfile.mkstemp names them
# What a key may be instead of a regular file, for messages.
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


class FileRepository(Repository):
    """A directory, local or mounted. Writes go to a temporary name first, so readers never see
    half a file, and a manifest is created with a hard link, which fails if it exists."""

    def __init__(self, url: str, root: Path, *, metadata_timeout: float = DEFAULT_METADATA_TIMEOUT_SECONDS) -> None:
        super().__init__(url, metadata_timeout=metadata_timeout)
        self.root = root

    def has_blob(self, sha256: str, size: int) -> bool:
        # A local blob is cheap to check in full: a corrupt one is uploaded again, not trusted.
        path = self.root / blob_key(sha256)
        return path.is_file() and file_sha256(path) == (sha256, size)

    def prepare_to_publish(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RepositoryError(f"Cannot create the repository {self.url}: {e.strerror}.") from None
        if not os.access(self.root, os.W_OK):
            raise RepositoryError(f"The repository {self.url} is not writable by this user: check its permissions.")
        self._remove_stale_temporary_files()

    def _remove_stale_temporary_files(self) -> None:
        """Removes what killed publishes left: the temporary files of writes that never finished."""
        too_old = file_system_now(self.root) - _STALE_TEMPORARY_SECONDS
        for directory, _, names in os.walk(self.root):
            for name in filter(_TEMPORARY_NAME.fullmatch, names):
                path = Path(directory, name)
                try:
                    if path.stat().st_mtime < too_old:
                        path.unlink()
                except FileNotFoundError:  # a concurrent publish removed it, or finished its write
                    pass

    def _check_exists(self) -> None:
        if not self.root.is_dir():
            raise RepositoryError(
                f"The repository {self.url} does not exist: {self.root} is not a directory. Check the URL "
                "(publishing to it creates it)."
            )

    @contextmanager
    def _reader(self, key: str) -> Iterator[Callable[[int], bytes]]:
        self._check_exists()
        try:
            # Without blocking, so that a FIFO in the repository cannot hold the open.
            fd = os.open(self.root / key, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise NotFoundError(f"{key} is not in the repository {self.url}.") from None
        # Read only what publish writes, regular files: not a FIFO (waits for a writer), a device
        # (/dev/zero never ends) or a directory, which a link may stand for as well.
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise RepositoryError(
                f"{key} in the repository {self.url} is {_KINDS.get(stat.S_IFMT(mode), 'a special file')}, not a "
                "regular file, so it was not read. Remove it, and publish the release again."
            )
        with open(fd, "rb") as f:
            yield f.read

    @contextmanager
    def _staged(self, key: str) -> Iterator[Path]:
        """A temporary file beside key's path, removed afterwards unless it was moved into place."""
        final = self.root / key
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        os.chmod(temp, 0o644)  # mkstemp makes it 0600; a repository is read by other users
        try:
            yield Path(temp)
        finally:
            Path(temp).unlink(missing_ok=True)

    def _put(self, key: str, data: bytes) -> None:
        with self._staged(key) as temp:
            temp.write_bytes(data)
            os.replace(temp, self.root / key)

    def _put_file(self, key: str, path: Path, sha256: str) -> None:
        with self._staged(key) as temp:
            shutil.copyfile(path, temp)
            copied, _ = file_sha256(temp)
            if copied != sha256:
                raise BlobMismatchError(f"Copying {path} into {self.url} gave other bytes ({copied}), a storage fault: publish again.")
            # Content-addressed: a concurrent upload of the same key holds the same bytes.
            os.replace(temp, self.root / key)

    def _create(self, key: str, data: bytes) -> bool:
        with self._staged(key) as temp:
            temp.write_bytes(data)
            try:
                os.link(temp, self.root / key)
            except FileExistsError:
                return False
            return True

    def list_objects(self, prefix: str) -> list[StoredObject]:
        objects = []
        for key in self._list(prefix):
            try:
                stat_result = (self.root / prefix / key).stat()
            except FileNotFoundError:  # deleted since the listing
                continue
            objects.append(StoredObject(key, stat_result.st_size, stat_result.st_mtime))
        return objects

    def now(self) -> float:
        return file_system_now(self.root)

    def delete_key(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def _list(self, prefix: str) -> list[str]:
        self._check_exists()
        base = self.root / prefix
        keys, seen = [], set()
        # Through symlinked directories, as reads go (an app's directory may be a link to another
        # disk), each real directory once, so that a link to an ancestor cannot loop.
        for directory, subdirectories, names in os.walk(base, followlinks=True):
            real = os.path.realpath(directory)
            if real in seen:
                subdirectories.clear()
                continue
            seen.add(real)
            # Temporary files of writes in progress start with a dot.
            keys.extend(str(Path(directory, name).relative_to(base)) for name in names if not name.startswith("."))
        return sorted(keys)
