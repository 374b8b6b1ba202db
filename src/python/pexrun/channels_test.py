# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Channels and prune, through pexrun's commands, on file:// and on a real S3-compatible server."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pex_release_core.channels import ChannelError, channel_history, promote
from pex_release_core.manifest import ReleaseManifest
from pex_release_core.prune_lock import acquire
from pex_release_core.publishing import publish
from pex_release_core.retention import prune
from pex_release_core.repository.base import Repository, blob_key, channel_entry_key, channel_head_key
from pex_release_core.repository.url import open_repository
from pex_release_core.testutil import damage_blob, make_release, python_env
from pexrun.main_test import failed, pexrun, ran
from pexrun.releases import checked_release, version_key
from testing.servers import S3Server, http_server

VERSIONS = ("1.0.0", "1.1.0", "1.2.0")


@pytest.fixture(params=["file", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, tuple[str, ...]]:
    """A repository's URL, and the options pexrun needs to reach it."""
    if request.param == "file":
        return f"file://{tmp_path / 'repository'}", ()
    s3: S3Server = request.getfixturevalue("s3_env")
    return f"s3://{s3.new_bucket()}/releases", ("--s3-endpoint-url", s3.endpoint)


def opened(location: tuple[str, tuple[str, ...]]) -> Repository:
    url, options = location
    return open_repository(url, s3_endpoint_url=options[1] if options else None)


def publish_versions(repository: Repository, tmp_path: Path, versions: tuple[str, ...], app: str = "api") -> None:
    for version in versions:
        # Two deps trees, so that pruning a version can free a deps tree as well as a sources one.
        deps = "old" if version < "1.2" else "new"
        publish(repository, make_release(tmp_path / "dist" / app / version, app, version, sources=version, deps=deps))


@pytest.fixture
def file_repository(tmp_path: Path) -> tuple[str, Repository]:
    url = f"file://{tmp_path / 'repository'}"
    repository = open_repository(url)
    publish_versions(repository, tmp_path, VERSIONS)
    return url, repository


def cli(*args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    return pexrun(*args, *(("--cache-dir", str(cache)) if cache else ()))


def test_promote_rollback_and_history(file_repository: tuple[str, Repository], tmp_path: Path) -> None:
    url, _ = file_repository
    cache = tmp_path / "cache"
    for version in VERSIONS:
        promoted = cli("promote", url, f"api@{version}", "--channel", "stable", "--reason", f"ship {version}")
        assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout == "promoted api 1.2.0 to stable (entry 3)\n"
    assert ran(cli("run", url, "api", "--channel", "stable", cache=cache))["version"] == "1.2.0"
    rolled = cli("rollback", url, "api", "--channel", "stable", "--reason", "3 a.m. page")
    assert rolled.stdout == "rolled api's channel stable back to 1.1.0 (entry 4, as entry 2)\n", rolled.stderr
    assert ran(cli("run", url, "api", "--channel", "stable", cache=cache))["version"] == "1.1.0"
    assert cli("rollback", url, "api", "--channel", "stable").returncode == 0  # to 1.0.0, as entry 1
    info = cli("info", url, "api", "--channel", "stable")
    assert info.stdout.splitlines()[1].split() == ["version:", "1.0.0"], info.stderr
    lines = cli("history", url, "api", "--channel", "stable").stdout.splitlines()
    assert [line.strip().split("  ")[2:] for line in lines] == [
        ["promoted 1.0.0", "ship 1.0.0"],
        ["promoted 1.1.0", "ship 1.1.0"],
        ["promoted 1.2.0", "ship 1.2.0"],
        ["rolled back to 1.1.0 (entry 2)", "3 a.m. page"],
        ["rolled back to 1.0.0 (entry 1)", lines[4].strip().split("  ")[3], "(live)"],
    ]
    assert lines[4].strip().split("  ")[3].startswith("by ")  # the default reason: who did it
    # A channel is its own: another one of the same app is untouched.
    assert "no entries" in failed(cli("run", url, "api", "--channel", "canary", cache=cache))
    # Nothing before the first promotion.
    error = failed(cli("rollback", url, "api", "--channel", "stable"))
    assert "is at its first promotion, api 1.0.0 (entry 5 rolled back to it): there is no earlier entry" in error


def test_promotion_refuses_a_release_that_is_not_published_whole(file_repository: tuple[str, Repository]) -> None:
    url, repository = file_repository
    error = failed(cli("promote", url, "api@9.9.9", "--channel", "stable"))
    assert "api 9.9.9 is not published in" in error and "Published versions of api: 1.0.0, 1.1.0, 1.2.0" in error
    manifest = json.loads(repository.read_manifest("api", "1.1.0"))
    wheel = next(f for f in manifest["deps"]["files"] if f["path"].endswith(".whl"))
    damage_blob(repository, blob_key(wheel["sha256"]), "corrupted")
    error = failed(cli("promote", url, "api@1.1.0", "--channel", "stable"))
    assert "api 1.1.0 is not whole in" in error and "1 of its 11 blobs are missing or damaged" in error
    assert "Publish it again" in error
    assert not (repository.root / "apps/api/channels").exists()  # nothing written


@pytest.mark.parametrize(
    "name, reason",
    [("1.0", "it reads as a version"), ("v2", "it reads as a version"), ("a/b", "use a letter"), (".hidden", "use a letter")],
)
def test_a_channel_name_that_is_a_version_or_not_a_path_segment_is_refused(
    file_repository: tuple[str, Repository], name: str, reason: str
) -> None:
    url, _ = file_repository
    for args in (("promote", url, "api@1.0.0"), ("run", url, "api"), ("history", url, "api")):
        result = cli(*args, "--channel", name)
        assert result.returncode == 2 and f"is not a valid channel name: {reason}" in result.stderr


def test_a_channel_and_a_version_together_are_refused(file_repository: tuple[str, Repository]) -> None:
    url, _ = file_repository
    error = failed(cli("run", url, "api@1.0.0", "--channel", "stable"), code=2)
    assert "api@1.0.0 names a version, and --channel stable the channel's: give one of them" in error
    for command in ("rollback", "history"):
        error = failed(cli(command, url, "api@1.0.0", "--channel", "stable"), code=2)
        assert f"{command} takes an app, not a release: api --channel stable." in error
    assert "promote needs an exact release: api@<version>" in failed(cli("promote", url, "api", "--channel", "stable"), code=2)


def promote_all(url: str, options: tuple[str, ...], versions: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Promotes each version to `stable`, all at once, each from a process of its own."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pexrun.main", "promote", url, f"api@{v}", "--channel", "stable", *options],
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in versions
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in processes]


def test_eight_concurrent_promotions_all_land_in_the_history(location: tuple[str, tuple[str, ...]], tmp_path: Path) -> None:
    repository = opened(location)
    versions = tuple(f"1.{i}.0" for i in range(8))
    publish_versions(repository, tmp_path, versions)
    results = promote_all(*location, versions)
    succeeded = {r.args[5].split("@")[1] for r in results if r.returncode == 0}
    assert succeeded == set(versions), [r.stderr for r in results]
    history = channel_history(repository, "api", "stable")
    assert [entry.serial for entry in history] == list(range(1, 9))
    assert sorted(entry.version for entry in history) == sorted(versions)  # no promotion lost, none twice
    # Each reported the entry it wrote.
    reported = {r.stdout.split()[2]: int(r.stdout.split("entry ")[1].rstrip(")\n")) for r in results}
    assert reported == {entry.version: entry.serial for entry in history}


def test_a_promotion_killed_at_any_point_leaves_the_old_entry_or_the_new(file_repository: tuple[str, Repository]) -> None:
    url, repository = file_repository
    assert cli("promote", url, "api@1.0.0", "--channel", "stable").returncode == 0
    live = "1.0.0"
    for attempt in range(8):
        version = VERSIONS[1 + attempt % 2]
        process = subprocess.Popen(
            [sys.executable, "-m", "pexrun.main", "promote", url, f"api@{version}", "--channel", "stable"],
            env=python_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(random.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        history = channel_history(repository, "api", "stable")  # every entry readable, none half-written
        assert [e.serial for e in history] == list(range(1, len(history) + 1))
        assert history[-1].version in (live, version)
        live = history[-1].version
    # The hint left behind by a kill between an entry and its hint: readers find the newer entry.
    head = channel_history(repository, "api", "stable")[-1]
    repository.put_key(channel_head_key("api", "stable"), json.dumps({"serial": max(head.serial - 1, 1)}).encode())
    assert ran(cli("run", url, "api", "--channel", "stable", cache=repository.root.parent / "cache"))["version"] == head.version


def test_a_channel_file_that_is_not_an_entry_is_refused_with_its_name(file_repository: tuple[str, Repository], tmp_path: Path) -> None:
    url, repository = file_repository
    for version in VERSIONS[:2]:
        assert cli("promote", url, f"api@{version}", "--channel", "stable").returncode == 0
    entry = repository.root / channel_entry_key("api", "stable", 2)
    good = entry.read_bytes()
    entry.write_text("{not json")
    error = failed(cli("run", url, "api", "--channel", "stable", cache=tmp_path / "cache"))
    assert f"apps/api/channels/stable/0000000002.json in {url} is not a channel entry: it is not JSON" in error
    # Another channel's entry, moved here.
    entry.write_bytes(good.replace(b'"channel": "stable"', b'"channel": "canary"'))
    error = failed(cli("run", url, "api", "--channel", "stable", cache=tmp_path / "cache"))
    assert "is entry 2 of api's channel canary, not entry 2 of api's channel stable" in error
    entry.write_bytes(good)
    (repository.root / channel_head_key("api", "stable")).write_text("garbage")
    error = failed(cli("run", url, "api", "--channel", "stable", cache=tmp_path / "cache"))
    assert "head.json in" in error and "It is only a hint: delete it" in error
    (repository.root / channel_head_key("api", "stable")).unlink()
    assert ran(cli("run", url, "api", "--channel", "stable", cache=tmp_path / "cache"))["version"] == "1.1.0"


def test_an_older_entry_put_back_is_refused_unless_accepted(file_repository: tuple[str, Repository], tmp_path: Path) -> None:
    url, repository = file_repository
    cache = tmp_path / "cache"
    for version in VERSIONS:
        assert cli("promote", url, f"api@{version}", "--channel", "stable").returncode == 0
    assert ran(cli("run", url, "api", "--channel", "stable", cache=cache))["version"] == "1.2.0"
    # Someone who can write the repository deletes the newest entry, putting 1.1.0 back.
    (repository.root / channel_entry_key("api", "stable", 3)).unlink()
    (repository.root / channel_head_key("api", "stable")).unlink()
    for command in ("run", "fetch", "info"):
        error = failed(cli(command, url, "api", "--channel", "stable", cache=cache))
        assert "is at entry 2, but this host already acted on entry 3: an old entry was put back (a replay)" in error
        assert "accept it once with --accept-serial 2" in error
    accepted = cli("run", url, "api", "--channel", "stable", "--accept-serial", "2", cache=cache)
    assert ran(accepted)["version"] == "1.1.0"
    assert ran(cli("run", url, "api", "--channel", "stable", cache=cache))["version"] == "1.1.0"  # accepted for good
    # Another cache (another host) has its own memory.
    assert ran(cli("run", url, "api", "--channel", "stable", cache=tmp_path / "other"))["version"] == "1.1.0"


def test_a_manifest_replaced_after_its_promotion_is_refused(file_repository: tuple[str, Repository], tmp_path: Path) -> None:
    url, repository = file_repository
    assert cli("promote", url, "api@1.1.0", "--channel", "stable").returncode == 0
    path = repository.root / "apps/api/1.1.0.json"
    path.write_bytes(path.read_bytes().replace(b'"revision"', b'"revision" ', 1))
    error = failed(cli("run", url, "api", "--channel", "stable", cache=tmp_path / "cache"))
    assert "points to api 1.1.0 with manifest sha256" in error and "it was replaced after the promotion" in error


# --- prune ---------------------------------------------------------------------------------------


def stored_blobs(repository: Repository) -> set[str]:
    return {o.key for o in repository.list_objects("blobs/sha256/")}


def assert_whole(repository: Repository, url: str, options: tuple[str, ...], cache: Path) -> list[str]:
    """Every remaining release of api: its blobs present and intact, and it runs."""
    versions = repository.list_versions("api")
    for version in versions:
        assert ran(pexrun("run", url, f"api@{version}", *options, "--cache-dir", str(cache)))["version"] == version
    return versions


def test_prune_keeps_the_newest_the_channels_and_their_recent_history(
    location: tuple[str, tuple[str, ...]], tmp_path: Path
) -> None:
    url, options = location
    repository = opened(location)
    versions = ("1.0.0", "1.0.1", "1.1.0", "1.1.1", "1.2.0", "1.3.0", "1.4.0")
    publish_versions(repository, tmp_path, versions)
    for version in ("1.0.0", "1.0.1", "1.1.0"):  # stable's history: 1.0.0 falls out of --keep-history 2
        assert pexrun("promote", url, f"api@{version}", "--channel", "stable", *options).returncode == 0
    assert pexrun("promote", url, "api@1.1.1", "--channel", "canary", *options).returncode == 0
    before = stored_blobs(repository)
    args = ("prune", url, "--keep", "2", "--keep-history", "2", "--grace", "0.001", *options)
    dry = pexrun(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[:3] == ["api: keeping 1.0.1, 1.1.0, 1.1.1, 1.3.0, 1.4.0", "would delete api 1.0.0", "would delete api 1.2.0"]
    assert stored_blobs(repository) == before and len(repository.list_versions("api")) == 7  # nothing deleted
    done = pexrun(*args)
    assert done.stdout.replace("deleted", "would delete").replace("freed", "freeing") == dry.stdout
    assert repository.list_versions("api") == ["1.0.1", "1.1.0", "1.1.1", "1.3.0", "1.4.0"]
    assert json.loads(repository.read_key("apps/api/index.json")) == repository.list_versions("api")
    # 1.0.0's and 1.2.0's sources trees differ by one file each (release.txt); the deps are shared.
    assert len(before - stored_blobs(repository)) == 2
    assert "deleted 2 manifests and 2 blobs" in done.stdout
    assert assert_whole(repository, url, options, tmp_path / "cache")
    assert pexrun("rollback", url, "api", "--channel", "stable", *options).returncode == 0  # its target was kept


def referenced_blobs(repository: Repository, app: str, version: str) -> set[str]:
    return {blob.sha256 for blob in ReleaseManifest.loads(repository.read_manifest(app, version), origin=version).blobs}


def test_prune_keeps_young_unreferenced_blobs_and_refuses_keep_0(file_repository: tuple[str, Repository]) -> None:
    url, repository = file_repository
    before = stored_blobs(repository)
    unreferenced = before - referenced_blobs(repository, "api", "1.2.0")
    manifest_bytes = sum(len(repository.read_manifest("api", v)) for v in VERSIONS[:2])
    result = cli("prune", url, "--keep", "1")  # the default grace: an hour
    assert result.stdout.splitlines()[-1] == (
        f"deleted 2 manifests and 0 blobs, freed {manifest_bytes:,} bytes; kept {len(unreferenced)} unreferenced "
        "blobs younger than 3600 s"
    )
    assert unreferenced and stored_blobs(repository) == before
    error = failed(cli("prune", url, "--keep", "0"))
    assert "prune --keep must be 1 or more" in error


def test_a_second_prune_waits_for_the_first_and_takes_over_a_killed_ones_lock(file_repository: tuple[str, Repository]) -> None:
    url, repository = file_repository
    held = acquire(repository, seconds=30)
    error = failed(cli("prune", url, "--keep", "1"))
    assert f"Another prune of {url} is under way (prune/lock.json, its lease ends in" in error
    held.release()
    acquire(repository, seconds=0.5)  # then killed: never released
    time.sleep(0.6)
    assert cli("prune", url, "--keep", "1").returncode == 0
    assert repository.list_versions("api") == ["1.2.0"]


_KILLABLE_PRUNE = """
import sys
from pex_release_core.repository.url import open_repository
from pex_release_core.retention import prune
from pexrun.releases import checked_release, version_key
prune(open_repository(sys.argv[1]), keep=1, version_key=version_key, grace_seconds=0.001, lease_seconds=1)
"""


def test_a_prune_killed_at_any_point_is_completed_by_the_next(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'repository'}"
    repository = open_repository(url)
    for rounds in range(6):
        publish_versions(repository, tmp_path / str(rounds), tuple(f"{rounds}.{i}.0" for i in range(4)))
        process = subprocess.Popen([sys.executable, "-c", _KILLABLE_PRUNE, url], env=python_env())
        time.sleep(random.uniform(0.0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Whatever it did, every release left is whole.
        assert assert_whole(repository, url, (), tmp_path / "cache")
    time.sleep(1.1)  # the killed prune's lease runs out
    result = cli("prune", url, "--keep", "1", "--grace", "0.001")
    assert result.returncode == 0, result.stderr
    assert assert_whole(repository, url, (), tmp_path / "cache") == ["5.3.0"]
    assert stored_blobs(repository) == referenced_blobs(repository, "api", "5.3.0")  # everything else went


def test_publishes_beside_prunes_always_end_whole(location: tuple[str, tuple[str, ...]], tmp_path: Path) -> None:
    """Publish and prune loops side by side, with no grace period, so that only the prune lock
    keeps what a publish uploaded (or found present) before its manifest; bounded in count."""
    url, options = location
    repository = opened(location)
    publish_versions(repository, tmp_path / "first", ("0.0.1",))
    published: list[str] = []

    def publishing() -> None:
        for i in range(8):
            version = f"0.1.{i}"
            # Each shares its deps tree with the one before: found present, so not uploaded.
            publish(repository, make_release(tmp_path / "loop" / version, "api", version, sources=version, deps="old"))
            published.append(version)

    publisher = threading.Thread(target=publishing)
    publisher.start()
    prunes = 0
    while publisher.is_alive():
        prune(opened(location), keep=1, version_key=version_key, grace_seconds=0.0)
        prunes += 1
    publisher.join()
    assert len(published) == 8 and prunes > 0
    # The last release published is whole (and any other left), and runs.
    assert "0.1.7" in assert_whole(repository, url, options, tmp_path / "cache")


def test_a_publish_puts_back_what_a_prune_took_before_its_manifest(
    location: tuple[str, tuple[str, ...]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the lock closes, made to happen: a whole prune runs between a publish's uploads and
    its manifest, and deletes the blobs just uploaded, which nothing names yet."""
    url, options = location
    repository = opened(location)
    publish_versions(repository, tmp_path, ("1.0.0",))
    create_manifest = repository.create_manifest
    pruned = []

    def prune_first(app: str, version: str, data: bytes) -> bool:
        pruned.append(prune(opened(location), keep=1, version_key=version_key, grace_seconds=0.0))
        return create_manifest(app, version, data)

    before = stored_blobs(repository)
    monkeypatch.setattr(repository, "create_manifest", prune_first)
    report = publish(repository, make_release(tmp_path / "2.0.0", "api", "2.0.0", sources="2.0.0", deps="new"))
    # The prune deleted 2.0.0's own blobs (its release.txt, its deps tree's wheel and module), and
    # the publish uploaded them again once its manifest was there.
    assert {o.key for o in pruned[0].deleted_blobs} == {b.sha256 for b in report.manifest.blobs} - before
    assert {b.sha256 for b in report.manifest.blobs} <= stored_blobs(repository)
    assert repository.list_versions("api") == ["2.0.0"]
    assert assert_whole(repository, url, options, tmp_path / "cache") == ["2.0.0"]


def test_a_promotion_of_a_version_a_prune_removed_meanwhile_fails(
    file_repository: tuple[str, Repository], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, repository = file_repository
    create_key = repository.create_key

    def prune_first(key: str, data: bytes) -> bool:
        prune(open_repository(url), keep=1, version_key=version_key, grace_seconds=0.0)
        return create_key(key, data)

    monkeypatch.setattr(repository, "create_key", prune_first)
    with pytest.raises(ChannelError) as error:
        promote(repository, "api", "stable", "1.0.0", reason="test", check=lambda v: checked_release(repository, "api", v))
    assert "was moved to 1.0.0 (entry 1), but a prune that ran meanwhile removed it or its blobs" in str(error.value)


def test_hosts_run_a_channel_over_http_which_cannot_list_or_prune(file_repository: tuple[str, Repository], tmp_path: Path) -> None:
    url, repository = file_repository
    for version in VERSIONS:
        assert cli("promote", url, f"api@{version}", "--channel", "stable").returncode == 0
    # A hint behind the head, as a promotion killed between its entry and its hint leaves it.
    repository.put_key(channel_head_key("api", "stable"), b'{"serial": 1}\n')
    with http_server(repository.root.parent) as server:
        served = f"{server.url}/{repository.root.name}"
        assert ran(cli("run", served, "api", "--channel", "stable", cache=tmp_path / "cache"))["version"] == "1.2.0"
        assert len(cli("history", served, "api", "--channel", "stable").stdout.splitlines()) == 3
        error = failed(cli("prune", served, "--keep", "1"))
        assert "served over HTTP, which is read-only" in error
        error = failed(cli("promote", served, "api@1.0.0", "--channel", "stable"))
        assert "served over HTTP, which is read-only" in error
