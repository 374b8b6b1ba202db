# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Release repositories: content-addressed blobs and immutable manifests.

The layout, the same on every store:

    blobs/sha256/<hex>            the files of the releases' PEXes (each file of a tree, or a whole
                                  zipapp), named by the sha256 of their bytes
    apps/<app>/<version>.json     the manifests, byte for byte as built
    apps/index.json               the apps, and apps/<app>/index.json their versions: plain HTTP
                                  cannot list, so publish keeps these (rebuilt from the manifests)
    apps/<app>/channels/<channel>/  a channel's entries and head (`channels.py`)
    apps/<app>/attestations/<version>/  the release's signed manifest and provenance (`signing.py`)
    prune.json                    present while a prune deletes (`prune_lock.py`)

This module holds the layout, the errors and `Repository`, the base of every store: what a
store is asked (blobs present, uploads, bounded downloads, manifests, the indexes) in terms of a
handful of key/value primitives that each kind supplies: `file.py`, `s3.py` and `http.py` (read-only).
`url.py` opens the kind a URL names. Pure Python 3.9+ with the standard library: the publisher and
`pexrun` share it.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Sequence

from pex_release_core.manifest import Blob
from pex_release_core.redaction import redact_url
from pex_release_core.transfer import concurrently, copy_by_deadline, file_sha256

_INDEX_WRITE_ATTEMPTS = 5
APPS = "apps/"
INDEX = "index.json"  # in each directory of names: plain HTTP cannot list
APPS_INDEX = APPS + INDEX

# Manifests and indexes are read whole, so each read is bounded as a blob's download is: in time
# (pexrun's --download-timeout; the publisher keeps this default) and in size. A manifest takes
# about 170 bytes per file plus the file's path (2.7 MB for 10,000 files with 100-character paths),
# so 16 MiB holds 10,000 files with paths of 1,500 characters, or 60,000 with paths of 100.
METADATA_MAX_BYTES = 16 << 20
DEFAULT_METADATA_TIMEOUT_SECONDS = 60.0


class RepositoryError(Exception):
    """A repository operation failed; the message says what failed and how to fix it."""


class NotFoundError(RepositoryError):
    pass


class BlobMismatchError(RepositoryError):
    pass


class AlreadyPublishedError(RepositoryError):
    pass


class CredentialsError(RepositoryError):
    pass


class ReadOnlyRepositoryError(RepositoryError):
    pass


class DownloadTimeoutError(RepositoryError):
    """A download (a blob, a manifest or an index) did not finish within the time it was given."""


# --- The layout ------------------------------------------------------------------------------------


def blob_key(sha256: str) -> str:
    return f"blobs/sha256/{sha256}"


def manifest_key(app: str, version: str) -> str:
    directory = _app_directory(app)
    return directory + _segment(version, "version", directory, suffix=".json")


def versions_index_key(app: str) -> str:
    return _app_directory(app) + INDEX


def channels_directory_key(app: str) -> str:
    # Beside the manifests, which are files (`<version>.json`), so no version collides with it.
    return _app_directory(app) + "channels/"


def channel_entry_key(app: str, channel: str, serial: int) -> str:
    return f"{channels_directory_key(app)}{channel}/{serial:010d}.json"


def channel_head_key(app: str, channel: str) -> str:
    return f"{channels_directory_key(app)}{channel}/head.json"


def attestations_root_key(app: str) -> str:
    # Beside the manifests, as channels/ is: a version's manifest is a file, so none collides with it.
    return _app_directory(app) + "attestations/"


def attestations_directory_key(app: str, version: str) -> str:
    directory = attestations_root_key(app)
    return directory + _segment(version, "version", directory) + "/"


def attestation_key(app: str, version: str, manifest_sha256: str, kind: str) -> str:
    """The DSSE envelope of kind (`manifest`, `provenance`) for the manifest with that sha256 (`signing.py`)."""
    return f"{attestations_directory_key(app, version)}{manifest_sha256}.{kind}.dsse.json"


def _app_directory(app: str) -> str:
    return f"{APPS}{_segment(app, 'app', APPS)}/"


# The repository's own files in the directories where names become segments: apps/index.json
# beside the apps' directories, and apps/<app>/index.json beside the <version>.json manifests.
# A name that makes one of them (app `index.json`, version `index`) would turn the index into a
# directory, or overwrite it, for every app. blobs/sha256/ holds only blobs, named by their hex
# digests (which the manifest's schema checks), and a leading `.` (temporary files) is refused
# for every name, so nothing else collides. A file the layout adds beside names (a channel's
# directory, say) joins this set, and every name is checked against it.
_RESERVED_SEGMENTS = frozenset({INDEX})


