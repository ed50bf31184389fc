"""What the platform runs for each store type: pinned versions and their compatibility rules.

Kept apart from the engines (which build manifests) so that settings can validate pins at
start-up without importing the manifest code.
"""
