# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Pushes OCI image layouts to a registry and pulls images from one (Registry HTTP API v2).
`pants package`/`pants publish` run it as a tool PEX of the `oci` resolve.

    python -m pex_release.oci_registry push --layout DIR --repository HOST[:PORT]/NAME [--tag T]... [--insecure]
    python -m pex_release.oci_registry pull --reference HOST[:PORT]/NAME[:TAG]@sha256:HEX
                                            --platform OS/ARCH[/VARIANT] --output DIR [--insecure]

push uploads the blobs the registry lacks (after a HEAD of each), then the manifest by its digest,
then each tag (default: the layout's `org.opencontainers.image.ref.name`s), so a tag never names a
manifest whose blobs are missing and an interrupted push is completed by a rerun. It prints a line
per uploaded blob, then `pushed N blobs (B bytes), skipped M blobs (B bytes); HOST/NAME@sha256:...
tagged T1, T2`.

pull writes DIR as an OCI layout holding the image for the platform (an image index resolves to
that platform's manifest), every byte checked against the reference's digest and the descriptors.
A reference must have a digest: a tag moves, and the image would not be reproducible.

Credentials come from $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else
~/.docker/config.json (`auths.<host>`: `auth`, base64 of user:password, or `username`/`password`);
credential helpers are not run. Registries are reached over https (CA bundle: $SSL_CERT_FILE, else
requests' own), and, as docker does, over plain http when https fails, but only for a loopback
host or with --insecure. On failure: `oci_registry: error: ...` on stderr, exit code 1, never a secret.

The Pants rules import this module too, for its reference checks, where oras-py and requests are
not installed: they are imported where the tool uses them.

oras-py does the HTTP (its session, basic auth and bearer-token requests) and validates layouts;
this module adds what it lacks: reference checks, the credential sources, one bearer token for all
of a push's actions (renewed when it expires), status checks with clear errors, skipped-blob
accounting, concurrent and streamed transfers, several tags, platform selection and digest
verification of everything pulled.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import ipaddress
import json
import logging
import os
import re
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NoReturn, Sequence

from pex_release import oci
from pex_release.repository import concurrently

if TYPE_CHECKING:
    import oras.provider  # pants: no-infer-dep
    import requests  # pants: no-infer-dep

PROG = "oci_registry"
# For the Pants rules that build the tool PEX: its requirements (from the `oci` resolve), its main.
REQUIREMENTS = ("oras", "requests")
ENTRY_POINT = "pex_release.oci_registry:main"

PING_TIMEOUT_SECONDS = 30.0
CHUNK = 1 << 20

# The distribution spec's grammar (distribution/reference), sha256 digests only.
_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"(?P<host>{_HOST})/(?P<name>{_COMPONENT}(?:/{_COMPONENT})*)")
# Docker Hub's API and credential names for the docker.io in references.
DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")


class RegistryError(Exception):
    """A failure with a message for the user: what, which reference, and the fix."""


class InvalidReference(RegistryError, ValueError):
    """A repository, reference or tag that the distribution spec does not allow."""


# The credentials read, kept out of every message this tool prints.
_SECRETS: set[str] = set()


def redacted(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):  # a secret may contain another
        text = text.replace(secret, "<redacted>")
    return text


def check_tag(tag: str) -> None:
    """The image builder's tag rule (`oci.check_tag`), as a reference error."""
    try:
        oci.check_tag(tag)
    except oci.ImageError as e:
        raise InvalidReference(str(e)) from None


# --- References --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Repository:
    host: str  # as written: HOST[:PORT]
    name: str  # path components: acme/api

    @classmethod
    def parse(cls, text: str, what: str = "repository") -> "Repository":
        match = _REPOSITORY.fullmatch(text)
        host = text.split("/", 1)[0]
        if not match or not ("." in host or ":" in host or host == "localhost"):
            raise InvalidReference(
                f"{what} {text!r} is not HOST[:PORT]/NAME: it must start with the registry's host "
                "(e.g. registry.example.com/acme/api, localhost:5000/api, docker.io/library/python), "
                "then lowercase path components"
            )
        return cls(match["host"], match["name"])

    @property
    def hostname(self) -> str:
        host = self.host.rsplit(":", 1)[0] if not self.host.endswith("]") else self.host
        return host.strip("[]")

    @property
    def api_host(self) -> str:
        return _DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def is_loopback(self) -> bool:
        if self.hostname == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.hostname).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"{self.host}/{self.name}"


@dataclass(frozen=True)
class Reference:
    repository: Repository
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str, *, require_digest: bool = True) -> "Reference":
        rest, at, digest = text.partition("@")
        if not at and require_digest:
            raise InvalidReference(
                f"reference {text!r} has no digest: pin it as {text}@sha256:<hex> (`skopeo inspect "
                "docker://REF` prints it), since a tag moves and the image would not be reproducible"
            )
        if at and not oci.DIGEST_PATTERN.fullmatch(digest):
            raise InvalidReference(f"reference {text!r}: the digest must be sha256: and 64 lowercase hex digits")
        name, colon, tag = rest.rpartition(":")
        if not colon or "/" in tag:
            name, tag = rest, None
        if tag is not None:
            check_tag(tag)
        return cls(Repository.parse(name, "reference"), tag, digest or None)

    def __str__(self) -> str:
        return f"{self.repository}{':' + self.tag if self.tag else ''}{'@' + self.digest if self.digest else ''}"


