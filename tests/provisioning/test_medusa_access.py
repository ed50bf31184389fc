"""How a Medusa store is reached and what it holds (engines/medusa*.py, service layer):
the image's environment contract, the Secret, NetworkPolicies evaluated as flows (with
test_tenancy's evaluator), the Ingress, the shopper path, revealing credentials, and the
server's wait-for-setup gate run against a real PostgreSQL.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from provisioning.actors import Actor
from provisioning.engines import medusa_backing as mb
from provisioning.engines import medusa_manifests as mm
from provisioning.engines.base import LABEL_STORE_ID, SECRET_NAME, Manifest, StoreSpec
from provisioning.engines.medusa import (
    KEY_ADMIN_PASSWORD,
    KEY_COOKIE_SECRET,
    KEY_DB_PASSWORD,
    KEY_JWT_SECRET,
    KEY_PUBLISHABLE_KEY,
    PORT,
    MedusaEngine,
)
from provisioning.engines.tenancy import store_ingress
from provisioning.engines.woocommerce import WooCommerceEngine
from provisioning.errors import InvalidStateError, NotFoundError
from provisioning.models import AuditEvent
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.conftest import make_settings
from tests.provisioning.manifests import (
    COMPONENTS,
    CONTRACT_ENV,
    SETUP_ONLY_ENV,
    by_kind,
    containers,
    engine_fixtures,
    env_of,
    main_container,
    one,
    secret_ref,
    template_labels,
    workload,
)
from tests.provisioning.test_tenancy import CONTROLLER, KUBE_DNS, PUBLIC_IP, STRANGER, allowed, quantity

settings, spec, engine, manifests = engine_fixtures(MedusaEngine, "medusa")


# -- environment contract -------------------------------------------------------------------


def test_postgres_env_follows_the_official_images_contract(manifests: list[Manifest]) -> None:
    env = env_of(main_container(manifests, "postgres"))
    assert env["POSTGRES_USER"]["value"] == mb.DB_USER
    assert env["POSTGRES_DB"]["value"] == mb.DB_NAME
    assert secret_ref(env["POSTGRES_PASSWORD"]) == {"name": SECRET_NAME, "key": KEY_DB_PASSWORD}
    pgdata = env["PGDATA"]["value"]
    assert pgdata.startswith(mb.PGDATA_MOUNT + "/") and pgdata != mb.PGDATA_MOUNT + "/"


def test_redis_keeps_nothing_on_disk_and_never_evicts(manifests: list[Manifest]) -> None:
    container = main_container(manifests, "redis")
    args = container["args"]
    assert args[args.index("--save") + 1] == ""
    assert args[args.index("--appendonly") + 1] == "no"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    maxmemory = args[args.index("--maxmemory") + 1]
    assert maxmemory.endswith("mb")
    assert int(maxmemory[:-2]) * 2**20 < quantity(container["resources"]["limits"]["memory"])
    assert "command" not in container, "the entrypoint prepends redis-server to flag arguments"


@pytest.mark.parametrize(
    ("name", "mode", "admin_disabled", "command"),
    [
        ("medusa-server", "server", "false", "/app/bin/store-start"),
        ("medusa-worker", "worker", "true", "/app/bin/store-start"),
        ("store-setup", "shared", "true", "/app/bin/store-setup"),
    ],
)
def test_medusa_containers_follow_the_image_contract(
    manifests: list[Manifest],
    spec: StoreSpec,
    settings: Settings,
    name: str,
    mode: str,
    admin_disabled: str,
    command: str,
) -> None:
    container = main_container(manifests, name)
    assert container["image"] == settings.medusa_image
    assert container["command"] == [command]
    env = env_of(container)
    expected = CONTRACT_ENV | {"DATABASE_PASSWORD", "NODE_OPTIONS"}
    if name == "store-setup":
        expected |= SETUP_ONLY_ENV
    assert set(env) == expected
    assert env["MEDUSA_WORKER_MODE"]["value"] == mode
    assert env["DISABLE_MEDUSA_ADMIN"]["value"] == admin_disabled
    assert env["PORT"]["value"] == str(PORT)
    assert env["NODE_ENV"]["value"] == "production"
    assert env["MEDUSA_DISABLE_TELEMETRY"]["value"] == "true"
    assert env["REDIS_URL"]["value"] == f"redis://redis:{mb.REDIS_PORT}"
    for cors in ("STORE_CORS", "ADMIN_CORS", "AUTH_CORS"):
        assert env[cors]["value"] == spec.url(settings)
    assert secret_ref(env["JWT_SECRET"]) == {"name": SECRET_NAME, "key": KEY_JWT_SECRET}
    assert secret_ref(env["COOKIE_SECRET"]) == {"name": SECRET_NAME, "key": KEY_COOKIE_SECRET}
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_database_url_expands_a_secret_defined_before_it(manifests: list[Manifest]) -> None:
    for name in ("medusa-server", "medusa-worker", "store-setup"):
        variables = main_container(manifests, name)["env"]
        names = [e["name"] for e in variables]
        url = variables[names.index("DATABASE_URL")]["value"]
        assert url == f"postgres://{mb.DB_USER}:$(DATABASE_PASSWORD)@postgres:{mb.PG_PORT}/{mb.DB_NAME}?sslmode=disable"
        # Kubernetes expands $(VAR) only from variables defined earlier in the list.
        assert names.index("DATABASE_PASSWORD") < names.index("DATABASE_URL"), name
        assert secret_ref(variables[names.index("DATABASE_PASSWORD")]) == {"name": SECRET_NAME, "key": KEY_DB_PASSWORD}


def test_setup_gets_the_admin_account_the_key_and_the_name(manifests: list[Manifest], spec: StoreSpec) -> None:
    env = env_of(main_container(manifests, "store-setup"))
    assert env["MEDUSA_ADMIN_EMAIL"]["value"] == spec.admin_email
    assert secret_ref(env["MEDUSA_ADMIN_PASSWORD"])["key"] == KEY_ADMIN_PASSWORD
    assert secret_ref(env["MEDUSA_PUBLISHABLE_KEY"])["key"] == KEY_PUBLISHABLE_KEY
    assert env["MEDUSA_STORE_NAME"]["value"] == f"{spec.name} store"
    for name in ("medusa-server", "medusa-worker"):
        assert "MEDUSA_ADMIN_PASSWORD" not in env_of(main_container(manifests, name)), name


@pytest.mark.parametrize(("scheme", "insecure"), [("http", "true"), ("https", "false")])
def test_insecure_cookies_only_without_tls(
    engine: MedusaEngine, spec: StoreSpec, tmp_path: Path, scheme: str, insecure: str
) -> None:
    manifests = engine.workloads(spec, make_settings(tmp_path, url_scheme=scheme))
    for name in ("medusa-server", "medusa-worker", "store-setup"):
        env = env_of(main_container(manifests, name))
        assert env["MEDUSA_INSECURE_COOKIES"]["value"] == insecure
        assert env["STORE_CORS"]["value"].startswith(f"{scheme}://")


def test_setup_job_retries_within_its_deadline(manifests: list[Manifest], settings: Settings) -> None:
    job = one(manifests, "Job", "store-setup")
    assert job["spec"]["activeDeadlineSeconds"] == settings.setup_deadline_seconds
    assert 1 <= job["spec"]["backoffLimit"] <= 6
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert "initContainers" not in job["spec"]["template"]["spec"], "the setup is what the others wait for"


def test_images_come_from_settings(engine: MedusaEngine, spec: StoreSpec, tmp_path: Path) -> None:
    custom = make_settings(
        tmp_path,
        medusa_image="registry.example/medusa:2.21.2-a",
        postgres_image="registry.example/postgres:17.6-b",
        redis_image="registry.example/redis:7.4.6-c",
    )
    images = {(w["metadata"]["name"], c["name"]): c["image"] for w, c in containers(engine.workloads(spec, custom))}
    assert images == {
        ("postgres", "postgres"): "registry.example/postgres:17.6-b",
        ("redis", "redis"): "registry.example/redis:7.4.6-c",
        ("medusa-server", "wait-for-setup"): "registry.example/postgres:17.6-b",
        ("medusa-server", "medusa"): "registry.example/medusa:2.21.2-a",
        ("medusa-worker", "wait-for-setup"): "registry.example/postgres:17.6-b",
        ("medusa-worker", "medusa"): "registry.example/medusa:2.21.2-a",
        ("store-setup", "store-setup"): "registry.example/medusa:2.21.2-a",
    }


def test_default_images_are_pinned(settings: Settings) -> None:
    for image in (settings.medusa_image, settings.postgres_image, settings.redis_image):
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", image
        assert re.match(r"\d+\.\d+", tag), f"{image}: pin a version"
    assert settings.postgres_image.startswith("postgres:17.") and settings.postgres_image.endswith("-bookworm")
    assert settings.redis_image.startswith("redis:") and settings.redis_image.endswith("-bookworm")
    assert settings.medusa_image.endswith(":2.21.2")


# -- secrets --------------------------------------------------------------------------------


def test_the_secret_holds_exactly_the_generated_values(engine: MedusaEngine, spec: StoreSpec) -> None:
    values = engine.generate_secrets(spec)
    assert set(values) == {KEY_DB_PASSWORD, KEY_JWT_SECRET, KEY_COOKIE_SECRET, KEY_ADMIN_PASSWORD, KEY_PUBLISHABLE_KEY}
    secret = engine.secret(spec, values)
    assert secret["kind"] == "Secret" and secret["type"] == "Opaque"
    assert secret["metadata"]["name"] == SECRET_NAME
    assert secret["metadata"]["namespace"] == spec.namespace
    assert secret["stringData"] == values


def test_generated_values_are_strong_fresh_and_url_safe(engine: MedusaEngine, spec: StoreSpec) -> None:
    first, second = engine.generate_secrets(spec), engine.generate_secrets(spec)
    for key in first:
        assert first[key] != second[key], key
    for key, length in ((KEY_DB_PASSWORD, 20), (KEY_ADMIN_PASSWORD, 20), (KEY_JWT_SECRET, 48), (KEY_COOKIE_SECRET, 48)):
        assert len(first[key]) >= length, key
        assert first[key].isalnum(), f"{key} goes into a URL or a shell unquoted"
    assert re.fullmatch(r"pk_[0-9a-f]{64}", first[KEY_PUBLISHABLE_KEY])
    assert len(set(first.values())) == len(first)


def test_every_referenced_secret_key_exists(engine: MedusaEngine, spec: StoreSpec, manifests: list[Manifest]) -> None:
    data = engine.secret(spec, engine.generate_secrets(spec))["stringData"]
    refs = [
        secret_ref(e)
        for _, c in containers(manifests)
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert {r["key"] for r in refs} == set(data), "every key is used, and only those"
    assert all(r["name"] == SECRET_NAME for r in refs)


def test_no_secret_literal_in_any_manifest(engine: MedusaEngine, spec: StoreSpec, settings: Settings) -> None:
    values = engine.generate_secrets(spec)
    rendered = engine.workloads(spec, settings)
    text = json.dumps(rendered)
    for key, value in values.items():
        assert value not in text, key
    secret_names = {"DATABASE_PASSWORD", "POSTGRES_PASSWORD", "PGPASSWORD", "JWT_SECRET", "COOKIE_SECRET"}
    secret_names |= {"MEDUSA_ADMIN_PASSWORD", "MEDUSA_PUBLISHABLE_KEY"}
    for w, container in containers(rendered):
        for env in container.get("env", []):
            if env["name"] in secret_names:
                assert "value" not in env and "secretKeyRef" in env["valueFrom"], (w["metadata"]["name"], env["name"])


# -- network flows --------------------------------------------------------------------------


def test_exactly_the_expected_policies(manifests: list[Manifest]) -> None:
    assert {p["metadata"]["name"] for p in by_kind(manifests, "NetworkPolicy")} == {
        "default-deny",
        "allow-dns",
        "allow-ingress-controller-to-server",
        "allow-app-to-database",
        "allow-app-egress-to-database",
        "allow-app-to-cache",
        "allow-app-egress-to-cache",
    }


def test_flow_matrix(manifests: list[Manifest], spec: StoreSpec, settings: Settings) -> None:
    policies = by_kind(manifests, "NetworkPolicy")
    ns = spec.namespace
    labels = {component: template_labels(workload(manifests, name)) for name, component in COMPONENTS.items()}
    server, worker, setup = labels["server"], labels["worker"], labels["setup"]
    db, cache = labels["database"], labels["cache"]
    controller_ns = settings.ingress_controller_namespace
    other_ns = "store-other-0123abcd"
    pg, rd = mb.PG_PORT, mb.REDIS_PORT

    expected_true = {
        "controller -> server:9000": allowed(policies, CONTROLLER, controller_ns, server, ns, PORT),
        **{f"{n} -> db:5432": allowed(policies, labels[n], ns, db, ns, pg) for n in ("server", "worker", "setup")},
        **{
            f"{n} -> redis:6379": allowed(policies, labels[n], ns, cache, ns, rd) for n in ("server", "worker", "setup")
        },
        **{
            f"{n} -> kube-dns:53/UDP": allowed(policies, labels[n], ns, KUBE_DNS, "kube-system", 53, protocol="UDP")
            for n in labels
        },
    }
    expected_false = {
        "controller -> worker:9000": allowed(policies, CONTROLLER, controller_ns, worker, ns, PORT),
        "controller -> server:8080": allowed(policies, CONTROLLER, controller_ns, server, ns, 8080),
        "controller -> db:5432": allowed(policies, CONTROLLER, controller_ns, db, ns, pg),
        "controller -> redis:6379": allowed(policies, CONTROLLER, controller_ns, cache, ns, rd),
        "server -> db:6379": allowed(policies, server, ns, db, ns, rd),
        "server -> redis:5432": allowed(policies, server, ns, cache, ns, pg),
        "db -> redis:6379": allowed(policies, db, ns, cache, ns, rd),
        "redis -> db:5432": allowed(policies, cache, ns, db, ns, pg),
        "worker -> server:9000": allowed(policies, worker, ns, server, ns, PORT),
        "setup -> server:9000": allowed(policies, setup, ns, server, ns, PORT),
        "server -> server:9000": allowed(policies, server, ns, server, ns, PORT),
        "other namespace -> server:9000": allowed(policies, STRANGER, other_ns, server, ns, PORT),
        "other namespace -> db:5432": allowed(policies, STRANGER, other_ns, db, ns, pg),
        "other store's server -> redis:6379": allowed(
            policies, {**server, LABEL_STORE_ID: "f" * 32}, other_ns, cache, ns, rd
        ),
        "kube-system pod -> redis:6379": allowed(policies, KUBE_DNS, "kube-system", cache, ns, rd),
        **{f"{n} -> internet:443": allowed(policies, labels[n], ns, None, None, 443, dst_ip=PUBLIC_IP) for n in labels},
        **{f"{n} -> other namespace:80": allowed(policies, labels[n], ns, STRANGER, other_ns, 80) for n in labels},
        "server -> kube-dns:80": allowed(policies, server, ns, KUBE_DNS, "kube-system", 80),
    }
    wrong = [f"{k}: blocked" for k, v in expected_true.items() if not v]
    wrong += [f"{k}: allowed" for k, v in expected_false.items() if v]
    assert not wrong, "\n".join(wrong)


def test_woocommerce_flows_are_unchanged_by_declared_flows(spec: StoreSpec, settings: Settings) -> None:
    names = [p["metadata"]["name"] for p in by_kind(WooCommerceEngine().workloads(spec, settings), "NetworkPolicy")]
    assert names[:3] == ["default-deny", "allow-dns", "allow-ingress-controller-to-web"]
    assert "allow-setup-egress-internet" in names


# -- ingress --------------------------------------------------------------------------------


@pytest.mark.parametrize("ingress_class", ["nginx", "traefik"])
def test_ingress_routes_the_store_host_to_the_server(
    engine: MedusaEngine, spec: StoreSpec, tmp_path: Path, ingress_class: str
) -> None:
    settings = make_settings(tmp_path, ingress_class=ingress_class, domain="shops.example.com")
    manifests = engine.workloads(spec, settings)
    ingress = one(manifests, "Ingress", "store")
    assert ingress["spec"]["ingressClassName"] == ingress_class
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "my-shop.shops.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"] == {"service": {"name": "medusa", "port": {"number": PORT}}}
    service = one(manifests, "Service", "medusa")
    assert PORT in [p["port"] for p in service["spec"]["ports"]]
    # One builder for every engine: only the backend differs from WooCommerce's.
    assert ingress == store_ingress(spec, settings, service="medusa", port=PORT, component="server")
    woo = one(WooCommerceEngine().workloads(spec, settings), "Ingress")
    assert woo["spec"]["ingressClassName"] == ingress["spec"]["ingressClassName"]
    assert woo["spec"]["rules"][0]["host"] == rule["host"]
    assert woo["metadata"].get("annotations") == ingress["metadata"].get("annotations")


def test_ingress_tls_with_cert_manager(engine: MedusaEngine, spec: StoreSpec, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tls_enabled=True, cert_manager_issuer="letsencrypt", url_scheme="https")
    ingress = one(engine.workloads(spec, settings), "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": [spec.host(settings)], "secretName": "store-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


# -- shopper path ---------------------------------------------------------------------------


def test_shopper_path_checks_health_and_the_seeded_product_with_the_key(engine: MedusaEngine, spec: StoreSpec) -> None:
    requests = engine.shopper_path(spec)
    assert [(r.path, r.expect_status) for r in requests] == [("/health", 200), ("/store/products", 200)]
    health, products = requests
    assert health.secret_headers == ()
    assert products.expect_text == ("Sample product",)
    assert products.secret_headers == (("x-publishable-api-key", KEY_PUBLISHABLE_KEY),)
    assert KEY_PUBLISHABLE_KEY in engine.generate_secrets(spec)
    assert not any(value.startswith("pk_") for r in requests for _, value in r.headers)


# -- the wait-for-setup gate, against a real PostgreSQL ------------------------------------


def _run_gate(postgres_url: str, key: str, *, wait_seconds: int) -> tuple[int, str, float]:
    gate = mm.setup_gate(make_settings(Path("/tmp")), wait_seconds=wait_seconds, poll_seconds=1)
    url = urlparse(postgres_url)
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "PGHOST": url.hostname or "",
        "PGPORT": str(url.port),
        "PGUSER": url.username or "",
        "PGDATABASE": url.path.lstrip("/"),
        "PGCONNECT_TIMEOUT": "5",
        "MEDUSA_PUBLISHABLE_KEY": key,
    }
    started = time.monotonic()
    done = subprocess.run(gate["command"], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, time.monotonic() - started


@pytest.mark.postgres
def test_gate_waits_for_the_seeded_key_then_starts(postgres_url: str) -> None:
    key = "pk_" + "ab" * 32
    code, out, _ = _run_gate(postgres_url, key, wait_seconds=2)
    assert code == 0 and "starting anyway" in out, "no table yet: bounded wait, then start"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("create table api_key (id text, token text, deleted_at timestamptz)")
        conn.execute("insert into api_key values ('a', %s, now())", (key,))
    code, out, _ = _run_gate(postgres_url, key, wait_seconds=2)
    assert "starting anyway" in out, "a deleted key is not the store's key"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("insert into api_key values ('b', %s, null)", (key,))
    code, out, seconds = _run_gate(postgres_url, key, wait_seconds=30)
    assert code == 0 and "store setup found" in out and "waiting" not in out
    assert seconds < 10
    code, out, _ = _run_gate(postgres_url, "pk_" + "cd" * 32, wait_seconds=2)
    assert "starting anyway" in out, "another key does not open the gate"


# -- revealing the store's credentials (service layer) -------------------------------------


class RecordingSecrets:
    """A SecretReader that records which key each read asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        self.calls.append((namespace, name, key))
        return f"value-of-{key}"


