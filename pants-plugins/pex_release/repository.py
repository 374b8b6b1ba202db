# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Release repositories: content-addressed blobs and immutable manifests.

The layout, the same on every store:

    blobs/sha256/<hex>            the files of the releases' PEXes (each file of a tree, or a whole
                                  zipapp), named by the sha256 of their bytes
    apps/<app>/<version>.json     the manifests, byte for byte as built
    apps/index.json               the apps, and apps/<app>/index.json their versions: plain HTTP
                                  cannot list, so publish keeps these (rebuilt from the manifests)

`file://` and `s3://` repositories can be published to and read; `http(s)://` ones are read-only.
Pure Python 3.9+ with the standard library (boto3 only for `s3://`): the publisher and `pexrun`
share this module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, ContextManager, Iterator, Sequence, TypeVar, Union

from pex_release.manifest import Blob, ManifestError, ReleaseManifest, ReleasePex, TreeSymlink, printable

_CHUNK_BYTES = 1 << 20
_INDEX_WRITE_ATTEMPTS = 5
APPS_INDEX = "apps/index.json"
# A write's temporary file (`.<name>.<random>.tmp`, beside its final path) older than this was left
# by a publish that was killed: no write takes an hour between two of its bytes, or between its last
# byte and its rename, so younger ones may belong to a concurrent publish and are left alone.
_STALE_TEMPORARY_SECONDS = 3600
_TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # as tempfile.mkstemp names them
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")
# Blob checks, uploads and downloads in flight at once: a tree has tens to hundreds of files, and each
# request mostly waits on the store (boto3 clients are thread-safe; its connection pool holds 10).
TRANSFER_THREADS = 8

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


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
    """A blob's download did not finish within the time it was given."""


