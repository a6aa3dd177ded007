"""The codec's hypothesis strategies now live in protokit.testing (public, so
users can fuzz with them); the tests import them from there."""

from protokit.testing._imap_strategies import commands as commands
from protokit.testing._imap_strategies import fetches as fetches
from protokit.testing._imap_strategies import responses as responses

__all__ = ["commands", "fetches", "responses"]
