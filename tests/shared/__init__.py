"""Helpers every test package shares: one way to wait, to build a portal environment and
its users, to open a page under AppTest, to drive a browser, and to run a platform on the
session's control plane. See tests/README.md ("Shared fixtures")."""
