"""The image's non-root and read-only assumptions, each proven by running the real server.

The pod runs as uid 1000 with no writable home, a read-only root filesystem, an emptyDir
on /tmp and an uploads volume on /app/static (images/medusa/Dockerfile, README). Each test
runs bin/store-setup and bin/store-start under one of those conditions and then asks the
running store for its product through the Store API, so a write anywhere else (the CLI's
config directory, a migrations directory inside node_modules, a cache beside the code)
makes it fail. Also: the Dockerfile passes the repo's Dockerfile lint.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helm.dockerfile_lint import lint, parse
from tests.shared.servers import free_port
from tests.store_software.conftest import Shop, new_database
from tests.store_software.medusa import (
    UNPRIVILEGED_USER,
    ComponentMissing,
    MedusaBuild,
    Response,
    Sandbox,
    StoreServer,
    copy_for_user,
    http,
    run_setup,
    store_environment,
)

ROOT = Path(__file__).resolve().parents[2]
IMAGE_DIR = ROOT / "images" / "medusa"


def _available(sandbox: Sandbox) -> None:
    try:
        sandbox.check_available()
    except ComponentMissing as missing:
        pytest.skip(str(missing))


def _sells_the_sample_product(server: StoreServer, key: str) -> None:
    response = http("GET", f"{server.url}/store/products", headers={"x-publishable-api-key": key})
    assert response.status == 200, response.body
    assert [p["title"] for p in response.body["products"]] == ["Sample product"]


@pytest.fixture
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory the unprivileged user can reach: under /var/tmp, because pytest's base
    directory is private to its owner and the read-only-root sandbox mounts a fresh /tmp."""
    base = Path(tempfile.mkdtemp(prefix="store-software-", dir="/var/tmp"))
    base.chmod(0o755)
    yield base
    subprocess.run(["rm", "-rf", str(base)], check=False)


def owned_by_user(path: Path) -> Path:
    """``path`` created and owned by the unprivileged user."""
    path.mkdir(parents=True)
    info = pwd.getpwnam(UNPRIVILEGED_USER)
    os.chown(path, info.pw_uid, info.pw_gid)
    return path


@pytest.fixture
def app_copy(medusa_build: MedusaBuild, scratch: Path) -> MedusaBuild:
    """The server as the image holds it: root-owned, `static` owned by the unprivileged user."""
    _available(Sandbox(user=UNPRIVILEGED_USER))
    return copy_for_user(medusa_build, scratch / "image", UNPRIVILEGED_USER)


def ok_login(url: str, env: dict[str, str]) -> str:
    body = {"email": env["MEDUSA_ADMIN_EMAIL"], "password": env["MEDUSA_ADMIN_PASSWORD"]}
    login = http("POST", f"{url}/auth/user/emailpass", body=body)
    assert login.status == 200, login.body
    return str(login.body["token"])


def set_cookie(response: Response) -> str | None:
    return next((v for k, v in response.headers.items() if k.lower() == "set-cookie"), None)


def _writable_by(user: str, path: Path) -> bool:
    info = pwd.getpwnam(user)
    probe = ["setpriv", f"--reuid={info.pw_uid}", f"--regid={info.pw_gid}", "--clear-groups", "test", "-w", str(path)]
    return subprocess.run(probe, check=False).returncode == 0


@pytest.mark.store_software
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_runs_as_a_user_without_a_home(shop: Shop, app_copy: MedusaBuild, scratch: Path, tmp_path: Path) -> None:
    """uid `nobody` (home /nonexistent), an app tree it cannot write, XDG_CONFIG_HOME on a
    writable directory: setup and server work. Without MEDUSA_INSECURE_COOKIES the admin
    session cookie is Secure (NODE_ENV=production)."""
    assert not _writable_by(UNPRIVILEGED_USER, app_copy.server_dir)
    assert not _writable_by(UNPRIVILEGED_USER, app_copy.server_dir / "node_modules")
    config = owned_by_user(scratch / "config")
    info = pwd.getpwnam(UNPRIVILEGED_USER)
    env = {
        **shop.env,
        "PORT": str(free_port()),
        "HOME": info.pw_dir,  # /nonexistent
        "XDG_CONFIG_HOME": str(config),
        "TMPDIR": str(config),
    }
    del env["MEDUSA_INSECURE_COOKIES"]
    env["PATH"] = env["PATH"].replace(str(shop.build.node_bin), str(app_copy.node_bin))
    sandbox = Sandbox(user=UNPRIVILEGED_USER)
    run = run_setup(app_copy, env, sandbox)
    assert run.returncode == 0, run.output[-5000:]
    with StoreServer(app_copy, env, log=tmp_path / "server.log", sandbox=sandbox) as server:
        _sells_the_sample_product(server, shop.key)
        token = ok_login(server.url, env)
        bearer = {"Authorization": f"Bearer {token}"}
        # Plain http: Medusa will not set a Secure cookie, so no admin session at all...
        plain = http("POST", f"{server.url}/auth/session", headers=bearer)
        assert set_cookie(plain) is None
        # ...while behind a TLS-terminating ingress (trust proxy) the cookie is Secure.
        behind_tls = http("POST", f"{server.url}/auth/session", headers={**bearer, "X-Forwarded-Proto": "https"})
        cookie = set_cookie(behind_tls)
        assert cookie is not None and "secure" in cookie.lower(), behind_tls.headers
    assert (config / "medusa").is_dir(), "the CLI should have written its config under XDG_CONFIG_HOME"


