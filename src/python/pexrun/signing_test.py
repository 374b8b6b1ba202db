# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Signed releases: publish signs, pexrun refuses what the trusted keys did not sign; and the SBOM,
which the signed manifest names by sha256.

The attacks are those of someone who can write the repository but holds no key. Keys are made as
the README says, with openssl. pexrun checks with `cryptography` where the host has it, else with
`ecdsa`: each check runs with both.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

import pex_release_core

from pex_release_core.manifest import ReleaseManifest
from pex_release_core.provenance import BuildInputs
from pex_release_core.publishing import Signer, publish
from pex_release_core.repository.base import Repository, attestation_key, blob_key, manifest_key
from pex_release_core.repository.url import open_repository
from pex_release_core.retention import prune
from pex_release_core.signing import MANIFEST, PROVENANCE, Envelope, SignatureError, SigningKey
from pex_release_core.testutil import damage_blob, make_release, python_env
from pexrun.main_test import failed, pexrun, ran
from pexrun.releases import version_key

BUILD = BuildInputs("python-default", "3rdparty/python/default.lock", "ab" * 32, "https://example.com/monorepo.git")


def keypair(directory: Path, name: str) -> tuple[Path, Path, str]:
    """A private key, its public key and the key's id, made with openssl as the README says."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(private)], check=True
    )
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(public), "-outform", "DER"], check=True, capture_output=True)
    return private, public, hashlib.sha256(der.stdout).hexdigest()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, str]]:
    directory = tmp_path_factory.mktemp("keys")
    return {name: keypair(directory, name) for name in ("team", "rotated", "other")}


@pytest.fixture(params=["cryptography", "ecdsa"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment that makes pexrun check with this library: for ecdsa, cryptography hidden."""
    if request.param == "cryptography":
        return {}
    hidden = tmp_path / "no-cryptography"
    (hidden / "cryptography").mkdir(parents=True)
    (hidden / "cryptography" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    return {"PYTHONPATH": os.pathsep.join([str(hidden), python_env()["PYTHONPATH"]])}


def signer(keys: dict[str, tuple[Path, Path, str]], name: str = "team") -> Signer:
    return Signer(SigningKey.load(keys[name][0]), BUILD)


@pytest.fixture
def repository(tmp_path: Path, keys: dict[str, tuple[Path, Path, str]]) -> Repository:
    """api 1.0.0 and 1.1.0 and worker 0.1.0, signed by the team's key; api 2.0.0 unsigned."""
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    for app, version in (("api", "1.0.0"), ("api", "1.1.0"), ("worker", "0.1.0")):
        release = make_release(tmp_path / "dist" / app / version, app, version, sources=version, sbom=sbom_of(app, version))
        publish(repository, release, signer(keys))
    publish(repository, make_release(tmp_path / "dist" / "api" / "2.0.0", "api", "2.0.0", sources="2.0.0"))
    return repository


def sbom_of(app: str, version: str) -> str:
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"component": {"name": app, "version": version}}})


def run(repository: Repository, release: str, *trusted: Path, cache: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    keys = [a for path in trusted for a in ("--trusted-key", str(path))]
    return pexrun("run", repository.url, release, "--cache-dir", str(cache), *keys, env=env)


def released(result: subprocess.CompletedProcess[str]) -> str:
    report = ran(result)
    return f"{report['app']} {report['version']}"


def nothing_downloaded(cache: Path) -> bool:
    return not any(p.is_file() for p in (cache / "blobs").rglob("*")) if (cache / "blobs").exists() else True


def envelope_of(repository: Repository, app: str, version: str, kind: str = MANIFEST) -> tuple[str, Envelope]:
    data = repository.read_manifest(app, version)
    key = attestation_key(app, version, hashlib.sha256(data).hexdigest(), kind)
    return key, Envelope.loads(repository.read_key(key), origin=key)


def test_a_signed_release_runs_and_verifies_with_the_trusted_key(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str], tmp_path: Path
) -> None:
    _, public, keyid = keys["team"]
    assert released(run(repository, "api@1.1.0", public, cache=tmp_path / "cache", env=backend)) == "api 1.1.0"
    verified = pexrun("verify", repository.url, "api@1.1.0", "--trusted-key", str(public), env=backend)
    assert (verified.returncode, verified.stdout) == (0, f"api 1.1.0: signed by {keyid} ({public})\n"), verified.stderr
    # Trusted through the environment too, among other keys (paths separated by `:`).
    env = {**backend, "PEXRUN_TRUSTED_KEYS": f"{keys['other'][1]}:{public}"}
    assert released(pexrun("run", repository.url, "worker", "--cache-dir", str(tmp_path / "cache"), env=env)) == "worker 0.1.0"


