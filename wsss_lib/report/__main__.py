"""``python -m wsss_lib.report [options]`` — the same as ``wsss report [options]``."""

import sys

from wsss_lib.report.command import report_main

if __name__ == "__main__":
    sys.exit(report_main())
