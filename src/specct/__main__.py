"""``python -m specct <subcommand> [args]``: the same as the ``specct`` command (:mod:`specct.commands`)."""
import sys

from .commands import main

if __name__ == "__main__":
    sys.exit(main())
