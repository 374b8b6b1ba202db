# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The release core's repositories (pants-plugins/pex_release_core/repository/) against a real S3
server, SeaweedFS on loopback: here, because pexrun's resolve has boto3 and the plugin's has not."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from pex_release.sandbox import publisher
from pex_release_core.manifest import Blob, ReleaseManifest
from pex_release_core.publishing import publish
from pex_release_core.repository.base import (
    BlobMismatchError,
    CredentialsError,
    NotFoundError,
    RepositoryError,
    blob_key,
)
from pex_release_core.repository.s3 import S3Repository
from pex_release_core.repository.url import open_repository
from pex_release_core.repository_contract import RepositoryContract
from pex_release_core.testutil import add_source_files, make_release, python_env, uploaded_files
from pexrun.conftest import s3_client
from testing.servers import S3Server

WRONG_SECRET = "wrong-secret-5f0c2b9e"


class TestS3Repository(RepositoryContract):
    @pytest.fixture
    def location(self, s3_env: S3Server) -> tuple[str, str]:
        return f"s3://{s3_env.new_bucket()}/releases", s3_env.endpoint


def s3_repository(server: S3Server, bucket: str) -> S3Repository:
    repository = open_repository(f"s3://{bucket}/releases", s3_endpoint_url=server.endpoint)
    assert isinstance(repository, S3Repository)
    return repository


def test_blobs_are_stored_with_the_checksum_the_server_verified(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = s3_env.new_bucket()
    report = publish(s3_repository(s3_env, bucket), make_release(tmp_path, "api", "1.0.0"))
    assert len(report.blobs) == 11  # 5 deps files + 7 sources files, `.bootstrap` one blob for both
    for upload in report.blobs:  # every file of both trees
        blob = upload.blob
        head = s3_client(s3_env).head_object(Bucket=bucket, Key=f"releases/{blob_key(blob.sha256)}", ChecksumMode="ENABLED")
        assert head["ContentLength"] == blob.size
        assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(blob.sha256)).decode()


def test_the_server_refuses_bytes_that_are_not_the_blob(s3_env: S3Server, tmp_path: Path) -> None:
    repository = s3_repository(s3_env, s3_env.new_bucket())
    local = tmp_path / "blob"
    local.write_bytes(b"the real bytes")
    claimed = hashlib.sha256(b"other bytes").hexdigest()
    # Past the local check (as if the file changed during the upload): the store checks too.
    with pytest.raises(BlobMismatchError, match=f"S3 refused to upload {blob_key(claimed)} in .* \\(BadDigest\\)"):
        repository._put_file(blob_key(claimed), local, claimed)
    assert not repository.has_blob(claimed, local.stat().st_size)


def _wheel(manifest_path: Path) -> Blob:
    return ReleaseManifest.loads(manifest_path.read_bytes(), origin="test").deps.blobs[1]


