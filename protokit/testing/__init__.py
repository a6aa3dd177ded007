"""Tools for testing mail software with protokit.

- :mod:`protokit.testing.fuzz`: fuzz entry points, one function per parser
  taking ``bytes`` (standard library only; usable by atheris or any
  byte-oriented fuzzer).
- :mod:`protokit.testing.strategies`: hypothesis strategies generating valid
  IMAP, POP3, SMTP and SASL commands, responses and whole sessions (needs
  hypothesis, a test dependency).

Nothing is imported here, so ``import protokit.testing.fuzz`` works without
hypothesis installed.
"""

from __future__ import annotations

__all__: list[str] = []
