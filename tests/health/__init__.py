"""Tests of provisioning/health."""