def test_without_trusted_keys_pexrun_runs_unsigned_releases_as_before(repository: Repository, tmp_path: Path) -> None:
    assert released(run(repository, "api", cache=tmp_path / "cache", env={})) == "api 2.0.0"


def test_an_unsigned_release_is_refused_before_any_blob_is_downloaded(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str], tmp_path: Path
) -> None:
    _, public, keyid = keys["team"]
    error = failed(run(repository, "api", public, cache=tmp_path / "cache", env=backend))
    assert f"api 2.0.0 in {repository.url} is not signed: there is no apps/api/attestations/2.0.0/" in error
    assert f"Trusted keys: {keyid}." in error
    assert nothing_downloaded(tmp_path / "cache")
    verified = pexrun("verify", repository.url, "api@2.0.0", "--trusted-key", str(public), env=backend)
    assert verified.returncode == 1 and "api 2.0.0 in" in verified.stderr and "is not signed" in verified.stderr


def test_a_release_signed_by_another_key_is_refused_naming_both_keys(
    tmp_path: Path, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str]
) -> None:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    publish(repository, make_release(tmp_path / "dist", "api", "1.0.0"), signer(keys, "other"))
    error = failed(run(repository, "api@1.0.0", keys["team"][1], cache=tmp_path / "cache", env=backend))
    assert (
        f"api 1.0.0 in {repository.url} is signed by {keys['other'][2]}, which this host does not trust "
        f"(trusted keys: {keys['team'][2]})"
    ) in error
    assert nothing_downloaded(tmp_path / "cache")


@pytest.mark.parametrize("source", [("worker", "0.1.0"), ("api", "1.0.0")], ids=["another app", "an older version"])
def test_another_signed_manifest_stored_under_this_release_is_refused(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str], tmp_path: Path, source: tuple[str, str]
) -> None:
    # The attacker copies a signed manifest and its signature to api 1.1.0's keys.
    data = repository.read_manifest(*source)
    envelope_key, envelope = envelope_of(repository, *source)
    repository.put_key(manifest_key("api", "1.1.0"), data)
    repository.put_key(attestation_key("api", "1.1.0", hashlib.sha256(data).hexdigest(), MANIFEST), envelope.dumps())
    error = failed(run(repository, "api@1.1.0", keys["team"][1], cache=tmp_path / "cache", env=backend))
    assert f"is the manifest of {source[0]} {source[1]}, not of api 1.1.0" in error
    assert nothing_downloaded(tmp_path / "cache")


