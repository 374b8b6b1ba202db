# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun: fetch, verify and run releases published by `pants publish`.

    pexrun run   <repository> <app>[@<version>] [--python PATH] [--script NAME] [-- args...]
    pexrun fetch <repository> <app>[@<version>]
    pexrun list  <repository> [<app>]
    pexrun info  <repository> <app>@<version> [--provenance]
    pexrun verify <repository> <app>@<version> --trusted-key FILE
    pexrun sbom  <repository> <app>@<version>
    pexrun gc    --keep N
    pexrun promote  <repository> <app>@<version> --channel NAME [--reason TEXT]
    pexrun rollback <repository> <app> --channel NAME [--reason TEXT]
    pexrun history  <repository> <app> --channel NAME
    pexrun prune    <repository> --keep N [--keep-history K] [--grace SECONDS] [--dry-run]

run, fetch, info, verify and sbom take --channel NAME to use the version a channel points to. With
trusted keys (--trusted-key FILE, repeatable, or $PEXRUN_TRUSTED_KEYS, paths separated by `:`), run,
fetch, info, sbom, promote and rollback refuse a release that no trusted key signed, before any blob
is downloaded.

Every command takes --cache-dir DIR (default: $PEXRUN_CACHE_DIR, else ~/.cache/pexrun),
--s3-endpoint-url URL (default: $PEXRUN_S3_ENDPOINT_URL) and --download-timeout SECONDS (default:
$PEXRUN_DOWNLOAD_TIMEOUT, else 60; each manifest or index read gets that, each blob that plus 1 s
per 256 KiB of its size). run and fetch take --progress auto|always|never (default: $PEXRUN_PROGRESS,
else auto: on a terminal, once a fetch takes over 1 s): lines on stderr with the files and bytes
downloaded out of those the cache lacks, and the trees built from them.
Repositories: file:///path, s3://bucket/prefix (with the host's boto3),
http(s)://host/path. Without a version, `run` and `fetch` take the highest PEP 440 version
published (a pre-release only when there is nothing else, as pip chooses).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import socket
import sys
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

from pex_release_core.channels import (
    ChannelError,
    channel_history,
    check_channel_name,
    describe,
    promote,
    rollback,
)
from pex_release_core.manifest import ManifestError, ReleaseManifest, ReleasePex, printable
from pex_release_core.retention import DEFAULT_GRACE_SECONDS, DEFAULT_KEEP_HISTORY, prune
from pex_release_core.repository.base import DownloadTimeoutError, Repository, RepositoryError
from pex_release_core.repository.url import open_repository
from pex_release_core.signing import PublicKey
from pexrun import __version__
from pexrun.cache import (
    DEFAULT_DOWNLOAD_TIMEOUT_SECONDS,
    BlobCache,
    CacheError,
    FetchedRelease,
    default_cache_dir,
)
from pexrun.launch import (
    Interpreter,
    LaunchError,
    check_interpreter,
    check_platforms,
    exec_release,
    release_environ,
    script_entry_point,
    venv_command,
)
from pexrun.launches import record_launch
from pexrun.progress import AUTO_DELAY_SECONDS, Progress
from pexrun.releases import (
    ServedSerials,
    VerifiedSignatures,
    channel_release,
    checked_release,
    published_versions,
    read_release,
    release_provenance,
    release_signer,
    version_key,
)
from pexrun.start import (
    CACHE_DIR_ENV,
    DOWNLOAD_TIMEOUT_ENV,
    PROGRESS_ENV,
    PROGRESS_MODES,
    TRUSTED_KEYS_ENV,
    base_python,
    exec_argv,
    launch_key,
    pex_runtime_variables,
    seconds,
    venv_environ,
)
from pexrun.venvs import ReleaseVenv, VenvCache

S3_ENDPOINT_URL_ENV = "PEXRUN_S3_ENDPOINT_URL"


class UsageError(Exception):
    pass


def parse_release(spec: str) -> tuple[str, str | None]:
    app, at, version = spec.partition("@")
    if not app or (at and not version):
        raise UsageError(f"{spec!r} is not a release: use <app> or <app>@<version>.")
    return app, version or None


def _repository(args: argparse.Namespace) -> Repository:
    return open_repository(args.repository, s3_endpoint_url=args.s3_endpoint_url, metadata_timeout=args.download_timeout)


