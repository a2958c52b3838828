"""Errors the user can fix, and the one line the CLI prints for them (no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

from runtime.config import SettingsError


class CommandError(Exception):
    """An error the user can fix; printed without a traceback."""


def user_error_message(err: Exception) -> str | None:
    """The one-line message for an error caused by input or environment; None for a bug."""
    import psycopg
    from pydantic import ValidationError

    cause = getattr(err, "cause", None)  # a Ray task or actor error wraps the original one
    if isinstance(cause, Exception) and type(err).__module__.startswith("ray."):
        return user_error_message(cause)
    if isinstance(err, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors()
        )
        return f"invalid {err.title}: {problems}"
    if isinstance(err, psycopg.OperationalError):
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"database unreachable: {first}"
    from serve.errors import ServiceError

    if isinstance(err, ServiceError):
        return err.message
    if isinstance(err, CommandError | SettingsError | ValueError | LookupError | RuntimeError):
        return " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError):
        return str(err)
    return None


def read_json_file(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except json.JSONDecodeError as err:
        raise CommandError(f"{path}: not valid JSON ({err})") from None
