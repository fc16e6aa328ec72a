"""The base of every error qualitylab raises for its users: the command line catches it
once and prints its message; anything else is a bug and keeps its traceback."""

from __future__ import annotations


class QualitylabError(Exception):
    """A problem a user can fix: a bad input, option or file; the message says which."""
