"""What the reconciler creates for a WooCommerce store, kind by kind: one of each, two
Services and PVCs, six NetworkPolicies. A duplicate or a missing object shows up as a
different count (tests/reliability, tests/real_node)."""

from __future__ import annotations

WOOCOMMERCE_OBJECTS = {
    "Secret": 1,
    "Service": 2,
    "PersistentVolumeClaim": 2,
    "ResourceQuota": 1,
    "LimitRange": 1,
    "StatefulSet": 1,
    "Deployment": 1,
    "Job": 1,
    "NetworkPolicy": 6,
    "Ingress": 1,
}
