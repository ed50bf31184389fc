"""Tests that run a store's real software (Medusa from npm, PostgreSQL, Redis) on this machine."""