def _cache(args: argparse.Namespace) -> BlobCache:
    return BlobCache(args.cache_dir, download_timeout=args.download_timeout)


def _progress(args: argparse.Namespace, manifest: ReleaseManifest) -> Progress | None:
    return Progress.for_mode(args.progress, f"{manifest.app} {manifest.version}", sys.stderr)


def _trusted_keys(args: argparse.Namespace) -> list[PublicKey]:
    return [PublicKey.load(path) for path in args.trusted_key]


def _chosen_release(
    args: argparse.Namespace, repository: Repository, *, remembered: bool = False
) -> tuple[ReleaseManifest, bytes]:
    """The release args name (app@version, the app's highest version, or what --channel points
    to), once a trusted key was found to have signed it, when any is trusted. remembered: a
    signature this host checked before is not checked again."""
    trusted = _trusted_keys(args)
    manifest, data = _unverified_release(args, repository)
    if trusted and remembered:
        VerifiedSignatures(args.cache_dir).signer(repository, manifest, data, trusted)
    elif trusted:
        release_signer(repository, manifest, data, trusted)
    return manifest, data


def _unverified_release(args: argparse.Namespace, repository: Repository) -> tuple[ReleaseManifest, bytes]:
    app, version = parse_release(args.release)
    if args.channel is None:
        return read_release(repository, app, version)
    if version is not None:
        raise UsageError(
            f"{args.release} names a version, and --channel {args.channel} the channel's: give one of them "
            f"({app}@{version}, or {app} --channel {args.channel})."
        )
    served = ServedSerials(args.cache_dir)
    manifest, data, _ = channel_release(repository, app, args.channel, served=served, accept_serial=args.accept_serial)
    return manifest, data


def _prepared_release(
    args: argparse.Namespace,
    repository: Repository,
    release: tuple[ReleaseManifest, bytes],
    interpreter: Interpreter,
    *,
    verify: bool = False,
    venv: bool = True,
) -> tuple[FetchedRelease, ReleaseVenv | None]:
    """The release's trees and, unless `venv` is False, the venv it runs from with interpreter, in the
    cache; repairs are warned about."""
    manifest, data = release
    progress = _progress(args, manifest)
    fetched = _cache(args).fetch_release(repository, manifest, data, verify=verify, progress=progress)
    prepared, notes = VenvCache(args.cache_dir).for_release(fetched, interpreter, progress, verify=verify) if venv else (None, [])
    if progress:
        progress.finished()
    _warn([*fetched.repairs, *notes])
    return fetched, prepared


def run(args: argparse.Namespace) -> int:
    interpreter = Interpreter.at(args.python or base_python())
    repository = _repository(args)
    manifest, data = _chosen_release(args, repository, remembered=True)
    # Checked before anything is downloaded.
    entry_point = script_entry_point(manifest, args.script)
    check_interpreter(interpreter, manifest)
    check_platforms(interpreter, manifest)
    # pex's variables keep their meaning: a release run with any set runs with pex's runtime.
    with_venv = not pex_runtime_variables(os.environ)
    release, venv = _prepared_release(args, repository, (manifest, data), interpreter, venv=with_venv)
    if venv is not None:
        _exec_from_venv(args, repository, (release, data), venv, interpreter, entry_point)
    exec_release(interpreter, release, args.args, release_environ(release, entry_point, os.environ))
    return 1  # not reached: exec replaced this process


def _exec_from_venv(
    args: argparse.Namespace,
    repository: Repository,
    fetched: tuple[FetchedRelease, bytes],
    venv: ReleaseVenv,
    interpreter: Interpreter,
    entry_point: str | None,
) -> None:
    """Execs the release (with its manifest's verified bytes) from its venv, first writing down the
    launch for a warm start to replay."""
    release, data = fetched
    command, inject_env = venv_command(venv, release, entry_point)
    if _warm_startable(args):
        python = args.python or base_python()
        key = launch_key(args.repository, args.release, python, args.script or "", os.environ.get(TRUSTED_KEYS_ENV, ""))
        record_launch(args.cache_dir, key, repository, release, data, venv, interpreter, args.trusted_key, command, inject_env)
    manifest = release.manifest
    env = venv_environ(os.environ, app=manifest.app, version=manifest.version, sources=str(release.sources), inject_env=inject_env)
    exec_argv([*command, *args.args], env)


