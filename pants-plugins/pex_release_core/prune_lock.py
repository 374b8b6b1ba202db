# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The prune lock: how publishes and promotions learn that a prune deleted, or is deleting.

    prune/lock.json   {"expires": S, "token": T}: created by a prune before it reads what to keep,
                      renewed while it deletes, deleted when it is done
    prune/last.json   {"token": T}: the last prune that started, kept

Prune deletes the blobs that no manifest it listed names. A publish that found a blob present (so
did not upload it) and wrote its manifest after that listing would end naming a deleted blob, and
a promotion written after prune read the channels could point at a deleted version. So each side
writes, then reads the other's writes: a publish reads the prune state, checks its blobs, creates
its manifest (a promotion its entry), then reads the state again; a prune takes the lock and writes
its token, then lists manifests and channels. On a store whose reads follow its writes (S3 since
2020, SeaweedFS, a POSIX file system) the publish learns of every prune that may have missed its
manifest: one under way at either read, or one that started between them. It waits for that prune
to end, then uploads what it lost (a promotion checks its version again).

The lock carries a lease, by the store's clock (on S3, the hosts': each side then allows for a
minute of skew): a prune renews it as it goes and never deletes past it, so a lock whose lease ran
out was left by a killed prune, which publishes stop waiting for and the next prune takes over.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from pex_release_core.repository.base import NotFoundError, Repository, RepositoryError

PRUNE_LOCK = "prune/lock.json"
LAST_PRUNE = "prune/last.json"
DEFAULT_LEASE_SECONDS = 60.0
_POLL_SECONDS = 0.25


@dataclass
class PruneLease:
    """A prune's hold on the lock (mutable: renewing moves its expiry)."""

    repository: Repository
    token: str
    seconds: float
    expires: float

    def renew(self) -> None:
        """Called before each batch of deletions: extends the lease once half of it is spent, and
        stops the prune if less than a quarter is left (a publish may soon stop waiting for it)."""
        now = self.repository.now()
        remaining = self.expires - now
        if remaining < self.seconds / 4:
            raise RepositoryError(
                f"The prune of {self.repository.url} stopped: its {self.seconds:g} s lease ran low before it could "
                "renew it (a slow store, or a paused process), so publishes may stop waiting for it. Everything "
                "kept is intact; prune again to finish."
            )
        if remaining < self.seconds / 2:
            self.expires = now + self.seconds
            self.repository.put_key(PRUNE_LOCK, _lock(self.expires, self.token))

    def release(self) -> None:
        if _read_lock(self.repository) == (self.expires, self.token):
            self.repository.delete_key(PRUNE_LOCK)


def _lock(expires: float, token: str) -> bytes:
    return (json.dumps({"expires": expires, "token": token}) + "\n").encode()


def _read_lock(repository: Repository) -> tuple[float, str] | None:
    try:
        fields = json.loads(repository.read_key(PRUNE_LOCK))
        return float(fields["expires"]), str(fields["token"])
    except NotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        # Not a lock prune wrote: treated as a lapsed one, which the next prune replaces.
        return 0.0, ""


def acquire(repository: Repository, *, seconds: float = DEFAULT_LEASE_SECONDS) -> PruneLease:
    token = secrets.token_hex(8)
    expires = repository.now() + seconds
    if not repository.create_key(PRUNE_LOCK, _lock(expires, token)):
        held = _read_lock(repository)
        now = repository.now() - repository.clock_skew_seconds
        if held is not None and held[0] > now:
            raise RepositoryError(
                f"Another prune of {repository.url} is under way ({PRUNE_LOCK}, its lease ends in "
                f"{held[0] - now:,.0f} s): wait for it. A killed prune's lease runs out within {seconds + repository.clock_skew_seconds:g} s, "
                "and the next prune then takes over."
            )
        repository.delete_key(PRUNE_LOCK)  # a lapsed lock: its prune was killed
        if not repository.create_key(PRUNE_LOCK, _lock(expires, token)):
            raise RepositoryError(f"Another prune of {repository.url} started at the same moment: wait for it.")
    repository.put_key(LAST_PRUNE, (json.dumps({"token": token}) + "\n").encode())
    return PruneLease(repository, token, seconds, expires)


@dataclass(frozen=True)
class PruneState:
    under_way: bool
    last: bytes | None  # prune/last.json as read


def prune_state(repository: Repository) -> PruneState:
    held = _read_lock(repository)
    try:
        last = repository.read_key(LAST_PRUNE)
    except NotFoundError:
        last = None
    return PruneState(held is not None and held[0] > repository.now() - repository.clock_skew_seconds, last)


def pruned_since(repository: Repository, before: PruneState) -> bool:
    """Whether a prune ran since `before` was read (or was running then), once none is running:
    what it may have deleted must then be checked again."""
    after = prune_state(repository)
    if not (before.under_way or after.under_way or after.last != before.last):
        return False
    while after.under_way:
        time.sleep(_POLL_SECONDS)
        after = prune_state(repository)
    return True
