# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The registry client's reference checks, as the Pants rules use them: in the plugin's resolve
(CPython 3.9), where the client's own requirements (oras, requests) are not installed, so this
module fails to import if the client imports them at the top."""

from __future__ import annotations

import pytest

from pex_release_core.oci.reference import InvalidReference, Reference, Repository, check_tag

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "text, host, name, tag, digest",
    [
        (f"registry.example.com/acme/api@{DIGEST}", "registry.example.com", "acme/api", None, DIGEST),
        (f"localhost:5000/api:1.4.0@{DIGEST}", "localhost:5000", "api", "1.4.0", DIGEST),
        (f"[::1]:5000/a.b/c-d__e:v_1@{DIGEST}", "[::1]:5000", "a.b/c-d__e", "v_1", DIGEST),
        (f"docker.io/library/python:3.12-slim@{DIGEST}", "docker.io", "library/python", "3.12-slim", DIGEST),
    ],
)
def test_references_parse_into_their_parts_and_back(text: str, host: str, name: str, tag: str, digest: str) -> None:
    reference = Reference.parse(text)
    assert (reference.repository.host, reference.repository.name, reference.tag, reference.digest) == (
        host,
        name,
        tag,
        digest,
    )
    assert str(reference) == text


def test_only_loopback_hosts_count_as_loopback() -> None:
    loopback = [Repository.parse(f"{h}/api").is_loopback for h in ("localhost:5000", "127.0.0.1", "[::1]:5000")]
    assert loopback == [True, True, True]
    assert not Repository.parse("registry.example.com/api").is_loopback
    assert not Repository.parse("10.0.0.7:5000/api").is_loopback


def test_a_digest_is_required_unless_the_caller_says_otherwise() -> None:
    with pytest.raises(InvalidReference, match=r"has no digest: pin it as localhost:5000/api:1\.0@sha256:<hex>"):
        Reference.parse("localhost:5000/api:1.0")
    assert Reference.parse("localhost:5000/api:1.0", require_digest=False).digest is None


@pytest.mark.parametrize(
    "text, message",
    [
        (f"acme/api@{DIGEST}", "is not HOST[:PORT]/NAME: it must start with the registry's host"),
        (f"registry.example.com/Acme/api@{DIGEST}", "then lowercase path components"),
        ("localhost:5000/api@sha256:abc", "the digest must be sha256: and 64 lowercase hex digits"),
        (f"localhost:5000/api:-v1@{DIGEST}", "'-v1' is not a valid image tag"),
    ],
)
def test_invalid_references_are_value_errors_that_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Reference.parse(text)


def test_an_invalid_tag_is_a_reference_error() -> None:
    # The rule itself is oci.check_tag's (oci_test.py).
    with pytest.raises(InvalidReference, match="'a/b' is not a valid image tag"):
        check_tag("a/b")
