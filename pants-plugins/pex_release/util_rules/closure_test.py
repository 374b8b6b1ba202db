# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import json

from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_requirements import strip_comments_from_pex_json_lockfile
from pants.engine.addresses import Address
from pants.testutil.rule_runner import RuleRunner
from pex_release.conftest import DEFAULT_LOCK
from pex_release.util_rules.closure import (
    ClosureLock,
    ClosureLockRequest,
    explain_subset_failure,
    normalize_closure_lock,
    prefilter_lock,
    requirement_name,
)

LOCK = json.loads(strip_comments_from_pex_json_lockfile(DEFAULT_LOCK.encode()))


def locked_names(lock: dict) -> set[str]:
    return {r["project_name"] for res in lock["locked_resolves"] for r in res["locked_requirements"]}


def test_requirement_name_is_canonical() -> None:
    assert requirement_name("Typing_Extensions>=4.8; python_version < '3.13'") == "typing-extensions"
    assert requirement_name("uvicorn[standard]==0.30") == "uvicorn"


def test_prefilter_keeps_what_is_reachable_by_name() -> None:
    candidate, missing = prefilter_lock(LOCK, ["cryptography>=42"])
    assert missing == ()
    # cryptography needs typing-extensions only below Python 3.11, but markers are left to pex.
    assert locked_names(candidate) == {"cryptography", "cffi", "pycparser", "typing-extensions"}
    assert candidate["requirements"] == ["cryptography>=42"]


def test_prefilter_reports_missing_requirements() -> None:
    _, missing = prefilter_lock(LOCK, ["click", "Left_Pad-NG>=1"])
    assert missing == ("left-pad-ng",)


def test_prefilter_ignores_unreachable_lock_entries() -> None:
    # An edit to an entry no requirement reaches leaves the candidate lock's bytes alone.
    edited = json.loads(json.dumps(LOCK))
    for locked in edited["locked_resolves"][0]["locked_requirements"]:
        if locked["project_name"] == "numpy":
            locked["version"] = "9.9.9"
    assert prefilter_lock(LOCK, ["click"]) == prefilter_lock(edited, ["click"])


def test_normalized_closure_pins_replace_requirements() -> None:
    candidate, _ = prefilter_lock(LOCK, ["click>=8"])
    closure_bytes, distributions = normalize_closure_lock(candidate)
    assert [d.pin for d in distributions] == ["click==8.5.1"]
    assert json.loads(closure_bytes)["requirements"] == ["click==8.5.1"]
    assert all(a.filename.startswith("click-8.5.1") for a in distributions[0].artifacts)


def closure(rule_runner: RuleRunner, *req_strings: str) -> ClosureLock:
    request = ClosureLockRequest(
        Address("src/python/app", target_name="release"),
        "python-default",
        req_strings,
        InterpreterConstraints(["CPython==3.12.*"]),
    )
    return rule_runner.request(ClosureLock, [request])


def test_equal_closures_from_different_requirements(rule_runner: RuleRunner) -> None:
    by_fastapi = closure(rule_runner, "fastapi>=0.110")
    by_fastapi_and_pydantic = closure(rule_runner, "fastapi", "pydantic>=2")
    assert by_fastapi == by_fastapi_and_pydantic
    assert "pydantic==2.14.4" in by_fastapi.pins and "starlette==1.10.0" in by_fastapi.pins
    assert not any(pin.startswith(("numpy", "click")) for pin in by_fastapi.pins)


# What pex prints for each kind of `pex3 lock subset` failure (pex 2.1.137, and 2.103.5).
NO_SUBSET = """\
usage: pex3 lock [-h] {create,export,export-subset,update} ...
pex3 lock: error: argument {create,export,export-subset,update}: invalid choice: 'subset' (choose from 'create', 'export', 'export-subset', 'update')"""
UNSATISFIED = "The locked version of click in candidate.lock is 8.5.1 which does not satisfy the 'click>=99' requirement."
NOT_JSON = "The lock file at candidate.lock does not contain valid JSON: Expecting value: line 1 column 1 (char 0)"


def subset_failure(stderr: str) -> str:
    request = ClosureLockRequest(
        Address("src/python/app", target_name="release"), "python-default", ("click>=99",), InterpreterConstraints()
    )
    return explain_subset_failure(request, "3rdparty/python/default.lock", "v2.103.5", stderr)


def test_a_pex_without_lock_subset_is_not_called_a_stale_lockfile() -> None:
    message = subset_failure(NO_SUBSET)
    assert message.startswith(
        "The pex tool Pants runs has no `pex3 lock subset`, which resolving the requirements of the "
        "`pex_release` target src/python/app:release (click>=99) needs: it is older than pex 2.33.1, "
        "although `[pex-cli].version` is v2.103.5."
    )
    assert "stale" not in message and "generate-lockfiles" not in message
    assert message.endswith("pex said:\n" + NO_SUBSET)


def test_an_unsatisfied_requirement_is_a_stale_lockfile() -> None:
    assert subset_failure(UNSATISFIED) == (
        "The lockfile 3rdparty/python/default.lock (resolve `python-default`) cannot satisfy the "
        "requirements of the `pex_release` target src/python/app:release (click>=99): the lockfile is "
        "stale. To fix, run `./pants generate-lockfiles --resolve=python-default` and commit the "
        "lockfile.\n\npex said:\n" + UNSATISFIED
    )


def test_other_failures_show_what_pex_said_without_a_diagnosis() -> None:
    assert subset_failure(NOT_JSON) == (
        "`pex3 lock subset` failed on 3rdparty/python/default.lock (resolve `python-default`) for the "
        "requirements of the `pex_release` target src/python/app:release (click>=99).\n\npex said:\n" + NOT_JSON
    )
