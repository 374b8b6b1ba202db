# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import base64

import pytest

from pex_release_core.redaction import redact_text, redact_url, remember_secrets, url_secrets


@pytest.mark.parametrize("password", ["pa?ss-41c9", "pa#ss-41c9", "pa/ss-41c9", "pa'ss-41c9", 'pa"ss-41c9', "p@ss-41c9"])
def test_a_password_holding_url_delimiters_or_quotes_is_redacted(password: str) -> None:
    url = f"https://ci:{password}@releases.example.com/prod?token=t0k3n-41c9"
    shown = redact_url(url)
    assert shown == "https://***@releases.example.com/prod?***"
    assert not any(part in shown for part in (password, "ss-41c9", "t0k3n"))


def test_a_url_quoted_in_text_loses_its_secrets_whatever_its_quotes() -> None:
    url = "http://ci:it's-4-secret\"x@127.0.0.1:9/r?token=t0k3n-5e7a"
    remember_secrets(*url_secrets(url))
    # As a library may quote it: within quotes, which end the URL pattern midway through the password.
    for message in (f"cannot reach '{url}'", f'cannot reach "{url}"', f"cannot reach {url!r}"):
        shown = redact_text(message)
        assert "secret" not in shown and "t0k3n" not in shown, shown


def test_an_s3_endpoint_without_a_scheme() -> None:
    endpoint = "AKIAEXAMPLE:wJalr-secret-9f1@minio.internal:9000"
    assert redact_url(endpoint) == "***@minio.internal:9000"
    remember_secrets(*url_secrets(endpoint))
    shown = redact_text(f"Could not connect to the endpoint URL: {endpoint}/bucket")
    assert "wJalr" not in shown and "AKIAEXAMPLE" not in shown, shown


def test_a_secret_a_server_echoes_is_redacted_in_any_form() -> None:
    token = "FwoGZXIvYXdzEJr-session-token-3c1d"  # e.g. X-Amz-Security-Token, or a registry's bearer token
    remember_secrets(token)
    echoed = f"<Error><Code>InvalidToken</Code><Message>The provided token {token} is malformed</Message></Error>"
    assert token not in redact_text(echoed)
    assert redact_text(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"


def test_query_secrets_count_encoded_and_decoded() -> None:
    url = "https://host/r?%74oken=abc%2Bdef%20ghi-77"
    secrets = url_secrets(url)
    assert {"abc%2Bdef%20ghi-77", "abc+def ghi-77"} <= set(secrets)
    remember_secrets(*secrets)
    assert "def ghi" not in redact_text("the server said: token abc+def ghi-77 is not valid")


def test_basic_credentials_of_a_url_are_redacted_as_sent() -> None:
    remember_secrets(base64.b64encode(b"ci:b4s1c-secret").decode())
    header = f"Basic {base64.b64encode(b'ci:b4s1c-secret').decode()}"
    assert redact_text(f"401 for {header}") == "401 for Basic ***"


def test_short_secrets_are_redacted_by_their_place_only() -> None:
    remember_secrets("pw")  # too short to blank out of every message
    assert redact_text("pw is a word") == "pw is a word"
    assert redact_url("http://u:pw@host/") == "http://***@host/"
