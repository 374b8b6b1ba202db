# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun: fetch, verify and run releases published by `pants publish`.

    pexrun run   <repository> <app>[@<version>] [--python PATH] [--script NAME] [-- args...]
    pexrun fetch <repository> <app>[@<version>]
    pexrun list  <repository> [<app>]
    pexrun info  <repository> <app>@<version>
    pexrun gc    --keep N

Every command takes --cache-dir DIR (default: $PEXRUN_CACHE_DIR, else ~/.cache/pexrun),
--s3-endpoint-url URL (default: $PEXRUN_S3_ENDPOINT_URL) and --download-timeout SECONDS (default:
$PEXRUN_DOWNLOAD_TIMEOUT, else 60; each manifest or index read gets that, each blob that plus 1 s
per 256 KiB of its size).
Repositories: file:///path, s3://bucket/prefix (with the host's boto3),
http(s)://host/path. Without a version, `run` and `fetch` take the highest PEP 440 version
published (a pre-release only when there is nothing else, as pip chooses).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Callable, Sequence

from pex_release_core.manifest import ManifestError, ReleasePex, printable
from pex_release_core.repository.base import DownloadTimeoutError, Repository, RepositoryError
from pex_release_core.repository.url import open_repository
from pexrun import __version__
from pexrun.cache import (
    CACHE_DIR_ENV,
    DEFAULT_DOWNLOAD_TIMEOUT_SECONDS,
    DOWNLOAD_TIMEOUT_ENV,
    BlobCache,
    CacheError,
    default_cache_dir,
)
from pexrun.launch import (
    Interpreter,
    LaunchError,
    base_python,
    check_interpreter,
    check_platforms,
    exec_release,
    release_environ,
    script_entry_point,
)
from pexrun.releases import published_versions, read_release

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


def run(args: argparse.Namespace) -> int:
    interpreter = Interpreter.at(args.python)
    repository = _repository(args)
    manifest, data = read_release(repository, *parse_release(args.release))
    # Checked before anything is downloaded.
    entry_point = script_entry_point(manifest, args.script)
    check_interpreter(interpreter, manifest)
    check_platforms(interpreter, manifest)
    release = _cache(args).fetch_release(repository, manifest, data)
    _warn(release.repairs)
    exec_release(interpreter, release, args.args, release_environ(release, entry_point, os.environ))


def fetch(args: argparse.Namespace) -> int:
    repository = _repository(args)
    manifest, data = read_release(repository, *parse_release(args.release))
    release = _cache(args).fetch_release(repository, manifest, data, verify=True)
    _warn(release.repairs)
    print(f"{manifest.app} {manifest.version}: verified in {args.cache_dir}")
    print(f"  deps     {release.deps}")
    print(f"  sources  {release.sources}")
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


def info(args: argparse.Namespace) -> int:
    app, version = parse_release(args.release)
    if version is None:
        raise UsageError(f"info needs an exact release: {app}@<version> (`pexrun list` shows them).")
    manifest, _ = read_release(_repository(args), app, version)
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
    ]
    lines = [f"{name + ':':<25}{printable(value)}" for name, value in fields]
    lines += _pex_line("deps", manifest.deps) + _pex_line("sources", manifest.sources)
    lines += _pex_line("single file", manifest.single_file)
    lines.append(f"distributions ({len(manifest.deps.distributions)}):")
    lines += [printable(f"  {d.name}=={d.version}  {d.file}  sha256:{d.sha256}") for d in manifest.deps.distributions]
    print("\n".join(lines))
    return 0


def gc(args: argparse.Namespace) -> int:
    report = BlobCache(args.cache_dir).gc(args.keep)
    for release in report.removed_releases:
        print(f"removed {release}")
    print(
        f"kept the {args.keep} most recently used releases of each app in {args.cache_dir}: removed "
        f"{len(report.removed_releases)} releases, {report.removed_trees} trees and {report.removed_blobs} blobs, "
        f"freed {report.freed_bytes:,} bytes"
    )
    return 0


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of releases (0 or more), got {value!r}")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds (more than 0), got {value!r}")
    return seconds


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
    parser = argparse.ArgumentParser(prog="pexrun", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pexrun {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    repository_help = "file:///path, s3://bucket/prefix or https://host/path"
    latest = "<app> (its highest version) or <app>@<version>"
    run_cmd = command("run", run, "fetch, verify and run a release; its arguments go after `--`")
    run_cmd.add_argument("repository", help=repository_help)
    run_cmd.add_argument("release", help=latest)
    run_cmd.add_argument("--python", default=base_python(), metavar="PATH", help="the interpreter (default: %(default)s)")
    run_cmd.add_argument("--script", metavar="NAME", help="run one of the release's scripts instead of its entry point")

    fetch_cmd = command(
        "fetch", fetch, "download a release and verify every file of it by hash, without running it; prints its PEXes' paths"
    )
    fetch_cmd.add_argument("repository", help=repository_help)
    fetch_cmd.add_argument("release", help=latest)

    list_cmd = command("list", list_releases, "list the published releases, of one app or of all")
    list_cmd.add_argument("repository", help=repository_help)
    list_cmd.add_argument("app", nargs="?")

    info_cmd = command("info", info, "show a release's manifest")
    info_cmd.add_argument("repository", help=repository_help)
    info_cmd.add_argument("release", help="<app>@<version>")

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
