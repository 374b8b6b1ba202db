# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The source revision a release is built from, and the version derived from it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pants.core.util_rules.system_binaries import GitBinaryException
from pants.engine.engine_aware import EngineAwareReturnType
from pants.engine.rules import Get, collect_rules, rule
from pants.vcs.git import GitWorktreeRequest, MaybeGitWorktree
from pants.vcs.git import rules as git_rules

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


@rule(desc="Reading the source revision")
async def source_revision() -> SourceRevision:
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


def without_credentials(url: str) -> str:
    """A remote URL as images may show it: `https://user:token@host/x` loses `user:token@`."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url, flags=re.IGNORECASE)


def rules():
    return [*collect_rules(), *git_rules()]
