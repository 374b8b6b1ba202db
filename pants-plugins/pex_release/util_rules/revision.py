# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The source revision a release is built from, and the version derived from it."""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Mapping

from pants.base.build_root import BuildRoot
from pants.core.util_rules.system_binaries import GitBinaryException
from pants.engine.engine_aware import EngineAwareReturnType
from pants.engine.rules import Get, collect_rules, rule
from pants.vcs.git import GitWorktreeRequest, MaybeGitWorktree
from pants.vcs.git import rules as git_rules

logger = logging.getLogger(__name__)

UNKNOWN_REVISION = "unknown"


@dataclass(frozen=True)
class SourceRevision(EngineAwareReturnType):
    """The git commit of the workspace; read from git on every run, never cached."""

    commit: str | None = None
    commit_time: int | None = None  # Seconds since the epoch, of the commit.
    dirty: bool = False
    source_url: str | None = None  # Of the `origin` remote, without credentials.

    def cacheable(self) -> bool:
        return False

    @property
    def revision(self) -> str:
        if self.commit is None:
            return UNKNOWN_REVISION
        return f"{self.commit}-dirty" if self.dirty else self.commit

    def derived_version(self) -> str | None:
        """`0.dev<commit time>+g<commit>[.dirty]`: PEP 440, and higher for later commits."""
        if self.commit is None or self.commit_time is None:
            return None
        local = f"g{self.commit[:12]}" + (".dirty" if self.dirty else "")
        return f"0.dev{self.commit_time}+{local}"


def in_git_checkout(buildroot: str, environ: Mapping[str, str]) -> bool:
    """Whether git would find a repository for the build root: `$GIT_DIR`, or a `.git` there or above."""
    if environ.get("GIT_DIR"):
        return True
    directory = os.path.abspath(buildroot)
    while True:
        if os.path.lexists(os.path.join(directory, ".git")):
            return True
        parent = os.path.dirname(directory)
        if parent == directory:
            return False
        directory = parent


@rule(desc="Reading the source revision")
async def source_revision(buildroot: BuildRoot) -> SourceRevision:
    # Asked of git only in a checkout: outside one, Pants' git rule logs its exception's repr at INFO
    # on every call. (A look at the file system, as that rule's own `git rev-parse` is.)
    if not in_git_checkout(buildroot.path, os.environ):
        logger.debug(f"No git checkout at {buildroot.path}: releases record no revision")
        return SourceRevision()
    maybe_worktree = await Get(MaybeGitWorktree, GitWorktreeRequest())
    worktree = maybe_worktree.git_worktree
    if worktree is None:
        return SourceRevision()
    try:
        # GitWorktree offers no public call for these; this is how its own properties call git.
        invoke = worktree._git_binary._invoke_unsandboxed
        commit, commit_time = invoke(worktree._create_git_cmdline(["log", "-1", "--format=%H %ct"])).split()
        status = invoke(worktree._create_git_cmdline(["status", "--porcelain"]))
    except (GitBinaryException, ValueError):
        # A repository with no commit yet.
        return SourceRevision()
    try:
        remote = invoke(worktree._create_git_cmdline(["config", "--get", "remote.origin.url"])).strip()
    except GitBinaryException:
        remote = ""  # No `origin`.
    return SourceRevision(
        commit=commit,
        commit_time=int(commit_time),
        dirty=bool(status.strip()),
        source_url=without_credentials(remote) or None,
    )


_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# git's scp-like syntax, `[user@]host:path`, where the user may hold anything but the host: git
# reads a remote so when it has no `://` and a `:` comes before any `/`.
_SCP_LIKE = re.compile(r"(?:.*@)?(?P<host>[^@/:\[\]]+|\[[^@/\]]+\]):(?P<path>.*)", re.DOTALL)


def without_credentials(url: str) -> str:
    """A git remote as images may show it (their pushed `org.opencontainers.image.source` label):
    without user, password, query or fragment (`https://user:token@host/x?private_token=t` is
    `https://host/x`; scp-like `git@host:x` is `host:x`); a local path as it is.

    An `@` after the host, where a URL keeps none (a password holding a `/`, `?` or `#` that is not
    percent-encoded, which git cannot use either, or an `@` in the path), leaves no way to tell the
    secret from the path: then "", no URL at all.
    """
    if _URL.match(url):
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:  # e.g. an unclosed `[`: nothing to show safely
            return ""
        if "@" in parts.path + parts.query + parts.fragment:
            return ""
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    if ":" in url.partition("/")[0]:
        scp_like = _SCP_LIKE.fullmatch(url)
        return f"{scp_like['host']}:{scp_like['path']}" if scp_like else ""
    return url


def rules():
    return [*collect_rules(), *git_rules()]
