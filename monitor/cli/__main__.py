"""`python -m monitor.cli ...` = `monitor ...`."""

import sys

from monitor.cli import main

sys.exit(main())
