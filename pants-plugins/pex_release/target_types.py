# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The `pex_release` target: an app released as a deps PEX, a sources PEX and a manifest."""

from __future__ import annotations

import os
import re
from typing import Optional

from packaging.version import InvalidVersion, Version

from pants.backend.python.target_types import (
    EntryPoint,
    EntryPointField,
    InterpreterConstraintsField,
    PexArgsField,
    PexCompletePlatformsField,
    PexEnvField,
    PexExecutionModeField,
    PexLayout,
    PexLayoutField,
    PexPlatformsField,
    PexScriptField,
    PexShebangField,
    PythonResolveField,
)
from pants.engine.addresses import Address
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    AsyncFieldMixin,
    BoolField,
    Dependencies,
    DictStringToStringField,
    InvalidFieldException,
    InvalidTargetException,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.strutil import help_text, softwrap
from pex_release_core.manifest import AbbreviatedPlatform
from pex_release_core.repository.base import APPS, reserved_key

# The fields below are checked by `check(address)` when their release is built or run, not when the
# target is made: Pants makes every target of the repository (e.g. for dependency inference), so an
# exception there would make one bad field fail every build, not just its own target's.


class PexReleaseEntryPointField(EntryPointField):
    # Not `PexEntryPointField`: that one would make `pex_binary`'s package and run rules claim
    # this target too. Dependency inference for it lives in `dependency_inference.py`.
    help = help_text(
        f"""
        What runs when the release starts: a module, `'path.to.module:func'`, or the file name
        shorthand `'main.py'` / `'main.py:func'` relative to this BUILD file.

        Set exactly one of `{EntryPointField.alias}` and `{PexScriptField.alias}`.
        """
    )


class PexReleaseScriptsField(DictStringToStringField):
    alias = "scripts"
    help = help_text(
        """
        Extra commands the release exposes, as a mapping from a command name to an entry point
        (`'path.to.module:func'`), like the repeated `--script` of a hand-built PEX.

        They are recorded in the release manifest; `pexrun run <repo> <app> --script <name>`
        runs one, as does `PEX_MODULE=<entry point>` with the PEX files directly. The release's
        `args` are injected for the main entry point only, as pex does.
        """
    )

    def check(self, address: Address) -> None:
        for name, spec in (self.value or {}).items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
                raise InvalidFieldException(
                    softwrap(
                        f"""
                        The `{self.alias}` field in target {address} has the command name {name!r}.
                        To fix, use letters, digits, `.`, `_` and `-` only, e.g. `acme-checksum`.
                        """
                    )
                )
            try:
                EntryPoint.parse(spec, provenance=f"for the `{self.alias}` entry {name!r} in {address}")
            except ValueError as e:
                raise InvalidFieldException(str(e)) from None


class PexReleaseDependenciesField(Dependencies):
    supports_transitive_excludes = True


_APP_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


class PexReleaseAppField(StringField, AsyncFieldMixin):
    alias = "app"
    help = help_text(
        """
        The release's name: its manifest is `<app>.release.json` and repositories store it as
        `apps/<app>/<version>.json`. Lower-case letters, digits, `.`, `_` and `-`, starting with a
        letter or digit; not `index.json`, which is the repositories' index of apps.

        Defaults to the name of the directory holding this BUILD file. It must be unique in the
        repository.
        """
    )

    def value_or_default(self) -> str:
        return self.value or os.path.basename(self.address.spec_path) or "release"

    def check(self, address: Address) -> None:
        # The name derived from the directory is checked too: it names files and repository paths.
        name = self.value_or_default()
        problem = (
            f"The `pex_release` target {address} has no `{self.alias}` field, so its app name is "
            f"its directory's name, {name!r}"
            if self.value is None
            else f"The `{self.alias}` field in target {address} is {name!r}"
        )
        if not _APP_NAME.fullmatch(name):
            suggestion = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("._-") or "my-app"
            raise InvalidFieldException(
                softwrap(
                    f"""
                    {problem}, which is not a valid app name. To fix, set
                    `{self.alias}="{suggestion}"` (lower-case letters, digits, `.`, `_` and `-`,
                    starting with a letter or digit).
                    """
                )
            )
        # As the repositories check it when publishing, but before the build.
        reserved = reserved_key(APPS, name)
        if reserved is not None:
            raise InvalidFieldException(
                softwrap(
                    f"""
                    {problem}, which is reserved: repositories keep their index of apps at
                    {reserved}. To fix, set `{self.alias}="{name.replace(".", "-")}"`.
                    """
                )
            )


