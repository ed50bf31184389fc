"""Turning errors into messages a person can act on, and keeping tracebacks in the log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.exc import InterfaceError, OperationalError

from provisioning.errors import ClusterUnavailableError, StorePlatformError

log = logging.getLogger("portal")

DATABASE_RETRY_SECONDS = 5
DATABASE_UNAVAILABLE = (
    "The database is unavailable right now (it may be restarting). Nothing is saved halfway: "
    "an action you just took either completed or did not happen. "
    f"This page tries again by itself every {DATABASE_RETRY_SECONDS} seconds."
)


def unexpected_error_message(error: BaseException) -> str:
    """Log the traceback with a reference the user can quote; return the page message."""
    reference = uuid.uuid4().hex[:8]
    log.error("unexpected error (ref %s)", reference, exc_info=error)
    return (
        "Something went wrong on our side. Please try again; if it keeps happening, "
        f"give your administrator this reference: {reference}."
    )


def database_unavailable(error: BaseException) -> bool:
    """True for connection-level database errors: server down, restarting or unreachable.

    SQLAlchemy raises OperationalError (or InterfaceError) for these on PostgreSQL and
    SQLite alike; a transaction they interrupt is rolled back by the database, so the
    page can say that nothing was half-saved.
    """
    return isinstance(error, (OperationalError, InterfaceError))


def _database_message(error: BaseException) -> str:
    first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[:1]
    log.warning("database unavailable: %s", first_line[0] if first_line else type(error).__name__)
    return DATABASE_UNAVAILABLE


def show_database_unavailable(error: BaseException) -> None:
    """The page-level message, and a timer that reruns the app until the database is back."""
    st.warning(_database_message(error), icon="🛢️")
    rerun_app_after(DATABASE_RETRY_SECONDS, key="_database_retry_armed")


def rerun_app_after(seconds: float, *, key: str) -> None:
    """A timer (a fragment with ``run_every``) that reruns the whole app in ``seconds``,
    and again every ``seconds`` while the page that armed it stays up."""
    st.session_state[key] = False

    @st.fragment(run_every=seconds)
    def _timer() -> None:
        # The first call happens inline during this run; the timer's calls rerun the app.
        if st.session_state.get(key):
            st.rerun()
        st.session_state[key] = True

    _timer()


@contextmanager
def user_errors(*, where: st.delta_generator.DeltaGenerator | None = None) -> Iterator[None]:
    """Show StorePlatformError text as is; anything else as a generic, logged message."""
    target = where or st
    try:
        yield
    except ClusterUnavailableError as error:
        target.warning(f"The cluster cannot be reached right now: {error}")
    except StorePlatformError as error:
        target.error(str(error))
    except Exception as error:  # Streamlit's rerun/stop are BaseException: they pass through
        if database_unavailable(error):
            target.warning(_database_message(error), icon="🛢️")
        else:
            target.error(unexpected_error_message(error))
