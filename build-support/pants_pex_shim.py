# Entry point of the pex tool PEX that the ./pants launcher builds for `[pex-cli]`.
#
# Pants runs the pex tool with its own Python 3.9 and sets PEX_PYTHON to it; pex 2.103.5 then refuses
# to build for the apps' CPython 3.12. Dropping only PEX_PYTHON keeps PEX_ROOT and the other PEX_*
# variables Pants relies on (the PEX is built with --no-strip-pex-env).
import os
import sys


def main():
    os.environ.pop("PEX_PYTHON", None)
    from pex.bin.pex import main as pex_main

    return pex_main()


if __name__ == "__main__":
    sys.exit(main())
