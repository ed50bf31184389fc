"""Day-2 operations on a running store, for its owner and the admins."""
