# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Release repositories: content-addressed blobs and immutable manifests.

Layout, the same on every store:
    blobs/sha256/<hex>            the PEX files, by the sha256 of their bytes
    apps/<app>/<version>.json     the manifests, exactly as built
    apps/index.json               the apps, and apps/<app>/index.json their versions, for stores
                                  that cannot list (plain HTTP); rebuilt on every publish

`file://` and `s3://` repositories can be published to and read; `http(s)://` ones are read-only.
Pure Python 3.9+ (boto3 only for `s3://`): the publisher and `pexrun` share this module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from pex_release.manifest import Blob, ReleaseManifest

_CHUNK = 1 << 20


class RepositoryError(Exception):
    """A repository operation failed; the message says what and how to fix it."""


class NotFoundError(RepositoryError):
    pass


class BlobMismatchError(RepositoryError):
    pass


class AlreadyPublishedError(RepositoryError):
    pass


def blob_key(sha256: str) -> str:
    return f"blobs/sha256/{sha256}"


def manifest_key(app: str, version: str) -> str:
    return f"apps/{app}/{version}.json"


def sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_file(path: Path, blob: Blob, *, what: str) -> None:
    sha256, size = sha256_of(path)
    if (sha256, size) != (blob.sha256, blob.size):
        raise BlobMismatchError(
            f"{what} {path} does not match its manifest: sha256 {sha256} ({size:,} bytes), expected "
            f"{blob.sha256} ({blob.size:,} bytes)."
        )


class Repository(ABC):
    """A store of blobs and manifests, addressed by key (a relative path in the layout above)."""

    url: str  # As given by the user, for messages; never with credentials or query strings.
    writable = True

    @abstractmethod
    def _exists(self, key: str) -> bool: ...

    @abstractmethod
    def _read(self, key: str) -> bytes: ...

    @abstractmethod
    def _download(self, key: str, dest: Path) -> None: ...

    @abstractmethod
    def _upload(self, key: str, path: Path, sha256: str) -> None: ...

    @abstractmethod
    def _write(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def _create(self, key: str, data: bytes) -> bool:
        """Writes `data` at `key` unless the key exists, atomically; False if it existed."""

    @abstractmethod
    def _list(self, prefix: str) -> list[str]:
        """The keys under `prefix` (ending in `/`), relative to it."""

    def prepare_to_publish(self) -> None:
        """Makes the repository ready for writes, or says why it cannot take them."""

    def has_blob(self, sha256: str) -> bool:
        return self._exists(blob_key(sha256))

    def upload_blob(self, path: Path, blob: Blob) -> None:
        verify_file(path, blob, what="The local file")
        self._upload(blob_key(blob.sha256), path, blob.sha256)

    def download_blob(self, sha256: str, dest: Path) -> None:
        self._download(blob_key(sha256), dest)

    def read_manifest(self, app: str, version: str) -> bytes:
        return self._read(manifest_key(app, version))

    def create_manifest(self, app: str, version: str, data: bytes) -> bool:
        return self._create(manifest_key(app, version), data)

    def list_apps(self) -> list[str]:
        return self._read_index("apps/index.json")

    def list_versions(self, app: str) -> list[str]:
        return self._read_index(f"apps/{app}/index.json")

    def _read_index(self, key: str) -> list[str]:
        try:
            return sorted(json.loads(self._read(key)))
        except NotFoundError:
            return []

    def update_indexes(self, app: str) -> None:
        """Rebuilds the index files from the manifests, for stores that cannot list."""
        manifests = [k for k in self._list(f"apps/{app}/") if k.endswith(".json") and "/" not in k]
        versions = sorted(k[: -len(".json")] for k in manifests if k != "index.json")
        apps = sorted({k.split("/", 1)[0] for k in self._list("apps/") if "/" in k})
        self._write(f"apps/{app}/index.json", json.dumps(versions).encode())
        self._write("apps/index.json", json.dumps(apps).encode())


# -----------------------------------------------------------------------------------------------
# file://
# -----------------------------------------------------------------------------------------------


class FileRepository(Repository):
    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    def prepare_to_publish(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            if not self.root.is_dir():
                raise RepositoryError(f"The repository {self.url} does not exist: {self.root} is not a directory.")
            raise NotFoundError(f"{key} is not in the repository {self.url}.")

    def _download(self, key: str, dest: Path) -> None:
        try:
            shutil.copyfile(self._path(key), dest)
        except FileNotFoundError:
            raise NotFoundError(f"{key} is not in the repository {self.url}.")

    def _temp_beside(self, key: str) -> Path:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        return Path(temp)

    def _upload(self, key: str, path: Path, sha256: str) -> None:
        temp = self._temp_beside(key)
        try:
            shutil.copyfile(path, temp)
            os.replace(temp, self._path(key))  # content-addressed: a concurrent copy is identical
        finally:
            temp.unlink(missing_ok=True)

    def _write(self, key: str, data: bytes) -> None:
        temp = self._temp_beside(key)
        try:
            temp.write_bytes(data)
            os.replace(temp, self._path(key))
        finally:
            temp.unlink(missing_ok=True)

    def _create(self, key: str, data: bytes) -> bool:
        temp = self._temp_beside(key)
        try:
            temp.write_bytes(data)
            os.link(temp, self._path(key))  # fails if the key exists: first writer wins
            return True
        except FileExistsError:
            return False
        finally:
            temp.unlink(missing_ok=True)

    def _list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))

    def has_blob(self, sha256: str) -> bool:
        # A local copy can be checked cheaply: a corrupt blob is re-uploaded, not trusted.
        path = self._path(blob_key(sha256))
        return path.is_file() and sha256_of(path)[0] == sha256