def test_a_replaced_blob_is_refused(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str], tmp_path: Path
) -> None:
    manifest = ReleaseManifest.loads(repository.read_manifest("api", "1.1.0"), origin="test")
    (blob,) = [b for b in manifest.sources.blobs if b.file.endswith("release.txt")]
    damage_blob(repository, blob_key(blob.sha256), "corrupted")
    error = failed(run(repository, "api@1.1.0", keys["team"][1], cache=tmp_path / "cache", env=backend))
    assert blob.sha256 in error and "release.txt" in error


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_a_damaged_envelope_is_refused(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str], tmp_path: Path, damage: str
) -> None:
    key, envelope = envelope_of(repository, "api", "1.1.0")
    data = envelope.dumps()
    repository.put_key(key, data[: len(data) // 2] if damage == "truncated" else data.replace(b'"payload": "', b'"payload": "!'))
    error = failed(run(repository, "api@1.1.0", keys["team"][1], cache=tmp_path / "cache", env=backend))
    assert f"{key} in {repository.url}, the signature of api 1.1.0, is not a DSSE envelope" in error
    assert nothing_downloaded(tmp_path / "cache")


def test_an_altered_signature_is_a_bad_signature(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str], tmp_path: Path
) -> None:
    key, envelope = envelope_of(repository, "api", "1.1.0")
    (signature,) = envelope.signatures
    forged = type(signature)(signature.keyid, signature.sig[:-1] + bytes([signature.sig[-1] ^ 1]))
    repository.put_key(key, Envelope(envelope.payload_type, envelope.payload, (forged,)).dumps())
    error = failed(run(repository, "api@1.1.0", keys["team"][1], cache=tmp_path / "cache", env=backend))
    assert f"api 1.1.0 in {repository.url} has a bad signature" in error and keys["team"][2] in error


def test_a_manifest_edited_after_signing_is_refused(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str], tmp_path: Path
) -> None:
    original = repository.read_manifest("api", "1.1.0")
    edited = json.loads(original)
    edited["env"] = {"PYTHONSTARTUP": "/tmp/evil.py"}
    edited_data = ReleaseManifest.from_json(edited, origin="test").dumps()
    repository.put_key(manifest_key("api", "1.1.0"), edited_data)
    error = failed(run(repository, "api@1.1.0", keys["team"][1], cache=tmp_path / "cache", env=backend))
    assert f"is not signed: there is no apps/api/attestations/1.1.0/{hashlib.sha256(edited_data).hexdigest()}" in error
    assert "its manifest was changed after it was signed" in error
    # The attacker also copies the genuine envelope to the edited manifest's name: its payload is
    # not the manifest beside it.
    _, envelope = envelope_of_bytes(repository, original)
    repository.put_key(attestation_key("api", "1.1.0", hashlib.sha256(edited_data).hexdigest(), MANIFEST), envelope.dumps())
    error = failed(run(repository, "api@1.1.0", keys["team"][1], cache=tmp_path / "cache", env=backend))
    assert "the payload that apps/api/attestations/1.1.0/" in error and "is not the manifest beside it" in error
    assert nothing_downloaded(tmp_path / "cache")


def envelope_of_bytes(repository: Repository, data: bytes) -> tuple[str, Envelope]:
    key = attestation_key("api", "1.1.0", hashlib.sha256(data).hexdigest(), MANIFEST)
    return key, Envelope.loads(repository.read_key(key), origin=key)


def test_republishing_keeps_the_signature_and_a_new_key_adds_its_own(
    tmp_path: Path, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str]
) -> None:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    release = make_release(tmp_path / "dist", "api", "1.0.0")
    first = publish(repository, release, signer(keys))
    assert (first.signed_by, first.signature_added) == (keys["team"][2], True)
    key, envelope = envelope_of(repository, "api", "1.0.0")
    stored, manifest = repository.read_key(key), repository.read_manifest("api", "1.0.0")
    again = publish(repository, release, signer(keys))
    assert not again.signature_added and repository.read_key(key) == stored
    rotated = publish(repository, release, signer(keys, "rotated"))
    assert rotated.signature_added and repository.read_manifest("api", "1.0.0") == manifest
    _, envelope = envelope_of(repository, "api", "1.0.0")
    assert set(envelope.keyids) == {keys["team"][2], keys["rotated"][2]}
    for name in ("team", "rotated"):
        assert released(run(repository, "api@1.0.0", keys[name][1], cache=tmp_path / name, env=backend)) == "api 1.0.0"


