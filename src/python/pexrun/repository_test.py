# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The repository layer (pants-plugins/pex_release/repository.py) on file:// and a real S3 server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pex_release.manifest import ReleaseManifest
from pex_release.repository import (
    AlreadyPublishedError,
    FileRepository,
    Repository,
    RepositoryError,
    open_repository,
    publish,
)
from pexrun.conftest import make_release
from testing.servers import S3Server


def stored_blobs(repository: Repository) -> list[str]:
    return repository._list("blobs/sha256/")


def test_shared_deps_blob_is_stored_once(writable_repository: Repository, tmp_path: Path) -> None:
    api = publish(writable_repository, make_release(tmp_path / "api", "api", "1.0.0"))
    worker = publish(writable_repository, make_release(tmp_path / "worker", "worker", "2.0.0"))
    assert [r.uploaded for r in api.blobs] == [True, True]
    assert [(r.blob.file, r.uploaded) for r in worker.blobs] == [("deps-deps-v1.pex", False), ("worker-srcs.pex", True)]
    assert len(stored_blobs(writable_repository)) == 3
    assert writable_repository.list_apps() == ["api", "worker"]
    assert next(worker.lines()).startswith("worker 2.0.0: uploaded 1 blob (")


def test_source_only_release_uploads_the_sources_and_manifest(writable_repository: Repository, tmp_path: Path) -> None:
    publish(writable_repository, make_release(tmp_path / "v1", "api", "1.0.0"))
    report = publish(writable_repository, make_release(tmp_path / "v2", "api", "1.0.1"))
    assert [(r.blob.file, r.uploaded) for r in report.blobs] == [("deps-deps-v1.pex", False), ("api-srcs.pex", True)]
    assert report.manifest_written
    assert writable_repository.list_versions("api") == ["1.0.0", "1.0.1"]


def test_published_versions_are_immutable(writable_repository: Repository, tmp_path: Path) -> None:
    first = make_release(tmp_path / "a", "api", "1.0.0")
    publish(writable_repository, first)
    again = publish(writable_repository, first)
    assert not again.manifest_written
    assert next(again.lines()) == f"api 1.0.0: already published with identical content in {writable_repository.url}; nothing to do"
    changed = make_release(tmp_path / "b", "api", "1.0.0", sources="other code")
    with pytest.raises(AlreadyPublishedError, match="api 1.0.0 is already published .* with different content"):
        publish(writable_repository, changed)
    assert writable_repository.read_manifest("api", "1.0.0") == first.read_bytes()


