"""`python -m trigflow.cli` (how the tests start the server) is the `trigflow` command."""

import sys

from trigflow.cli import main

sys.exit(main())
