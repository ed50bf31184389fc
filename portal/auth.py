"""Sign-in with streamlit-authenticator, on top of the users table.

The widget draws the form and keeps the cookie, but its password check is replaced by
the users service's (`UserService.verify_password`), so that a username that does not
exist costs the same bcrypt work as one that does (the widget answers an unknown name
at once). Lockout and disabled accounts are enforced from the database, because the
widget's own attempt counter lives in one session's memory and is lost on reload; the
answers are the same for every username, existing or not.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import jwt
import streamlit as st
import streamlit_authenticator as stauth

from portal.context import current_actor
from portal.feedback import rerun_app_after
from provisioning.errors import AuthenticationError
from provisioning.platform import Platform
from provisioning.users import FAILED_SIGN_IN

log = logging.getLogger(__name__)
COOKIE_NAME = "store_platform_auth"
COOKIE_COMPONENT_SECONDS = 1.0
COOKIE_FALLBACK_SECONDS = 10.0
# The widget's cookie setter (streamlit-authenticator 0.4.2 calls CookieManager.set with its
# default key): its value in the session turns True once the browser wrote the cookie.
COOKIE_SET_KEY = "set"
COOKIE_EXPIRY_DAYS = 1
SIGN_IN_ERROR = "sign_in_error"  # session key: why the last sign-in was refused
AUTH_KEYS = ("actor", "name", "username", "authentication_status", "email", "roles", "logout", SIGN_IN_ERROR)


def _authenticator(platform: Platform) -> stauth.Authenticate:
    authenticator = stauth.Authenticate(
        platform.users.login_credentials(),
        cookie_name=COOKIE_NAME,
        cookie_key=platform.cookie_key(),
        cookie_expiry_days=COOKIE_EXPIRY_DAYS,
        auto_hash=False,
        login_sleep_time=0,
    )
    model = authenticator.authentication_controller.authentication_model

    def check_credentials(username: str, password: str) -> bool:
        """The widget's password check (given the name lowercased and stripped), replaced:
        see the module docstring. A refusal's message is left in the session for sign_in."""
        if not platform.users.verify_password(username, password):
            st.session_state[SIGN_IN_ERROR] = platform.users.record_failed_login(username)
            return False
        if username not in model.credentials["usernames"]:  # disabled: the right password may say so
            st.session_state[SIGN_IN_ERROR] = platform.users.refusal(username) or FAILED_SIGN_IN
            return False
        return True

    model.check_credentials = check_credentials
    return authenticator


def sign_in(platform: Platform) -> None:
    """Resolve the session's actor; render the login form when there is none."""
    actor = current_actor()
    if actor is not None:
        try:  # re-checked on every run: a disabled account is signed out at once
            st.session_state["actor"] = platform.users.get_actor(actor.username)
        except AuthenticationError as error:
            sign_out(platform)
            st.error(str(error))
        return
    authenticator = _authenticator(platform)
    _refuse_revoked_cookie(platform, authenticator)
    login_area = st.empty()
    with login_area.container():
        st.title("Store Platform")
        st.caption("Order a WooCommerce store and get it running in its own Kubernetes namespace.")
        authenticator.login(
            location="main",
            key="login",
            fields={"Form name": "Sign in", "Username": "Username", "Password": "Password", "Login": "Sign in"},
        )
    status = st.session_state.get("authentication_status")
    if status:
        username = st.session_state.get("username") or ""
        try:
            platform.users.check_lockout(username)
            st.session_state["actor"] = platform.users.get_actor(username)
        except AuthenticationError as error:
            authenticator.authentication_controller.logout()
            authenticator.cookie_controller.delete_cookie()
            st.session_state["actor"] = None
            st.error(str(error))
            return
        st.session_state[SIGN_IN_ERROR] = None
        if _cookie_not_written_yet():
            _wait_for_cookie_component()  # ends this run; the component's answer starts the next
        login_area.empty()
    elif status is False:
        st.error(st.session_state.get(SIGN_IN_ERROR) or FAILED_SIGN_IN)


def _refuse_revoked_cookie(platform: Platform, authenticator: stauth.Authenticate) -> None:
    """A cookie from before the user's last sign-out must not sign them back in.

    Nor may a cookie the widget cannot read break the sign-in page: the library catches
    only bad signatures, so a token with another "alg" (or no exp_date) would raise on
    every run, and a store on a sibling domain could set such a cookie for the portal.
    """
    try:
        token = authenticator.cookie_controller.get_cookie()
        if not token:
            return
        issued = datetime.fromtimestamp(float(token["exp_date"]) - COOKIE_EXPIRY_DAYS * 86400, tz=UTC)
        valid = platform.users.session_still_valid(str(token.get("username", "")), issued)
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError, OverflowError):
        log.info("ignored an unreadable sign-in cookie")
        valid = False
    if not valid:
        st.session_state["logout"] = True  # makes the widget ignore the cookie
        authenticator.cookie_controller.delete_cookie()


def _cookie_not_written_yet() -> bool:
    """The form was just sent: the widget rendered its cookie setter (extra-streamlit-
    components' CookieManager, key ``COOKIE_SET_KEY``), whose value turns True once the
    browser has written the cookie. A sign-in from the cookie itself renders no setter."""
    return COOKIE_SET_KEY in st.session_state and st.session_state[COOKIE_SET_KEY] is not True


def _wait_for_cookie_component() -> None:
    """End this run with the form, and the cookie setter inside it, still on the page.

    Emptying the form in this run could unmount the setter before the browser ran it (on a
    loaded machine it did, and the next page load signed the user out). The setter's answer
    reruns the app, which then finds the signed-in actor and shows the page. The timer
    reruns it anyway after ``COOKIE_FALLBACK_SECONDS``, for a browser that never answers.
    """
    st.caption("Signing you in…")
    rerun_app_after(COOKIE_FALLBACK_SECONDS, key="_cookie_fallback_armed")
    st.stop()


def _let_cookie_component_run() -> None:
    """The authenticator sets and deletes its cookie from a browser component; give the
    browser a moment to mount it before the element is cleared or the script reruns, or
    the cookie is never written and a reload signs the user out (or back in)."""
    time.sleep(COOKIE_COMPONENT_SECONDS)


def sign_out(platform: Platform) -> None:
    """End the user's sessions server-side (so an old cookie is refused), then the cookie."""
    actor = current_actor()
    if actor is not None:
        platform.users.end_sessions(actor.username)
    try:
        authenticator = _authenticator(platform)
        authenticator.cookie_controller.delete_cookie()
        _let_cookie_component_run()
    except Exception:  # the cookie component may be unavailable; the server-side end is what counts
        log.debug("cookie deletion failed", exc_info=True)
    for key in AUTH_KEYS:
        st.session_state[key] = None
    st.session_state["logout"] = True
