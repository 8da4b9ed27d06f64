"""`python -m vpbx` is the `vpbx` command."""

import sys

from vpbx.cli.main import main

# Guarded: uvicorn's workers are spawned processes that import the parent's main module again.
if __name__ == "__main__":
    sys.exit(main())
