# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""A repository from its URL: `file:///path`, `s3://bucket/prefix` or `http(s)://host/path`."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from pex_release_core.redaction import redact_url, remember_secrets, url_secrets
from pex_release_core.repository.base import DEFAULT_METADATA_TIMEOUT_SECONDS, Repository, RepositoryError
from pex_release_core.repository.file import FileRepository
from pex_release_core.repository.s3 import S3Repository


def open_repository(
    url: str, *, s3_endpoint_url: str | None = None, metadata_timeout: float = DEFAULT_METADATA_TIMEOUT_SECONDS
) -> Repository:
    """The repository at url; each read of a manifest or an index it makes may take metadata_timeout seconds."""
    # Whatever of them a message quotes later (a library's, a server's echo) is redacted.
    remember_secrets(*url_secrets(url), *url_secrets(s3_endpoint_url or ""))
    shown = f"'{redact_url(url)}'"
    if any(c.isspace() or not c.isprintable() for c in url):
        raise RepositoryError(
            f"{shown} is not a repository URL: it contains a space or a control character. Percent-encode it "
            "(a space is %20)."
        )
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise RepositoryError(f"{shown} is not a repository URL ({e}).") from None
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise RepositoryError(f"{shown} is not a file:// repository URL: use file:///absolute/path.")
        return FileRepository(url, Path(urllib.parse.unquote(parts.path)), metadata_timeout=metadata_timeout)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise RepositoryError(f"{shown} names no bucket: use s3://bucket/prefix.")
        return S3Repository(url, parts.netloc, parts.path, s3_endpoint_url, metadata_timeout=metadata_timeout)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise RepositoryError(f"{shown} names no host: use {parts.scheme}://host/path.")
        try:
            parts.port
        except ValueError:  # what a client reads as the port is no number: a password cut short
            raise RepositoryError(
                f"{shown} has a port that is not a number. If its password holds `/`, `?`, `#` or `@`, "
                "percent-encode them (%2F, %3F, %23, %40)."
            ) from None
        if not url.isascii():
            # http.client sends the request line and Host header as ASCII, and would fail mid-request.
            char = next(c for c in url if not c.isascii())
            encoded = urllib.parse.quote(char)
            raise RepositoryError(
                f"{shown} has the character {char!r}, which an HTTP request cannot carry as it is. Percent-encode "
                f"it in the path ({char!r} is {encoded}), and write a host name in its ASCII (punycode) form."
            )
        # Imported here: urllib.request and http.client cost every pexrun start about 20 ms.
        from pex_release_core.repository.http import HttpRepository

        return HttpRepository(url, metadata_timeout=metadata_timeout)
    raise RepositoryError(
        f"{shown} is not a repository URL: use file:///absolute/path, s3://bucket/prefix or https://host/path."
    )
