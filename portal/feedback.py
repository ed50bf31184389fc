"""Turning errors into messages a person can act on, and keeping tracebacks in the log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from provisioning.errors import ClusterUnavailableError, StorePlatformError

log = logging.getLogger("portal")


def unexpected_error_message(error: BaseException) -> str:
    """Log the traceback with a reference the user can quote; return the page message."""
    reference = uuid.uuid4().hex[:8]
    log.error("unexpected error (ref %s)", reference, exc_info=error)
    return (
        "Something went wrong on our side. Please try again; if it keeps happening, "
        f"give your administrator this reference: {reference}."
    )


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
        target.error(unexpected_error_message(error))
