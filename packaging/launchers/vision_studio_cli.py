"""Entry script of the frozen command-line executable (``vision-studio-cli``).

A console program on Windows (the GUI executable has no console); the same
sub-commands as the ``vision-studio`` command of a pip install.
"""
from __future__ import annotations

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from vision_studio.cli import main
    sys.exit(main())