# --- Credentials -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str  # the auth file they come from


@dataclass(frozen=True)
class CredentialLookup:
    credentials: Credentials | None
    source: str | None  # the auth file read, if any
    helper: str | None  # a credential helper the file names for the host, which this tool does not run


def auth_file() -> Path | None:
    """REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json; None if absent."""
    named = os.environ.get("REGISTRY_AUTH_FILE")
    if named:
        if not Path(named).is_file():
            raise RegistryError(f"REGISTRY_AUTH_FILE names {named}, which is not a file: fix or unset it")
        return Path(named)
    docker_config = os.environ.get("DOCKER_CONFIG")
    path = Path(docker_config) / "config.json" if docker_config else Path.home() / ".docker" / "config.json"
    return path if path.is_file() else None


def _registry_key(key: str) -> str:
    """An `auths` key as docker writes it (host, https://host, https://index.docker.io/v1/) -> host."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in _DOCKER_HUB_ALIASES else host


def find_credentials(repository: Repository) -> CredentialLookup:
    path = auth_file()
    if path is None:
        return CredentialLookup(None, None, None)
    try:
        config = json.loads(path.read_text())
        auths = config.get("auths") or {}
        entry = next((v for k, v in auths.items() if _registry_key(k) == repository.host), None)
        helper = (config.get("credHelpers") or {}).get(repository.host) or config.get("credsStore")
    except (OSError, ValueError, AttributeError):
        raise RegistryError(f"cannot read the registry credentials in {path}: it is not a JSON auth file") from None
    if not entry or not isinstance(entry, dict):
        return CredentialLookup(None, str(path), helper)
    if entry.get("auth"):
        try:
            username, colon, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, TypeError):
            colon = ""
        if not colon:
            raise RegistryError(
                f"{path}: auths.{repository.host}.auth is not base64 of user:password; run `docker login {repository.host}`"
            )
    elif entry.get("username") and entry.get("password"):
        username, password = entry["username"], entry["password"]
    else:
        return CredentialLookup(None, str(path), helper)
    _SECRETS.update(
        s for s in (password, entry.get("auth"), base64.b64encode(f"{username}:{password}".encode()).decode()) if s
    )
    return CredentialLookup(Credentials(username, password, str(path)), str(path), helper)


# --- The registry --------------------------------------------------------------------------------------


def _blob_name(digest: object, where: str) -> str:
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
        target = blobs_dir / _blob_name(digest, f"{self.subject}: a manifest")
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


# --- push ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayoutBlob:
    digest: str
    size: int
    path: Path


@dataclass(frozen=True)
class LayoutImage:
    manifest: bytes
    media_type: str
    digest: str
    blobs: tuple[LayoutBlob, ...]  # layers, then the config
    tags: tuple[str, ...]  # the layout's ref names


def read_layout(directory: Path) -> LayoutImage:
    """The one image of an OCI layout (every index.json entry names the same manifest)."""
    where = f"--layout {directory}"
    try:
        from oras.layout import Layout  # pants: no-infer-dep

        Layout(str(directory))  # checks oci-layout, index.json and blobs/ as the spec says
        index = json.loads((directory / "index.json").read_bytes())
        entries = index["manifests"]
        digests = {e["digest"] for e in entries}
        if len(digests) != 1:
            raise RegistryError(
                f"{where} holds {len(digests)} images ({', '.join(sorted(digests)) or 'none'}); push a layout of one image"
            )
        (digest,) = digests
        manifest_path = directory / "blobs" / "sha256" / _blob_name(digest, f"{where}: index.json")
        manifest = manifest_path.read_bytes()
        parsed = json.loads(manifest)
        media_type = parsed.get("mediaType") or entries[0].get("mediaType", "")
        if media_type not in oci.MANIFEST_MEDIA_TYPES:
            raise RegistryError(
                f"{where}: {digest} is a {media_type or 'manifest without mediaType'}, not an image manifest"
            )
        descriptors = [*parsed["layers"], parsed["config"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RegistryError(f"{where} is not a readable OCI image layout: {e}; rebuild it") from None
    if "sha256:" + hashlib.sha256(manifest).hexdigest() != digest:
        raise RegistryError(f"{where}: {manifest_path} does not match its digest {digest}; rebuild the layout")
    blobs: dict[str, LayoutBlob] = {}
    for d in descriptors:
        path = directory / "blobs" / "sha256" / _blob_name(d["digest"], f"{where}: manifest {digest}")
        if not path.exists():
            raise RegistryError(f"{where} lacks blob {d['digest']}, which manifest {digest} names; rebuild the layout")
        blobs.setdefault(d["digest"], LayoutBlob(d["digest"], int(d["size"]), path))
    tags = tuple(dict.fromkeys(e["annotations"][oci.REF_NAME_ANNOTATION] for e in entries if oci.REF_NAME_ANNOTATION in (e.get("annotations") or {})))
    return LayoutImage(manifest, media_type, digest, tuple(blobs.values()), tags)


def _bytes(blobs: Sequence[LayoutBlob]) -> str:
    count = len(blobs)
    return f"{count:,} blob{'' if count == 1 else 's'} ({sum(b.size for b in blobs):,} bytes)"


def push(layout_dir: Path, repository_text: str, tags: Sequence[str], insecure: bool) -> None:
    repository = Repository.parse(repository_text, "--repository")
    image = read_layout(layout_dir)
    tags = list(tags or image.tags)
    for tag in tags:
        check_tag(tag)
    client = Client(repository, str(repository), insecure, "pull,push")

    def push_blob(blob: LayoutBlob) -> bool:
        if client.has_blob(blob.digest):
            return False
        client.upload_blob(blob)
        client.say(f"  uploaded {blob.digest} ({blob.size:,} bytes)")
        return True

    uploaded = concurrently(push_blob, image.blobs)
    # Only now that every blob is there: the manifest, by digest, then the tags that name it.
    client.put_manifest(image.digest, image.manifest, image.media_type)
    for tag in tags:
        client.put_manifest(tag, image.manifest, image.media_type)
    pushed = [b for b, done in zip(image.blobs, uploaded) if done]
    skipped = [b for b, done in zip(image.blobs, uploaded) if not done]
    tagged = f"tagged {', '.join(tags)}" if tags else "untagged"
    client.say(f"pushed {_bytes(pushed)}, skipped {_bytes(skipped)}; {repository}@{image.digest} {tagged}")


# --- pull ----------------------------------------------------------------------------------------------


def pull(reference_text: str, platform: str, output: Path, insecure: bool) -> None:
    reference = Reference.parse(reference_text)
    try:
        wanted = oci.Platform.parse(platform)
    except oci.ImageError as e:
        raise RegistryError(f"--platform {e}") from None
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise RegistryError(f"--output {output} already exists and is not empty; remove it or choose another")
    client = Client(reference.repository, str(reference), insecure, "pull")
    content, media_type = client.get_manifest(reference.digest)
    descriptor = {"mediaType": media_type, "digest": reference.digest, "size": len(content)}
    if media_type in oci.INDEX_MEDIA_TYPES:
        entries = json.loads(content).get("manifests") or []
        chosen = next((e for e in entries if wanted.matches(oci.Platform.of(e.get("platform") or {}))), None)
        if chosen is None:
            platforms = {str(oci.Platform.of(e["platform"])) for e in entries if e.get("platform")}
            available = ", ".join(sorted(platforms)) or "none"
            raise RegistryError(
                f"{reference}: the image has no {platform} variant (it has: {available}); pick an image for {platform}"
            )
        descriptor = {k: chosen[k] for k in ("mediaType", "digest", "size", "platform") if k in chosen}
        _blob_name(chosen["digest"], f"{reference}: the image index")
        content, media_type = client.get_manifest(chosen["digest"])
        descriptor["mediaType"] = media_type
    if media_type not in oci.MANIFEST_MEDIA_TYPES:
        raise RegistryError(
            f"{reference}: {media_type or 'a manifest without mediaType'} is not an image manifest this tool reads"
        )
    manifest = json.loads(content)
    staging = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    blobs_dir = staging / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True)
    try:
        client.download_blob(manifest["config"], blobs_dir)
        config = json.loads((blobs_dir / _blob_name(manifest["config"]["digest"], str(reference))).read_bytes())
        if not wanted.matches(oci.Platform.of(config)):
            raise RegistryError(
                f"{reference}: the image is for {oci.Platform.of(config)}, not {platform}; pick an image for {platform}"
            )
        concurrently(lambda layer: client.download_blob(layer, blobs_dir), manifest["layers"])
        (blobs_dir / _blob_name(descriptor["digest"], str(reference))).write_bytes(content)
        if reference.tag:
            descriptor["annotations"] = {oci.REF_NAME_ANNOTATION: reference.tag}
        index = {"schemaVersion": 2, "mediaType": oci.INDEX_MEDIA_TYPE, "manifests": [descriptor]}
        (staging / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        (staging / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}) + "\n")
        if output.exists():
            output.rmdir()
        os.rename(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    client.say(
        f"pulled {reference} for {platform} into {output}: manifest {descriptor['digest']}, {len(manifest['layers'])} layers"
    )


# --- main ----------------------------------------------------------------------------------------------


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
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # oras logs its own account of failures to stderr; the errors below say more, once.
    logging.getLogger("oras").setLevel(logging.CRITICAL)
    try:
        if args.command == "push":
            push(args.layout, args.repository, args.tag, args.insecure)
        else:
            pull(args.reference, args.platform, args.output, args.insecure)
    except RegistryError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; a rerun completes the work (it transfers only what is missing)")
    except Exception as e:  # noqa: BLE001 -- a traceback could show a credential
        fail(f"unexpected {type(e).__name__}: {e} (a bug in {PROG}; please report it)")
    return 0


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {redacted(message)}", file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
