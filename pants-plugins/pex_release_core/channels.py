# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Channels: named pointers, per app, to published versions, with their whole history.

    apps/<app>/channels/<channel>/<serial>.json   one entry per promotion or rollback, created
                                                  once and never rewritten; serials 1, 2, 3...
                                                  written as 10 digits
    apps/<app>/channels/<channel>/head.json       the highest serial written, as a hint

A channel is at its highest entry. Writing one is a compare-and-swap by creation: the writer reads
the head (serial N) and creates entry N+1 with the store's create-only write (a hard link on
file://, `If-None-Match: *` on S3). Of two racing writers one creates it; the other finds the key
taken, reads the new head and tries again (a promotion) or stops (a rollback, whose target depends
on what was live), so no update is lost and serials have no gaps. A writer killed before its
create leaves the channel as it was, and after it at the new entry: there is no third state.

head.json is written after each entry, so it may lag but never lead: readers probe forward from it,
which plain HTTP (which cannot list) allows too, and a reader never needs more than a few reads.

Each entry names the manifest's sha256 as well as its version, so that what a host runs is what
was promoted, byte for byte. pexrun remembers the highest serial it acted on per repository, app
and channel, and refuses a lower one: an old entry put back, or newer ones deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Callable

from pex_release_core.manifest import ReleaseManifest, printable
from pex_release_core.prune_lock import PruneState, prune_state, pruned_since
from pex_release_core.repository.base import (
    NotFoundError,
    Repository,
    RepositoryError,
    channel_entry_key,
    channel_head_key,
    channels_directory_key,
)
from pex_release_core.transfer import concurrently

SCHEMA = "pex-release-channel-entry/1"
PROMOTE, ROLLBACK = "promote", "rollback"
# Racing promoters retry on the new head; each failed attempt means another promotion succeeded.
_PROMOTE_ATTEMPTS = 64

_CHANNEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
# PEP 440's version pattern (its appendix, as `packaging` spells it): a channel is never a version,
# so that `app@1.2` and `--channel stable` can never be confused. The core is standard library only.
_PEP_440 = re.compile(
    r"""v?(?:(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?"""
    r"""(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?[0-9]*)?)(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?""",
    re.IGNORECASE,
)


class ChannelError(RepositoryError):
    """A channel that cannot be read or moved as asked; the message says why and what to do."""


def check_channel_name(name: str) -> str:
    if _PEP_440.fullmatch(name):
        raise ChannelError(
            f"{name!r} is not a valid channel name: it reads as a version, and a channel must never be taken for "
            "one. Use a name such as `stable` or `canary`."
        )
    if not _CHANNEL_NAME.fullmatch(name):
        raise ChannelError(
            f"{printable(name)!r} is not a valid channel name: use a letter, then letters, digits, `.`, `_` or `-` "
            "(at most 64 characters), as in `stable` or `canary-eu`."
        )
    return name


