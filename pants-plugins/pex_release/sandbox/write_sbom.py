# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Writes a release's SBOM: a CycloneDX 1.6 JSON document, built and checked against the CycloneDX
schema with cyclonedx-python-lib. The rules run it as a process of the SBOM tool PEX (`[pex-release-sbom]`).

    write_sbom INPUT.json OUTPUT.cdx.json

INPUT.json names the app, its version and the distributions of its deps PEX, each with the sha256
of the artifact its lockfile pins. The app is the document's subject (`metadata.component`), each
distribution a library component with its purl (`pkg:pypi/<name>@<version>`) and that sha256.
So that the same release gives the same bytes, the serial number is derived from the inputs, not
drawn at random, and the document records no time (the schema's timestamp is optional): it
changes only when what it lists does.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import uuid
from typing import Any, Sequence

from cyclonedx.model import HashAlgorithm, HashType  # pants: no-infer-dep
from cyclonedx.model.bom import Bom, BomMetaData  # pants: no-infer-dep
from cyclonedx.model.component import Component, ComponentType  # pants: no-infer-dep
from cyclonedx.output.json import JsonV1Dot6  # pants: no-infer-dep
from cyclonedx.schema import SchemaVersion  # pants: no-infer-dep
from cyclonedx.validation.json import JsonStrictValidator  # pants: no-infer-dep
from packageurl import PackageURL  # pants: no-infer-dep


def _pypi_name(name: str) -> str:
    # The purl spec's pypi type: lowercase, `_` and `.` runs as `-` (PEP 503's normal form).
    return re.sub(r"[-_.]+", "-", name).lower()


def sbom(inputs: dict[str, Any]) -> str:
    app = Component(
        type=ComponentType.APPLICATION,
        name=inputs["app"],
        version=inputs["version"],
        bom_ref=f"{inputs['app']}@{inputs['version']}",
    )
    libraries = []
    for dist in inputs["distributions"]:
        purl = PackageURL(type="pypi", name=_pypi_name(dist["name"]), version=dist["version"])
        libraries.append(
            Component(
                type=ComponentType.LIBRARY,
                name=dist["name"],
                version=dist["version"],
                purl=purl,
                bom_ref=str(purl),
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=dist["sha256"])],
            )
        )
    canonical = json.dumps(inputs, sort_keys=True).encode()
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, "pex-release-sbom:" + hashlib.sha256(canonical).hexdigest()),
        metadata=BomMetaData(component=app),
        components=libraries,
    )
    bom.metadata.timestamp = None  # the library's default is now
    bom.register_dependency(app, libraries)
    document = JsonV1Dot6(bom).output_as_string(indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document)
    if error is not None:  # never for what this writes: a library change would show here first
        raise ValueError(f"the SBOM of {inputs['app']} {inputs['version']} is not valid CycloneDX 1.6: {error}")
    return document + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    input_path, output_path = sys.argv[1:] if argv is None else argv
    with open(input_path) as f:
        document = sbom(json.load(f))
    with open(output_path, "w") as f:
        f.write(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
