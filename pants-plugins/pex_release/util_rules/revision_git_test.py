# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

from pathlib import Path

from pex_release.util_rules.revision import in_git_checkout


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