def _warm_startable(args: argparse.Namespace) -> bool:
    """Whether pexrun.start can replay this run: an exact version, with no channel, the trusted keys
    from the environment only, and an interpreter given by absolute path (or none)."""
    from_environment = [Path(p) for p in os.environ.get(TRUSTED_KEYS_ENV, "").split(":") if p]
    return (
        parse_release(args.release)[1] is not None
        and args.channel is None
        and args.trusted_key == from_environment
        and (args.python is None or os.path.isabs(args.python))
    )


def fetch(args: argparse.Namespace) -> int:
    interpreter = Interpreter.at(args.python or base_python())
    repository = _repository(args)
    manifest, data = _chosen_release(args, repository)
    try:  # a venv is prepared for an interpreter that can run the release; the trees for any host
        check_interpreter(interpreter, manifest)
        check_platforms(interpreter, manifest)
        unfit = None
    except LaunchError as e:
        unfit = str(e)
    release, venv = _prepared_release(args, repository, (manifest, data), interpreter, verify=True, venv=unfit is None)
    print(f"{manifest.app} {manifest.version}: verified in {args.cache_dir}")
    print(f"  deps     {release.deps}")
    print(f"  sources  {release.sources}")
    if venv is not None:
        print(f"  venv     {venv.root}")
    elif unfit is not None:
        print(f"  venv     none: {unfit}")
    return 0


def list_releases(args: argparse.Namespace) -> int:
    repository = _repository(args)
    apps = [args.app] if args.app else repository.list_apps()
    for app in apps:
        for version in published_versions(repository, app):
            print(printable(f"{app}@{version}"))
    return 0


def _warn(repairs: Sequence[str]) -> None:
    for repair in repairs:
        print(f"pexrun: warning: {printable(repair)}", file=sys.stderr)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _pex_line(role: str, pex: ReleasePex | None) -> list[str]:
    if pex is None:
        return []
    files = f"{_plural(len(pex.files), 'file')}, {_plural(len(pex.symlinks), 'symlink')}" if pex.is_tree else "1 file"
    return [f"{role + ':':<25}{pex.file}  {pex.layout}, {files}, {pex.size:,} bytes  sha256:{pex.sha256}"]


def _check_exact_release(args: argparse.Namespace) -> None:
    """info, verify and sbom show one release: app@version or a channel's, never "the latest"."""
    app, version = parse_release(args.release)
    if version is None and args.channel is None:
        raise UsageError(
            f"{args.command} needs an exact release: {app}@<version> (`pexrun list` shows them), or --channel NAME."
        )


def info(args: argparse.Namespace) -> int:
    _check_exact_release(args)
    repository = _repository(args)
    manifest, data = _chosen_release(args, repository)
    if args.provenance:
        return _provenance(args, repository, manifest, data)
    fields = [
        ("app", manifest.app),
        ("version", manifest.version),
        ("revision", manifest.revision),
        ("entry point", manifest.entry_point),
        *(("script", f"{name} = {entry_point}") for name, entry_point in sorted(manifest.scripts.items())),
        ("interpreter constraints", " or ".join(manifest.interpreter_constraints) or "any"),
        (
            "platforms",
            ", ".join((*manifest.platforms, *(str(p) for p in manifest.complete_platforms))) or "the build host's",
        ),
        ("injected env", " ".join(f"{name}={value}" for name, value in sorted(manifest.env.items())) or "none"),
        ("injected args", shlex.join(manifest.args) or "none"),
        ("subset key", manifest.deps.subset_key),
        *((("sbom", f"{manifest.sbom.file}  {manifest.sbom.size:,} bytes  sha256:{manifest.sbom.sha256}"),) if manifest.sbom else ()),
    ]
    lines = [f"{name + ':':<25}{printable(value)}" for name, value in fields]
    lines += _pex_line("deps", manifest.deps) + _pex_line("sources", manifest.sources)
    lines += _pex_line("single file", manifest.single_file)
    lines.append(f"distributions ({len(manifest.deps.distributions)}):")
    lines += [printable(f"  {d.name}=={d.version}  {d.file}  sha256:{d.sha256}") for d in manifest.deps.distributions]
    print("\n".join(lines))
    return 0


