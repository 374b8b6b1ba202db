# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

from textwrap import dedent

import pytest

from pex_release.util_rules.entry_points import ModuleNames

# example-python's helloworld/main.py, as the adoption report has it.
HELLO = dedent(
    """\
    from colors import green

    def say_hello() -> None:
        print(green("Hello, World!"))

    if __name__ == "__main__":
        say_hello()
    """
).encode()


def names(source: str) -> ModuleNames:
    parsed = ModuleNames.parse(dedent(source).encode())
    assert parsed is not None
    return parsed


def test_a_missing_function_names_what_the_module_defines_and_suggests_the_script_form() -> None:
    parsed = ModuleNames.parse(HELLO)
    assert parsed is not None and parsed.main_block
    assert parsed.problem("main", "main.py") == (
        "which does not define `main` (it defines `green`, `say_hello`). It runs as a script "
        '(`if __name__ == "__main__":`): to run it so, set `entry_point="main.py"`.'
    )
    assert parsed.problem("say_hello", "main.py") is None


def test_a_close_name_is_suggested() -> None:
    assert names("def say_hello(): ...\n").problem("say_helo", "main.py") == (
        "which does not define `say_helo` (it defines `say_hello`). Did you mean `say_hello`?"
    )


def test_class_methods_are_checked_in_their_class() -> None:
    parsed = names(
        """\
        class App:
            def run(self): ...
            serve = run
        """
    )
    assert parsed.problem("App.run", "app.py") is None and parsed.problem("App.serve", "app.py") is None
    assert parsed.problem("App.start", "app.py") == "whose class `App` does not define `start` (it defines `run`, `serve`)"
    assert parsed.problem("Ap.run", "app.py").startswith("which does not define `Ap` (it defines `App`). Did you mean `App`?")


@pytest.mark.parametrize(
    "source",
    [
        "from os.path import *\n",  # a star import may bring it
        "def __getattr__(name): ...\n",  # so may a module __getattr__
    ],
)
def test_what_cannot_be_told_passes(source: str) -> None:
    assert names(source).problem("main", "main.py") is None


@pytest.mark.parametrize(
    "source",
    [
        "from base import Base\nclass App(Base): ...\n",  # inherited
        "class App(metaclass=Meta): ...\n",
        "@register\nclass App: ...\n",
    ],
)
def test_methods_a_class_may_get_from_elsewhere_pass(source: str) -> None:
    assert names(source).problem("App.run", "app.py") is None


def test_names_bound_by_imports_assignments_and_conditional_blocks_count() -> None:
    parsed = names(
        """\
        import json as main_json
        from cli import run as main
        handler: object = None
        app = other = object()
        try:
            from fast import serve
        except ImportError:
            def serve(): ...
        if True:
            def later(): ...
        """
    )
    for name in ("main_json", "main", "handler", "app", "other", "serve", "later"):
        assert parsed.problem(name, "main.py") is None, name


def test_a_module_this_python_cannot_parse_is_not_told() -> None:
    assert ModuleNames.parse(b"def main(:\n") is None
