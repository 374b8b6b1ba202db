# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

from pathlib import Path

import pytest

from pex_release.util_rules.revision import in_git_checkout, without_credentials

SECRET = "s3cr3t-91fd"


@pytest.mark.parametrize(
    "origin, shown",
    [
        ("https://github.com/acme/repo.git", "https://github.com/acme/repo.git"),
        (f"https://user:{SECRET}@github.com/acme/repo.git", "https://github.com/acme/repo.git"),
        (f"https://{SECRET}@github.com/acme/repo.git", "https://github.com/acme/repo.git"),
        (f"https://user:{SECRET}@pa@github.com/acme/repo.git", "https://github.com/acme/repo.git"),
        (f"https://user:{SECRET}%40x%2Fy@github.com/acme/repo.git", "https://github.com/acme/repo.git"),
        (f"HTTPS://user:{SECRET}@GitHub.com:8443/acme/repo.git", "https://GitHub.com:8443/acme/repo.git"),
        (f"https://gitlab.com/acme/repo.git?private_token={SECRET}", "https://gitlab.com/acme/repo.git"),
        (f"https://gitlab.com/acme/repo.git#{SECRET}", "https://gitlab.com/acme/repo.git"),
        (f"https://oauth2:{SECRET}@[2001:db8::1]:8080/acme/repo.git?x={SECRET}", "https://[2001:db8::1]:8080/acme/repo.git"),
        (f"ssh://git:{SECRET}@git.acme.dev:2222/acme/repo.git", "ssh://git.acme.dev:2222/acme/repo.git"),
        (f"git+ssh://git:{SECRET}@host/acme/repo.git", "git+ssh://host/acme/repo.git"),
        ("git://host/acme/repo.git", "git://host/acme/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
        # scp-like: [user@]host:path
        ("git@github.com:acme/repo.git", "github.com:acme/repo.git"),
        (f"git:{SECRET}@github.com:acme/repo.git", "github.com:acme/repo.git"),
        (f"user:{SECRET}/x@github.com:acme/repo.git", "github.com:acme/repo.git"),
        ("git@[2001:db8::1]:acme/repo.git", "[2001:db8::1]:acme/repo.git"),
        ("github.com:acme/repo.git", "github.com:acme/repo.git"),
        ("git@github.com:acme/@repo.git", "github.com:acme/@repo.git"),
        # a local path holds no credentials
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("../repo.git", "../repo.git"),
        # an `@` past the host: a password with `/`, `?` or `#` that is not percent-encoded (which git
        # cannot use either), or an `@` in the path; no way to tell which part is secret, so none is shown
        (f"https://user:{SECRET}/x@github.com/acme/repo.git", ""),
        (f"https://user:{SECRET}?x@github.com/acme/repo.git", ""),
        (f"https://user:{SECRET}#x@github.com/acme/repo.git", ""),
        (f"ssh://git:{SECRET}/x@host/acme/repo.git", ""),
        ("https://host/acme/repo@v1.git", ""),
        (f"https://[::1/x?token={SECRET}", ""),  # not a URL
        ("", ""),
    ],
)
def test_without_credentials(origin: str, shown: str) -> None:
    assert without_credentials(origin) == shown
    assert SECRET not in without_credentials(origin)


def test_a_checkout_is_found_at_the_root_or_above_or_through_git_dir(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    assert not in_git_checkout(str(repo / "sub"), {})
    (repo / ".git").mkdir()
    assert in_git_checkout(str(repo / "sub"), {}) and in_git_checkout(str(repo), {})
    (tmp_path / "worktree").mkdir()
    (tmp_path / "worktree" / ".git").write_text("gitdir: ../repo/.git/worktrees/w\n")  # a linked worktree
    assert in_git_checkout(str(tmp_path / "worktree"), {})
    assert in_git_checkout(str(tmp_path / "elsewhere"), {"GIT_DIR": str(repo / ".git")})
