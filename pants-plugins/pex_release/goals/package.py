# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`package` for `pex_release`: a deps PEX, a sources PEX and a release manifest per app."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, TypeVar

from pants.backend.python.target_types import (
    PexLayout,
)
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.engine.addresses import Address
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestEntries,
    FileContent,
    FileEntry,
    MergeDigests,
    SymlinkEntry,
)
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import AllTargets, InvalidFieldException
from pants.engine.unions import UnionRule
from pants.option.global_options import NamedCachesDirOption
from pants.util.frozendict import FrozenDict
from pants.util.strutil import softwrap
from pex_release.target_types import (
    PexReleaseAppField,
    PexReleaseVersionField,
)
from pex_release.util_rules.closure import (
    ClosureLock,
    LockedDistribution,
    canonical_name,
)
from pex_release.util_rules.release_plan import (
    DEPS_PEX,
    SINGLE_FILE_PEX,
    SOURCES_PEX,
    CheckedRelease,
    PexReleaseFieldSet,
    ReleasePexes,
)
from pex_release.util_rules.revision import SourceRevision
from pex_release.util_rules.sbom import ReleaseSbom, ReleaseSbomRequest
from pex_release_core.manifest import (
    Blob,
    DepsPex,
    Distribution,
    ReleaseManifest,
    ReleasePex,
    TreeFile,
    TreeSymlink,
)

RELEASES_DIR = "releases"


# -----------------------------------------------------------------------------------------------
# The release: files in dist/releases/ and the manifest
# -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PexReleaseApps:
    """Every `pex_release` target in the repository, by app name."""

    addresses_by_app: FrozenDict[str, tuple[Address, ...]]

    def check_unique(self, field_set: PexReleaseFieldSet) -> None:
        addresses = self.addresses_by_app.get(field_set.app_name, ())
        if len(addresses) > 1:
            raise InvalidFieldException(
                softwrap(
                    f"""
                    The `pex_release` targets {', '.join(str(a) for a in addresses)} all release
                    the app `{field_set.app_name}` (their `{PexReleaseAppField.alias}` field, which
                    defaults to the BUILD file's directory name). Apps must be unique in the
                    repository: to fix, set a distinct `{PexReleaseAppField.alias}` on each.
                    """
                )
            )


@rule
async def pex_release_apps(all_targets: AllTargets) -> PexReleaseApps:
    by_app: defaultdict[str, list[Address]] = defaultdict(list)
    for target in all_targets:
        if target.has_field(PexReleaseAppField):
            by_app[target[PexReleaseAppField].value_or_default()].append(target.address)
    return PexReleaseApps(FrozenDict((app, tuple(sorted(a))) for app, a in by_app.items()))


@dataclass(frozen=True)
class ReleaseFiles:
    """Where each PEX of a release goes in dist/. The deps PEX is named by its subset key, so
    apps that share it share one file."""

    app: str
    subset_key: str

    @property
    def deps(self) -> str:
        return f"deps-{self.subset_key[:16]}.pex"

    @property
    def sources(self) -> str:
        return f"{self.app}-srcs.pex"

    @property
    def single_file(self) -> str:
        return f"{self.app}.pex"

    @property
    def manifest(self) -> str:
        return f"{self.app}.release.json"

    @property
    def sbom(self) -> str:
        return f"{self.app}.cdx.json"

    def placed(self, built_path: str) -> str | None:
        """Where a file built under a fixed name (e.g. `deps.pex/PEX-INFO`) goes in dist/."""
        top, sep, rest = built_path.partition("/")
        names = {DEPS_PEX: self.deps, SOURCES_PEX: self.sources, SINGLE_FILE_PEX: self.single_file}
        return f"{RELEASES_DIR}/{names[top]}{sep}{rest}" if top in names else None


_Pex = TypeVar("_Pex", bound=ReleasePex)