def test_the_provenance_is_signed_and_names_the_release(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str]
) -> None:
    shown = pexrun("info", repository.url, "api@1.1.0", "--provenance", "--trusted-key", str(keys["team"][1]), env=backend)
    assert shown.returncode == 0, shown.stderr
    statement = json.loads(shown.stdout)
    data = repository.read_manifest("api", "1.1.0")
    manifest = ReleaseManifest.loads(data, origin="test")
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [
        {"name": "api@1.1.0.release.json", "digest": {"sha256": hashlib.sha256(data).hexdigest()}},
        {"name": manifest.deps.file, "digest": {"sha256": manifest.deps.sha256}},
        {"name": manifest.sources.file, "digest": {"sha256": manifest.sources.sha256}},
    ]
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["resolve"] == "python-default"
    assert definition["resolvedDependencies"] == [
        {"uri": "git+https://example.com/monorepo.git", "digest": {"gitCommit": manifest.revision}},
        {"name": "3rdparty/python/default.lock", "digest": {"sha256": "ab" * 32}},
    ]
    assert statement["predicate"]["runDetails"]["builder"]["version"] == {"pex-release": pex_release_core.__version__}
    assert shown.stderr == f"signed by {keys['team'][2]} ({keys['team'][1]})\n"
    # Another release's signed provenance, moved here, is refused.
    other_key, other = envelope_of(repository, "api", "1.0.0", PROVENANCE)
    here, _ = envelope_of(repository, "api", "1.1.0", PROVENANCE)
    repository.put_key(here, other.dumps())
    moved = pexrun("info", repository.url, "api@1.1.0", "--provenance", "--trusted-key", str(keys["team"][1]), env=backend)
    assert "names other subjects than the release's manifest and PEXes" in failed(moved)


def test_keys_that_cannot_be_used_are_refused_without_showing_their_bytes(tmp_path: Path, keys: dict[str, tuple[Path, Path, str]]) -> None:
    encrypted, rsa = tmp_path / "encrypted.key", tmp_path / "rsa.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(keys["team"][0]), "-aes256", "-passout", "pass:secret", "-out", str(encrypted)], check=True
    )
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(rsa)], check=True)
    cases = {
        encrypted: "is encrypted",
        rsa: "is not an ECDSA P-256 key",
        keys["team"][1]: "is not a private key in PEM",  # a public key given as the private one
        tmp_path / "missing.key": "Cannot read the signing key",
    }
    for path, reason in cases.items():
        with pytest.raises(SignatureError) as e:
            SigningKey.load(path)
        assert f"{path} {reason}" in str(e.value) or reason in str(e.value)
        assert "openssl genpkey -algorithm EC" in str(e.value) or "Cannot read" in str(e.value)
        if path.exists():
            body = "".join(path.read_text().splitlines()[1:-1])
            assert body[:40] not in str(e.value)
    trusted_private = pexrun("verify", "file:///nowhere", "api@1.0.0", "--trusted-key", str(keys["team"][0]))
    assert f"{keys['team'][0]} is not an ECDSA P-256 public key in PEM" in failed(trusted_private)
    assert base64.b64encode(keys["team"][0].read_bytes())[:20].decode() not in trusted_private.stderr


def test_verify_needs_trusted_keys(repository: Repository) -> None:
    result = pexrun("verify", repository.url, "api@1.1.0")
    assert "verify needs the keys to trust: --trusted-key FILE (or $PEXRUN_TRUSTED_KEYS)" in failed(result, code=2)


def test_promote_with_trusted_keys_refuses_an_unsigned_release(repository: Repository, keys: dict[str, tuple[Path, Path, str]]) -> None:
    trusted = ("--trusted-key", str(keys["team"][1]))
    refused = pexrun("promote", repository.url, "api@2.0.0", "--channel", "stable", *trusted)
    assert "api 2.0.0 in" in failed(refused) and "is not signed" in refused.stderr
    promoted = pexrun("promote", repository.url, "api@1.1.0", "--channel", "stable", *trusted)
    assert promoted.returncode == 0, promoted.stderr


def test_prune_deletes_the_signatures_of_the_versions_it_deletes(repository: Repository) -> None:
    kept_key, _ = envelope_of(repository, "api", "1.1.0")
    deleted_key, _ = envelope_of(repository, "api", "1.0.0")
    prune(repository, keep=2, version_key=version_key, grace_seconds=3600)
    assert repository.list_versions("api") == ["1.1.0", "2.0.0"]
    assert [k for k in repository.list_keys("apps/api/attestations/") if k.startswith("1.0.0/")] == []
    assert repository.read_key(kept_key)
    assert deleted_key.startswith("apps/api/attestations/1.0.0/")


