"""The operator CLI (`python -m provisioning`): what an admin does from a terminal or a Job.

A thin layer over the service layer (UserService, StoreService): every command acts as
a named admin, with the same checks and the same audit rows as the portal. Whoever holds
the database credentials can run it, as with Django's manage.py. The parser, the dispatch
and the exit codes are in `provisioning.cli.main`.
"""
