"""Engine registry: the only place that knows which store types exist."""

from __future__ import annotations

from provisioning.engines.base import Engine
from provisioning.engines.medusa import MedusaEngine
from provisioning.engines.woocommerce import WooCommerceEngine
from provisioning.errors import ValidationError

ENGINES: dict[str, Engine] = {"woocommerce": WooCommerceEngine(), "medusa": MedusaEngine()}
# Listed in the UI as coming next; refused by the service until an engine exists.
PLANNED_ENGINES: dict[str, str] = {}


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        if name in PLANNED_ENGINES:
            raise ValidationError(
                f"{PLANNED_ENGINES[name]} stores are not available yet; choose another store type.",
                field="engine",
            ) from None
        raise ValidationError(f"Unknown store type {name!r}.", field="engine") from None
