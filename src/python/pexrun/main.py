# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun: fetch, verify and run releases published by `pants publish`.

    pexrun run   <repository> <app>[@<version>] [--script NAME] [--python PATH] [-- args...]
    pexrun fetch <repository> <app>[@<version>]
    pexrun list  <repository> [<app>]
    pexrun info  <repository> <app>@<version>
    pexrun gc    --keep N

Repositories: file:///path, s3://bucket/prefix (needs boto3), http(s)://host/path.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from packaging.version import InvalidVersion, Version

from pex_release.manifest import ManifestError, ReleaseManifest
from pex_release.repository import NotFoundError, Repository, RepositoryError, open_repository
from pexrun.cache import BlobCache, FetchedRelease, default_cache_dir
from pexrun.launch import Interpreter, LaunchError, check_interpreter, exec_release, release_environ


class UsageError(Exception):
    pass


def parse_release(spec: str) -> tuple[str, str | None]:
    app, _, version = spec.partition("@")
    if not app:
        raise UsageError(f"{spec!r} is not a release: use <app> or <app>@<version>.")
    return app, version or None


def latest_version(repository: Repository, app: str) -> str:
    versions = []
    for version in repository.list_versions(app):
        try:
            versions.append(Version(version))
        except InvalidVersion:
            continue  # not published by pex-release
    if not versions:
        apps = repository.list_apps()
        raise NotFoundError(
            f"{app} is not published in {repository.url} (published apps: {', '.join(apps) or 'none'})."
        )
    return str(max(versions))


def read_manifest(repository: Repository, app: str, version: str | None) -> tuple[ReleaseManifest, bytes]:
    version = version or latest_version(repository, app)
    try:
        data = repository.read_manifest(app, version)
    except NotFoundError:
        published = repository.list_versions(app)
        raise NotFoundError(
            f"{app} {version} is not published in {repository.url} "
            f"(published versions: {', '.join(published) or 'none'})."
        )
    return ReleaseManifest.loads(data, origin=f"{repository.url} apps/{app}/{version}.json"), data


def fetch(args: argparse.Namespace) -> FetchedRelease:
    repository = open_repository(args.repository, s3_endpoint_url=args.s3_endpoint_url)
    manifest, data = read_manifest(repository, *parse_release(args.release))
    return BlobCache(args.cache_dir).fetch_release(repository, manifest, data)


def cmd_run(args: argparse.Namespace) -> int:
    release = fetch(args)
    interpreter = Interpreter.of(args.python)
    check_interpreter(interpreter, release)
    env = release_environ(release, args.script, os.environ)
    exec_release(interpreter, release, args.args, env)
    return 0  # not reached


def cmd_fetch(args: argparse.Namespace) -> int:
    release = fetch(args)
    print(f"{release.manifest.app} {release.manifest.version}")
    print(f"  deps:    {release.deps}")
    print(f"  sources: {release.sources}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    repository = open_repository(args.repository, s3_endpoint_url=args.s3_endpoint_url)
    for app in [args.app] if args.app else repository.list_apps():
        for version in repository.list_versions(app):
            print(f"{app}@{version}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    repository = open_repository(args.repository, s3_endpoint_url=args.s3_endpoint_url)
    app, version = parse_release(args.release)
    if version is None:
        raise UsageError("info needs an exact release: <app>@<version>.")
    manifest, _ = read_manifest(repository, app, version)
    print(f"app:          {manifest.app}")
    print(f"version:      {manifest.version}")
    print(f"revision:     {manifest.revision}")
    print(f"entry point:  {manifest.entry_point}")
    for name, entry_point in sorted(manifest.scripts.items()):
        print(f"script:       {name} = {entry_point}")
    print(f"interpreter:  {' or '.join(manifest.interpreter_constraints) or 'any'}")
    if manifest.platforms:
        print(f"platforms:    {', '.join(manifest.platforms)}")
    for role, blob in (("deps", manifest.deps), ("sources", manifest.sources), ("single file", manifest.single_file)):
        if blob is not None:
            print(f"{role + ':':<13} {blob.file} sha256:{blob.sha256} {blob.size:,} bytes")
    print(f"subset key:   {manifest.deps.subset_key}")
    print(f"distributions ({len(manifest.deps.distributions)}):")
    for dist in manifest.deps.distributions:
        print(f"  {dist.name}=={dist.version} sha256:{dist.sha256}")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    dropped, freed = BlobCache(args.cache_dir).gc(args.keep)
    print(f"removed {len(dropped)} releases ({', '.join(dropped) or 'none'}), freed {freed:,} bytes")
    return 0


def common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> argparse.ArgumentParser:
    # Accepted before and after the command; only the top level sets defaults, or a subcommand's
    # default would overwrite a value given before it.
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_dir() if defaults else argparse.SUPPRESS,
        help="local blob cache (default: $PEXRUN_CACHE_DIR or ~/.cache/pexrun)",
    )
    parser.add_argument(
        "--s3-endpoint-url",
        default=os.environ.get("PEXRUN_S3_ENDPOINT_URL") if defaults else argparse.SUPPRESS,
        help="endpoint of an S3-compatible store, for s3:// repositories (default: $PEXRUN_S3_ENDPOINT_URL)",
    )
    return parser


def parser() -> argparse.ArgumentParser:
    common = common_options(argparse.ArgumentParser(add_help=False), defaults=False)
    parser = common_options(
        argparse.ArgumentParser(prog="pexrun", description="Fetch, verify and run published releases."),
        defaults=True,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    run = command("run", cmd_run, "fetch, verify and run a release; arguments for it go after `--`")
    run.add_argument("repository")
    run.add_argument("release", help="<app> (the highest version) or <app>@<version>")
    run.add_argument("--script", help="run one of the release's scripts instead of its entry point")
    run.add_argument("--python", default=sys.executable, help="interpreter to run it with (default: this one)")

    fetch_cmd = command("fetch", cmd_fetch, "download and verify a release without running it")
    fetch_cmd.add_argument("repository")
    fetch_cmd.add_argument("release")

    list_cmd = command("list", cmd_list, "list published releases")
    list_cmd.add_argument("repository")
    list_cmd.add_argument("app", nargs="?")

    info = command("info", cmd_info, "show a release's manifest")
    info.add_argument("repository")
    info.add_argument("release", help="<app>@<version>")

    gc = command("gc", cmd_gc, "prune the cache")
    gc.add_argument("--keep", type=int, required=True, help="releases to keep per app, most recently used first")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` belongs to the release, options included.
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser().parse_args(argv[:split])
    args.args = argv[split + 1 :]
    try:
        return args.handler(args)
    except UsageError as e:
        print(f"pexrun: error: {e}", file=sys.stderr)
        return 2
    except (RepositoryError, ManifestError, LaunchError, OSError) as e:
        print(f"pexrun: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
