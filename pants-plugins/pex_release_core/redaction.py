# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Secrets kept out of messages: URLs as messages show them (credentials and query strings
redacted, control characters escaped), and every secret this process holds, wherever a text
quotes it, such as a server's error body echoing a token it was sent.

Every message of pexrun, the publisher and the registry client that shows a URL, or text a
library or a server gave back, goes through here.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from pex_release_core.manifest import printable

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")
# Secrets this process sends (passwords, tokens, S3 keys): `redact_text` removes them from every
# text, so that neither a server's echo nor a library's message, nor a URL too mangled for its pattern
# (a quote in a password), shows one.
_SECRETS: set[str] = set()
# Shorter ones would blank ordinary words out of every message; URLs' short secrets are still
# redacted by their place in the URL.
_MIN_SECRET_LENGTH = 4


def remember_secrets(*secrets: str | None) -> None:
    """Secrets to keep out of every text `redact_text` shows, from now on: as they are, and as a
    Python repr or a JSON string (a library's or a server's message) escapes them."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            _SECRETS.update({secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]})


def _split_userinfo(url: str) -> tuple[str, str | None, str]:
    """url as its scheme with `://` (none for an S3 endpoint written without one), its userinfo (None
    without an `@`) and the rest. The userinfo runs to the last `@`, even one past a `/`, `?` or `#`:
    a password with one of those unescaped is still a password."""
    start = url.find("://") + 3 if "://" in url else 0
    at = url.rfind("@", start)
    return (url[:start], None, url[start:]) if at < 0 else (url[:start], url[start:at], url[at + 1 :])


def url_secrets(url: str) -> tuple[str, ...]:
    """The secrets a URL carries, as a client sends them and as one may quote them back: its userinfo
    (up to the last `@`, whatever its password holds) and password, its query's values and its
    fragment, each as written and percent-decoded."""
    _, userinfo, rest = _split_userinfo(url)
    secrets: list[str] = []
    if userinfo is not None:
        password = userinfo.partition(":")[2]
        # And the pieces a client that cuts the netloc at a delimiter takes for a host or a port.
        secrets += [userinfo, password, *re.split(r"[/?#@]", password)]
    # As urlsplit cuts them: the fragment at the first `#`, the query at the first `?` before it.
    before_fragment, _, fragment = rest.partition("#")
    query = before_fragment.partition("?")[2]
    raw_values = [part.partition("=")[2] for part in query.split("&")]
    secrets += [query, fragment, *raw_values]
    return tuple(dict.fromkeys(form for s in secrets for form in (s, urllib.parse.unquote_plus(s)) if s))


def redact_url(url: str) -> str:
    """The URL as messages show it: `user:password@` becomes `***@`, a query (or fragment) `?***`,
    and non-printable characters are escaped.

    By hand rather than with urlsplit, so that URLs too broken to parse (`http://[::1/x?token=...`)
    are redacted too; the userinfo as `_split_userinfo` finds it (which shows less of a URL whose query
    holds an `@`, never a secret).
    """
    scheme, userinfo, rest = _split_userinfo(url)
    head, mark, _ = re.match(r"([^?#]*)([?#]?)(.*)", rest, re.DOTALL).groups()
    return printable(scheme + ("***@" if userinfo is not None else "") + head + (f"{mark}***" if mark else ""))


def redact_text(text: str) -> str:
    """text (e.g. a library's or a server's error message) without the secrets this process holds,
    and with every URL in it redacted."""
    for secret in sorted(_SECRETS, key=len, reverse=True):  # a secret may contain another
        text = text.replace(secret, "***")
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)
