"""Notifications: webhooks that receive a JSON event when a store is ready, fails, is
degraded or is deleted, and when a backup fails.

Users manage webhooks for their own stores; administrators also add global ones (every
store) and see, test and delete everyone's. The worker delivers the events, with retries;
the last result of each webhook is shown here. See docs/notifications.md.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.context import get_platform, require_actor
from portal.display import relative_time
from portal.feedback import user_errors
from provisioning.models import utcnow
from provisioning.notifications.events import EVENT_TYPES
from provisioning.notifications.webhooks import WebhookView

RESULT_LABEL = {
    "": "⏳ Nothing sent yet",
    "delivered": "✅ Delivered",
    "retrying": "🔁 Retrying",
    "failed": "❌ Failed",
}
NOTICE = "_webhooks_notice"
SECRET = "_webhooks_secret"

actor = require_actor()
platform = get_platform()


def _last_result(hook: WebhookView) -> str:
    label = RESULT_LABEL.get(hook.last_result, hook.last_result)
    if not hook.last_result:
        return label
    details = [hook.last_event_type]
    if hook.last_status_code is not None:
        details.append(f"HTTP {hook.last_status_code}")
    elif hook.last_error:
        details.append(hook.last_error)
    details.append(f"attempt {hook.last_attempts}")
    return f"{label} ({', '.join(details)})"


def _table(hooks: list[WebhookView]) -> None:
    now = utcnow()
    rows = [
        {
            "Name": hook.name,
            "URL": hook.url,
            "For": "all stores" if hook.scope.startswith("(") else hook.scope,
            "Events": ", ".join(hook.events),
            "Format": "Slack" if hook.slack else "JSON",
            "Signed": "yes" if hook.signed else "no",
            "Last delivery": _last_result(hook),
            "When": relative_time(hook.last_attempt_at, now=now) if hook.last_attempt_at else "",
        }
        for hook in hooks
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _controls(hooks: list[WebhookView]) -> None:
    labels = {hook.id: (f"{hook.scope}: " if actor.is_admin else "") + f"{hook.name} ({hook.url})" for hook in hooks}
    chosen = st.selectbox("Webhook", list(labels), format_func=labels.__getitem__, key="webhook_choice")
    test, remove = st.columns(2)
    if test.button("Send test event", key="webhook_test") and chosen is not None:
        with user_errors():
            platform.webhooks.send_test(actor, chosen)
            st.session_state[NOTICE] = (
                "Test event queued: the worker sends it within seconds; its result shows under Last delivery."
            )
            st.rerun()
    if remove.button("Delete webhook", key="webhook_delete", type="secondary") and chosen is not None:
        with user_errors():
            platform.webhooks.delete(actor, chosen)
            st.session_state[NOTICE] = "Webhook deleted; its undelivered events are dropped."
            st.rerun()


st.title("Notifications")
st.markdown(
    "Webhooks receive a JSON `POST` when one of your stores is **ready**, **fails**, is **degraded** "
    "(shoppers cannot use it) or is **deleted**. Failed deliveries are retried with growing pauses. "
    "Payloads never contain passwords or keys. Details: `docs/notifications.md`."
)
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(notice)
secret = st.session_state.pop(SECRET, None)
if secret:
    name, value = secret
    st.success(f"Webhook {name!r} added. Its signing secret, shown only this once:")
    st.code(value, language=None)
    st.caption(
        "Each delivery carries `X-Store-Platform-Signature: sha256=HMAC(secret, timestamp + '.' + body)` "
        "and `X-Store-Platform-Timestamp`."
    )

with st.form("add_webhook", clear_on_submit=True):
    st.subheader("Add a webhook")
    name = st.text_input("Name", key="webhook_name", max_chars=60, placeholder="e.g. Team Slack")
    url = st.text_input("URL", key="webhook_url", max_chars=2000, placeholder="https://hooks.example.com/store-events")
    chosen_events = st.multiselect(
        "Events to send",
        list(EVENT_TYPES),
        default=["store.ready", "store.failed", "store.degraded"],
        format_func=lambda event: f"{EVENT_TYPES[event]} ({event})",
        key="webhook_events",
    )
    slack = st.toggle('Slack format (`{"text": ...}`)', key="webhook_slack")
    signed = st.toggle("Sign deliveries (HMAC-SHA256)", value=True, key="webhook_signed")
    global_scope = st.toggle("For all stores (every user's)", key="webhook_global") if actor.is_admin else False
    submitted = st.form_submit_button("Add webhook")
if submitted:
    with user_errors():
        created = platform.webhooks.create(
            actor, name, url, chosen_events, slack=slack, signed=signed, global_scope=global_scope
        )
        if created.signing_secret:
            st.session_state[SECRET] = (created.webhook.name, created.signing_secret)
        else:
            st.session_state[NOTICE] = f"Webhook {created.webhook.name!r} added."
        st.rerun()

st.subheader("All webhooks" if actor.is_admin else "Your webhooks")
with user_errors():
    hooks = platform.webhooks.list_webhooks(actor)
    if hooks:
        _table(hooks)
        _controls(hooks)
    else:
        st.info("No webhooks yet. Add one above to hear about your stores in Slack or your own service.")