def _provenance(args: argparse.Namespace, repository: Repository, manifest: ReleaseManifest, data: bytes) -> int:
    trusted = _trusted_keys(args)
    if not trusted:
        raise UsageError(
            "info --provenance shows provenance once its signature is checked: name the keys to trust with "
            f"--trusted-key FILE (or ${TRUSTED_KEYS_ENV})."
        )
    key, statement = release_provenance(repository, manifest, data, trusted)
    print("\n".join(printable(line) for line in json.dumps(statement, indent=2, sort_keys=True).splitlines()))
    print(f"signed by {key.keyid} ({key.origin})", file=sys.stderr)
    return 0


def sbom(args: argparse.Namespace) -> int:
    _check_exact_release(args)
    repository = _repository(args)
    manifest, _ = _chosen_release(args, repository)
    if manifest.sbom is None:
        raise ManifestError(
            f"{manifest.app} {manifest.version} in {repository.url} has no SBOM: it was built by a pex-release that "
            "wrote none. Release a new version built with this one."
        )
    path, repairs = _cache(args).fetch_blob(repository, manifest.sbom)
    _warn(repairs)
    sys.stdout.buffer.write(path.read_bytes())  # CycloneDX JSON, checked against the manifest's sha256
    return 0


def verify(args: argparse.Namespace) -> int:
    _check_exact_release(args)
    trusted = _trusted_keys(args)
    if not trusted:
        raise UsageError(f"verify needs the keys to trust: --trusted-key FILE (or ${TRUSTED_KEYS_ENV}).")
    repository = _repository(args)
    manifest, data = _unverified_release(args, repository)
    key = release_signer(repository, manifest, data, trusted)
    print(printable(f"{manifest.app} {manifest.version}: signed by {key.keyid} ({key.origin})"))
    return 0


def gc(args: argparse.Namespace) -> int:
    report = BlobCache(args.cache_dir).gc(args.keep)
    for release in report.removed_releases:
        print(f"removed {release}")
    print(
        f"kept the {args.keep} most recently used releases of each app in {args.cache_dir}: removed "
        f"{len(report.removed_releases)} releases, {report.removed_trees} trees, the venvs of "
        f"{report.removed_venvs} deps trees and {report.removed_blobs} blobs, "
        f"freed {report.freed_bytes:,} bytes"
    )
    return 0


def promote_release(args: argparse.Namespace) -> int:
    app, version = parse_release(args.release)
    if version is None:
        raise UsageError(f"promote needs an exact release: {app}@<version> (`pexrun list` shows them).")
    repository = _repository(args)
    check = partial(checked_release, repository, app, trusted=_trusted_keys(args))
    entry = promote(repository, app, args.channel, version, reason=args.reason, check=check)
    print(printable(f"promoted {app} {version} to {args.channel} (entry {entry.serial})"))
    return 0


def _channel_app(args: argparse.Namespace) -> str:
    """The app of `rollback` and `history`, which act on a channel, never on a version."""
    app, version = parse_release(args.release)
    if version is not None:
        raise UsageError(f"{args.command} takes an app, not a release: {app} --channel {args.channel}.")
    return app


def rollback_channel(args: argparse.Namespace) -> int:
    app = _channel_app(args)
    repository = _repository(args)
    check = partial(checked_release, repository, app, trusted=_trusted_keys(args))
    entry = rollback(repository, app, args.channel, reason=args.reason, check=check)
    print(printable(f"rolled {app}'s channel {args.channel} back to {entry.version} (entry {entry.serial}, as entry {entry.position})"))
    return 0


def history(args: argparse.Namespace) -> int:
    app = _channel_app(args)
    repository = _repository(args)
    entries = channel_history(repository, app, args.channel)
    if not entries:
        raise ChannelError(f"{app}'s channel {args.channel} in {repository.url} has no entries yet.")
    for entry in entries:
        print(describe(entry) + ("  (live)" if entry is entries[-1] else ""))
    return 0


def prune_repository(args: argparse.Namespace) -> int:
    report = prune(
        _repository(args),
        keep=args.keep,
        version_key=version_key,
        keep_history=args.keep_history,
        grace_seconds=args.grace,
        dry_run=args.dry_run,
    )
    would = "would delete" if report.dry_run else "deleted"
    for app, versions in sorted(report.kept.items()):
        print(printable(f"{app}: keeping {', '.join(versions) or 'nothing'}"))
    for app, version, _ in report.deleted_manifests:
        print(printable(f"{would} {app} {version}"))
    print(
        f"{would} {_plural(len(report.deleted_manifests), 'manifest')} and {_plural(len(report.deleted_blobs), 'blob')}, "
        f"{'freeing' if report.dry_run else 'freed'} {report.freed_bytes:,} bytes; kept "
        f"{_plural(report.young_blobs, 'unreferenced blob')} younger than {args.grace:g} s"
    )
    return 0


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of releases (0 or more), got {value!r}")
    return int(value)


