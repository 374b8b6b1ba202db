# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""push and pull: an OCI layout's image to a registry, an image by digest into an OCI layout."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pex_release_core.oci import model as oci
from pex_release_core.oci.cosign import push_signature
from pex_release_core.oci.simple_signing import write_signatures
from pex_release_core.oci.reference import Reference, RegistryError, Repository, check_tag
from pex_release_core.oci.registry import Client, LayoutBlob, blob_name
from pex_release_core.signing import SigningKey
from pex_release_core.transfer import concurrently


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
        manifest_path = directory / "blobs" / "sha256" / blob_name(digest, f"{where}: index.json")
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
        path = directory / "blobs" / "sha256" / blob_name(d["digest"], f"{where}: manifest {digest}")
        if not path.exists():
            raise RegistryError(f"{where} lacks blob {d['digest']}, which manifest {digest} names; rebuild the layout")
        blobs.setdefault(d["digest"], LayoutBlob(d["digest"], int(d["size"]), path))
    tags = tuple(dict.fromkeys(e["annotations"][oci.REF_NAME_ANNOTATION] for e in entries if oci.REF_NAME_ANNOTATION in (e.get("annotations") or {})))
    return LayoutImage(manifest, media_type, digest, tuple(blobs.values()), tags)


def _bytes(blobs: Sequence[LayoutBlob]) -> str:
    count = len(blobs)
    return f"{count:,} blob{'' if count == 1 else 's'} ({sum(b.size for b in blobs):,} bytes)"


@dataclass(frozen=True)
class GpgSigning:
    """Simple signing (`simple_signing.py`): gpg's path, the key's fingerprint and the lookaside store."""

    gpg: str
    fingerprint: str
    store: Path


def push(
    layout_dir: Path,
    repository_text: str,
    tags: Sequence[str],
    insecure: bool,
    signing_key: SigningKey | None = None,
    gpg_signing: GpgSigning | None = None,
) -> None:
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
    if signing_key is not None:
        client.say(push_signature(client, repository, image.digest, signing_key))
    if gpg_signing is not None:
        written = write_signatures(gpg_signing.gpg, gpg_signing.fingerprint, gpg_signing.store, repository, image.digest, tags)
        client.say(f"signed {', '.join(f'{repository}:{t}' for t in tags)} with GPG key {gpg_signing.fingerprint} into {written}")


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
        blob_name(chosen["digest"], f"{reference}: the image index")
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
        config = json.loads((blobs_dir / blob_name(manifest["config"]["digest"], str(reference))).read_bytes())
        if not wanted.matches(oci.Platform.of(config)):
            raise RegistryError(
                f"{reference}: the image is for {oci.Platform.of(config)}, not {platform}; pick an image for {platform}"
            )
        concurrently(lambda layer: client.download_blob(layer, blobs_dir), manifest["layers"])
        (blobs_dir / blob_name(descriptor["digest"], str(reference))).write_bytes(content)
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