def release_pex(cls: type[_Pex], file: str, layout: PexLayout, placed: DigestEntries, **extra: Any) -> _Pex:
    """The PEX `file` of dist/releases/, as the manifest describes it: a zipapp's sha256 and size, or
    a tree's files (mode from the executable bit, all Pants records) and symlinks."""
    prefix = f"{RELEASES_DIR}/{file}"
    if layout is PexLayout.ZIPAPP:
        (digest,) = (e.file_digest for e in placed if isinstance(e, FileEntry) and e.path == prefix)
        return cls(file, layout.value, digest.fingerprint, digest.serialized_bytes_length, **extra)
    files, symlinks = [], []
    for entry in placed:
        if not entry.path.startswith(prefix + "/"):
            continue
        path = entry.path[len(prefix) + 1 :]
        if isinstance(entry, FileEntry):
            digest = entry.file_digest
            mode = "0755" if entry.is_executable else "0644"
            files.append(TreeFile(path, digest.fingerprint, digest.serialized_bytes_length, mode))
        elif isinstance(entry, SymlinkEntry):
            symlinks.append(TreeSymlink(path, entry.target))
    return cls.tree(file, layout.value, tuple(files), tuple(symlinks), **extra)


class LockMismatchError(Exception):
    """A deps PEX holds a wheel whose bytes are not the artifact the lockfile pins."""


def check_deps_wheels(address: Address, deps: DepsPex, named_caches_dir: str) -> None:
    """Fails the build when a wheel of the deps tree is not the one the lockfile pins: what a
    corrupted copy in pex's download cache (which pex trusts by the lock's hash) would give."""
    mismatches = deps.wheel_mismatches()
    if not mismatches:
        return
    wheels = "; ".join(
        f"{path} has sha256 {actual}, the lockfile pins {locked}" for path, locked, actual in mismatches
    )
    caches = " ".join(f"{named_caches_dir}/pex_root/downloads/*/{locked}" for _, locked, _ in mismatches)
    raise LockMismatchError(
        softwrap(
            f"""
            The deps PEX {deps.file} of the `pex_release` target {address} holds wheels that are not
            the artifacts the lockfile pins: {wheels}. pex took them from its download cache (or
            Pants this deps PEX from its process cache, local or remote), and a copy there is
            damaged. To fix, delete pex's copies (`rm -r {caches}`) and build again without the
            process cache: `./pants --no-local-cache --no-remote-cache-read package {address}`.
            """
        )
    )


def manifest_distributions(wheels: tuple[str, ...], closure: ClosureLock | None) -> tuple[Distribution, ...]:
    """What the deps PEX holds, with the artifact the lockfile pins for each."""
    locked: dict[str, LockedDistribution] = {d.name: d for d in (closure.distributions if closure else ())}
    distributions = []
    for filename in wheels:
        name = canonical_name(filename.split("-", 1)[0])
        dist = locked[name]
        # A wheel pex built from an sdist is not in the lock; the sdist it came from is.
        (artifact, *_) = [a for a in dist.artifacts if a.filename == filename] or [
            a for a in dist.artifacts if not a.filename.endswith(".whl")
        ]
        distributions.append(
            Distribution(name=name, version=dist.version, sha256=artifact.sha256, file=artifact.filename)
        )
    return tuple(sorted(distributions, key=lambda d: d.name))


def release_version(field_set: PexReleaseFieldSet, revision: SourceRevision) -> str:
    version = field_set.version.value or revision.derived_version()
    if version is None:
        raise InvalidFieldException(
            softwrap(
                f"""
                The `pex_release` target {field_set.address} has no `{PexReleaseVersionField.alias}`
                and the source tree is not a git checkout with a commit to derive one from. To fix,
                set `{PexReleaseVersionField.alias}="1.0.0"` (any PEP 440 version) on the target.
                """
            )
        )
    return version


