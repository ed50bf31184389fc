"""Kept for existing imports: the portal server now lives in tests/shared/servers.py."""

from tests.shared.servers import ROOT, free_port, run_portal

__all__ = ["ROOT", "free_port", "run_portal"]
