# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Signed releases: a release's manifest, and its provenance, signed in DSSE envelopes
(https://github.com/secure-systems-lab/dsse, the envelope of in-toto and sigstore) with the team's
ECDSA P-256 keys (cosign's default), so that a host runs only what the team's keys signed.

    apps/<app>/attestations/<version>/<manifest sha256>.manifest.dsse.json    the manifest's bytes
    apps/<app>/attestations/<version>/<manifest sha256>.provenance.dsse.json  its provenance

Each envelope is named by the sha256 of the manifest it vouches for, so that two publishes of
different bytes never overwrite each other's, and holds one signature per key that signed it: a
republish with a new key (a rotation) adds its signature and changes nothing else. Publish writes
the manifest's envelope before the manifest, so a host that requires signatures never meets a
manifest whose signature is still on its way.

The signed payload is the manifest's bytes, which name the app and the version, so a signed manifest
copied under another app or version is refused by the check that every reader makes (the manifest
read is the one asked for). What the signature does not cover, the repository's channels and
indexes, only chooses among signed releases.

A key's id is the sha256 of its public key's DER SubjectPublicKeyInfo, as
`openssl pkey -pubin -in key.pub -outform DER | sha256sum` prints it. Signing needs `cryptography`
(the publisher has it). Checking takes `cryptography` where the host has it, and otherwise `ecdsa`,
pure Python, which travels inside pexrun.pyz and is the pexrun wheel's requirement.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from pex_release_core.manifest import printable
from pex_release_core.repository.base import NotFoundError, Repository, RepositoryError, attestation_key

MANIFEST_PAYLOAD_TYPE = "application/vnd.pex-release.manifest+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MANIFEST, PROVENANCE = "manifest", "provenance"  # the attestations of a release, by what they sign
PAYLOAD_TYPES = {MANIFEST: MANIFEST_PAYLOAD_TYPE, PROVENANCE: IN_TOTO_PAYLOAD_TYPE}

_PUBLIC_KEY_PEM = "PUBLIC KEY"
_KEY_GENERATION = (
    "Make a key pair with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out release.key` "
    "and `openssl pkey -in release.key -pubout -out release.pub`"
)
# Rotations racing on one envelope rewrite it until it holds their signature.
_SIGN_ATTEMPTS = 8


class SignatureError(RepositoryError):
    """A release whose signatures do not satisfy the keys a host trusts, or a key that cannot be used."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed, so a payload cannot pass as another type."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes  # ASN.1 DER ECDSA over SHA-256 of the PAE, as cosign writes it.


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    @property
    def keyids(self) -> tuple[str, ...]:
        return tuple(s.keyid for s in self.signatures)

    def signed_by(self, signature: Signature) -> Envelope:
        others = tuple(s for s in self.signatures if s.keyid != signature.keyid)
        return replace(self, signatures=tuple(sorted((*others, signature), key=lambda s: s.keyid)))

    def dumps(self) -> bytes:
        return (
            json.dumps(
                {
                    "payload": base64.b64encode(self.payload).decode(),
                    "payloadType": self.payload_type,
                    "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in self.signatures],
                },
                indent=2,
                sort_keys=True,
            )
            + "\n"
        ).encode()

    @classmethod
    def loads(cls, data: bytes, *, origin: str) -> Envelope:
        try:
            parsed = json.loads(data)
            return cls(
                payload_type=_text(parsed["payloadType"]),
                payload=base64.b64decode(_text(parsed["payload"]), validate=True),
                signatures=tuple(
                    Signature(keyid=_text(s["keyid"]), sig=base64.b64decode(_text(s["sig"]), validate=True))
                    for s in parsed["signatures"]
                ),
            )
        except (ValueError, KeyError, TypeError, RecursionError, binascii.Error) as e:
            raise SignatureError(f"{origin} is not a DSSE envelope ({type(e).__name__}: {printable(str(e))}).") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def key_id(public_key_der: bytes) -> str:
    return hashlib.sha256(public_key_der).hexdigest()


@functools.lru_cache(maxsize=None)
def _verifier(public_key_der: bytes, origin: str) -> Callable[[bytes, bytes], bool]:
    """A function that checks a DER signature of a message with this P-256 public key: with
    `cryptography` where the host has it, else with `ecdsa`."""
    try:
        from cryptography.exceptions import InvalidSignature  # pants: no-infer-dep
        from cryptography.hazmat.primitives import hashes  # pants: no-infer-dep
        from cryptography.hazmat.primitives.asymmetric import ec  # pants: no-infer-dep
        from cryptography.hazmat.primitives.serialization import load_der_public_key  # pants: no-infer-dep
    except ImportError:
        return _ecdsa_verifier(public_key_der, origin)
    try:
        key = load_der_public_key(public_key_der)
    except ValueError:
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise _not_a_public_key(origin)

    def verify(message: bytes, sig: bytes) -> bool:
        try:
            key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    return verify


def _ecdsa_verifier(public_key_der: bytes, origin: str) -> Callable[[bytes, bytes], bool]:
    try:
        import ecdsa  # pants: no-infer-dep
        from ecdsa.util import sigdecode_der  # pants: no-infer-dep
    except ImportError:
        raise SignatureError(
            "Checking release signatures needs the `cryptography` or the `ecdsa` package, and this Python has "
            "neither: install one (`pip install ecdsa`), or run pexrun.pyz or the pexrun wheel, which bring ecdsa."
        ) from None
    try:
        key = ecdsa.VerifyingKey.from_der(public_key_der)
    except (ecdsa.der.UnexpectedDER, ecdsa.MalformedPointError, ValueError):
        raise _not_a_public_key(origin) from None
    if key.curve != ecdsa.NIST256p:
        raise _not_a_public_key(origin)

    def verify(message: bytes, sig: bytes) -> bool:
        try:
            return key.verify(sig, message, hashfunc=hashlib.sha256, sigdecode=sigdecode_der)
        except (ecdsa.BadSignatureError, ecdsa.der.UnexpectedDER):
            return False

    return verify


def _not_a_public_key(origin: str) -> SignatureError:
    return SignatureError(
        f"{origin} is not an ECDSA P-256 public key in PEM (`-----BEGIN PUBLIC KEY-----`). {_KEY_GENERATION}, "
        "and trust release.pub."
    )


@dataclass(frozen=True)
class PublicKey:
    """A key a host trusts, from a PEM file as `openssl pkey -pubout` writes it."""

    keyid: str
    origin: str  # Its file, for messages.
    der: bytes  # Its SubjectPublicKeyInfo.

    @classmethod
    def load(cls, path: Path) -> PublicKey:
        """The key, from its file; whether it is a P-256 key is checked at its first use, which
        loads the library that checks signatures."""
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as e:
            raise SignatureError(f"Cannot read the trusted key {path}: {getattr(e, 'strerror', None) or e}.") from None
        der = _pem_body(text, _PUBLIC_KEY_PEM)
        if der is None:
            raise _not_a_public_key(str(path))
        return cls(keyid=key_id(der), origin=str(path), der=der)

    def verify(self, message: bytes, sig: bytes) -> bool:
        return _verifier(self.der, self.origin)(message, sig)


def _pem_body(text: str, label: str) -> bytes | None:
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return None
    try:
        return base64.b64decode("".join(text[start + len(begin) : stop].split()), validate=True)
    except binascii.Error:
        return None


@dataclass(frozen=True)
class SigningKey:
    """The team's private key. Its bytes stay in this object: no message shows them."""

    public_key: PublicKey
    _sign: Callable[[bytes], bytes]

    @property
    def keyid(self) -> str:
        return self.public_key.keyid

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        from cryptography.exceptions import UnsupportedAlgorithm  # pants: no-infer-dep
        from cryptography.hazmat.primitives import hashes, serialization  # pants: no-infer-dep
        from cryptography.hazmat.primitives.asymmetric import ec  # pants: no-infer-dep

        try:
            data = path.read_bytes()
        except OSError as e:
            raise SignatureError(f"Cannot read the signing key {path}: {e.strerror}.") from None
        problem = None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:  # it needs a password
            problem = "is encrypted; publish signs with an unencrypted PKCS#8 key (`openssl genpkey` writes one)"
        except (ValueError, UnsupportedAlgorithm):
            problem = "is not a private key in PEM (`-----BEGIN PRIVATE KEY-----`)"
        else:
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                problem = "is not an ECDSA P-256 key, the one kind that pexrun and cosign both check"
        if problem:
            raise SignatureError(f"The signing key {path} {problem}. {_KEY_GENERATION}.")
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        public_key = PublicKey(keyid=key_id(der), origin=str(path), der=der)
        return cls(public_key, _sign=lambda message: key.sign(message, ec.ECDSA(hashes.SHA256())))

    def sign(self, payload_type: str, payload: bytes) -> Signature:
        """A DSSE signature of payload."""
        return Signature(keyid=self.keyid, sig=self.sign_message(pae(payload_type, payload)))

    def sign_message(self, message: bytes) -> bytes:
        """The DER ECDSA signature of message's SHA-256, as cosign makes it."""
        return self._sign(message)


# --- Publishing and checking a release's attestations -----------------------------------------------


@dataclass(frozen=True)
class SignedRelease:
    """A release, as its attestations name it: by app, version and its manifest's bytes."""

    app: str
    version: str
    manifest: bytes

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest).hexdigest()

    def attestation_key(self, kind: str) -> str:
        return attestation_key(self.app, self.version, self.manifest_sha256, kind)


def write_attestation(repository: Repository, key: SigningKey, release: SignedRelease, kind: str, payload: bytes) -> bool:
    """Stores payload signed by key in the release's attestation of this kind, keeping every
    other key's signature of the same payload: False if key had already signed it."""
    location = release.attestation_key(kind)
    payload_type = PAYLOAD_TYPES[kind]
    message = pae(payload_type, payload)
    wrote = False
    # Until a read shows our signature: a concurrent rotation may have rewritten the envelope
    # between our read and our write.
    for _ in range(_SIGN_ATTEMPTS):
        try:
            stored = Envelope.loads(repository.read_key(location), origin=location)
        except NotFoundError:
            if repository.create_key(location, Envelope(payload_type, payload, (key.sign(payload_type, payload),)).dumps()):
                return True
            continue  # a concurrent publish created it: add to theirs
        except SignatureError:  # damaged: replaced by a valid one
            stored = Envelope(payload_type, payload, ())
        if (stored.payload_type, stored.payload) != (payload_type, payload):
            stored = Envelope(payload_type, payload, ())  # not this payload's: no signature in it counts
        if any(s.keyid == key.keyid and key.public_key.verify(message, s.sig) for s in stored.signatures):
            return wrote  # an identical republish keeps its signature
        repository.put_key(location, stored.signed_by(key.sign(payload_type, payload)).dumps())
        wrote = True
    raise SignatureError(
        f"{location} in {repository.url} kept changing while this publish signed it: publish again to add "
        f"key {key.keyid}'s signature."
    )


def verified_signer(
    repository: Repository, trusted: Sequence[PublicKey], release: SignedRelease, kind: str
) -> tuple[PublicKey, Envelope]:
    """The trusted key that signed the release's attestation of this kind, and the attestation; a
    SignatureError saying what is wrong otherwise. The manifest's must sign the manifest's bytes;
    what another kind says of the release is for the caller to check."""
    location = release.attestation_key(kind)
    payload_type = PAYLOAD_TYPES[kind]
    manifest_sha256 = release.manifest_sha256
    what = f"{release.app} {release.version}" + ("" if kind == MANIFEST else f"'s {kind}")
    tried = ", ".join(k.keyid for k in trusted)
    try:
        data = repository.read_key(location)
    except NotFoundError:
        raise SignatureError(
            f"{what} in {repository.url} is not signed: there is no {location}, the signature of its manifest's "
            f"bytes (sha256 {manifest_sha256}). It was published without a signing key, or its manifest was changed "
            f"after it was signed. Trusted keys: {tried}."
        ) from None
    envelope = Envelope.loads(data, origin=f"{location} in {repository.url}, the signature of {what},")
    if envelope.payload_type != payload_type:
        raise SignatureError(
            f"{what}: {location} in {repository.url} signs a payload of type {printable(envelope.payload_type)!r}, not "
            f"{payload_type!r}: it is not this release's {kind} signature."
        )
    if kind == MANIFEST and envelope.payload != release.manifest:
        raise SignatureError(
            f"{what}: the payload that {location} in {repository.url} signs is not the manifest beside it (sha256 "
            f"{hashlib.sha256(envelope.payload).hexdigest()}, the manifest's {manifest_sha256}): the envelope was "
            "copied from another release, or the manifest replaced."
        )
    message = pae(envelope.payload_type, envelope.payload)
    by_id = {k.keyid: k for k in trusted}
    bad = []
    for signature in envelope.signatures:
        key = by_id.get(signature.keyid)
        if key is not None:
            if key.verify(message, signature.sig):
                return key, envelope
            bad.append(key.keyid)
    if bad:
        raise SignatureError(
            f"{what} in {repository.url} has a bad signature: {location}'s signature under trusted key "
            f"{', '.join(bad)} does not verify, so the envelope or its payload was altered after signing."
        )
    signers = ", ".join(printable(k) for k in envelope.keyids) or "no key"
    raise SignatureError(
        f"{what} in {repository.url} is signed by {signers}, which this host does not trust (trusted keys: {tried})."
    )
