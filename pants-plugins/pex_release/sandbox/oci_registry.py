# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The registry tool: pushes OCI image layouts to a registry and pulls images from one (Registry
HTTP API v2). `pants package`/`pants publish` run it as a tool PEX of the `oci` resolve; the work is
the release core's (`pex_release_core.oci`: `transfers`, `registry`, `credentials`, `reference`).

    python -m pex_release.sandbox.oci_registry push --layout DIR --repository HOST[:PORT]/NAME [--tag T]...
                                                    [--signing-key FILE] [--gpg PATH --gpg-key FPR --lookaside DIR]
                                                    [--insecure]
    python -m pex_release.sandbox.oci_registry pull --reference HOST[:PORT]/NAME[:TAG]@sha256:HEX
                                                    --platform OS/ARCH[/VARIANT] --output DIR [--insecure]

push uploads the blobs the registry lacks (after a HEAD of each), then the manifest by its digest,
then each tag (default: the layout's `org.opencontainers.image.ref.name`s), so a tag never names a
manifest whose blobs are missing and an interrupted push is completed by a rerun. It prints a line
per uploaded blob, then `pushed N blobs (B bytes), skipped M blobs (B bytes); HOST/NAME@sha256:...
tagged T1, T2`. With --signing-key (the team's ECDSA P-256 key, PEM), it then signs the image in
cosign's form (`pex_release_core.oci.cosign`) and says so; with --gpg-key, it writes each tag's
simple-signing signature, made by gpg, into the lookaside store DIR (`pex_release_core.oci.simple_signing`).

pull writes DIR as an OCI layout holding the image for the platform (an image index resolves to
that platform's manifest), every byte checked against the reference's digest and the descriptors.
A reference must have a digest: a tag moves, and the image would not be reproducible.

Credentials come from $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else
~/.docker/config.json (`auths.<host>`: `auth`, base64 of user:password, or `username`/`password`);
credential helpers are not run. Registries are reached over https (CA bundle: $SSL_CERT_FILE, else
requests' own), and, as docker does, over plain http when https fails, but only for a loopback
host or with --insecure. On failure: `oci_registry: error: ...` on stderr, exit code 1, never a secret.

oras-py does the HTTP (its session, basic auth and bearer-token requests) and validates layouts;
this module adds what it lacks: reference checks, the credential sources, one bearer token for all
of a push's actions (renewed when it expires), status checks with clear errors, skipped-blob
accounting, concurrent and streamed transfers, several tags, platform selection and digest
verification of everything pulled.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from pex_release_core.oci.reference import RegistryError
from pex_release_core.oci.transfers import GpgSigning, pull, push
from pex_release_core.redaction import redact_text
from pex_release_core.signing import SignatureError, SigningKey

PROG = "oci_registry"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Push OCI image layouts to a registry, and pull images from one."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    push_parser = commands.add_parser(
        "push", help="upload an OCI layout's image: missing blobs, the manifest, the tags"
    )
    push_parser.add_argument(
        "--layout", required=True, type=Path, metavar="DIR", help="an OCI image layout of one image"
    )
    push_parser.add_argument("--repository", required=True, metavar="HOST[:PORT]/NAME", help="where to push")
    push_parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="T",
        help="a tag to set (repeatable; default: the layout's ref names)",
    )
    push_parser.add_argument(
        "--signing-key", type=Path, metavar="FILE", help="sign the image, in cosign's form, with this ECDSA P-256 key (PEM)"
    )
    push_parser.add_argument("--gpg", metavar="PATH", help="gpg, for --gpg-key")
    push_parser.add_argument("--gpg-key", metavar="FPR", help="write simple-signing signatures with this GPG key")
    push_parser.add_argument("--lookaside", type=Path, metavar="DIR", help="the signature store --gpg-key writes to")
    pull_parser = commands.add_parser("pull", help="download an image, by digest, into an OCI layout")
    pull_parser.add_argument(
        "--reference", required=True, metavar="HOST[:PORT]/NAME[:TAG]@sha256:HEX", help="the image"
    )
    pull_parser.add_argument("--platform", required=True, metavar="OS/ARCH[/VARIANT]", help="e.g. linux/amd64")
    pull_parser.add_argument(
        "--output", required=True, type=Path, metavar="DIR", help="the layout to write (new or empty)"
    )
    for sub in (push_parser, pull_parser):
        sub.add_argument("--insecure", action="store_true", help="plain http to a registry that is not on loopback")
    args = parser.parse_args(argv)
    if args.command == "push" and args.gpg_key and not (args.gpg and args.lookaside):
        parser.error("--gpg-key needs --gpg and --lookaside")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # oras logs its own account of failures to stderr; the errors below say more, once.
    logging.getLogger("oras").setLevel(logging.CRITICAL)
    try:
        if args.command == "push":
            key = SigningKey.load(args.signing_key) if args.signing_key else None  # before anything is pushed
            gpg = GpgSigning(args.gpg, args.gpg_key, args.lookaside) if args.gpg_key else None
            push(args.layout, args.repository, args.tag, args.insecure, key, gpg)
        else:
            pull(args.reference, args.platform, args.output, args.insecure)
    except (RegistryError, SignatureError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; a rerun completes the work (it transfers only what is missing)")
    except Exception as e:  # noqa: BLE001 -- a traceback could show a credential
        fail(f"unexpected {type(e).__name__}: {e} (a bug in {PROG}; please report it)")
    return 0


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {redact_text(message)}", file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
