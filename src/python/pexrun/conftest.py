# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""A real S3-compatible server for pexrun's tests: SeaweedFS on loopback (build-support/s3-server,
through testing.servers). `s3_server` starts one for the test session and always stops it; each test
makes a bucket of its own. The server takes fixed test credentials, never real secrets."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from testing.servers import S3Server, s3_server as running_s3_server


def s3_client(server: S3Server) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key, region_name="us-east-1"
    ).client("s3", endpoint_url=server.endpoint)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("s3-server")) as server:
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The server, with this process's AWS environment pointing at it, and at nothing else."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    isolated = {
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-role lookup when credentials are missing
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }
    for name, value in {**s3_server.env, **isolated}.items():
        monkeypatch.setenv(name, value)
    return s3_server
