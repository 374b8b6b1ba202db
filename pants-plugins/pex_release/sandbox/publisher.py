# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The publisher: uploads built releases to a repository. `pants publish` runs it as a process.

    publisher --repository URL [--s3-endpoint-url URL] [--channel NAME]
              [--signing-key FILE --resolve NAME --lockfile PATH --lockfile-sha256 HEX
               [--source-url URL]] MANIFEST.json...

It prints one summary line per release (the files uploaded and skipped, counted once per content,
and their bytes), then, with --signing-key, the key that signed its manifest and provenance, then one
line per file it uploaded, then, with --channel, the promotion; on failure, `publisher: error: ...`
on stderr and exit code 1. Releases already published stay published when a later one fails.

The signing key is read here, in `pants publish`'s uncached process, from its path: its bytes are
never an input of a cached process, nor in any output or message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from pex_release_core.channels import check_channel_name, promote, whole_release
from pex_release_core.manifest import ManifestError, ReleaseManifest
from pex_release_core.provenance import BuildInputs
from pex_release_core.publishing import BlobUpload, PublishReport, Signer, publish
from pex_release_core.repository.base import Repository, RepositoryError
from pex_release_core.repository.url import open_repository
from pex_release_core.signing import SigningKey


def _files(uploads: Sequence[BlobUpload]) -> str:
    count = len(uploads)
    size = sum(u.blob.size for u in uploads)
    return f"{count:,} file{'' if count == 1 else 's'} ({size:,} bytes)"


def summary(report: PublishReport) -> str:
    release = f"{report.manifest.app} {report.manifest.version}"
    uploaded = [u for u in report.blobs if u.uploaded]
    skipped = [u for u in report.blobs if not u.uploaded]
    if report.previously_published:
        if not uploaded:
            return (
                f"{release}: already published with identical content, and its {_files(skipped)} are intact; "
                "nothing uploaded"
            )
        return (
            f"{release}: already published with identical content; repaired {_files(uploaded)} missing or "
            f"damaged in {report.repository_url}"
        )
    outcome = (
        f"manifest {report.manifest_key} written"
        if report.manifest_written
        else f"manifest {report.manifest_key} already written, identically, by a concurrent publish"
    )
    return (
        f"{release}: uploaded {_files(uploaded)}, skipped {_files(skipped)} already in "
        f"{report.repository_url}; {outcome}"
    )


def signature_lines(report: PublishReport) -> list[str]:
    if report.signed_by is None:
        return []
    done = "signed" if report.signature_added else "already signed"
    return [f"  {done} its manifest and provenance with key {report.signed_by}"]


def uploaded_lines(report: PublishReport) -> list[str]:
    """A line per file uploaded (or repaired): a tree has too many files to list the skipped ones."""
    done = "repaired" if report.previously_published else "uploaded"
    return [
        f"  {done} {u.blob.file} (sha256:{u.blob.sha256}, {u.blob.size:,} bytes)"
        for u in report.blobs
        if u.uploaded
    ]


def promotion(repository: Repository, report: PublishReport, channel: str) -> str:
    app, version = report.manifest.app, report.manifest.version

    def check(_: str) -> str:
        data = repository.read_manifest(app, version)
        return whole_release(repository, ReleaseManifest.loads(data, origin=report.manifest_key), data)

    reason = f"./pants publish of revision {report.manifest.revision}"
    entry = promote(repository, app, channel, version, reason=reason, check=check)
    return f"{app} {version}: promoted to {channel} (entry {entry.serial})"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="publisher",
        description="Upload releases (the blobs the repository lacks, then each manifest) to a repository.",
    )
    parser.add_argument(
        "--repository", required=True, metavar="URL", help="file:///absolute/path or s3://bucket/prefix"
    )
    parser.add_argument(
        "--s3-endpoint-url",
        metavar="URL",
        help="the endpoint of an S3-compatible store, for s3:// repositories not on AWS",
    )
    parser.add_argument("--channel", metavar="NAME", help="promote each release to this channel once it is published")
    signing = parser.add_argument_group("signing", "with --signing-key, every other option of this group is required")
    signing.add_argument("--signing-key", type=Path, metavar="FILE", help="the team's ECDSA P-256 private key (PEM)")
    signing.add_argument("--resolve", help="the resolve the releases were built from")
    signing.add_argument("--lockfile", metavar="PATH", help="its lockfile, relative to the build root")
    signing.add_argument("--lockfile-sha256", metavar="HEX")
    signing.add_argument("--source-url", metavar="URL", help="the source repository, without credentials")
    parser.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST.json", help="<app>.release.json files")
    args = parser.parse_args(argv)
    required = ("resolve", "lockfile", "lockfile_sha256")
    if args.signing_key and not all(getattr(args, name) for name in required):
        parser.error("--signing-key needs " + ", ".join(f"--{name.replace('_', '-')}" for name in required))
    return args


def _signer(args: argparse.Namespace) -> Signer | None:
    if args.signing_key is None:
        return None
    build = BuildInputs(args.resolve, args.lockfile, args.lockfile_sha256, args.source_url)
    return Signer(SigningKey.load(args.signing_key), build)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.channel:
            check_channel_name(args.channel)  # before anything is published
        signer = _signer(args)  # before anything is published
        repository = open_repository(args.repository, s3_endpoint_url=args.s3_endpoint_url)
        for manifest in args.manifests:
            report = publish(repository, manifest, signer)
            print("\n".join([summary(report), *signature_lines(report), *uploaded_lines(report)]), flush=True)
            if args.channel:
                print(promotion(repository, report, args.channel), flush=True)
    except (RepositoryError, ManifestError, OSError) as e:
        print(f"publisher: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