def _seconds(value: str) -> float:
    number = seconds(value)
    if number is None:
        raise argparse.ArgumentTypeError(f"expected a number of seconds (more than 0), got {value!r}")
    return number


def _progress_mode(value: str) -> str:
    if value not in PROGRESS_MODES:
        raise argparse.ArgumentTypeError(f"expected {', '.join(PROGRESS_MODES[:-1])} or {PROGRESS_MODES[-1]} (from --progress or ${PROGRESS_ENV}), got {value!r}")
    return value


def _channel(value: str) -> str:
    try:
        return check_channel_name(value)
    except ChannelError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _default_reason() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        user = str(os.getuid())
    return f"by {user}@{socket.gethostname()}"


def build_parser() -> argparse.ArgumentParser:
    # Options every command takes (each uses those it needs), so scripts can pass them uniformly.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_dir(),
        metavar="DIR",
        help=f"the local cache of run, fetch and gc (default: ${CACHE_DIR_ENV}, else %(default)s)",
    )
    common.add_argument(
        "--s3-endpoint-url",
        default=os.environ.get(S3_ENDPOINT_URL_ENV),
        metavar="URL",
        help=f"the endpoint of an S3-compatible store, for s3:// (default: ${S3_ENDPOINT_URL_ENV}, else AWS)",
    )
    common.add_argument(
        "--download-timeout",
        type=_seconds,
        default=os.environ.get(DOWNLOAD_TIMEOUT_ENV, str(DEFAULT_DOWNLOAD_TIMEOUT_SECONDS)),
        metavar="SECONDS",
        help=(
            "the time each manifest or index read may take, and each blob's download plus 1 s per 256 KiB of "
            f"the blob; a slower one fails (default: ${DOWNLOAD_TIMEOUT_ENV}, else {DEFAULT_DOWNLOAD_TIMEOUT_SECONDS:g})"
        ),
    )
    common.add_argument(
        "--trusted-key",
        type=Path,
        action="append",
        default=[Path(p) for p in os.environ.get(TRUSTED_KEYS_ENV, "").split(":") if p],
        metavar="FILE",
        help=(
            "a public key (PEM) whose signature a release needs; repeat for several (default: "
            f"${TRUSTED_KEYS_ENV}, paths separated by `:`; none: releases are not checked for signatures)"
        ),
    )
    common.add_argument(
        "--progress",
        type=_progress_mode,
        metavar="{" + ",".join(PROGRESS_MODES) + "}",
        default=os.environ.get(PROGRESS_ENV, "auto"),
        help=(
            "lines on stderr while run and fetch download and build what the cache lacks: auto shows them on a "
            f"terminal once it takes over {AUTO_DELAY_SECONDS:g} s (default: ${PROGRESS_ENV}, else auto)"
        ),
    )
    parser = argparse.ArgumentParser(prog="pexrun", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pexrun {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    repository_help = "file:///path, s3://bucket/prefix or https://host/path"
    latest = "<app> (its highest version) or <app>@<version>"
    exact = "<app>@<version>, or <app> with --channel"
    run_cmd = command("run", run, "fetch, verify and run a release; its arguments go after `--`")
    run_cmd.add_argument("repository", help=repository_help)
    run_cmd.add_argument("release", help=latest)
    run_cmd.add_argument("--python", metavar="PATH", help=f"the interpreter (default: {base_python()})")
    run_cmd.add_argument("--script", metavar="NAME", help="run one of the release's scripts instead of its entry point")

    fetch_cmd = command(
        "fetch", fetch, "download a release and verify every file of it by hash, without running it; prints its PEXes' paths"
    )
    fetch_cmd.add_argument("repository", help=repository_help)
    fetch_cmd.add_argument("release", help=latest)
    fetch_cmd.add_argument("--python", metavar="PATH", help=f"the interpreter to prepare it for (default: {base_python()})")

    list_cmd = command("list", list_releases, "list the published releases, of one app or of all")
    list_cmd.add_argument("repository", help=repository_help)
    list_cmd.add_argument("app", nargs="?")

    info_cmd = command("info", info, "show a release's manifest")
    info_cmd.add_argument("repository", help=repository_help)
    info_cmd.add_argument("release", help=exact)
    info_cmd.add_argument(
        "--provenance", action="store_true", help="show the release's signed provenance (in-toto, SLSA) instead"
    )
    verify_cmd = command("verify", verify, "check that a trusted key signed a release; print the key's id")
    verify_cmd.add_argument("repository", help=repository_help)
    verify_cmd.add_argument("release", help=exact)
    sbom_cmd = command("sbom", sbom, "print a release's SBOM (CycloneDX 1.6 JSON), verified by its manifest's sha256")
    sbom_cmd.add_argument("repository", help=repository_help)
    sbom_cmd.add_argument("release", help=exact)
    for sub in (run_cmd, fetch_cmd, info_cmd, verify_cmd, sbom_cmd):
        sub.add_argument("--channel", type=_channel, metavar="NAME", help="the version this channel points to")
        sub.add_argument(
            "--accept-serial",
            type=_count,
            metavar="N",
            help="accept the channel at entry N, though this host acted on a later entry (after a deliberate reset)",
        )

    reason_help = "who or what moves the channel, and why; kept in its history (default: by user@host)"
    promote_cmd = command("promote", promote_release, "point a channel at a published version, whose blobs are all intact")
    promote_cmd.add_argument("repository", help=repository_help)
    promote_cmd.add_argument("release", help="<app>@<version>")
    promote_cmd.add_argument("--channel", type=_channel, required=True, metavar="NAME")
    promote_cmd.add_argument("--reason", default=_default_reason(), metavar="TEXT", help=reason_help)

    rollback_cmd = command("rollback", rollback_channel, "point a channel back at the entry before what is live, as a new entry")
    rollback_cmd.add_argument("repository", help=repository_help)
    rollback_cmd.add_argument("release", metavar="app")
    rollback_cmd.add_argument("--channel", type=_channel, required=True, metavar="NAME")
    rollback_cmd.add_argument("--reason", default=_default_reason(), metavar="TEXT", help=reason_help)

    history_cmd = command("history", history, "show a channel's entries, oldest first")
    history_cmd.add_argument("repository", help=repository_help)
    history_cmd.add_argument("release", metavar="app")
    history_cmd.add_argument("--channel", type=_channel, required=True, metavar="NAME")

    prune_cmd = command(
        "prune",
        prune_repository,
        "delete each app's versions but the newest N and those its channels need, then the blobs no kept release names",
    )
    prune_cmd.add_argument("repository", help=repository_help)
    prune_cmd.add_argument("--keep", type=_count, required=True, metavar="N", help="newest versions to keep per app (1 or more)")
    prune_cmd.add_argument(
        "--keep-history",
        type=_count,
        default=DEFAULT_KEEP_HISTORY,
        metavar="K",
        help="also keep the versions of each channel's last K entries, for rollbacks (default: %(default)s)",
    )
    prune_cmd.add_argument(
        "--grace",
        type=_seconds,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="never delete a blob younger than this: a publish uploads its blobs before its manifest (default: %(default)g)",
    )
    prune_cmd.add_argument("--dry-run", action="store_true", help="print what would be deleted and the bytes freed")

    gc_cmd = command(
        "gc", gc, "remove cached releases, but each app's N most recently used, and the trees and blobs only they use"
    )
    gc_cmd.add_argument("--keep", type=_count, required=True, metavar="N", help="releases to keep per app")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` goes to the release, options included.
    split = argv.index("--") if "--" in argv else len(argv)
    parser = build_parser()
    args = parser.parse_args(argv[:split])
    args.args = argv[split + 1 :]
    if args.args and args.command != "run":
        parser.error(f"only `run` takes arguments after `--`, not `{args.command}`")
    try:
        return args.handler(args)
    except UsageError as e:
        print(f"pexrun: error: {printable(str(e))}", file=sys.stderr)
        return 2
    except DownloadTimeoutError as e:
        print(
            f"pexrun: error: {printable(str(e))} It was not cached. On a network this slow, allow more time with "
            f"--download-timeout SECONDS (or ${DOWNLOAD_TIMEOUT_ENV}).",
            file=sys.stderr,
        )
        return 1
    except (RepositoryError, ManifestError, LaunchError, CacheError, OSError) as e:
        # Messages quote manifests' fields, which must not drive the terminal.
        print(f"pexrun: error: {printable(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
