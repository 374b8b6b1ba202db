# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The publisher: `pants publish` runs it as a process to upload releases to a repository.

    publisher --repository URL [--s3-endpoint-url URL] MANIFEST.json...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from pex_release.manifest import ManifestError
from pex_release.repository import RepositoryError, open_repository, publish


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="publisher", description="Publish releases to a repository.")
    parser.add_argument("--repository", required=True, help="file:///path or s3://bucket/prefix")
    parser.add_argument("--s3-endpoint-url", help="endpoint of an S3-compatible store")
    parser.add_argument("manifests", nargs="+", type=Path, help="<app>.release.json files")
    args = parser.parse_args(argv)
    try:
        repository = open_repository(args.repository, s3_endpoint_url=args.s3_endpoint_url)
        for manifest in args.manifests:
            for line in publish(repository, manifest).lines():
                print(line, flush=True)
    except (RepositoryError, ManifestError, OSError) as e:
        print(f"publisher: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
