# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`http(s)://` repositories, read-only: a static file server, a CDN, a bucket website.

A module of its own so that pexrun imports urllib.request and http.client only for them
(`url.open_repository` imports it on first use); standard library only, Python 3.9+, as `base.py`.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from pex_release_core.redaction import redact_text, remember_secrets
from pex_release_core.repository.base import (
    APPS_INDEX,
    DEFAULT_METADATA_TIMEOUT_SECONDS,
    CredentialsError,
    NotFoundError,
    ReadOnlyRepositoryError,
    Repository,
    RepositoryError,
    StoredObject,
    blob_key,
    versions_index_key,
)

_HTTP_TIMEOUT_SECONDS = 60  # per connection attempt and per read; a whole download has a deadline of its own
_DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpRepository(Repository):
    """A repository served read-only over HTTP(S): a static file server, a CDN, a bucket website.

    A query string on the repository URL (a token or a signature valid for the whole prefix) is
    sent with every request, as are `user:password@` credentials, but only to the repository's own
    origin (scheme, host and port): a redirect elsewhere (e.g. to a CDN) is followed without them.
    Neither is shown in messages.
    """

    def __init__(self, url: str, *, metadata_timeout: float = DEFAULT_METADATA_TIMEOUT_SECONDS) -> None:
        super().__init__(url, metadata_timeout=metadata_timeout)
        parts = urllib.parse.urlsplit(url)
        userinfo, _, host = parts.netloc.rpartition("@")
        self._base = urllib.parse.urlunsplit((parts.scheme, host, parts.path.rstrip("/") + "/", "", ""))
        self._query = parts.query
        # urllib does not send a URL's user:password; HTTP basic authentication does.
        credentials = urllib.parse.unquote(userinfo).encode()
        authorization = f"Basic {base64.b64encode(credentials).decode()}" if userinfo else None
        remember_secrets(authorization.partition(" ")[2] if authorization else None)
        self._headers = {"Authorization": authorization} if authorization else {}
        self._opener = urllib.request.build_opener(
            _CredentialsStayHomeRedirectHandler(_origin(self._base), authorization, self._query)
        )

    def _request(self, key: str, method: str = "GET") -> Any:
        url = self._base + urllib.parse.quote(key) + (f"?{self._query}" if self._query else "")
        request = urllib.request.Request(url, method=method, headers=self._headers)
        try:
            return self._opener.open(request, timeout=_HTTP_TIMEOUT_SECONDS)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code in (404, 410):
                raise NotFoundError(f"{key} is not in the repository {self.url} (HTTP {e.code}).") from None
            if e.code in (401, 403):
                raise CredentialsError(
                    f"The repository {self.url} refused access to {key} (HTTP {e.code}): if it needs a token "
                    "or a signed URL, check that the one in the repository URL is valid and not expired."
                ) from None
            raise RepositoryError(f"The repository {self.url} answered HTTP {e.code} for {key}: try again later.") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            raise self._unreachable(e) from None

    def _unreachable(self, error: Exception) -> RepositoryError:
        reason = redact_text(str(getattr(error, "reason", None) or error))
        return RepositoryError(f"The repository {self.url} is unreachable ({reason}): check the URL and the network.")

    def has_blob(self, sha256: str, size: int) -> bool:
        try:
            with self._request(blob_key(sha256), method="HEAD") as response:
                length = response.headers.get("Content-Length")
        except NotFoundError:
            return False
        return length is None or int(length) == size

    def list_apps(self) -> list[str]:
        try:
            return self._index(APPS_INDEX)
        except NotFoundError:
            raise NotFoundError(
                f"{self.url} has no {APPS_INDEX}, which every published repository has: check that the URL "
                "names the repository's root."
            ) from None

    def list_versions(self, app: str) -> list[str]:
        try:
            return self._index(versions_index_key(app))
        except NotFoundError:
            return []

    def _index(self, key: str) -> list[str]:
        try:
            names = json.loads(self._get(key))
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            names = None
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise RepositoryError(f"{key} in {self.url} is not a list of names: publish to the repository to rebuild it.")
        return sorted(names)

    @contextmanager
    def _reader(self, key: str) -> Iterator[Callable[[int], bytes]]:
        with self._request(key) as response:

            def read(size: int) -> bytes:
                try:
                    return response.read1(size)  # what has arrived, so a trickle is counted as it comes
                except (http.client.HTTPException, OSError) as e:
                    raise self._unreachable(e) from None

            yield read

    def prepare_to_publish(self) -> None:
        raise ReadOnlyRepositoryError(
            f"The repository {self.url} is served over HTTP, which is read-only: publish to its file:// or s3:// "
            "location instead."
        )

    def _put(self, key: str, data: bytes) -> None:
        self.prepare_to_publish()

    def _put_file(self, key: str, path: Path, sha256: str) -> None:
        self.prepare_to_publish()

    def _create(self, key: str, data: bytes) -> bool:
        self.prepare_to_publish()
        return False

    def list_objects(self, prefix: str) -> list[StoredObject]:
        self.prepare_to_publish()
        return []

    def now(self) -> float:
        self.prepare_to_publish()
        return 0.0

    def delete_key(self, key: str) -> None:
        self.prepare_to_publish()

    def _list(self, prefix: str) -> list[str]:
        raise RepositoryError(f"The repository {self.url} is served over HTTP, which cannot list {prefix}.")


def _origin(url: str) -> tuple[str, str | None, int | None] | None:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # not a port: no origin to share credentials with
        return None
    return parts.scheme.lower(), parts.hostname, port


def _parameter_name(parameter: str) -> str:
    """A query parameter's name, decoded, with `+` (a space in a form's encoding, itself elsewhere) and
    a space as one: `token=x`, `%74oken=y` and `token` are all `token`; `a+b`, `a%2Bb` and `a%20b` are one name."""
    return urllib.parse.unquote(parameter.partition("=")[0]).replace("+", " ")


class _CredentialsStayHomeRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects as urllib does, but sends the repository's credentials (its Authorization
    header, and its query's parameters if the server echoes them) only to the repository's origin.
    urllib's own handler copies every header to wherever a server redirects."""

    def __init__(self, origin: object, authorization: str | None, query: str) -> None:
        self._origin = origin
        self._authorization = authorization
        self._query_names = frozenset(_parameter_name(p) for p in query.split("&") if p)

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        new.remove_header("Authorization")
        if _origin(new.full_url) == self._origin:
            if self._authorization:
                new.add_header("Authorization", self._authorization)
        elif self._query_names:
            # Our token, if the server copied the query into its Location, stays here too, however
            # re-encoded: every parameter named as one of the repository query's is dropped, whatever
            # its value. Matching values as well would let some through: a server that decodes a
            # value and encodes it again can change it for good (`+` read as itself comes back as
            # `%2B`, which decodes as `+`, where ours decodes as a space). A parameter of the other
            # origin's own by one of those names goes too: at worst that origin refuses the request,
            # visibly. The other parameters (e.g. a CDN's own signature) go as they are, not re-encoded.
            parts = urllib.parse.urlsplit(new.full_url)
            kept = [p for p in parts.query.split("&") if p and _parameter_name(p) not in self._query_names]
            new.full_url = urllib.parse.urlunsplit(parts._replace(query="&".join(kept)))
        return new
