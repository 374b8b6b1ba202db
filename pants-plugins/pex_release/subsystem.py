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
    publisher_resolve = StrOption(
        default="python-default",
        advanced=True,
        help=softwrap(
            """
            The resolve the publisher takes boto3 from, for `s3://` repositories (as Pants takes
            twine from a resolve). Its lockfile must include `boto3`.
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
        default=["HOME", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "SSL_CERT_FILE"],
        advanced=True,
        help=softwrap(
            """
            Environment variables passed to the registry client: where it finds registry
            credentials (`REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else
            `~/.docker/config.json`, as `docker login` writes them) and CA certificates.
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

    def repository(self, buildroot: str) -> str:
        if self._repository:
            return self._repository
        return "file://" + os.path.join(buildroot, DEFAULT_REPOSITORY_DIR)