# -----------------------------------------------------------------------------------------------
# http:// and https:// (read-only)
# -----------------------------------------------------------------------------------------------


class HttpRepository(Repository):
    """A repository served over HTTP(S), e.g. a static file server or a CDN.

    A query string on the repository URL (a token, or a signature) is added to every request and
    never shown in messages.
    """

    writable = False

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._base = self.url.rstrip("/") + "/"
        self._query = parts.query

    def _open(self, key: str):
        url = self._base + key + (f"?{self._query}" if self._query else "")
        try:
            return urllib.request.urlopen(url, timeout=60)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise NotFoundError(f"{key} is not in the repository {self.url} (HTTP 404).")
            raise RepositoryError(f"The repository {self.url} answered HTTP {e.code} for {key}.")
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RepositoryError(f"The repository {self.url} is unreachable: {reason}. Check the URL and the network.")

    def _exists(self, key: str) -> bool:
        try:
            self._open(key).close()
            return True
        except NotFoundError:
            return False

    def _read(self, key: str) -> bytes:
        with self._open(key) as response:
            return response.read()

    def _download(self, key: str, dest: Path) -> None:
        with self._open(key) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)

    def _read_only(self, *_args) -> None:
        raise RepositoryError(
            f"The repository {self.url} is served over HTTP, which is read-only: publish to its "
            "file:// or s3:// location instead."
        )

    _upload = _write = prepare_to_publish = _read_only  # type: ignore[assignment]

    def _create(self, key: str, data: bytes) -> bool:
        self._read_only()
        return False

    def _list(self, prefix: str) -> list[str]:
        self._read_only()
        return []


# -----------------------------------------------------------------------------------------------
# s3://
# -----------------------------------------------------------------------------------------------


