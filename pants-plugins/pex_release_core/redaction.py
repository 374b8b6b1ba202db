# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""URLs as messages show them: credentials and query strings redacted, control characters escaped.

Every message of pexrun, the publisher and the registry client that names a URL goes through here.
"""

from __future__ import annotations

import re

from pex_release_core.manifest import printable

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")


def redact_url(url: str) -> str:
    """The URL as messages show it: `user:password@` becomes `***@`, a query (or fragment) `?***`,
    and non-printable characters are escaped.

    By hand rather than with urlsplit, so that URLs too broken to parse (`http://[::1/x?token=...`)
    are redacted too.
    """
    head, mark, _ = re.match(r"([^?#]*)([?#]?)(.*)", url, re.DOTALL).groups()
    start = head.find("://") + 3 if "://" in head else 0
    at = head.rfind("@", start)
    # Up to the last `@`, even one past the first `/`: a password with an unescaped `/` in it is
    # still a password.
    if at >= 0:
        head = f"{head[:start]}***{head[at:]}"
    return printable(head + (f"{mark}***" if mark else ""))


def redact_urls_in(text: str) -> str:
    """text (e.g. a library's error message) with every URL in it redacted."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)