def test_a_stored_blob_with_other_bytes_is_uploaded_again(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = s3_env.new_bucket()
    manifest_path = make_release(tmp_path, "api", "1.0.0")
    wheel = _wheel(manifest_path)
    damaged = b"x" * wheel.size  # the right size, other bytes, with their own (right) checksum
    s3_client(s3_env).put_object(
        Bucket=bucket, Key=f"releases/{blob_key(wheel.sha256)}", Body=damaged, ChecksumAlgorithm="SHA256"
    )
    report = publish(s3_repository(s3_env, bucket), manifest_path)
    assert wheel.file in uploaded_files(report) and len(uploaded_files(report)) == 11  # all the release's blobs
    stored = s3_client(s3_env).get_object(Bucket=bucket, Key=f"releases/{blob_key(wheel.sha256)}")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == wheel.sha256


def test_the_batched_check_skips_intact_blobs_and_uploads_missing_and_unverifiable_ones(
    s3_env: S3Server, tmp_path: Path
) -> None:
    bucket = s3_env.new_bucket()
    repository = s3_repository(s3_env, bucket)
    first = publish(repository, make_release(tmp_path / "v1", "api", "1.0.0")).manifest
    deleted, rewritten = (b for b in first.blobs if b.file in ("api-srcs.pex/__main__.py", "deps-shared.pex/.bootstrap"))
    client = s3_client(s3_env)
    client.delete_object(Bucket=bucket, Key=f"releases/{blob_key(deleted.sha256)}")
    # The right bytes, but stored without a checksum (e.g. copied in by another tool): not verifiable.
    client.put_object(Bucket=bucket, Key=f"releases/{blob_key(rewritten.sha256)}", Body=(tmp_path / "v1" / rewritten.file).read_bytes())
    report = publish(repository, make_release(tmp_path / "v2", "api", "1.0.1", sources="changed"))
    assert uploaded_files(report) == {"api-srcs.pex/__main__.py", "deps-shared.pex/.bootstrap", "api-srcs.pex/release.txt"}
    assert repository.missing_blobs(report.manifest.blobs) == set()


@pytest.mark.parametrize(
    "access_key, secret, code",
    [("testing", WRONG_SECRET, "SignatureDoesNotMatch"), ("AKIAUNKNOWN0000000000", WRONG_SECRET, "InvalidAccessKeyId")],
)
def test_wrong_credentials_are_named_without_the_secret(
    s3_env: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, access_key: str, secret: str, code: str
) -> None:
    bucket = s3_env.new_bucket()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    repository = s3_repository(s3_env, bucket)
    with pytest.raises(CredentialsError) as refused:
        repository.read_manifest("api", "1.0.0")
    message = str(refused.value)
    assert f"S3 refused to read apps/api/1.0.0.json in s3://{bucket}/releases (endpoint {s3_env.endpoint}) ({code})" in message
    assert "the credentials are wrong or lack permission" in message
    assert "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE" in message
    assert secret not in message and access_key not in message


def test_wrong_credentials_through_the_publisher_cli(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = s3_env.new_bucket()
    published = subprocess.run(
        [
            sys.executable,
            "-m",
            publisher.__name__,
            "--repository",
            f"s3://{bucket}/releases",
            "--s3-endpoint-url",
            s3_env.endpoint,
            str(make_release(tmp_path, "api", "1.0.0")),
        ],
        env={**python_env(), "AWS_SECRET_ACCESS_KEY": WRONG_SECRET},
        capture_output=True,
        text=True,
    )
    assert published.returncode == 1
    assert published.stderr.startswith(f"publisher: error: S3 refused to find the bucket in s3://{bucket}/releases")
    assert WRONG_SECRET not in published.stderr + published.stdout


def test_missing_credentials_say_how_to_give_them(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    repository = s3_repository(s3_env, "any-bucket")
    with pytest.raises(CredentialsError) as missing:
        repository.list_versions("api")
    assert str(missing.value) == (
        f"No S3 credentials to list apps/api/ in s3://any-bucket/releases (endpoint {s3_env.endpoint}): set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or give the host an instance role), as for "
        "any AWS tool."
    )


def test_a_missing_bucket(s3_env: S3Server, tmp_path: Path) -> None:
    repository = s3_repository(s3_env, "no-such-bucket-9c1d")
    with pytest.raises(RepositoryError, match="The bucket 'no-such-bucket-9c1d' of .* does not exist: create it first"):
        publish(repository, make_release(tmp_path, "api", "1.0.0"))
    with pytest.raises(RepositoryError, match="The bucket 'no-such-bucket-9c1d' of .* does not exist: check the URL"):
        repository.read_manifest("api", "1.0.0")


def test_an_unreachable_endpoint(s3_env: S3Server) -> None:
    repository = open_repository("s3://bucket/releases", s3_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(RepositoryError, match=r"The repository s3://bucket/releases \(endpoint http://127.0.0.1:9\) is unreachable"):
        repository.list_apps()


def test_a_bad_endpoint_url(s3_env: S3Server) -> None:
    with pytest.raises(RepositoryError, match="Cannot use the S3 endpoint 'not a url' for s3://bucket/releases"):
        open_repository("s3://bucket/releases", s3_endpoint_url="not a url")


def test_reading_what_is_not_there(s3_env: S3Server, tmp_path: Path) -> None:
    repository = s3_repository(s3_env, s3_env.new_bucket())
    assert repository.list_apps() == [] and repository.list_versions("api") == []
    with pytest.raises(NotFoundError, match=f"api 1.0.0 is not published in {repository.url}"):
        repository.read_manifest("api", "1.0.0")
    with pytest.raises(NotFoundError, match=f"The blob x.pex \\(sha256:{'0' * 64}\\) is not in the repository"):
        repository.download_blob(Blob("x.pex", "0" * 64, 1), tmp_path / "blob", seconds=60)


def test_a_same_size_object_without_a_checksum_is_not_taken_for_the_blob(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = s3_env.new_bucket()
    manifest_path = make_release(tmp_path, "api", "1.0.0")
    wheel = _wheel(manifest_path)
    key = f"releases/{blob_key(wheel.sha256)}"
    s3_client(s3_env).put_object(Bucket=bucket, Key=key, Body=b"x" * wheel.size)  # no SHA-256 stored
    assert "ChecksumSHA256" not in s3_client(s3_env).head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    report = publish(s3_repository(s3_env, bucket), manifest_path)
    assert wheel.file in uploaded_files(report)
    stored = s3_client(s3_env).get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == wheel.sha256


def test_small_files_are_uploaded_without_expect_100_continue(s3_env: S3Server, tmp_path: Path) -> None:
    # With it, botocore leaves the connection after an empty upload out of step: the next upload on
    # it stalls for 60 s, then is sent again (boto/botocore#3755). Trees have empty files.
    repository = s3_repository(s3_env, s3_env.new_bucket())
    sent: dict[str, str | None] = {}  # key -> its Expect header, as the request went out
    repository._client.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: sent.update({request.url.split("/releases/", 1)[1]: request.headers.get("Expect")}),
    )
    big = {"big.bin": "x" * (1 << 20)}
    manifest = add_source_files(make_release(tmp_path, "api", "1.0.0"), {"pkg/__init__.py": "", **big})
    report = publish(repository, manifest)
    big_sha256 = hashlib.sha256(big["big.bin"].encode()).hexdigest()
    assert {key for key, expect in sent.items() if expect} == {blob_key(big_sha256)}
    assert sorted(sent) == sorted(
        [*(blob_key(u.blob.sha256) for u in report.blobs), "apps/api/1.0.0.json", "apps/api/index.json", "apps/index.json"]
    )
    assert repository.missing_blobs(report.manifest.blobs) == set()