@pytest.mark.store_software
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_runs_as_in_the_pod_on_a_fresh_database(
    shop: Shop, app_copy: MedusaBuild, scratch: Path, tmp_path: Path
) -> None:
    """As in the pod: uid `nobody`, the whole root filesystem read-only (the app directory
    too: EROFS even for root), a fresh tmpfs on /tmp, the uploads directory the only other
    writable path, HOME and XDG_CONFIG_HOME at /tmp as the image's ENV sets them; and a
    fresh database, so every migration runs against a node_modules nothing may write to.
    (One server run for both conditions: each Medusa setup and start costs a minute of CPU.)"""
    static = owned_by_user(scratch / "uploads")
    sandbox = Sandbox(user=UNPRIVILEGED_USER, read_only_root=True, static_dir=static)
    _available(sandbox)
    as_root = Sandbox(read_only_root=True, static_dir=static)
    paths = {"APP_DIR": str(app_copy.server_dir), "PATH": "/usr/bin:/bin"}
    app_probe = as_root.wrap(["touch", str(app_copy.server_dir / "probe")])
    probe = subprocess.run(app_probe, env=paths, capture_output=True, text=True, check=False)
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr, probe
    upload = app_copy.server_dir / "static" / "probe"
    uploads = subprocess.run(as_root.wrap(["sh", "-c", f"touch {upload} && rm {upload}"]), env=paths, check=False)
    assert uploads.returncode == 0, "the uploads directory should stay writable in the sandbox"
    _, url = new_database(shop.postgres)
    env = store_environment(
        app_copy, database_url=url, redis_url=shop.env.get("REDIS_URL"), port=free_port(), config_home="/tmp"
    )
    run = run_setup(app_copy, env, sandbox)
    assert run.returncode == 0, run.output[-5000:]
    with StoreServer(app_copy, env, log=tmp_path / "server.log", sandbox=sandbox) as server:
        # The fresh key and database: only this run's migrations and seed can answer.
        _sells_the_sample_product(server, env["MEDUSA_PUBLISHABLE_KEY"])


# -- the Dockerfile --------------------------------------------------------------------------

# The repo's lint is written for the portal's Python image; this rule names pip and
# requirements.txt and cannot apply to a Node image. Its npm counterpart is checked below.
PYTHON_ONLY_RULE = "dependencies are not installed with `pip install --no-cache-dir -r requirements.txt`"


def test_dockerfile_passes_the_repos_lint() -> None:
    text = (IMAGE_DIR / "Dockerfile").read_text()
    problems = lint(text, required_copies=("bin/store-start", "bin/store-setup"))
    assert [p for p in problems if p != PYTHON_ONLY_RULE] == []


def test_dockerfile_installs_from_the_lockfile_and_runs_the_contract() -> None:
    dockerfile = parse((IMAGE_DIR / "Dockerfile").read_text())
    runs = " ".join(i.args for i in dockerfile.all("RUN"))
    assert "npm ci --no-audit" in runs and "npm ci --omit=dev" in runs
    assert "npm install" not in runs
    assert 'for d in node_modules/@medusajs/*/dist; do mkdir -p "$d/migrations"; done' in runs
    env = dockerfile.env()
    assert env["HOME"] == env["XDG_CONFIG_HOME"] == "/tmp"
    assert env["NODE_ENV"] == "production" and env["MEDUSA_DISABLE_TELEMETRY"] == "true"
    assert env["PORT"] == "9000"
    assert dockerfile.workdir() == "/app"
    user = dockerfile.last("USER")
    assert user is not None and user.args == "1000:1000"
    cmd = dockerfile.last("CMD")
    assert cmd is not None and cmd.exec_form() == ["/app/bin/store-start"]
    # The build stage and the runtime use the Node version tools/medusa/build.sh tests with.
    build_script = (ROOT / "tools" / "medusa" / "build.sh").read_text()
    node_version = build_script.split("MEDUSA_NODE_VERSION:-", 1)[1].split("}", 1)[0]
    for from_line in dockerfile.all("FROM"):
        assert from_line.args.startswith(f"node:{node_version}-"), from_line.args


def test_medusa_packages_are_pinned_in_package_json_and_the_lockfile() -> None:
    package = json.loads((IMAGE_DIR / "package.json").read_text())
    lock = json.loads((IMAGE_DIR / "package-lock.json").read_text())
    for name in ("@medusajs/medusa", "@medusajs/framework", "@medusajs/cli", "@medusajs/admin-sdk"):
        assert package["dependencies"][name] == "2.21.2"
        assert lock["packages"][f"node_modules/{name}"]["version"] == "2.21.2"
    for spec in [*package["dependencies"].values(), *package["devDependencies"].values()]:
        assert spec[0].isdigit(), f"unpinned version {spec}"
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
