# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""A registry client (Registry HTTP API v2) for one repository: the scheme and authentication it
answers with, blobs and manifests up and down, with clear errors and every transfer streamed and
verified. oras-py does the HTTP (its session, basic auth and bearer-token requests); imported where
used, so the Pants rules can import the reference checks without it."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from pex_release_core.oci import model as oci
from pex_release_core.oci.credentials import find_credentials
from pex_release_core.oci.reference import RegistryError, Repository
from pex_release_core.redaction import remember_secrets

if TYPE_CHECKING:
    import oras.provider  # pants: no-infer-dep
    import requests  # pants: no-infer-dep

PING_TIMEOUT_SECONDS = 30.0
CHUNK = 1 << 20


def blob_name(digest: object, where: str) -> str:
    """The file name of a blob in a layout (the hex of `sha256:<hex>`), for a digest that is one."""
    if not isinstance(digest, str) or not oci.DIGEST_PATTERN.fullmatch(digest):
        raise RegistryError(f"{where} names the digest {digest!r}, which is not sha256: and 64 lowercase hex digits")
    return digest.split(":", 1)[1]


def _os_error(exc: BaseException) -> str:
    """The OS-level cause of a connection failure ("[Errno 111] Connection refused"), else the error."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:
            return f"[Errno {e.errno}] {e.strerror}" if e.errno else e.strerror
        todo += [
            c for c in (getattr(e, "reason", None), e.__cause__, e.__context__, *e.args) if isinstance(c, BaseException)
        ]
    return str(exc)


def _registry_errors(response: requests.Response) -> str:
    """The codes and messages of a registry's error body: `MANIFEST_UNKNOWN: manifest unknown`."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        text = ""
    return f"HTTP {response.status_code}{' ' + text if text else ''}"


@dataclass(frozen=True)
class LayoutBlob:
    digest: str
    size: int
    path: Path