@rule(desc="Packaging a `pex_release`")
async def package_pex_release(
    field_set: PexReleaseFieldSet, apps: PexReleaseApps, named_caches: NamedCachesDirOption
) -> BuiltPackage:
    apps.check_unique(field_set)
    # Before any PEX is built: the target's fields, then a version that cannot be derived, fail in a
    # second, not after the builds.
    await Get(CheckedRelease, PexReleaseFieldSet, field_set)
    revision = await Get(SourceRevision)
    version = release_version(field_set, revision)
    pexes = await Get(ReleasePexes, PexReleaseFieldSet, field_set)
    plan = pexes.plan
    files = ReleaseFiles(field_set.app_name, plan.subset_key)
    built = await Get(
        Digest,
        MergeDigests(p.digest for p in (plan.deps, pexes.sources, pexes.single_file) if p),
    )
    entries = await Get(DigestEntries, Digest, built)
    placed_digest = await Get(
        Digest,
        CreateDigest(
            dataclasses.replace(e, path=files.placed(e.path)) for e in entries if files.placed(e.path)
        ),
    )
    placed = await Get(DigestEntries, Digest, placed_digest)

    deps = release_pex(
        DepsPex,
        files.deps,
        plan.layout,
        placed,
        subset_key=plan.subset_key,
        distributions=manifest_distributions(plan.deps_contents.wheels, plan.closure),
    )
    check_deps_wheels(field_set.address, deps, str(named_caches.val))
    sbom = await Get(ReleaseSbom, ReleaseSbomRequest(field_set.app_name, version, deps.distributions))
    sbom_blob = Blob(file=files.sbom, sha256=hashlib.sha256(sbom.content).hexdigest(), size=len(sbom.content))
    entry_point = plan.main.spec
    manifest = ReleaseManifest(
        app=field_set.app_name,
        version=version,
        revision=revision.revision,
        entry_point=entry_point,
        scripts={name: ep.spec for name, ep in plan.entry_points.scripts},
        interpreter_constraints=plan.interpreter_constraints,
        platforms=tuple(field_set.platforms.value or ()),
        complete_platforms=plan.complete_platforms,
        env=dict(field_set.env.value or {}),
        args=tuple(field_set.args.value or ()),
        deps=deps,
        sources=release_pex(ReleasePex, files.sources, plan.layout, placed),
        single_file=(
            release_pex(ReleasePex, files.single_file, PexLayout.ZIPAPP, placed) if pexes.single_file else None
        ),
        sbom=sbom_blob,
    )
    manifest_path = f"{RELEASES_DIR}/{files.manifest}"
    manifest_digest = await Get(
        Digest,
        CreateDigest(
            [
                FileContent(manifest_path, manifest.dumps()),
                FileContent(f"{RELEASES_DIR}/{files.sbom}", sbom.content),
            ]
        ),
    )
    digest = await Get(Digest, MergeDigests([placed_digest, manifest_digest]))

    def artifact(pex: ReleasePex, role: str) -> BuiltPackageArtifact:
        what = f"{len(pex.files):,} files, {pex.size:,} bytes" if pex.is_tree else f"{pex.size:,} bytes"
        return BuiltPackageArtifact(
            f"{RELEASES_DIR}/{pex.file}", extra_log_lines=(f"    {role}: {what}, sha256 {pex.sha256[:16]}",)
        )

    return BuiltPackage(
        digest,
        (
            artifact(manifest.deps, f"deps PEX of {manifest.app} ({len(manifest.deps.distributions)} distributions)"),
            artifact(manifest.sources, f"sources PEX of {manifest.app}"),
            *((artifact(manifest.single_file, f"single-file PEX of {manifest.app}"),) if manifest.single_file else ()),
            BuiltPackageArtifact(
                f"{RELEASES_DIR}/{files.sbom}",
                extra_log_lines=(f"    SBOM of {manifest.app} (CycloneDX 1.6), sha256 {sbom_blob.sha256[:16]}",),
            ),
            BuiltPackageArtifact(
                manifest_path, extra_log_lines=(f"    release {manifest.app} {manifest.version} ({manifest.revision})",)
            ),
        ),
    )


def rules():
    return [*collect_rules(), UnionRule(PackageFieldSet, PexReleaseFieldSet)]
