# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""An image's signatures in containers/image's "simple signing" form (containers-signature(5)),
which Debian's skopeo and podman verify (a `signedBy` requirement in policy.json): per tag, a
GPG-signed JSON payload that names the image's manifest digest and the tagged reference, in a
lookaside store (containers-registries.d(5)):

    <store>/<repository path>@sha256=<hex>/signature-<n>

gpg signs with a key of the publisher's keyring (`$GNUPGHOME`). The store is a directory here;
hosts read it where it is served (`lookaside: https://...` in registries.d).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from pex_release_core.oci.reference import RegistryError, Repository

SIGNATURE_TYPE = "atomic container signature"


def payload(reference: str, image_digest: str) -> bytes:
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": reference},
                "image": {"docker-manifest-digest": image_digest},
                "type": SIGNATURE_TYPE,
            },
            "optional": {"creator": "pex-release"},
        },
        separators=(",", ":"),
    ).encode()


def signatures_directory(store: Path, repository: Repository, image_digest: str) -> Path:
    algorithm, _, hex_digest = image_digest.partition(":")
    return store / f"{repository.name}@{algorithm}={hex_digest}"


def write_signatures(
    gpg: str, fingerprint: str, store: Path, repository: Repository, image_digest: str, tags: Sequence[str]
) -> Path:
    """Signs each tag's reference (signature-1 for the first tag, ...): the directory written."""
    directory = signatures_directory(store, repository, image_digest)
    directory.mkdir(parents=True, exist_ok=True)
    for index, tag in enumerate(tags, start=1):
        signed = subprocess.run(
            [gpg, "--batch", "--yes", "--local-user", fingerprint, "--output", "-", "--sign"],
            input=payload(f"{repository}:{tag}", image_digest),
            capture_output=True,
        )
        if signed.returncode != 0:
            reason = signed.stderr.decode(errors="replace").strip().splitlines()
            raise RegistryError(
                f"gpg could not sign {repository}:{tag} with key {fingerprint}: {reason[-1] if reason else 'no message'}. "
                "Check [pex-releases].image_gpg_key against `gpg --list-secret-keys` (GNUPGHOME names the keyring)"
            )
        # Renamed into place: a host never reads half a signature.
        fd, temp = tempfile.mkstemp(prefix=".signature-", dir=directory)
        with os.fdopen(fd, "wb") as out:
            out.write(signed.stdout)
        os.chmod(temp, 0o644)
        os.replace(temp, directory / f"signature-{index}")
    return directory