class Client:
    """One repository of one registry, with its credentials, for the requests of a push or a pull."""

    def __init__(self, repository: Repository, subject: str, insecure: bool, actions: str) -> None:
        self.repository = repository
        self.subject = subject  # what the user named, for messages
        self.actions = actions  # what a bearer token must allow: "pull" or "pull,push"
        # requests' CA bundle (certifi's) ignores SSL_CERT_FILE, where this project's tools look.
        self.tls_verify: str | bool = os.environ.get("SSL_CERT_FILE") or True
        self.lookup = find_credentials(repository)
        self.scheme = "https"  # or http, as the registry answers
        self._bearer_challenge: str | None = None
        self.registry = self._connect(insecure)
        self._print_lock = threading.Lock()
        if self._bearer_challenge is not None:
            self._fetch_token()

    def _url(self, scheme: str, path: str) -> str:
        return f"{scheme}://{self.repository.api_host}{path}"

    def _connect(self, insecure: bool) -> oras.provider.Registry:
        """Pings /v2/ (the API's version check) to learn the scheme the registry serves, and whether and
        how it authenticates. https first; plain http only for a loopback host or with --insecure."""
        import oras.provider  # pants: no-infer-dep
        import requests  # pants: no-infer-dep

        http_allowed = insecure or self.repository.is_loopback
        session, failures, tls_failed = requests.Session(), [], False
        for scheme in ("https", "http") if http_allowed else ("https",):
            try:
                ping = session.get(self._url(scheme, "/v2/"), timeout=PING_TIMEOUT_SECONDS, verify=self.tls_verify)
            except requests.exceptions.RequestException as e:
                tls_failed |= isinstance(e, requests.exceptions.SSLError)
                failures.append(f"{scheme}: {_os_error(e)}")
                continue
            if ping.status_code in (200, 401):
                self.scheme = scheme
                break
            failures.append(f"{scheme}: {_registry_errors(ping)} on /v2/")
        else:
            hints = ["check the host and port, and that the registry runs"]
            if tls_failed:
                hints.append("if its certificate comes from a private CA, set SSL_CERT_FILE to a bundle holding it")
            if not http_allowed:
                hints.append("a plain-http registry that is not on loopback needs --insecure")
            raise RegistryError(
                f"{self.subject}: cannot reach the registry at {self.repository.api_host} "
                f"({'; '.join(failures)}); {', '.join(hints)}"
            )
        challenge = ping.headers.get("WWW-Authenticate", "")
        if ping.status_code == 401 and challenge.lower().startswith("basic"):
            backend = "basic"
            if self.lookup.credentials is None:
                raise self._auth_error()
        else:
            backend = "token"
            if challenge.lower().startswith("bearer"):
                self._bearer_challenge = challenge
        registry = oras.provider.Registry(
            hostname=self.repository.api_host,
            insecure=self.scheme == "http",
            tls_verify=self.tls_verify,
            auth_backend=backend,
        )
        if self.lookup.credentials is not None:
            registry.auth.set_basic_auth(self.lookup.credentials.username, self.lookup.credentials.password)
        return registry

    def _fetch_token(self) -> None:
        """A bearer token for every action this client takes, asked for up front. oras asks for one per
        challenge and then reuses it, so the pull-only token a HEAD gets would fail the upload after."""
        from oras.auth.utils import parse_auth_header  # pants: no-infer-dep

        challenge = parse_auth_header(self._bearer_challenge or "")
        challenge.scope = f"repository:{self.repository.name}:{self.actions}"
        try:
            token = self.registry.auth.request_token(challenge)
        except OSError as e:
            raise RegistryError(
                f"{self.subject}: getting a token from {challenge.realm} failed: {_os_error(e)}"
            ) from None
        if not token:
            raise self._auth_error()
        remember_secrets(token)  # a registry may quote the Authorization header it got in an error
        self.registry.auth.set_token_auth(token)

    def _auth_error(self) -> RegistryError:
        host, lookup = self.repository.host, self.lookup
        if lookup.credentials is not None:
            return RegistryError(
                f"{self.subject}: {host} refused the credentials of {lookup.credentials.username!r} from "
                f"{lookup.credentials.source}; renew them with `docker login {host}` (or "
                f"`podman login --authfile $REGISTRY_AUTH_FILE {host}`)"
            )
        if lookup.helper:
            return RegistryError(
                f"{self.subject}: {host} requires credentials, and {lookup.source} names the credential helper "
                f"{lookup.helper!r} for it, which is not supported: use an auth file instead, e.g. "
                f"`podman login --authfile FILE {host}` and REGISTRY_AUTH_FILE=FILE"
            )
        sources = (
            lookup.source or "REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json (none exists)"
        )
        return RegistryError(
            f"{self.subject}: {host} requires credentials and there are none for it in {sources}; "
            f"run `docker login {host}`"
        )

    def request(self, method: str, path: str, what: str, ok: Sequence[int], **kwargs) -> requests.Response:
        """A request through oras (which authenticates) to a path or an upload URL the registry gave,
        with a clear error for any status not in `ok`."""
        url = path if path.startswith(("http://", "https://")) else self._url(self.scheme, path)
        # oras's do_request without the retries it wraps it in (five, over two minutes): a failure is
        # reported at once, and a rerun completes a push (it uploads only what is missing).
        send = type(self.registry).do_request.__wrapped__
        try:
            response = send(self.registry, url, method, **kwargs)
            if response.status_code == 401 and self._bearer_challenge is not None:
                self._fetch_token()  # the token expired: oras would only resend it
                response = send(self.registry, url, method, **kwargs)
        except OSError as e:  # requests' errors, and reading a blob of the layout
            raise RegistryError(f"{self.subject}: {what} failed: {_os_error(e)}") from None
        except ValueError:  # oras: "Cannot respond to request for authentication."
            raise self._auth_error() from None
        if response.status_code in ok:
            return response
        if response.status_code in (401, 403):
            raise self._auth_error()
        if response.status_code == 404 and method in ("GET", "HEAD") and "/manifests/" in path:
            raise RegistryError(
                f"{self.subject}: not found in {self.repository.host} ({_registry_errors(response)}); check the "
                "repository name and the digest"
            )
        raise RegistryError(
            f"{self.subject}: {what} failed: {self.repository.host} answered {_registry_errors(response)}"
        )

    def say(self, line: str) -> None:
        with self._print_lock:
            print(line, flush=True)

    # --- Blobs and manifests ---

    def has_blob(self, digest: str) -> bool:
        path = f"/v2/{self.repository.name}/blobs/{digest}"
        return self.request("HEAD", path, f"checking for blob {digest}", (200, 404)).status_code == 200

    def upload_blob(self, blob: "LayoutBlob") -> None:
        started = self.request(
            "POST",
            f"/v2/{self.repository.name}/blobs/uploads/",
            f"starting the upload of {blob.digest}",
            (202,),
            headers={"Content-Length": "0"},
        )
        location = started.headers.get("Location", "")
        url = location if location.startswith("http") else self._url(self.scheme, location)
        url += ("&" if "?" in url else "?") + f"digest={blob.digest}"
        what = f"uploading blob {blob.digest}"
        response = self.request(
            "PUT",
            url,
            what,
            (201, 400),
            data=_FileBody(blob.path, blob.size),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)},
        )
        if response.status_code == 400:  # the registry hashed what it got
            hint = (
                f"; {blob.path} does not match its digest: rebuild the layout"
                if "DIGEST_INVALID" in response.text
                else ""
            )
            raise RegistryError(
                f"{self.subject}: {what} failed: {self.repository.host} answered {_registry_errors(response)}{hint}"
            )

    def put_manifest(self, reference: str, manifest: bytes, media_type: str) -> None:
        self.request(
            "PUT",
            f"/v2/{self.repository.name}/manifests/{reference}",
            f"putting the manifest as {reference}",
            (201,),
            data=manifest,
            headers={"Content-Type": media_type},
        )

    def get_manifest(self, digest: str) -> tuple[bytes, str]:
        """The manifest or index with this digest, its bytes checked against it, and its media type."""
        response = self.request(
            "GET",
            f"/v2/{self.repository.name}/manifests/{digest}",
            f"getting manifest {digest}",
            (200,),
            headers={"Accept": ", ".join(sorted(oci.MANIFEST_MEDIA_TYPES | oci.INDEX_MEDIA_TYPES))},
        )
        content = response.content
        actual = "sha256:" + hashlib.sha256(content).hexdigest()
        if actual != digest:
            raise RegistryError(f"{self.subject}: the registry served a manifest with digest {actual} for {digest}")
        try:
            media_type = json.loads(content).get("mediaType") or response.headers.get("Content-Type", "")
        except (ValueError, AttributeError):
            raise RegistryError(f"{self.subject}: manifest {digest} is not JSON") from None
        return content, media_type

    def download_blob(self, descriptor: dict, blobs_dir: Path) -> None:
        """Writes the blob to blobs_dir/<hex>, checking its size and sha256 against the descriptor."""
        digest, size = descriptor["digest"], descriptor["size"]
        target = blobs_dir / blob_name(digest, f"{self.subject}: a manifest")
        what = f"downloading blob {digest}"
        response = self.request("GET", f"/v2/{self.repository.name}/blobs/{digest}", what, (200,), stream=True)
        hasher, written = hashlib.sha256(), 0
        try:
            with response, open(target, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    hasher.update(chunk)
                    written += len(chunk)
                    out.write(chunk)
        except OSError as e:
            raise RegistryError(f"{self.subject}: {what} failed: {_os_error(e)}") from None
        actual = "sha256:" + hasher.hexdigest()
        if (actual, written) != (digest, size):
            raise RegistryError(
                f"{self.subject}: blob {digest} arrived damaged ({written:,} bytes with digest {actual}, "
                f"expected {size:,} bytes): retry, and if it persists the registry's copy is corrupt"
            )


class _FileBody:
    """A file as a request body: streamed, and read from its start each time it is sent."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
