"""Is a store usable, as its shopper would find out: checks that go beyond object readiness."""
