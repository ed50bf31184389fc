"""Webhook notifications: store events POSTed to URLs that admins and users configure.

- `events`: the event types and the JSON (or Slack) bodies, pure;
- `signing`: per-webhook HMAC-SHA256 secrets, derived (never stored) and signatures;
- `outbox`: event rows written in the transaction that changes the store;
- `dispatcher`: the delivery loop (retries with exponential backoff), in the worker;
- `webhooks`: the service behind the Notifications page (CRUD with permission checks).

See docs/notifications.md.
"""