class PexReleaseVersionField(StringField):
    alias = "version"
    help = help_text(
        """
        The release's version, in PEP 440 form (e.g. `1.4.0`, `2.0.0rc1`).

        When unset, it is derived from the source revision: `0.dev<commit time>+g<commit>`, so
        later commits give higher versions; a checkout with uncommitted changes adds `.dirty`.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        try:
            return None if value is None else str(Version(value))
        except InvalidVersion:
            return value  # `check` reports it.

    def check(self, address: Address) -> None:
        try:
            if self.value is not None:
                Version(self.value)
        except InvalidVersion:
            raise InvalidFieldException(
                softwrap(
                    f"""
                    The `{self.alias}` field in target {address} is {self.value!r}, which is not a
                    PEP 440 version. To fix, use a version like `1.4.0`, `1.4.0rc1` or
                    `1.4.0.post1`, or remove the field to derive it from the source revision.
                    """
                )
            ) from None


class PexReleasePlatformsField(PexPlatformsField):
    # Checked so a typo is reported against the target, not deep inside a pex process.
    def check(self, address: Address) -> None:
        for platform in self.value or ():
            try:
                AbbreviatedPlatform.parse(platform)
            except ValueError:
                raise InvalidFieldException(
                    softwrap(
                        f"""
                        The `{self.alias}` field in target {address} has {platform!r}, which is not
                        a pex platform. To fix, use PLATFORM-IMPL-PYVER-ABI, e.g.
                        `linux_x86_64-cp-312-cp312` or `macosx_11_0_arm64-cp-3.12.1-cp312`.
                        """
                    )
                ) from None


class PexReleaseShebangField(PexShebangField):
    # pex writes the value as the PEX's first line: anything after a line break would be a command.
    def check(self, address: Address) -> None:
        value = self.value
        if value is not None and not (value.isprintable() and re.match(r"(#!)?/", value)):
            raise InvalidFieldException(
                softwrap(
                    f"""
                    The `{self.alias}` field in target {address} is {value!r}, which is not a
                    shebang: one line, without control characters, starting with an interpreter's
                    absolute path (`#!` is optional). To fix, use e.g.
                    `{self.alias}="/usr/bin/env python3.12"` or `{self.alias}="#!/usr/bin/python3"`.
                    """
                )
            )


class PexReleaseSingleFileField(BoolField):
    alias = "single_file"
    default = False
    help = help_text(
        """
        Also build `<app>.pex`: one PEX holding the dependencies and the sources, for hosts where
        copying one file is simplest. The manifest records it as `single_file`.
        """
    )


class PexReleaseLayoutField(PexLayoutField):
    default = PexLayout.PACKED.value
    help = help_text(
        f"""
        How the deps PEX and the sources PEX are laid out in `dist/releases/`: a directory
        (`{PexLayout.PACKED.value}`, the default, or `{PexLayout.LOOSE.value}`), or one file
        (`{PexLayout.ZIPAPP.value}`).

        `{PexLayout.PACKED.value}` makes each PEX a directory python runs (`PEX_PATH=<deps dir>
        python <sources dir>`) and publishes as a tree of files, each stored by its sha256: pex's
        bootstrap is one zip file, the same in every PEX of a pex version (and execution mode),
        and the deps PEX holds the wheel files the lockfile pins (built with
        `--no-pre-install-wheels`: nothing is installed or re-zipped at build time; pex installs
        them on the first run, into its cache). So a source edit publishes the changed files
        only, and a dependency bump only the wheels that changed. `{PexLayout.LOOSE.value}` is the
        same with pex's bootstrap as loose files.

        `{PexLayout.ZIPAPP.value}` builds each PEX as one file, with its wheels installed at build
        time, for users who copy PEX files by hand; publishing then uploads whole files. The
        `{PexReleaseSingleFileField.alias}` PEX is always one file.
        """
    )


class PexReleaseTarget(Target):
    alias = "pex_release"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        PexReleaseAppField,
        PexReleaseVersionField,
        PexReleaseEntryPointField,
        PexScriptField,
        PexReleaseScriptsField,
        PexReleaseDependenciesField,
        PythonResolveField,
        InterpreterConstraintsField,
        PexReleasePlatformsField,
        PexCompletePlatformsField,
        PexReleaseShebangField,
        PexEnvField,
        PexArgsField,
        PexExecutionModeField,
        PexReleaseLayoutField,
        PexReleaseSingleFileField,
    )
    help = help_text(
        """
        A releasable app: `package` builds a deps PEX (its third-party distributions, shared by
        every app with the same resolved closure), a sources PEX (its first-party code and entry
        point) and a release manifest `<app>.release.json`, all in `dist/releases/`.

        Run it with `PEX_PATH=<deps PEX> python <sources PEX>`, `pants run`, or publish it with
        `pants publish` and run it anywhere with `pexrun`.
        """
    )


def check_entry_point_or_script(
    address: Address, entry_point: PexReleaseEntryPointField, script: PexScriptField
) -> None:
    has_entry_point = entry_point.value is not None
    has_script = script.value is not None
    if has_entry_point == has_script:
        problem = "sets both" if has_entry_point else "sets neither of"
        raise InvalidTargetException(
            softwrap(
                f"""
                The `{PexReleaseTarget.alias}` target {address} {problem} the
                `{PexReleaseEntryPointField.alias}` and `{PexScriptField.alias}` fields. To
                fix, set exactly one: `entry_point="main.py"` for your own code, or
                `script="<console script>"` for one from a distribution.
                """
            )
        )


def check_env_names(address: Address, env: PexEnvField) -> None:
    """Names pex can inject as given: pex splits `NAME=VALUE` at the first `=`, so a name holding
    one would be injected as another name (and value) than the manifest records."""
    for name in env.value or {}:
        if not name or "=" in name or "\0" in name:
            raise InvalidFieldException(
                softwrap(
                    f"""
                    The `{env.alias}` field in target {address} has the variable name {name!r}: a
                    name must be non-empty, without `=` or a NUL character (pex injects
                    `NAME=VALUE` and splits it at the first `=`). To fix, rename the variable.
                    """
                )
            )


# -----------------------------------------------------------------------------------------------
# `pex_release_image` target
# -----------------------------------------------------------------------------------------------


class PexReleaseImageReleaseField(StringField, AsyncFieldMixin):
    alias = "release"
    required = True
    help = help_text(
        f"""
        The address of the `{PexReleaseTarget.alias}` target whose release the image runs, e.g.
        `":release"`. It becomes a dependency of this target, so `--changed-dependents` finds the
        image when the app changes.
        """
    )


class PexReleaseImageDependenciesField(Dependencies):
    pass


class PexReleaseImageBaseField(StringField):
    alias = "base_image"
    help = help_text(
        """
        The image to build on, one of:

        - a registry reference pinned by digest, `registry.example.com/python@sha256:<hex>` (a
          tag may come before the `@`); it is pulled once over the Registry HTTP API into Pants'
          cache and verified by its digest. A reference without a digest is refused: a tag moves,
          so the image would not be reproducible.
        - `oci:<directory>[:<tag>]`, an OCI image layout, or `oci-archive:<file>[:<tag>]`, a tar
          of one, relative to this BUILD file's directory (skopeo's transport names).

        Unset, the base is built from the build host's CPython for the release's interpreter
        constraints: that interpreter without its tests and headers, and the C libraries it loads
        (about 22 MB compressed). It needs no registry, and runs releases whose wheels this host
        can run.
        """
    )


class PexReleaseImagePythonField(StringField):
    alias = "python"
    default = "python3"
    help = help_text(
        """
        The base image's Python: an absolute path, or a name looked up on the base image's
        `PATH`. It must be the Python version the release was built for; the build checks it in
        the base image's files.
        """
    )


class PexReleaseImageRepositoryField(StringField):
    alias = "repository"
    help = help_text(
        """
        Where `publish` pushes the image: `<registry host>[:<port>]/<name>`, e.g.
        `registry.example.com/acme/api`. `{registry}` is replaced by `[pex-releases].registry`,
        e.g. `{registry}/acme/api`. Unset, the image is built but not published.
        """
    )


class PexReleaseImageTagsField(StringSequenceField):
    alias = "image_tags"
    default = ("{version}",)
    help = help_text(
        """
        The tags `publish` gives the image, and the names its OCI layout in `dist/` carries.
        `{version}` is replaced by the release's version, with `+` (invalid in a tag) as `-`.
        A tag is 1 to 128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
        """
    )


class PexReleaseImageTarget(Target):
    alias = "pex_release_image"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        PexReleaseImageReleaseField,
        PexReleaseImageDependenciesField,
        PexReleaseImageBaseField,
        PexReleaseImagePythonField,
        PexReleaseImageRepositoryField,
        PexReleaseImageTagsField,
    )
    help = help_text(
        f"""
        An OCI container image of a `{PexReleaseTarget.alias}`, built without a Docker daemon or a
        Dockerfile: the base image's layers, then a layer with pex's bootstrap, one layer per
        wheel (each installed, so nothing is installed when a container starts), a layer with the
        deps PEX's metadata and a layer with the app's own code. A source edit changes only the
        last layer; a dependency bump only its wheel's layer and the small metadata layer.

        `package` writes an OCI image layout to `dist/images/<app>.oci/`; `publish` pushes it to
        `repository`, uploading only the blobs the registry lacks.
        """
    )
