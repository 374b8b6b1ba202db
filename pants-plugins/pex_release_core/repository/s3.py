# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`s3://bucket/prefix` repositories, on AWS S3 or any S3-compatible store, with boto3 (imported
only here, and only when an S3 repository is opened)."""

from __future__ import annotations

import base64
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from pex_release_core.redaction import redact_text, redact_url, remember_secrets
from pex_release_core.repository.base import (
    DEFAULT_METADATA_TIMEOUT_SECONDS,
    BlobMismatchError,
    CredentialsError,
    NotFoundError,
    Repository,
    RepositoryError,
    StoredObject,
    blob_key,
)
from pex_release_core.transfer import CHUNK_BYTES

_S3_CREDENTIAL_ERRORS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"})
_S3_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_S3_DIGEST_ERRORS = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
_S3_CREATE_ATTEMPTS = 5


class S3Repository(Repository):
    """`s3://bucket/prefix` on AWS or on any S3-compatible store (`endpoint_url`).

    Credentials come from boto3's usual chain (environment, shared files, instance role); messages
    name the bucket and the endpoint (redacted), never a key.
    """

    def __init__(
        self,
        url: str,
        bucket: str,
        prefix: str,
        endpoint_url: str | None,
        *,
        metadata_timeout: float = DEFAULT_METADATA_TIMEOUT_SECONDS,
    ) -> None:
        try:
            import boto3  # pants: no-infer-dep
            from botocore.config import Config  # pants: no-infer-dep
            from botocore.exceptions import BotoCoreError  # pants: no-infer-dep
        except ImportError:
            raise RepositoryError(
                f"The repository {redact_url(url)} is on S3, which needs boto3: install it (`pip install boto3`) for the "
                f"Python that runs this ({sys.executable})."
            ) from None
        super().__init__(url, metadata_timeout=metadata_timeout)
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
            session = boto3.session.Session()
            self._client = session.client("s3", endpoint_url=endpoint_url, config=config)
        except ValueError as e:
            raise RepositoryError(
                f"Cannot use the S3 endpoint '{redact_url(endpoint_url or '')}' for {self.url}: {redact_text(str(e))}."
            ) from None
        except BotoCoreError as e:  # e.g. ProfileNotFound: a bad AWS configuration
            raise RepositoryError(f"Cannot set up an S3 client for {self.url}: {redact_text(str(e))}.") from None
        self._client.meta.events.register("before-send.s3.PutObject", _without_expect_for_small_bodies)
        # What each request carries (a session token travels as X-Amz-Security-Token), which an error
        # body may quote back.
        credentials = session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            remember_secrets(frozen.access_key, frozen.secret_key, frozen.token)

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
                f"The repository {self._where} is unreachable ({redact_text(str(e))}): check the endpoint URL "
                "and the network."
            ) from None
        except errors.ClientError as e:
            raise self._client_error(doing, e) from None
        except errors.BotoCoreError as e:
            raise RepositoryError(f"S3 failed to {doing} in {self._where}: {redact_text(str(e))}") from None

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
        message = redact_text(error.response.get("Error", {}).get("Message", ""))
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

    @contextmanager
    def _reader(self, key: str) -> Iterator[Callable[[int], bytes]]:
        doing = f"read {key}"
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
        return [o.key for o in self.list_objects(prefix)]

    def list_objects(self, prefix: str) -> list[StoredObject]:
        full_prefix = self._key(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        # The paginator calls the API as it is iterated, so the whole iteration goes through _call.
        pages = self._call(f"list {prefix}", lambda **kwargs: list(paginator.paginate(**kwargs)), Prefix=full_prefix)
        objects = (
            StoredObject(o["Key"][len(full_prefix) :], o["Size"], o["LastModified"].timestamp())
            for page in pages
            for o in page.get("Contents", ())
        )
        return sorted(objects, key=lambda o: o.key)

    def now(self) -> float:
        # This host's clock: S3 refuses a request signed more than 15 minutes off its own (SigV4),
        # which bounds the skew against the objects' LastModified (the grace period is an hour).
        return time.time()

    # Hosts that publish and prune keep time (NTP) within this; a prune lease counts as held this
    # much longer, so a publish on a host whose clock runs ahead still waits for it.
    clock_skew_seconds = 60.0

    def delete_key(self, key: str) -> None:
        self._call(f"delete {key}", self._client.delete_object, Key=self._key(key))

    def delete_keys(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        objects = [{"Key": self._key(key)} for key in keys]
        result = self._call(f"delete {len(keys)} keys", self._client.delete_objects, Delete={"Objects": objects, "Quiet": True})
        errors = result.get("Errors", ())
        if errors:  # a key already gone is no error in S3's DeleteObjects, so these are real failures
            first = errors[0]
            raise RepositoryError(
                f"S3 failed to delete {len(errors)} of {len(keys)} keys in {self._where}, e.g. "
                f"{first.get('Key', '?')[len(self._prefix):]}: {first.get('Code', '?')} {first.get('Message', '')}".rstrip()
            )


def _without_expect_for_small_bodies(request: Any, **_: Any) -> None:
    """Drops the `Expect: 100-continue` botocore sends with every upload, for bodies under 1 MiB
    (most of a tree's files): with it, an empty body (an empty `__init__.py`) leaves the pooled
    connection out of step, so that the next upload on it stalls for 60 s and is sent again
    (boto/botocore#3755), and a store that answers `100 Continue` late costs a second per upload.
    The header is not signed; big bodies keep it, so a refused upload is not sent in full."""
    if int(request.headers.get("Content-Length", 0)) < CHUNK_BYTES:
        request.headers.pop("Expect", None)


def _error_code(error: Any) -> str:
    """The S3 error code of a botocore ClientError: "NoSuchKey", or the HTTP status for a HEAD."""
    return str(error.response.get("Error", {}).get("Code", ""))


def _base64_sha256(sha256: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256)).decode()
