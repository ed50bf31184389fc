"""API tokens: personal tokens for the REST API (`Authorization: Bearer spt_...`).

A new token is shown once, right after it is created; the platform keeps only a digest.
Administrators also see every user's tokens here and can revoke any of them.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from portal.context import get_platform, require_actor
from portal.display import relative_time
from portal.feedback import user_errors
from provisioning.identity import TokenInfo
from provisioning.models import utcnow

EXPIRIES: dict[str, int | None] = {"30 days": 30, "90 days": 90, "1 year": 365, "7 days": 7, "No expiry": None}
STATE_LABEL = {"active": "✅ Active", "expired": "⌛ Expired", "revoked": "🚫 Revoked"}
NOTICE = "_api_tokens_notice"

actor = require_actor()
platform = get_platform()


def _table(tokens: list[TokenInfo], *, owners: bool) -> None:
    now = utcnow()
    rows = []
    for t in tokens:
        row = {"Owner": t.owner} if owners else {}
        row.update(
            {
                "Name": t.name,
                "Token": f"{t.hint}…",
                "Status": STATE_LABEL[t.state(now)],
                "Created": t.created_at,
                "Expires": t.expires_at.strftime("%Y-%m-%d %H:%M UTC") if t.expires_at else "never",
                "Last used": relative_time(t.last_used_at, now=now) if t.last_used_at else "never",
            }
        )
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _revoke_control(tokens: list[TokenInfo], *, key: str, owners: bool) -> None:
    active = [t for t in tokens if t.active]
    if not active:
        return
    labels = {t.id: (f"{t.owner}: " if owners else "") + f"{t.name} ({t.hint}…)" for t in active}
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Token to revoke", list(labels), format_func=labels.__getitem__, key=f"{key}_choice")
    if right.button("Revoke", key=key, type="secondary") and chosen is not None:
        revoked = None
        with user_errors():
            revoked = platform.tokens.revoke_token(actor, chosen)
        if revoked is not None:
            st.session_state[NOTICE] = f"Token {revoked.name!r} revoked: calls with it are refused from now on."
            st.rerun()


st.title("API tokens")
st.markdown(
    "Personal tokens for the REST API: send `Authorization: Bearer <token>` with each call, e.g. "
    "`curl -H 'Authorization: Bearer spt_…' <portal>/api/stores`. A token acts as you, until it "
    "expires or you revoke it. The API is described in [/api/openapi.json](/api/openapi.json)."
)
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(notice)

with st.form("create_token", clear_on_submit=True):
    st.subheader("Create a token")
    name = st.text_input("Name", key="token_name", placeholder="where it is used, e.g. ci-deploy", max_chars=64)
    expiry = st.selectbox("Expires after", list(EXPIRIES), key="token_expiry")
    submitted = st.form_submit_button("Create token")
if submitted:
    with user_errors():
        days = EXPIRIES[expiry or "30 days"]
        new = platform.tokens.create_token(
            actor, name, expires_at=utcnow() + timedelta(days=days) if days is not None else None
        )
        st.success(f"Token {new.info.name!r} created. Copy it now: it is shown only this once.")
        st.code(new.token, language=None)

show_all = st.toggle("Show revoked and expired tokens", key="show_inactive_tokens")
st.subheader("Your tokens")
with user_errors():
    mine = platform.tokens.list_tokens(actor, include_inactive=show_all)
    if mine:
        _table(mine, owners=False)
        _revoke_control(mine, key="revoke_token", owners=False)
    else:
        st.info("You have no API tokens. Create one above to call the API from scripts and CI.")

if actor.is_admin:
    st.subheader("Every user's tokens")
    with user_errors():
        everyone = platform.tokens.list_all_tokens(actor, include_inactive=show_all)
        if everyone:
            _table(everyone, owners=True)
            _revoke_control(everyone, key="admin_revoke_token", owners=True)
        else:
            st.info("No user has an API token.")
