"""Exceptions whose messages are written for the person who will read them.

Each class is small and specific so callers can catch exactly what they can handle, and
the portal can show `str(error)` directly: no message here may contain a stack trace,
a secret, or internal identifiers a user cannot act on.
"""

from __future__ import annotations


class StorePlatformError(Exception):
    """Base class: `str(e)` is a complete sentence fit for the user's page."""


class SettingsError(StorePlatformError):
    """A setting has a value the platform cannot use."""


class ValidationError(StorePlatformError):
    """User input is not acceptable; `field` names the form field it belongs to."""

    def __init__(self, message: str, *, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


class NameTakenError(ValidationError):
    """Another live store already uses this name."""


class LimitExceededError(StorePlatformError):
    """A per-user limit (store count or create rate) would be exceeded."""


class NotFoundError(StorePlatformError):
    """The store does not exist, or the acting user may not know that it does."""


class PermissionDeniedError(StorePlatformError):
    """The acting user may not perform this action."""


class InvalidStateError(StorePlatformError):
    """The action does not apply to the store in its current state."""


class AuthenticationError(StorePlatformError):
    """Sign-in refused (wrong credentials, disabled account or lockout)."""


class ClusterUnavailableError(StorePlatformError):
    """The Kubernetes API could not be reached; the operation may be retried later."""


class ClusterRejectedError(StorePlatformError):
    """The Kubernetes API refused a request in a way that retrying will not fix."""


class NotConfiguredError(StorePlatformError):
    """The action needs something an administrator has not set up (e.g. backup storage)."""