@dataclass(frozen=True)
class ChannelEntry:
    app: str
    channel: str
    serial: int  # 1 for the first entry; each entry's is the one before it plus 1.
    action: str  # PROMOTE or ROLLBACK
    version: str  # What the channel points to from this entry on.
    manifest_sha256: str  # Of that version's manifest, as published.
    # The serial of the promotion this entry makes live: its own for a promotion, the restored
    # one's for a rollback. A rollback goes to the entry before it, so rollbacks walk back in turn.
    position: int
    reason: str  # Free text: who or what did it, and why.
    time: str  # UTC, ISO 8601, to the second.

    def dumps(self) -> bytes:
        return (json.dumps({"schema": SCHEMA, **asdict(self)}, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def loads(cls, data: bytes, *, app: str, channel: str, serial: int, origin: str) -> ChannelEntry:
        """The entry that data holds, which must be entry `serial` of app's channel."""
        try:
            fields = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ChannelError(f"{origin} is not a channel entry: it is not JSON ({e}). {_EDITED}") from None
        types = cls.__annotations__  # "int" or "str": postponed annotations are strings
        if (
            not isinstance(fields, dict)
            or fields.get("schema") != SCHEMA
            or set(fields) != {"schema", *types}
            or not all(isinstance(fields[name], int if t == "int" else str) for name, t in types.items())
            or fields["action"] not in (PROMOTE, ROLLBACK)
            or not 0 < fields["position"] <= fields["serial"]
        ):
            raise ChannelError(f"{origin} is not a channel entry of schema {SCHEMA}. {_EDITED}")
        del fields["schema"]
        entry = cls(**fields)
        if (entry.app, entry.channel, entry.serial) != (app, channel, serial):
            raise ChannelError(
                f"{origin} is entry {entry.serial} of {printable(entry.app)}'s channel {printable(entry.channel)}, "
                f"not entry {serial} of {app}'s channel {channel}. {_EDITED}"
            )
        return entry


_EDITED = (
    "The channel was edited by hand, or damaged: restore the file from a backup, or write a new entry with "
    "`pexrun promote`."
)


def _read_entry(repository: Repository, app: str, channel: str, serial: int) -> ChannelEntry:
    key = channel_entry_key(app, channel, serial)
    data = repository.read_key(key)
    return ChannelEntry.loads(data, app=app, channel=channel, serial=serial, origin=f"{key} in {repository.url}")


def _hinted_serial(repository: Repository, app: str, channel: str) -> int:
    key = channel_head_key(app, channel)
    try:
        data = repository.read_key(key)
    except NotFoundError:
        return 0
    try:
        serial = json.loads(data)["serial"]
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        serial = None
    if not isinstance(serial, int) or serial < 0:
        raise ChannelError(
            f"{key} in {repository.url} is not a channel head ({{\"serial\": N}}). It is only a hint: delete it, and "
            "the next reader finds the head from the entries."
        )
    return serial


def channel_head(repository: Repository, app: str, channel: str) -> ChannelEntry | None:
    """The channel's current entry, or None if it has none yet."""
    check_channel_name(channel)
    serial = _hinted_serial(repository, app, channel)
    head = None
    if serial:
        try:
            head = _read_entry(repository, app, channel, serial)
        except NotFoundError:
            raise ChannelError(
                f"{channel_head_key(app, channel)} in {repository.url} names entry {serial}, which is not there: "
                f"entries were deleted. {_EDITED}"
            ) from None
    while True:  # the hint lags behind writers killed, or racing, between an entry and its hint
        try:
            head = _read_entry(repository, app, channel, serial + 1)
        except NotFoundError:
            return head
        serial += 1


def channel_history(repository: Repository, app: str, channel: str, *, last: int | None = None) -> list[ChannelEntry]:
    """The channel's entries, oldest first: every one, or the `last` few."""
    head = channel_head(repository, app, channel)
    if head is None:
        return []
    first = 1 if last is None else max(1, head.serial - last + 1)
    try:
        earlier = concurrently(lambda serial: _read_entry(repository, app, channel, serial), range(first, head.serial))
    except NotFoundError as e:
        raise ChannelError(f"{e} {_EDITED}") from None
    return [*earlier, head]


def list_channels(repository: Repository, app: str) -> list[str]:
    """The app's channels (from a listing: not over plain HTTP)."""
    keys = repository.list_keys(channels_directory_key(app))
    return sorted({key.split("/")[0] for key in keys if key.count("/") == 1})


def whole_release(repository: Repository, manifest: ReleaseManifest, data: bytes) -> str:
    """The sha256 of a published manifest (data), once every blob it names was found intact in the
    repository (the check publish's repairs use): what a channel may point to."""
    missing = repository.missing_blobs(manifest.blobs)
    if missing:
        example = next(blob for blob in manifest.blobs if blob.sha256 in missing)
        raise ChannelError(
            f"{manifest.app} {manifest.version} is not whole in {repository.url}: {len(missing)} of its "
            f"{len(manifest.blobs)} blobs are missing or damaged (one is {example.file}, sha256:{example.sha256}). "
            "Publish it again, which uploads what is missing, then promote it."
        )
    return hashlib.sha256(data).hexdigest()


# Moving a channel. `check(version)` refuses a version that is not published whole (raising), and
# returns its manifest's sha256; it runs before the entry is written, and again if a prune ran
# meanwhile (`prune_lock.py`), since that prune may have read the channel before the entry.


def promote(
    repository: Repository,
    app: str,
    channel: str,
    version: str,
    *,
    reason: str,
    check: Callable[[str], str],
) -> ChannelEntry:
    check_channel_name(channel)
    prunes_before = prune_state(repository)
    manifest_sha256 = check(version)
    for _ in range(_PROMOTE_ATTEMPTS):
        head = channel_head(repository, app, channel)
        serial = head.serial + 1 if head else 1
        entry = ChannelEntry(app, channel, serial, PROMOTE, version, manifest_sha256, serial, reason, _now())
        if _append(repository, entry):
            return _checked_after_prune(repository, entry, check, prunes_before)
    raise ChannelError(
        f"{_PROMOTE_ATTEMPTS} other promotions of {app}'s channel {channel} in {repository.url} were written while "
        f"this one tried to; {app} {version} was not promoted. Promote it again."
    )


def rollback_target(repository: Repository, app: str, channel: str) -> tuple[ChannelEntry, ChannelEntry]:
    """The channel's head, and the entry a rollback restores: the one before what is live."""
    head = channel_head(repository, app, channel)
    if head is None:
        raise ChannelError(f"{app}'s channel {channel} in {repository.url} has no entries: there is nothing to roll back.")
    if head.position == 1:
        live = "" if head.action == PROMOTE else f" (entry {head.serial} rolled back to it)"
        raise ChannelError(
            f"{app}'s channel {channel} in {repository.url} is at its first promotion, {app} {head.version}{live}: "
            "there is no earlier entry to roll back to. Promote the version you want instead."
        )
    return head, _read_entry(repository, app, channel, head.position - 1)


def rollback(
    repository: Repository,
    app: str,
    channel: str,
    *,
    reason: str,
    check: Callable[[str], str],
) -> ChannelEntry:
    prunes_before = prune_state(repository)
    head, target = rollback_target(repository, app, channel)
    manifest_sha256 = check(target.version)
    entry = ChannelEntry(
        app, channel, head.serial + 1, ROLLBACK, target.version, manifest_sha256, target.position, reason, _now()
    )
    if not _append(repository, entry):
        moved = channel_head(repository, app, channel)
        raise ChannelError(
            f"{app}'s channel {channel} in {repository.url} moved while rolling back: it is now at entry "
            f"{moved.serial if moved else '?'} ({moved.version if moved else '?'}), so nothing was written. Check "
            f"`pexrun history` and roll back again if it is still needed."
        )
    return _checked_after_prune(repository, entry, check, prunes_before)


def _append(repository: Repository, entry: ChannelEntry) -> bool:
    if not repository.create_key(channel_entry_key(entry.app, entry.channel, entry.serial), entry.dumps()):
        return False
    try:
        repository.put_key(channel_head_key(entry.app, entry.channel), (json.dumps({"serial": entry.serial}) + "\n").encode())
    except RepositoryError:
        pass  # The entry is live; a hint left behind costs readers one more read, not correctness.
    return True


def _checked_after_prune(
    repository: Repository, entry: ChannelEntry, check: Callable[[str], str], prunes_before: PruneState
) -> ChannelEntry:
    if not pruned_since(repository, prunes_before):
        return entry
    try:
        check(entry.version)
    except RepositoryError as e:
        raise ChannelError(
            f"{entry.app}'s channel {entry.channel} was moved to {entry.version} (entry {entry.serial}), but a prune "
            f"that ran meanwhile removed it or its blobs: {e} Promote another version, or publish this one again."
        ) from None
    return entry


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(entry: ChannelEntry) -> str:
    what = f"promoted {entry.version}" if entry.action == PROMOTE else f"rolled back to {entry.version} (entry {entry.position})"
    return printable(f"{entry.serial:>4}  {entry.time}  {what}  {entry.reason}".rstrip())