class S3Repository(Repository):
    """`s3://bucket/prefix` on AWS or any S3-compatible store (`endpoint_url`).

    Credentials come from boto3's standard chain (environment, shared files, instance roles).
    """

    def __init__(self, url: str, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        try:
            import boto3  # pants: no-infer-dep
            from botocore.config import Config  # pants: no-infer-dep
        except ImportError:
            raise RepositoryError(
                f"The repository {url} is on S3, which needs boto3: install it (`pip install boto3`) "
                "for the Python that runs this."
            )
        self.url = url
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}) if endpoint_url else None
        try:
            # A session of its own: boto3's default one caches the credentials it first found.
            self._client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        except ValueError as e:
            raise RepositoryError(f"Cannot use the S3 endpoint {endpoint_url!r} for {url}: {e}.")
        self._where = f"{url}" + (f" (endpoint {endpoint_url})" if endpoint_url else "")

    def _key(self, key: str) -> str:
        return self._prefix + key

    def _call(self, what: str, call: Callable, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError  # pants: no-infer-dep

        try:
            return call(Bucket=self._bucket, **kwargs)
        except NoCredentialsError:
            raise RepositoryError(
                f"No S3 credentials for {self._where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE, or an instance role), as for any AWS tool."
            )
        except EndpointConnectionError as e:
            raise RepositoryError(f"The repository {self._where} is unreachable: {e}. Check the endpoint URL.")
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"):
                raise RepositoryError(
                    f"S3 refused {what} in {self._where} ({code}): the credentials are wrong or lack "
                    "permission. Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE."
                )
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFoundError(f"{what} is not in the repository {self._where}.")
            if code == "NoSuchBucket":
                raise RepositoryError(f"The bucket {self._bucket!r} of {self._where} does not exist: create it first.")
            if code in ("PreconditionFailed", "412"):
                raise
            raise RepositoryError(f"S3 failed {what} in {self._where}: {code}: {e}")
        except BotoCoreError as e:
            raise RepositoryError(f"S3 failed {what} in {self._where}: {e}")

    def _head(self, key: str) -> dict | None:
        try:
            return self._call(key, self._client.head_object, Key=self._key(key), ChecksumMode="ENABLED")
        except NotFoundError:
            return None

    def _exists(self, key: str) -> bool:
        return self._head(key) is not None

    def has_blob(self, sha256: str) -> bool:
        head = self._head(blob_key(sha256))
        if head is None:
            return False
        # Uploads carry the store-verified checksum; a blob stored without one is trusted by key.
        stored = head.get("ChecksumSHA256")
        return stored is None or stored == base64.b64encode(bytes.fromhex(sha256)).decode()

    def _read(self, key: str) -> bytes:
        return self._call(key, self._client.get_object, Key=self._key(key))["Body"].read()

    def _download(self, key: str, dest: Path) -> None:
        body = self._call(key, self._client.get_object, Key=self._key(key))["Body"]
        with open(dest, "wb") as out:
            for chunk in body.iter_chunks(_CHUNK):
                out.write(chunk)

    def _upload(self, key: str, path: Path, sha256: str) -> None:
        with open(path, "rb") as body:
            # The store verifies the checksum, so a blob is never stored with other bytes.
            self._call(key, self._client.put_object, Key=self._key(key), Body=body, ChecksumAlgorithm="SHA256")

    def _write(self, key: str, data: bytes) -> None:
        self._call(key, self._client.put_object, Key=self._key(key), Body=data, ChecksumAlgorithm="SHA256")

    def _create(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError  # pants: no-infer-dep

        try:
            self._call(key, self._client.put_object, Key=self._key(key), Body=data, IfNoneMatch="*")
            return True
        except ClientError:  # re-raised by _call only for PreconditionFailed: the key exists
            return False

    def _list(self, prefix: str) -> list[str]:
        keys, token = [], None
        while True:
            page = self._call(
                prefix,
                self._client.list_objects_v2,
                Prefix=self._key(prefix),
                **({"ContinuationToken": token} if token else {}),
            )
            keys.extend(o["Key"][len(self._key(prefix)) :] for o in page.get("Contents", ()))
            if not page.get("IsTruncated"):
                return sorted(keys)
            token = page["NextContinuationToken"]


# -----------------------------------------------------------------------------------------------
# Opening and publishing
# -----------------------------------------------------------------------------------------------


def open_repository(url: str, *, s3_endpoint_url: str | None = None) -> Repository:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise RepositoryError(f"{url!r} is not a file:// repository URL: use file:///absolute/path.")
        return FileRepository(url, Path(urllib.parse.unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise RepositoryError(f"{url!r} names no bucket: use s3://bucket/prefix.")
        return S3Repository(url, parts.netloc, parts.path, s3_endpoint_url)
    if parts.scheme in ("http", "https"):
        if not parts.netloc:
            raise RepositoryError(f"{url!r} names no host.")
        return HttpRepository(url)
    raise RepositoryError(
        f"{url!r} is not a repository URL: use file:///absolute/path, s3://bucket/prefix or https://host/path."
    )


@dataclass(frozen=True)
class BlobResult:
    blob: Blob
    uploaded: bool


@dataclass(frozen=True)
class PublishReport:
    manifest: ReleaseManifest
    repository: str
    blobs: tuple[BlobResult, ...]
    manifest_written: bool  # False: the same manifest was already published.

    def lines(self) -> Iterator[str]:
        m = self.manifest
        uploaded = [r for r in self.blobs if r.uploaded]
        skipped = [r for r in self.blobs if not r.uploaded]
        if not self.manifest_written:
            yield f"{m.app} {m.version}: already published with identical content in {self.repository}; nothing to do"
        else:
            yield (
                f"{m.app} {m.version}: uploaded {_count(uploaded)} ({_bytes(uploaded)}), skipped "
                f"{_count(skipped)} ({_bytes(skipped)}) already in {self.repository}; wrote "
                f"{manifest_key(m.app, m.version)}"
            )
        for r in self.blobs:
            yield f"  {'uploaded' if r.uploaded else 'skipped '} {r.blob.file} sha256:{r.blob.sha256[:16]} {r.blob.size:,} bytes"


def _count(results: list[BlobResult]) -> str:
    return f"{len(results)} blob" + ("" if len(results) == 1 else "s")


def _bytes(results: list[BlobResult]) -> str:
    return f"{sum(r.blob.size for r in results):,} bytes"


def publish(repository: Repository, manifest_path: Path) -> PublishReport:
    """Uploads the blobs the repository lacks, then the manifest, last.

    A publish killed midway leaves blobs but no manifest, so readers never see a release whose
    blobs are missing, and running it again completes it. A version is published once: the same
    manifest again is a no-op, a different one is refused.
    """
    data = manifest_path.read_bytes()
    manifest = ReleaseManifest.loads(data, origin=str(manifest_path))
    repository.prepare_to_publish()
    existing = _existing_manifest(repository, manifest)
    if existing is not None:
        return _already_published(repository, manifest, data, existing)
    results = []
    for blob in manifest.blobs:
        local = manifest_path.parent / blob.file
        if repository.has_blob(blob.sha256):
            verify_file(local, blob, what="The local file")
            results.append(BlobResult(blob, uploaded=False))
        else:
            repository.upload_blob(local, blob)
            results.append(BlobResult(blob, uploaded=True))
    if not repository.create_manifest(manifest.app, manifest.version, data):
        # Another publish of this version won the race.
        return _already_published(repository, manifest, data, repository.read_manifest(manifest.app, manifest.version))
    repository.update_indexes(manifest.app)
    return PublishReport(manifest, repository.url, tuple(results), manifest_written=True)


def _existing_manifest(repository: Repository, manifest: ReleaseManifest) -> bytes | None:
    try:
        return repository.read_manifest(manifest.app, manifest.version)
    except NotFoundError:
        return None


def _already_published(repository: Repository, manifest: ReleaseManifest, data: bytes, existing: bytes) -> PublishReport:
    if existing != data:
        raise AlreadyPublishedError(
            f"{manifest.app} {manifest.version} is already published in {repository.url} with different "
            "content, and published versions are immutable. To fix, release a new `version`."
        )
    return PublishReport(
        manifest, repository.url, tuple(BlobResult(b, uploaded=False) for b in manifest.blobs), manifest_written=False
    )