def reserved_key(directory: str, segment: str) -> str | None:
    """The repository's own file that `segment` in `directory` would be, if any. Case is ignored:
    a file:// repository on macOS or Windows, or on many shares, has one file for both spellings."""
    return directory + segment.casefold() if segment.casefold() in _RESERVED_SEGMENTS else None


def _segment(name: str, what: str, directory: str, *, suffix: str = "") -> str:
    """name as the path segment it becomes in directory (name + suffix), if it can be one."""
    # Nothing that could climb out of its directory, hide as a temporary file, or be one of the
    # repository's own files.
    if not name or "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        raise RepositoryError(f"{name!r} is not a valid {what} name for a repository key.")
    segment = name + suffix
    reserved = reserved_key(directory, segment)
    if reserved is not None:
        spelled = "" if reserved == directory + segment else f", which is {directory}{segment} on a file system that ignores case"
        raise RepositoryError(
            f"{name!r} is not a valid {what} name for a repository key: the repository keeps its index of "
            f"{directory} at {reserved}{spelled}. Choose another {what} name."
        )
    return segment



def _versions_in(keys: list[str]) -> list[str]:
    """The versions of the manifests among keys relative to apps/<app>/."""
    return sorted(k[: -len(".json")] for k in keys if k.endswith(".json") and "/" not in k and k != "index.json")


def _apps_in(keys: list[str]) -> list[str]:
    """The apps with at least one manifest among keys relative to apps/."""
    return sorted({k.split("/")[0] for k in keys if k.count("/") == 1 and _versions_in([k.split("/")[1]])})


# --- Repositories ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    key: str  # Relative to the prefix it was listed under.
    size: int
    modified: float  # Seconds since the epoch, by the store's clock.