def test_owner_reveals_the_publishable_key_and_admin_password(db: Engine, settings: Settings, alice: Actor) -> None:
    reader = RecordingSecrets()
    service = StoreService(db, settings, secrets=reader)
    store = service.create_store(alice, "medusa-shop", engine="medusa")
    assert store.engine == "medusa"
    assert service.reveal_publishable_key(alice, store.id) == f"value-of-{KEY_PUBLISHABLE_KEY}"
    assert service.reveal_admin_password(alice, store.id) == f"value-of-{KEY_ADMIN_PASSWORD}"
    assert reader.calls == [
        (store.namespace, SECRET_NAME, KEY_PUBLISHABLE_KEY),
        (store.namespace, SECRET_NAME, KEY_ADMIN_PASSWORD),
    ]
    with Session(db) as session:
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.store_id == store.id)).all()]
    assert sorted(actions) == ["store.create", "store.reveal_password", "store.reveal_publishable_key"]


def test_others_cannot_reveal_the_key_and_woocommerce_has_none(
    db: Engine, settings: Settings, alice: Actor, bob: Actor
) -> None:
    reader = RecordingSecrets()
    service = StoreService(db, settings, secrets=reader)
    medusa = service.create_store(alice, "medusa-shop", engine="medusa")
    woo = service.create_store(alice, "woo-shop")
    with pytest.raises(NotFoundError):
        service.reveal_publishable_key(bob, medusa.id)
    with pytest.raises(InvalidStateError, match="no such credential"):
        service.reveal_publishable_key(alice, woo.id)
    assert reader.calls == []
    assert service.reveal_admin_password(alice, woo.id) == "value-of-wordpress-admin-password"
