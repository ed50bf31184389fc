"""What every command handler gets, and the two CLI-only errors (no service raises them).

Kept apart from main.py so the command modules can use them without importing the parser.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from provisioning.actors import Actor
from provisioning.cli.output import Output
from provisioning.platform import Platform


@dataclass
class Context:
    """The services (through the Platform), the acting admin and the output of one run."""

    platform: Platform
    actor: Actor
    out: Output


Handler = Callable[[Context, argparse.Namespace], int]


class UsageError(Exception):
    """A command line that parses but cannot be run as given (exit code 2)."""


class NotAnAdminError(Exception):
    """The actor is missing, unknown, disabled or not an admin (exit code 4)."""