class Repository(ABC):
    """A store of blobs and manifests; each subclass supplies a handful of key/value primitives."""

    def __init__(self, url: str, *, metadata_timeout: float) -> None:
        self.url = redact_url(url)  # For messages: never with credentials or a query string.
        self.metadata_timeout = metadata_timeout  # The seconds each manifest or index read may take.

    @abstractmethod
    def has_blob(self, sha256: str, size: int) -> bool:
        """Whether the repository holds this blob intact, as far as the store can tell cheaply."""

    def missing_blobs(self, blobs: Sequence[Blob]) -> set[str]:
        """The sha256 of each of blobs that the repository lacks, or holds damaged: what publish
        uploads. The checks run concurrently, not one round trip after another."""
        present = concurrently(lambda blob: self.has_blob(blob.sha256, blob.size), blobs)
        return {blob.sha256 for blob, there in zip(blobs, present) if not there}

    def upload_blob(self, path: Path, sha256: str) -> None:
        actual, size = file_sha256(path)
        if actual != sha256:
            raise BlobMismatchError(
                f"{path} is not blob sha256:{sha256}: its {size:,} bytes hash to {actual}. It changed after "
                "the build: build the release again (`./pants package`) and publish that."
            )
        self._put_file(blob_key(sha256), path, sha256)

    def download_blob(self, blob: Blob, dest_path: Path, *, seconds: float) -> None:
        """Streams the blob into dest_path within `seconds`, stopping one byte past its declared
        size (the caller verifies what arrived)."""
        what = f"{blob.file} (sha256:{blob.sha256})"
        with open(dest_path, "wb") as out:
            try:
                received, finished = copy_by_deadline(
                    lambda: self._reader(blob_key(blob.sha256)), out, limit=blob.size + 1, seconds=seconds
                )
            except NotFoundError:
                raise NotFoundError(
                    f"The blob {what} is not in the repository {self.url}, though a manifest names "
                    "it. Publish the release again to restore it."
                ) from None
        if not finished:
            raise DownloadTimeoutError(
                f"Downloading {what} from {self.url} took longer than the {seconds:,.1f} s allowed for its "
                f"{blob.size:,} bytes: {received:,} bytes arrived."
            )
        if received > blob.size:
            raise BlobMismatchError(
                f"{what} from {self.url} is longer than the {blob.size:,} bytes its manifest declares: the "
                f"download stopped at {received:,} bytes. The repository's copy is damaged, or the server sends "
                "something else: publish the release again, which replaces a damaged blob."
            )

    def read_manifest(self, app: str, version: str) -> bytes:
        key = manifest_key(app, version)
        try:
            return self._get(key)
        except NotFoundError:
            raise NotFoundError(f"{app} {version} is not published in {self.url} (there is no {key}).") from None

    def create_manifest(self, app: str, version: str, data: bytes) -> bool:
        """Writes the manifest unless one exists, atomically: False if the version was already there."""
        return self._create(manifest_key(app, version), data)

    def list_apps(self) -> list[str]:
        return _apps_in(self._list(APPS))

    def list_versions(self, app: str) -> list[str]:
        return _versions_in(self._list(_app_directory(app)))

    def prepare_to_publish(self) -> None:
        """Checks that the repository takes writes (creating it if that is how it is made)."""

    # Channels' and prune's own files, small documents read and written whole, by their keys.

    def read_key(self, key: str) -> bytes:
        return self._get(key)

    def put_key(self, key: str, data: bytes) -> None:
        self._put(key, data)

    def create_key(self, key: str, data: bytes) -> bool:
        """Writes data unless key exists, atomically: False if it was already there."""
        return self._create(key, data)

    def list_keys(self, prefix: str) -> list[str]:
        return self._list(prefix)

    @abstractmethod
    def list_objects(self, prefix: str) -> list[StoredObject]:
        """The objects under prefix, with their sizes and modification times (prune's listing)."""

    @abstractmethod
    def now(self) -> float:
        """The store's clock, which list_objects' times are compared with."""

    # How far apart two writers' now() may be: a prune's lease counts as held that much longer.
    clock_skew_seconds = 0.0

    @abstractmethod
    def delete_key(self, key: str) -> None:
        """Deletes key; one already gone is not an error (a concurrent prune deleted it)."""

    def delete_keys(self, keys: Sequence[str]) -> None:
        """Deletes keys (up to 1,000), concurrently; a store that deletes in batches does it in one request."""
        concurrently(self.delete_key, keys)

    def update_indexes(self, app: str) -> None:
        """Rewrites the index of app's versions and the index of apps from the manifests."""
        self._refresh_index(versions_index_key(app), lambda: self.list_versions(app))
        self._refresh_index(APPS_INDEX, self.list_apps)

    def _refresh_index(self, key: str, list_names: Callable[[], list[str]]) -> None:
        # Until a listing taken after our write matches the stored index: a concurrent publish may
        # have listed before our manifest existed and written its index after ours.
        for _ in range(_INDEX_WRITE_ATTEMPTS):
            wanted = (json.dumps(list_names(), indent=2) + "\n").encode()
            try:
                if self._get(key) == wanted:
                    return
            except NotFoundError:
                pass
            self._put(key, wanted)

    def _get(self, key: str) -> bytes:
        """The bytes of a manifest or an index, read as a blob is downloaded (so a store that stalls,
        trickles or never ends cannot hold the caller): within metadata_timeout, and refused past
        METADATA_MAX_BYTES; NotFoundError if there is none."""
        out = io.BytesIO()
        received, finished = copy_by_deadline(
            lambda: self._reader(key), out, limit=METADATA_MAX_BYTES + 1, seconds=self.metadata_timeout
        )
        if not finished:
            raise DownloadTimeoutError(
                f"Reading {key} from {self.url} took longer than the {self.metadata_timeout:,.1f} s allowed: "
                f"{received:,} bytes arrived."
            )
        if received > METADATA_MAX_BYTES:
            raise RepositoryError(
                f"{key} in {self.url} is larger than {METADATA_MAX_BYTES:,} bytes ({METADATA_MAX_BYTES >> 20} MiB), the "
                "most a manifest or an index may be, so reading it stopped there. No release writes one that large "
                "(a 10,000-file release's manifest takes about 3 MB): check what the repository holds there."
            )
        return out.getvalue()

    # The store's primitives; keys are relative paths in the layout above.

    @abstractmethod
    def _reader(self, key: str) -> ContextManager[Callable[[int], bytes]]:
        """A function that reads up to n bytes of the object (at least one, b"" at its end);
        NotFoundError if there is none."""

    @abstractmethod
    def _put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def _put_file(self, key: str, path: Path, sha256: str) -> None: ...

    @abstractmethod
    def _create(self, key: str, data: bytes) -> bool: ...

    @abstractmethod
    def _list(self, prefix: str) -> list[str]:
        """The keys under prefix (which ends in `/`), relative to it."""
