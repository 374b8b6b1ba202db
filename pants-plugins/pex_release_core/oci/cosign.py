# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""An image's signature in cosign's form
(https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md), which cosign, Kyverno and
sigstore-enabled podman and skopeo verify with the team's public key.

Beside the image, in its repository, the tag `sha256-<image digest hex>.sig` names an OCI image
manifest with one layer per signature: a simple-signing payload
(`application/vnd.dev.cosign.simplesigning.v1+json`) that names the image's manifest digest and
its repository, with the payload's ECDSA P-256 signature, base64, in the layer's
`dev.cosignproject.cosign/signature` annotation. A push with another key (a rotation) adds a
layer; an identical push keeps the existing one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from pathlib import Path

from pex_release_core.oci import model as oci
from pex_release_core.oci.reference import Repository
from pex_release_core.oci.registry import Client, LayoutBlob
from pex_release_core.signing import SigningKey

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"
# cosign's signature images have this config: no platform, no time (Go's zero time).
_ZERO_TIME = "0001-01-01T00:00:00Z"


def signature_tag(image_digest: str) -> str:
    return image_digest.replace(":", "-") + ".sig"


def simple_signing_payload(repository: Repository, image_digest: str) -> bytes:
    """What cosign signs: the image's repository (as `docker-reference`) and manifest digest."""
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": str(repository)},
                "image": {"docker-manifest-digest": image_digest},
                "type": SIGNATURE_TYPE,
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _existing_layers(client: Client, tag: str) -> list[dict]:
    response = client.request(
        "GET",
        f"/v2/{client.repository.name}/manifests/{tag}",
        f"getting the signatures {tag}",
        (200, 404),
        headers={"Accept": oci.MANIFEST_MEDIA_TYPE},
    )
    if response.status_code == 404:
        return []
    try:
        return [l for l in json.loads(response.content)["layers"] if l.get("mediaType") == SIMPLE_SIGNING_MEDIA_TYPE]
    except (ValueError, KeyError, TypeError):
        return []  # not cosign's: replaced by a valid one


def _signed_by(layer: dict, payload: bytes, key: SigningKey) -> bool:
    try:
        signature = base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION], validate=True)
    except (KeyError, TypeError, ValueError):
        return False
    return layer.get("digest") == _digest(payload) and key.public_key.verify(payload, signature)


def push_signature(client: Client, repository: Repository, image_digest: str, key: SigningKey) -> str:
    """Signs the image, pushed already, in cosign's form; says what it did."""
    tag = signature_tag(image_digest)
    payload = simple_signing_payload(repository, image_digest)
    layers = _existing_layers(client, tag)
    if any(_signed_by(layer, payload, key) for layer in layers):
        return f"{repository}:{tag} already holds key {key.keyid}'s signature"
    layer = {
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "size": len(payload),
        "digest": _digest(payload),
        "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(key.sign_message(payload)).decode()},
    }
    layers.append(layer)
    config = json.dumps(
        {
            "architecture": "",
            "config": {},
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": sorted({l["digest"] for l in layers})},
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": oci.CONFIG_MEDIA_TYPE, "size": len(config), "digest": _digest(config)},
            "layers": layers,
        },
        separators=(",", ":"),
    ).encode()
    with tempfile.TemporaryDirectory() as directory:
        for content in (payload, config):
            path = Path(directory) / hashlib.sha256(content).hexdigest()
            path.write_bytes(content)
            if not client.has_blob(_digest(content)):
                client.upload_blob(LayoutBlob(_digest(content), len(content), path))
    client.put_manifest(tag, manifest, oci.MANIFEST_MEDIA_TYPE)
    return f"{repository}:{tag} signed with key {key.keyid}"
