"""Errors a user reads, and the one line for those nobody planned (a leaf module: it imports
nothing of the engine).

Every error the engine raises on purpose says in one sentence what is wrong and what to do.
``UserError`` also carries a message key and its values, so the studio can show the sentence in
the user's language (ui/i18n.py has the same key); the English text is the CLI's.
"""

from __future__ import annotations

import errno
import re

# a failed write deep inside a library does not always arrive as OSError(ENOSPC): safetensors'
# Rust writer raises "SafetensorError: Error while serializing: IoError(Os { code: 28, ... })",
# others only say "No space left on device" or "Disk quota exceeded"
_DISK_FULL_TEXT = re.compile(
    r"no space left on device|disk quota exceeded|os error (28|122)\b"
    r"|\bcode:\s*(28|122)\b|errno (28|122)\b",
    re.IGNORECASE,
)


class UserError(Exception):
    """An error whose message is meant for the user. ``key`` + ``values`` name the same
    sentence in the UI's message catalogue (empty key: the message is shown as it is)."""

    key = ""

    def __init__(self, message: str, key: str = "", **values):
        super().__init__(message)
        self.key = key or self.key
        self.values = values


class AccessError(UserError, PermissionError):
    """The signed-in user may not see or change this (another user's run, file or setting)."""


class ConfigError(ValueError):
    """A setting with a value the engine cannot use; the message says which and why."""


class PredictError(ValueError):
    """The run cannot predict (not finished, no model); the message says why."""


class QuotaError(UserError, OSError):
    """A user's uploads would go over their quota."""


def is_disk_full(exc: BaseException) -> bool:
    """A full disk or quota, whatever the library that met it: OSError ENOSPC / EDQUOT, or an
    error whose text (or cause) says so (safetensors, tokenizers and torch wrap it)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if _DISK_FULL_TEXT.search(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def disk_full_message(where: str = "") -> str:
    place = f" ({where})" if where else ""
    return (
        f"The disk is full{place}: free some space (delete old runs in the Runs tab, or "
        "their exports) or start the studio with another --runs-dir, then resume or "
        "start the run again."
    )


OUT_OF_MEMORY = (
    "Out of memory: lower the batch size or the max length, or use the LoRA or head strategy."
)


def human_error(exc: BaseException) -> str:
    """One line a user can act on, for the errors we expect; type + message otherwise."""
    text = str(exc)
    if isinstance(exc, UserError):
        return text
    if is_disk_full(exc):
        return disk_full_message(getattr(exc, "filename", None) or "")
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return OUT_OF_MEMORY
    if isinstance(exc, ValueError) and text:
        return text
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'unexpected error'}"
