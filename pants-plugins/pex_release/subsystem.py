# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The `[pex-releases]` options: where `publish` puts releases.

Not `[pex-release]`: Pants refuses an options scope that collides with a target type's alias.
"""

from __future__ import annotations

import os

from pants.option.errors import OptionsError
from pants.option.option_types import StrListOption, StrOption
from pex_release_core.channels import ChannelError, check_channel_name
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap

DEFAULT_REPOSITORY_DIR = "dist/pex-release-repository"


class PexReleaseSubsystem(Subsystem):
    options_scope = "pex-releases"
    help = "Options for publishing `pex_release` targets to a release repository."

    _repository = StrOption(
        default=None,
        help=softwrap(
            f"""
            The repository `publish` uploads releases to: `file:///absolute/path` or
            `s3://bucket/prefix` (any S3-compatible store; see `s3_endpoint_url`).

            It stores blobs by sha256 (`blobs/sha256/<hex>`) and manifests by app and version
            (`apps/<app>/<version>.json`). Unset, it is `file://<buildroot>/{DEFAULT_REPOSITORY_DIR}`.
            """
        ),
    )
    s3_endpoint_url = StrOption(
        default=None,
        help=softwrap(
            """
            The endpoint of an S3-compatible store (e.g. `http://127.0.0.1:9000`), for `s3://`
            repositories not on AWS. Credentials come from the standard AWS chain (environment,
            shared credentials file, instance role); they are never written to a manifest or a log.
            """
        ),
    )
    _channel = StrOption(
        default=None,
        help=softwrap(
            """
            A channel (e.g. `canary`) that `publish` promotes each release to once it is published
            whole, as `pexrun promote` does, recording the release's revision as the reason. Unset,
            publish promotes nothing. A name that reads as a version, or is not a plain path
            segment, is refused.
            """
        ),
    )
    _signing_key_file = StrOption(
        default=None,
        help=softwrap(
            """
            The team's private key, an ECDSA P-256 key in PEM (PKCS#8, as
            `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes it), relative
            to the build root or absolute. When set, `publish` signs each release's manifest and
            its provenance with it, in DSSE envelopes beside the manifest, and hosts that trust
            the public key (`pexrun --trusted-key`) run only what it signed.

            Only `publish`'s own uncached process reads the file: it is never an input of a cached
            or remote process, nor in `dist/`. Keep it out of the repository (e.g. set
            `PANTS_PEX_RELEASES_SIGNING_KEY_FILE` in CI from a secret).
            """
        ),
    )
    image_gpg_key = StrOption(
        default=None,
        help=softwrap(
            """
            A GPG key's fingerprint, of a secret key in the publishing user's keyring
            (`$GNUPGHOME`, else `~/.gnupg`). When set, publishing a `pex_release_image` also
            writes each tag's "simple signing" signature (containers-signature(5)), which
            Debian's skopeo and podman check with a `signedBy` policy, into
            `image_signature_store`. Needs `gpg`, which Pants looks for in `/usr/bin`, `/bin`,
            `/usr/local/bin` and `/opt/homebrew/bin`.
            """
        ),
    )
    _image_signature_store = StrOption(
        default=None,
        help=softwrap(
            """
            The lookaside store that `image_gpg_key` signatures are written to: a directory,
            relative to the build root or absolute, laid out as containers-registries.d(5) says
            (`<repository path>@sha256=<hex>/signature-<n>`). Hosts read it where it is served,
            named by `lookaside:` in their registries.d.
            """
        ),
    )
    publisher_resolve = StrOption(
        default="python-default",
        advanced=True,
        help=softwrap(
            """
            The resolve the publisher takes boto3 from, for `s3://` repositories (as Pants takes
            twine from a resolve), and cryptography, to sign with `signing_key_file`. Its
            lockfile must include those it needs.
            """
        ),
    )
    publish_env_vars = StrListOption(
        default=[
            "HOME",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CA_BUNDLE",
            "AWS_ENDPOINT_URL",
        ],
        advanced=True,
        help="Environment variables passed to the publisher: the AWS credential chain's, by default.",
    )

    registry = StrOption(
        default=None,
        help=softwrap(
            """
            The registry (`host[:port]`) that `pex_release_image` targets push to when their
            `repository` starts with `{registry}/`, so one setting (or `PANTS_PEX_RELEASES_REGISTRY`)
            moves every image, e.g. to a staging registry in CI.
            """
        ),
    )
    registry_resolve = StrOption(
        default="oci",
        advanced=True,
        help=softwrap(
            """
            The resolve the registry client (which pushes `pex_release_image`s and pulls their
            base images) takes oras from. Its lockfile must include `oras`.
            """
        ),
    )
    registry_env_vars = StrListOption(
        default=["HOME", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "SSL_CERT_FILE", "GNUPGHOME"],
        advanced=True,
        help=softwrap(
            """
            Environment variables passed to the registry client: where it finds registry
            credentials (`REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else
            `~/.docker/config.json`, as `docker login` writes them), CA certificates, and the
            GnuPG keyring that signs images with `image_gpg_key`.
            """
        ),
    )

    @property
    def channel(self) -> str | None:
        if self._channel is None:
            return None
        try:
            return check_channel_name(self._channel)
        except ChannelError as e:
            raise OptionsError(
                f"[{self.options_scope}].channel: {e} Set it in pants.toml, or with --{self.options_scope}-channel."
            ) from None

    def signing_key_file(self, buildroot: str) -> str | None:
        """The key's absolute path, checked to be a file (its bytes are not read here)."""
        if not self._signing_key_file:
            return None
        path = os.path.join(buildroot, os.path.expanduser(self._signing_key_file))
        if not os.path.isfile(path):
            raise OptionsError(
                f"[{self.options_scope}].signing_key_file is {self._signing_key_file!r}, and there is no file at {path}. "
                f"Point it at the team's private key (README.md, \"Signed releases\"), or unset it to publish unsigned."
            )
        return path

    def image_signature_store(self, buildroot: str) -> str:
        if not self._image_signature_store:
            raise OptionsError(
                f"[{self.options_scope}].image_gpg_key is set, and image_signature_store is not: set it to the "
                "directory the signatures go to (the lookaside store hosts read, see README.md, \"Signed images\")."
            )
        return os.path.join(buildroot, os.path.expanduser(self._image_signature_store))

    def repository(self, buildroot: str) -> str:
        if self._repository:
            return self._repository
        return "file://" + os.path.join(buildroot, DEFAULT_REPOSITORY_DIR)
