"""`python -m vpbx` is the `vpbx` command."""

import sys

from vpbx.cli.main import main

sys.exit(main())