# --- URLs in messages ------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL as messages show it: `user:password@` becomes `***@`, a query (or fragment) `?***`,
    and non-printable characters are escaped.

    By hand rather than with urlsplit, so that URLs too broken to parse (`http://[::1/x?token=...`)
    are redacted too.
    """
    head, mark, _ = re.match(r"([^?#]*)([?#]?)(.*)", url, re.DOTALL).groups()
    start = head.find("://") + 3 if "://" in head else 0
    at = head.rfind("@", start)
    # Up to the last `@`, even one past the first `/`: a password with an unescaped `/` in it is
    # still a password.
    if at >= 0:
        head = f"{head[:start]}***{head[at:]}"
    return printable(head + (f"{mark}***" if mark else ""))


def redact_urls_in(text: str) -> str:
    """text (e.g. a library's error message) with every URL in it redacted."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)


# --- The layout ------------------------------------------------------------------------------------


def blob_key(sha256: str) -> str:
    return f"blobs/sha256/{sha256}"


def manifest_key(app: str, version: str) -> str:
    _check_name(app, "app")
    _check_name(version, "version")
    if version == "index":
        raise RepositoryError("'index' is not a valid version: apps/<app>/index.json lists the versions.")
    return f"apps/{app}/{version}.json"


def versions_index_key(app: str) -> str:
    _check_name(app, "app")
    return f"apps/{app}/index.json"


def _check_name(name: str, what: str) -> None:
    # Names become path segments of keys: nothing that could climb out of apps/ or hide a file.
    if not name or "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        raise RepositoryError(f"{name!r} is not a valid {what} name for a repository key.")


def file_sha256(path: Path) -> tuple[str, int]:
    """The sha256 hex digest and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_by_deadline(
    open_reader: Callable[[], ContextManager[Callable[[int], bytes]]], out: BinaryIO, *, limit: int, seconds: float
) -> tuple[int, bool]:
    """Copies at most `limit` bytes from a reader to out; returns the bytes copied and whether the
    reader ended within `seconds`.

    Opening and reading happen in a thread of their own, so a store that stalls or trickles (or a
    hung mount) cannot hold the caller past the deadline: the thread is then abandoned, a daemon
    that ends with its next read (or its socket's timeout).
    """
    chunks: queue.Queue[Union[bytes, BaseException]] = queue.Queue(maxsize=4)
    abandoned = threading.Event()

    def hand_over(item: Union[bytes, BaseException]) -> None:
        while not abandoned.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def read_all() -> None:
        try:
            with open_reader() as read:
                received = 0
                while received < limit and not abandoned.is_set():
                    chunk = read(min(_CHUNK_BYTES, limit - received))
                    if not chunk:
                        break
                    received += len(chunk)
                    hand_over(chunk)
            hand_over(b"")
        except BaseException as e:  # handed to the caller, who raises it
            hand_over(e)

    deadline = time.monotonic() + seconds
    threading.Thread(target=read_all, name="download", daemon=True).start()
    copied = 0
    try:
        while True:
            try:
                chunk = chunks.get(timeout=min(max(0.0, deadline - time.monotonic()), threading.TIMEOUT_MAX))
            except queue.Empty:
                return copied, False
            if isinstance(chunk, BaseException):
                raise chunk
            if not chunk:
                return copied, True
            out.write(chunk)
            copied += len(chunk)
    finally:
        abandoned.set()


def concurrently(work: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """work(item) for each item, on a bounded pool of threads; the results in items' order.

    After a failure (or an interrupt), the work not yet started never starts, the work under way
    finishes, and then the failure is raised: the earliest item's, if several failed.
    """
    if len(items) < 2:
        return [work(item) for item in items]
    # Imported here: a pexrun warm start transfers nothing, and starts sooner without it.
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    with ThreadPoolExecutor(max_workers=min(TRANSFER_THREADS, len(items)), thread_name_prefix="transfer") as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            for future in futures:
                future.cancel()  # a no-op for the work done or under way, which leaving the pool waits for
    failed = next((f.exception() for f in futures if not f.cancelled() and f.exception()), None)
    if failed is not None:
        raise failed
    return [f.result() for f in futures]


def _versions_in(keys: list[str]) -> list[str]:
    """The versions of the manifests among keys relative to apps/<app>/."""
    return sorted(k[: -len(".json")] for k in keys if k.endswith(".json") and "/" not in k and k != "index.json")


def _apps_in(keys: list[str]) -> list[str]:
    """The apps with at least one manifest among keys relative to apps/."""
    return sorted({k.split("/")[0] for k in keys if k.count("/") == 1 and _versions_in([k.split("/")[1]])})


# --- Repositories ----------------------------------------------------------------------------------


class Repository(ABC):
    """A store of blobs and manifests; each subclass supplies a handful of key/value primitives."""

    url: str  # For messages: never with credentials or a query string.

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
                received, finished = _copy_by_deadline(
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
        return _apps_in(self._list("apps/"))

    def list_versions(self, app: str) -> list[str]:
        _check_name(app, "app")
        return _versions_in(self._list(f"apps/{app}/"))

    def prepare_to_publish(self) -> None:
        """Checks that the repository takes writes (creating it if that is how it is made)."""

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

    # The store's primitives; keys are relative paths in the layout above.

    @abstractmethod
    def _get(self, key: str) -> bytes:
        """The object's bytes; NotFoundError if there is none."""

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


class FileRepository(Repository):
    """A directory, local or mounted. Writes go to a temporary name first, so readers never see
    half a file, and a manifest is created with a hard link, which fails if it exists."""

    def __init__(self, url: str, root: Path) -> None:
        self.url = redact_url(url)
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
        too_old = time.time() - _STALE_TEMPORARY_SECONDS
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

    def _get(self, key: str) -> bytes:
        self._check_exists()
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{key} is not in the repository {self.url}.") from None

    @contextmanager
    def _reader(self, key: str) -> Iterator[Callable[[int], bytes]]:
        self._check_exists()
        try:
            f = open(self.root / key, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"{key} is not in the repository {self.url}.") from None
        with f:
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

    def _list(self, prefix: str) -> list[str]:
        self._check_exists()
        base = self.root / prefix
        return sorted(
            str(Path(directory, name).relative_to(base))
            for directory, _, names in os.walk(base)
            for name in names
            if not name.startswith(".")  # temporary files of writes in progress
        )


_S3_CREDENTIAL_ERRORS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"})
_S3_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_S3_DIGEST_ERRORS = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
_S3_CREATE_ATTEMPTS = 5


class S3Repository(Repository):
    """`s3://bucket/prefix` on AWS or on any S3-compatible store (`endpoint_url`).

    Credentials come from boto3's usual chain (environment, shared files, instance role); messages
    name the bucket and the endpoint (redacted), never a key.
    """

    def __init__(self, url: str, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        try:
            import boto3  # pants: no-infer-dep
            from botocore.config import Config  # pants: no-infer-dep
            from botocore.exceptions import BotoCoreError  # pants: no-infer-dep
        except ImportError:
            raise RepositoryError(
                f"The repository {redact_url(url)} is on S3, which needs boto3: install it (`pip install boto3`) for the "
                f"Python that runs this ({sys.executable})."
            ) from None
        self.url = redact_url(url)
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._where = self.url + (f" (endpoint {redact_url(endpoint_url)})" if endpoint_url else "")
        # Path-style addressing: S3-compatible stores rarely have a DNS name per bucket.
        config = Config(
            s3={"addressing_style": "path"} if endpoint_url else {},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
        )
        try:
            # A session of its own: boto3's default session keeps the credentials it first found.
            self._client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        except ValueError as e:
            raise RepositoryError(
                f"Cannot use the S3 endpoint '{redact_url(endpoint_url or '')}' for {self.url}: {redact_urls_in(str(e))}."
            ) from None
        except BotoCoreError as e:  # e.g. ProfileNotFound: a bad AWS configuration
            raise RepositoryError(f"Cannot set up an S3 client for {self.url}: {redact_urls_in(str(e))}.") from None
        self._client.meta.events.register("before-send.s3.PutObject", _without_expect_for_small_bodies)

    def _call(self, doing: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        """Calls the S3 API on the bucket."""
        with self._errors(doing):
            return method(Bucket=self._bucket, **kwargs)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turns S3's failures into messages that say what to do (and no secrets)."""
        import botocore.exceptions as errors  # pants: no-infer-dep

        try:
            yield
        except (errors.NoCredentialsError, errors.PartialCredentialsError):
            raise CredentialsError(
                f"No S3 credentials to {doing} in {self._where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE, or give the host an instance role), as for any AWS tool."
            ) from None
        except errors.EndpointConnectionError as e:
            raise RepositoryError(
                f"The repository {self._where} is unreachable ({redact_urls_in(str(e))}): check the endpoint URL "
                "and the network."
            ) from None
        except errors.ClientError as e:
            raise self._client_error(doing, e) from None
        except errors.BotoCoreError as e:
            raise RepositoryError(f"S3 failed to {doing} in {self._where}: {redact_urls_in(str(e))}") from None

    def _client_error(self, doing: str, error: Any) -> RepositoryError:
        code = _error_code(error)
        if code in _S3_CREDENTIAL_ERRORS:
            # Only the code: some stores echo the access key or the string to sign in the message.
            return CredentialsError(
                f"S3 refused to {doing} in {self._where} ({code}): the credentials are wrong or lack permission "
                "(a missing key also answers 403 without s3:ListBucket). Check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE."
            )
        if code == "NoSuchBucket":
            return RepositoryError(
                f"The bucket {self._bucket!r} of {self._where} does not exist: check the URL, or create the bucket."
            )
        if code in _S3_NOT_FOUND:
            return NotFoundError(f"Nothing to {doing} in {self._where}: not found.")
        if code in _S3_DIGEST_ERRORS:
            return BlobMismatchError(
                f"S3 refused to {doing} in {self._where} ({code}): the bytes it received do not match their "
                "sha256. The file changed or was damaged in transit: publish again."
            )
        message = redact_urls_in(error.response.get("Error", {}).get("Message", ""))
        return RepositoryError(f"S3 failed to {doing} in {self._where}: {code} {message}".rstrip())

    def _key(self, key: str) -> str:
        return self._prefix + key

    # Checked with one HEAD per blob (concurrent, through missing_blobs), not with a listing of
    # blobs/sha256/: a listing gives neither the stored checksum nor the bytes' hash (its ETag is an
    # MD5, or none for multipart), so every blob it finds still needs its HEAD, and it costs a request
    # per 1,000 blobs of the whole repository, which outgrows any release's file count.
    def has_blob(self, sha256: str, size: int) -> bool:
        try:
            head = self._call(
                f"check {blob_key(sha256)}", self._client.head_object, Key=self._key(blob_key(sha256)), ChecksumMode="ENABLED"
            )
        except NotFoundError:
            return False
        # Present means verified: the store holds the SHA-256 it checked the bytes against when they
        # were uploaded (publish always sends it), and it is the blob's. An object without one, or
        # with a multipart checksum of checksums ("...-N"), counts as missing and is uploaded again.
        return head.get("ContentLength") == size and head.get("ChecksumSHA256") == _base64_sha256(sha256)

    def prepare_to_publish(self) -> None:
        try:
            self._call("find the bucket", self._client.head_bucket)
        except NotFoundError:  # HEAD has no body, so a missing bucket is a bare 404
            raise RepositoryError(
                f"The bucket {self._bucket!r} of {self._where} does not exist: create it first "
                f"(e.g. `aws s3 mb s3://{self._bucket}`), or fix the URL."
            ) from None

    def _get(self, key: str) -> bytes:
        def read(**kwargs: Any) -> bytes:
            return self._client.get_object(**kwargs)["Body"].read()

        try:
            return self._call(f"read {key}", read, Key=self._key(key))
        except NotFoundError:
            raise NotFoundError(f"{key} is not in the repository {self._where}.") from None

    @contextmanager
    def _reader(self, key: str) -> Iterator[Callable[[int], bytes]]:
        doing = f"download {key}"
        body = self._call(doing, self._client.get_object, Key=self._key(key))["Body"]

        def read(size: int) -> bytes:
            with self._errors(doing):  # a connection lost while streaming is an S3 failure too
                return body.read(size)

        try:
            yield read
        finally:
            body.close()

    def _put(self, key: str, data: bytes) -> None:
        self._call(f"write {key}", self._client.put_object, Key=self._key(key), Body=data, ChecksumAlgorithm="SHA256")

    def _put_file(self, key: str, path: Path, sha256: str) -> None:
        with open(path, "rb") as body:
            # The expected checksum, not one computed while reading: the store verifies that the
            # bytes it receives are the blob, and keeps the checksum for has_blob.
            self._call(
                f"upload {key}",
                self._client.put_object,
                Key=self._key(key),
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_base64_sha256(sha256),
            )

    def _create(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError  # pants: no-infer-dep

        def put_if_absent(**kwargs: Any) -> bool | None:
            """True if written, False if the key exists, None if a concurrent conditional write is in flight."""
            try:
                self._client.put_object(IfNoneMatch="*", ChecksumAlgorithm="SHA256", **kwargs)
                return True
            except ClientError as e:
                code = _error_code(e)
                if code in ("PreconditionFailed", "412"):
                    return False
                if code in ("ConditionalRequestConflict", "409"):
                    return None
                raise

        for attempt in range(_S3_CREATE_ATTEMPTS):
            created = self._call(f"create {key}", put_if_absent, Key=self._key(key), Body=data)
            if created is not None:
                return created
            time.sleep(0.1 * 2**attempt)
        raise RepositoryError(f"{self._where} kept reporting concurrent writes to {key}: publish again.")

    def _list(self, prefix: str) -> list[str]:
        full_prefix = self._key(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        # The paginator calls the API as it is iterated, so the whole iteration goes through _call.
        pages = self._call(f"list {prefix}", lambda **kwargs: list(paginator.paginate(**kwargs)), Prefix=full_prefix)
        return sorted(o["Key"][len(full_prefix) :] for page in pages for o in page.get("Contents", ()))


def _without_expect_for_small_bodies(request: Any, **_: Any) -> None:
    """Drops the `Expect: 100-continue` botocore sends with every upload, for bodies under 1 MiB
    (most of a tree's files): with it, an empty body (an empty `__init__.py`) leaves the pooled
    connection out of step, so that the next upload on it stalls for 60 s and is sent again
    (boto/botocore#3755), and a store that answers `100 Continue` late costs a second per upload.
    The header is not signed; big bodies keep it, so a refused upload is not sent in full."""
    if int(request.headers.get("Content-Length", 0)) < _CHUNK_BYTES:
        request.headers.pop("Expect", None)


def _error_code(error: Any) -> str:
    """The S3 error code of a botocore ClientError: "NoSuchKey", or the HTTP status for a HEAD."""
    return str(error.response.get("Error", {}).get("Code", ""))


def _base64_sha256(sha256: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256)).decode()


# --- Opening and publishing ------------------------------------------------------------------------


def open_repository(url: str, *, s3_endpoint_url: str | None = None) -> Repository:
    shown = f"'{redact_url(url)}'"
    if any(c.isspace() or not c.isprintable() for c in url):
        raise RepositoryError(
            f"{shown} is not a repository URL: it contains a space or a control character. Percent-encode it "
            "(a space is %20)."
        )
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise RepositoryError(f"{shown} is not a repository URL ({e}).") from None
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise RepositoryError(f"{shown} is not a file:// repository URL: use file:///absolute/path.")
        return FileRepository(url, Path(urllib.parse.unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise RepositoryError(f"{shown} names no bucket: use s3://bucket/prefix.")
        return S3Repository(url, parts.netloc, parts.path, s3_endpoint_url)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise RepositoryError(f"{shown} names no host: use {parts.scheme}://host/path.")
        # Imported here: urllib.request and http.client cost every pexrun start about 20 ms.
        from pex_release.http_repository import HttpRepository

        return HttpRepository(url)
    raise RepositoryError(
        f"{shown} is not a repository URL: use file:///absolute/path, s3://bucket/prefix or https://host/path."
    )


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

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.manifest.app, self.manifest.version)


def publish(repository: Repository, manifest_path: Path) -> PublishReport:
    """Uploads the blobs the repository lacks, then the manifest, last.

    Every file of the release is checked first: each against its manifest entry (bytes, and a
    tree's symlinks), and each wheel of the deps PEX against the hash its lockfile pins. Then one
    batched check finds the blobs the repository lacks, which are uploaded concurrently.

    A publish killed midway, or failing on one upload, leaves blobs but no manifest, so readers
    never see a release with missing blobs, and running it again completes it. A version is
    published once: the same bytes again upload only what the repository lost or damaged since (a
    repair), other bytes are refused, also when two publishes race.
    """
    data, manifest = _read_local_manifest(manifest_path)
    _check_wheels(manifest_path, manifest)
    repository.prepare_to_publish()
    published = _published_manifest(repository, manifest)
    if published is not None:
        _check_same(repository, manifest, data, published)
    local_files = _verified_local_files(manifest_path, manifest)
    missing = repository.missing_blobs(manifest.blobs)
    concurrently(
        lambda blob: _upload(repository, manifest, blob, local_files[blob.sha256]),
        [blob for blob in manifest.blobs if blob.sha256 in missing],
    )
    written = False
    if published is None:
        written = repository.create_manifest(manifest.app, manifest.version, data)
        if not written:  # a concurrent publish of this version won the race
            _check_same(repository, manifest, data, repository.read_manifest(manifest.app, manifest.version))
    repository.update_indexes(manifest.app)  # also completes a publish killed before its indexes
    uploads = tuple(BlobUpload(blob, uploaded=blob.sha256 in missing) for blob in manifest.blobs)
    return PublishReport(manifest, repository.url, uploads, written, previously_published=published is not None)


def _read_local_manifest(manifest_path: Path) -> tuple[bytes, ReleaseManifest]:
    try:
        data = manifest_path.read_bytes()
    except OSError as e:
        raise RepositoryError(
            f"Cannot read the manifest {manifest_path}: {e.strerror}. Build the release first (`./pants package`)."
        ) from None
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
    """The local file of each blob, by sha256, once every file and symlink of every PEX on disk
    was checked against the manifest."""
    files: dict[str, Path] = {}
    for pex in manifest.pexes:
        for blob in pex.blobs:
            files.setdefault(blob.sha256, _verified_local_file(manifest_path, manifest, blob))
        for symlink in pex.symlinks:
            _check_local_symlink(manifest_path, manifest, pex, symlink)
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