def test_a_warm_start_trusts_only_what_it_checked_for_these_bytes_and_these_keys(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert released(run(repository, "api@1.1.0", keys["team"][1], cache=cache, env={})) == "api 1.1.0"
    # What this host checked is not a reason to trust a key it no longer trusts...
    error = failed(run(repository, "api@1.1.0", keys["other"][1], cache=cache, env={}))
    assert f"is signed by {keys['team'][2]}, which this host does not trust" in error
    # ...nor other bytes under the same name.
    edited = json.loads(repository.read_manifest("api", "1.1.0"))
    edited["args"] = ["--debug"]
    repository.put_key(manifest_key("api", "1.1.0"), ReleaseManifest.from_json(edited, origin="test").dumps())
    assert "is not signed" in failed(run(repository, "api@1.1.0", keys["team"][1], cache=cache, env={}))


def test_gc_removes_the_signature_records_of_the_releases_it_removes(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], tmp_path: Path
) -> None:
    cache, (_, public, keyid) = tmp_path / "cache", keys["team"]
    for release in ("api@1.0.0", "api@1.1.0"):
        assert released(run(repository, release, public, cache=cache, env={})) == release.replace("@", " ")
    older, newer = (hashlib.sha256(repository.read_manifest("api", v)).hexdigest() for v in ("1.0.0", "1.1.0"))
    assert {p.relative_to(cache / "signatures").as_posix() for p in (cache / "signatures").glob("*/*")} == {
        f"{older}/{keyid}",
        f"{newer}/{keyid}",
    }
    os.utime(cache / "manifests" / "api" / "1.0.0.json", (1, 1))  # the less recently run
    assert pexrun("gc", "--keep", "1", "--cache-dir", str(cache)).returncode == 0
    assert [p.name for p in (cache / "signatures").iterdir()] == [newer]
    # The removed release is checked again when it next starts, which records it anew.
    assert released(run(repository, "api@1.0.0", public, cache=cache, env={})) == "api 1.0.0"
    assert (cache / "signatures" / older / keyid).is_file()


def test_sbom_prints_the_release_s_sbom_checked_by_hash_and_signature(
    repository: Repository, keys: dict[str, tuple[Path, Path, str]], backend: dict[str, str], tmp_path: Path
) -> None:
    trusted = ("--trusted-key", str(keys["team"][1]))
    shown = pexrun("sbom", repository.url, "api@1.1.0", "--cache-dir", str(tmp_path / "cache"), *trusted, env=backend)
    assert (shown.returncode, shown.stdout) == (0, sbom_of("api", "1.1.0")), shown.stderr
    info = pexrun("info", repository.url, "api@1.1.0")
    manifest = ReleaseManifest.loads(repository.read_manifest("api", "1.1.0"), origin="test")
    assert manifest.sbom is not None
    assert f"sbom:                    api.cdx.json  {manifest.sbom.size:,} bytes  sha256:{manifest.sbom.sha256}" in info.stdout
    # A replaced SBOM fails its manifest's sha256; a release without one says so.
    damage_blob(repository, blob_key(manifest.sbom.sha256), "corrupted")
    damaged = pexrun("sbom", repository.url, "api@1.1.0", "--cache-dir", str(tmp_path / "other"), *trusted, env=backend)
    assert f"api.cdx.json (sha256:{manifest.sbom.sha256}, {manifest.sbom.size:,} bytes) downloaded from" in failed(damaged)
    assert "is corrupt" in damaged.stderr
    none = pexrun("sbom", repository.url, "api@2.0.0", "--cache-dir", str(tmp_path / "cache"))
    assert "api 2.0.0 in" in failed(none) and "has no SBOM" in none.stderr


def test_the_envelopes_verify_with_securesystemslib_s_dsse(repository: Repository, keys: dict[str, tuple[Path, Path, str]]) -> None:
    """An independent implementation of DSSE (in-toto's) reads and verifies what publish writes."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope as SslibEnvelope
    from securesystemslib.signer import SSlibKey

    _, public, keyid = keys["team"]
    key = SSlibKey.from_crypto(load_pem_public_key(public.read_bytes()), keyid=keyid)
    for kind in (MANIFEST, PROVENANCE):
        location, _ = envelope_of(repository, "api", "1.1.0", kind)
        envelope = SslibEnvelope.from_dict(json.loads(repository.read_key(location)))
        assert set(envelope.verify([key], 1)) == {keyid}
    assert envelope_of(repository, "api", "1.1.0")[1].payload == repository.read_manifest("api", "1.1.0")
