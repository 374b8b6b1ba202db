# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Scenario 15: `pexrun prune` of a repository holding 1000 versions of one app, on file:// and on
SeaweedFS (S3), side by side: the time, the requests made and the bytes freed.

    PYTHONPATH=pants-plugins:src/python python3 bench/prune.py [--versions N] [--keep N]

It needs boto3 and packaging (pexrun's resolve). The repository is synthetic: each version's own
sources tree (one file differs per version) over one of ten deps trees, as a monorepo's app
gets when its lockfile changes every hundred commits; a `stable` channel with five promotions.
It is built once on file:// by the real publisher, then copied object by object into a bucket.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pex_release_core.channels import promote
from pex_release_core.publishing import publish
from pex_release_core.repository.base import Repository
from pex_release_core.repository.url import open_repository
from pex_release_core.retention import prune
from pex_release_core.testutil import make_release
from pexrun.releases import checked_release, version_key
from testing.servers import s3_server

_COUNTED = ("_reader", "_put", "_put_file", "_create", "_list", "list_objects", "delete_key", "has_blob", "now")


def build(root: Path, versions: int) -> Path:
    repository = open_repository(f"file://{root / 'repository'}")
    for i in range(versions):
        version = f"1.{i // 100}.{i % 100}"
        publish(repository, make_release(root / "dist" / version, "api", version, sources=version, deps=f"lock-{i // 100}"))
        shutil.rmtree(root / "dist" / version)
    for i in range(max(0, versions - 50), versions, 10):
        version = f"1.{i // 100}.{i % 100}"
        promote(repository, "api", "stable", version, reason="bench", check=lambda v: checked_release(repository, "api", v))
    return root / "repository"


def copy_to_bucket(source: Path, client: object, bucket: str) -> None:
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        data = path.read_bytes()
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        client.put_object(Bucket=bucket, Key=f"releases/{path.relative_to(source)}", Body=data, ChecksumSHA256=checksum)


def counting(repository: Repository) -> dict[str, int]:
    """Counts the store operations the repository makes, by primitive."""
    counts = dict.fromkeys(_COUNTED, 0)
    for name in _COUNTED:
        method = getattr(repository, name)

        def counted(*args: object, _name: str = name, _method: object = method, **kwargs: object) -> object:
            counts[_name] += 1
            return _method(*args, **kwargs)

        setattr(repository, name, counted)
    return counts


def measure(name: str, repository: Repository, keep: int, http_requests: list[int] | None = None) -> dict[str, object]:
    counts = counting(repository)
    start = time.perf_counter()
    report = prune(repository, keep=keep, version_key=version_key, grace_seconds=0.0)
    seconds = time.perf_counter() - start
    return {
        "store": name,
        "seconds": round(seconds, 2),
        "store_operations": sum(counts.values()),
        "by_operation": {k: v for k, v in counts.items() if v},
        "s3_requests": http_requests[0] if http_requests else None,
        "deleted_manifests": len(report.deleted_manifests),
        "deleted_blobs": len(report.deleted_blobs),
        "freed_bytes": report.freed_bytes,
        "kept_versions": len(report.kept["api"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--keep", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"building {args.versions} versions on file:// ...", file=sys.stderr)
        source = build(root, args.versions)
        with s3_server(root / "s3") as server:
            import boto3

            bucket = server.new_bucket()
            client = boto3.session.Session(
                aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key, region_name="us-east-1"
            ).client("s3", endpoint_url=server.endpoint)
            print("copying it into a bucket ...", file=sys.stderr)
            copy_to_bucket(source, client, bucket)
            results = [measure("file://", open_repository(f"file://{source}"), args.keep)]
            os.environ.update(server.env)
            s3 = open_repository(f"s3://{bucket}/releases", s3_endpoint_url=server.endpoint)
            requests = [0]
            s3._client.meta.events.register("before-send", lambda **_: requests.__setitem__(0, requests[0] + 1))
            results.append(measure("SeaweedFS (S3)", s3, args.keep, requests))
    print(json.dumps({"versions": args.versions, "keep": args.keep, "results": results}, indent=2))


if __name__ == "__main__":
    main()
