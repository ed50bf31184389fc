"""Plans on the portal: the order form's plan choice, and the store page's plan, quota use
and "Change plan" control (which says what a change does before it is made)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from portal.feedback import user_errors
from provisioning.actors import Actor
from provisioning.catalog.plans import Plan, quantity
from provisioning.models import Store, StoreStatus
from provisioning.platform import Platform

CHANGE_WARNING = (
    "Changing the plan re-applies the store's quota, limits and workloads: **its pods restart**, so the "
    "store is briefly unavailable. **Volumes only grow, never shrink**: they grow where their StorageClass "
    "allows expansion and otherwise keep their size (the store's message then says so); a plan with a "
    "smaller volume than this store has is refused. No data is deleted."
)


def plan_label(plan: Plan) -> str:
    return f"{plan.title} ({plan.name})" if plan.title.lower() != plan.name else plan.title


def choose_plan(platform: Platform, actor: Actor, engine: str, *, key: str = "new_store_plan") -> str | None:
    """The order form's plan radio: the plans this user may order, each with its sizes."""
    plans = platform.stores.orderable_plans(actor)
    if not plans:
        return None
    default = platform.settings.catalog.default
    names = [p.name for p in plans]
    by_name = {p.name: p for p in plans}
    return st.radio(
        "Plan",
        options=names,
        index=names.index(default) if default in names else 0,
        format_func=lambda name: plan_label(by_name[name]),
        key=key,
        captions=[f"{p.description} {p.summary(engine)}".strip() for p in plans],
        help="Quota, memory and volume sizes of the store. You can move to a larger plan later; volumes never shrink.",
    )


def quota_rows(plan: Plan, engine: str) -> list[dict[str, str]]:
    sizes = plan.for_engine(engine)
    rows = [{"what": f"quota {key}", "value": value} for key, value in sizes.quota.items()]
    rows += [{"what": f"{name} volume", "value": size} for name, size in sizes.volumes.items()]
    rows.append({"what": "web replicas", "value": str(sizes.replicas)})
    return rows


def plan_section(platform: Platform, store: Store) -> None:
    """The store's plan, what it allows, and (once loaded) its use of the quota."""
    plan = platform.stores.store_plan(store)
    st.subheader("Plan")
    changing = f" (changing from {store.previous_plan})" if store.status == StoreStatus.RESIZING else ""
    st.markdown(f"**{plan_label(plan)}**{changing}: {plan.summary(store.engine)}")
    with st.expander("What this plan allows, and the store's use of its quota"):
        st.dataframe(pd.DataFrame(quota_rows(plan, store.engine)), hide_index=True, width="stretch")
        insight = st.session_state.get(f"insight:{store.id}")
        if insight is not None and insight.quota:
            st.markdown("**Use against the quota** (from the last *Load details* below)")
            st.dataframe(pd.DataFrame(insight.quota), hide_index=True, width="stretch")
        else:
            st.caption("Load the live details below to see the store's use of this quota.")


def change_plan_control(platform: Platform, actor: Actor, store: Store, where: DeltaGenerator) -> None:
    """Change a ready store's plan, after saying what happens (pods restart, volumes only grow)."""
    if store.status != StoreStatus.READY:
        return
    current = platform.stores.store_plan(store)
    choices = [p for p in platform.stores.orderable_plans(actor) if p.name != current.name]
    with where.expander("Change plan"):
        if not choices:
            st.caption("No other plan is offered to you.")
            return
        st.warning(CHANGE_WARNING, icon="📐")
        by_name = {p.name: p for p in choices}
        chosen = st.selectbox(
            "New plan", [p.name for p in choices], format_func=lambda n: plan_label(by_name[n]), key="new_plan"
        )
        new = by_name[chosen].for_engine(store.engine)
        have = current.for_engine(store.engine)
        lines = []
        for volume, size in have.volumes.items():
            wanted = new.volumes.get(volume, size)
            if quantity(wanted) < quantity(size):
                lines.append(f"- {volume} volume: {size}, plan has {wanted}: **refused, volumes never shrink**")
            elif wanted != size:
                lines.append(f"- {volume} volume: {size} → {wanted} (if the StorageClass allows expansion)")
            else:
                lines.append(f"- {volume} volume: stays {size}")
        st.markdown(f"{by_name[chosen].summary(store.engine)}\n\n" + "\n".join(lines))
        confirmed = st.checkbox("I understand: the pods restart and volumes only grow", key="confirm_plan")
        if st.button("Change plan", key="change_plan", disabled=not confirmed):
            with user_errors():
                platform.stores.change_plan(actor, store.id, chosen)
                st.session_state.setdefault("toasts", []).append(f"Changing {store.name} to plan {chosen}")
                st.rerun()