@pytest.mark.parametrize("same_content", [True, False])
def test_concurrent_publishes_of_one_version(writable_repository: Repository, tmp_path: Path, same_content: bool) -> None:
    manifests = [
        make_release(tmp_path / str(i), "api", "3.0.0", sources="same" if same_content else f"content {i}")
        for i in range(4)
    ]
    outcomes: list[object] = [None] * len(manifests)

    def run(i: int) -> None:
        try:
            outcomes[i] = publish(writable_repository, manifests[i]).manifest_written
        except AlreadyPublishedError as e:
            outcomes[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(manifests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(True) == 1, outcomes
    winner = manifests[outcomes.index(True)]
    assert writable_repository.read_manifest("api", "3.0.0") == winner.read_bytes()
    losers = [o for o in outcomes if o is not True]
    if same_content:
        assert losers == [False] * 3  # identical: a no-op each
    else:
        assert all(isinstance(o, AlreadyPublishedError) for o in losers)


# Run in its own process, killed (SIGKILL) right after its first blob upload.
_KILLED_PUBLISH = """
import os, signal, sys
from pathlib import Path
from pex_release.repository import FileRepository, open_repository, publish
upload = FileRepository._upload
def upload_then_die(self, key, path, sha256):
    upload(self, key, path, sha256)
    os.kill(os.getpid(), signal.SIGKILL)
FileRepository._upload = upload_then_die
publish(open_repository(sys.argv[1]), Path(sys.argv[2]))
"""


def test_killed_publish_leaves_no_manifest_and_a_rerun_completes(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'repository'}"
    manifest = make_release(tmp_path / "release", "api", "1.0.0")
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_PUBLISH, url, str(manifest)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert killed.returncode == -signal.SIGKILL
    repository = open_repository(url)
    assert len(stored_blobs(repository)) == 1
    assert repository._list("apps/") == []  # no manifest: readers never see the half release
    report = publish(repository, manifest)
    assert [r.uploaded for r in report.blobs] == [False, True] and report.manifest_written
    assert ReleaseManifest.loads(repository.read_manifest("api", "1.0.0"), origin="test").app == "api"


def test_corrupt_stored_blob_is_uploaded_again(tmp_path: Path) -> None:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    assert isinstance(repository, FileRepository)
    report = publish(repository, make_release(tmp_path / "a", "api", "1.0.0"))
    deps = repository.root / "blobs/sha256" / report.manifest.deps.sha256
    deps.write_bytes(b"bit rot")
    again = publish(repository, make_release(tmp_path / "b", "api", "1.0.1"))
    assert again.blobs[0].uploaded
    assert deps.read_bytes() == (tmp_path / "b" / report.manifest.deps.file).read_bytes()


def test_local_file_that_does_not_match_its_manifest_is_refused(tmp_path: Path) -> None:
    manifest = make_release(tmp_path / "a", "api", "1.0.0")
    (tmp_path / "a" / "api-srcs.pex").write_bytes(b"edited after the build")
    with pytest.raises(RepositoryError, match="api-srcs.pex does not match its manifest"):
        publish(open_repository(f"file://{tmp_path / 'repository'}"), manifest)


def test_http_repository_is_read_only(http_root: tuple[Path, str], tmp_path: Path) -> None:
    _, url = http_root
    with pytest.raises(RepositoryError, match="is served over HTTP, which is read-only"):
        publish(open_repository(url), make_release(tmp_path / "a", "api", "1.0.0"))


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://host/x", "is not a repository URL: use file:///absolute/path, s3://bucket/prefix"),
        ("file://relative/path", "is not a file:// repository URL: use file:///absolute/path"),
        ("s3:///prefix", "names no bucket"),
    ],
)
def test_misnamed_repositories(url: str, message: str) -> None:
    with pytest.raises(RepositoryError, match=message):
        open_repository(url)


def test_s3_wrong_credentials_say_so_without_the_secret(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3.new_bucket()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-4f9a")
    repository = open_repository(f"s3://{bucket}/r", s3_endpoint_url=s3.endpoint)
    with pytest.raises(RepositoryError) as exc:
        publish(repository, make_release(tmp_path / "a", "api", "1.0.0"))
    assert "the credentials are wrong or lack permission" in str(exc.value)
    assert "wrong-secret-4f9a" not in str(exc.value)


def test_s3_missing_credentials(s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    repository = open_repository("s3://any-bucket/r", s3_endpoint_url=s3.endpoint)
    with pytest.raises(RepositoryError, match="No S3 credentials for s3://any-bucket/r .*set AWS_ACCESS_KEY_ID"):
        repository.list_versions("api")


def test_s3_unreachable_endpoint(s3_env: S3Server) -> None:
    repository = open_repository("s3://bucket/r", s3_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(RepositoryError, match="is unreachable"):
        repository.list_apps()


def test_s3_stores_the_checksum_it_verified(s3_env: S3Server, tmp_path: Path) -> None:
    import boto3

    bucket = s3_env.new_bucket()
    report = publish(
        open_repository(f"s3://{bucket}/r", s3_endpoint_url=s3_env.endpoint), make_release(tmp_path, "api", "1.0.0")
    )
    client = boto3.client("s3", endpoint_url=s3_env.endpoint, aws_access_key_id=s3_env.access_key, aws_secret_access_key=s3_env.secret_key, region_name='us-east-1')
    head = client.head_object(Bucket=bucket, Key=f"r/blobs/sha256/{report.manifest.sources.sha256}", ChecksumMode="ENABLED")
    assert head["ContentLength"] == report.manifest.sources.size
    assert json.loads(client.get_object(Bucket=bucket, Key="r/apps/api/index.json")["Body"].read()) == ["1.0.0"]
