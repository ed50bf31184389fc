"""pytest-xdist scheduling for `make test`: packages that share servers stay on one worker.

The real node is one per machine (a second worker would wait on its lock), and the store
software, backups and browser packages start session servers (MariaDB, Medusa, the object
store, a portal and Chromium) that each worker would otherwise start again. Every other
test is its own unit, spread like `--dist load`.

pytest-xdist's own `--dist loadgroup` reads `xdist_group` marks by renaming the node id,
which pytest 9.2 ignores (`Node.nodeid` is computed from `_id`), so the grouping is
decided here from the node id's package instead. The largest units are sent first
(LoadScopeScheduling orders them by size), so a long group does not start last, except
units whose builds are still running beside the tests (tests/shared/builds.py): those go
after every other unit, so no worker sits waiting while there is work it could do.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

from tests.shared.builds import needs_of, pending

SHARED_SERVER_PACKAGES = frozenset({"real_node", "store_software", "backups", "browser"})


def unit_of(nodeid: str) -> str:
    """The package for a test in one of SHARED_SERVER_PACKAGES, else the test itself."""
    parts = nodeid.split("::", 1)[0].split("/")
    if len(parts) == 3 and parts[0] == "tests" and parts[1] in SHARED_SERVER_PACKAGES:
        return parts[1]
    return nodeid


def path_of(unit: str) -> str:
    """A unit's path: its package's for a grouped unit, the test file's otherwise."""
    return f"tests/{unit}/" if unit in SHARED_SERVER_PACKAGES else unit.split("::", 1)[0]


def waits_for_a_build(unit: str) -> bool:
    return bool(pending(needs_of(path_of(unit))))


class SharedServerScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _assign_work_unit(self, node: WorkerController) -> None:
        """As LoadScopeScheduling, but a unit whose build is still running goes last."""
        waiting = [unit for unit in self.workqueue if waits_for_a_build(unit)]
        if len(waiting) < len(self.workqueue):
            for unit in waiting:
                self.workqueue.move_to_end(unit)
        super()._assign_work_unit(node)
