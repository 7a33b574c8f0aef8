"""Entry point for `python -m reaper`."""

import sys

from reaper.cli import main

sys.exit(main())
