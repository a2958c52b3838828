"""Typed errors of the service; `serve.handlers` maps each to an HTTP status, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class ServiceError(Exception):
    """Base: `code` is the stable machine name, `field` the request part at fault (if any)."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class InvalidInputError(ServiceError):
    """The request cannot run as asked (a spec that does not fit the data, a bad cursor)."""

    code = "invalid"


class NotFoundError(ServiceError):
    code = "not_found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f'No {kind} "{ident}"', field="id")


class ConflictError(ServiceError):
    """The resource is in a state that refuses the request (cancel a finished run)."""

    code = "conflict"


class IdempotencyConflictError(ServiceError):
    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f'Idempotency-Key "{key}" was already used with a different request body',
            field="Idempotency-Key",
        )


class AuthenticationError(ServiceError):
    code = "unauthenticated"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="Authorization")


class ForbiddenError(ServiceError):
    code = "forbidden"


class QuotaExceededError(ServiceError):
    """Too many unfinished runs or sweeps for one owner; retry after `retry_after_s`."""

    code = "too_many_runs"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnavailableError(ServiceError):
    """A dependency (PostgreSQL, the DatasetRegistry) does not answer; retry later.
    `outcome_unknown`: it stopped answering during a statement, which may have committed."""

    code = "unavailable"

    def __init__(
        self, message: str, *, retry_after_s: int = 5, outcome_unknown: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after_s, self.outcome_unknown = retry_after_s, outcome_unknown


class MaybeCreatedError(UnavailableError):
    """A submit whose commit the database did not confirm: the `kind` may exist as `ident`."""

    def __init__(self, *, kind: str, path: str, ident: str, key: str | None) -> None:
        retry = ("a retry with the same Idempotency-Key answers it" if key is not None else
                 "send an Idempotency-Key so that a retry cannot create it twice")
        super().__init__(
            f"The database stopped answering while the {kind} was being stored: it may exist "
            f"as {ident} (GET {path}/{ident} tells once the database is back); {retry}"
        )
        self.ident = ident


@contextmanager
def creating(*, kind: str, path: str, ident: object, key: str | None) -> Iterator[None]:
    """Around a submit's write: a database that stopped mid-statement becomes
    MaybeCreatedError naming the id the new row was given."""
    try:
        yield
    except UnavailableError as err:
        if err.outcome_unknown:
            raise MaybeCreatedError(kind=kind, path=path, ident=str(ident), key=key) from err
        raise


class PayloadTooLargeError(ServiceError):
    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes", field="body")
