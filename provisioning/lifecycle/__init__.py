"""A store's lifecycle: what one reconciler step decides for one store, given the cluster.

The control loop (provisioning/reconciler.py) chooses which stores to step and saves the
result; these modules decide the result.
"""
