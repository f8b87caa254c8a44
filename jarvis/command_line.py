"""The argument parser of every command (``jarvis``, ``jarvis-shipper``, ``jarvis-logs``).

A wrong argument is one line on stderr and exit status 2, as a bad setting from a file or
the environment is: ``jarvis serve: argument --llm: invalid choice: 'gpt' (see --help)``.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, without the usage block (its
    subcommands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {' '.join(message.splitlines())} (see {self.prog} --help)\n")


def fail(program: str, message: str) -> int:
    """Print ``program: message`` as one line on stderr; the exit status of a bad setting."""
    print(f"{program}: {' '.join(message.splitlines())}", file=sys.stderr)
    return 2
