"""The backup and restore Jobs' scripts (provisioning/backups/scripts) run exactly as a Job
runs them (environment only, any working directory) against real servers on this machine:
MariaDB for WooCommerce, PostgreSQL for Medusa, versitygw for the bucket, through presigned
URLs made by provisioning/backups/s3.py.

What a round trip proves: after backup, a change to the live store, and restore, the
database is exactly the dump (the same tables, and for every table the same row count and
checksum; views, triggers, routines, sequences back; anything created after the backup
gone) and the files are the same byte for byte (paths, contents, modes, symlinks; a file
added after the backup gone). The WooCommerce round trip runs the file and transfer steps
under busybox (the Alpine curl image's shell and tools), the Medusa one under dash and GNU
tools. The failure tests check that every failure is one clear line naming what failed, and
that no output carries a password, the secret key or a URL's signature.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import shutil
import stat
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from provisioning.backups.s3 import S3Client
from tests.backups.servers import SCRIPTS, MariaDB, Versitygw, component
from tests.store_software.medusa import ComponentMissing, Postgres

pytestmark = pytest.mark.store_software

# The Job's environment variable of each object's URL, and the object's name.
OBJECTS = {"URL_DATABASE": "database", "URL_FILES": "files.tar.gz", "URL_MANIFEST": "manifest.json"}
BLOB = bytes(range(256)) * 3
EMOJI_TEXT = "Sommer-Sale 🛒🎉 – größe ✓, quotes ' \" and a backslash \\ and a\nnewline\tand a tab"


# -- running the scripts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    script: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def summary(self) -> str:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def ok(self) -> Run:
        assert self.returncode == 0, f"{self.script} failed ({self.returncode}):\n{self.output}"
        return self

    def failed_with(self, start: str) -> str:
        """The one line the script printed on stderr; it starts with ``start``."""
        assert self.returncode != 0, f"{self.script} should have failed:\n{self.output}"
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"{self.script} printed more than one line on stderr:\n{self.stderr}"
        assert lines[0].startswith(start), lines[0]
        return lines[0]


@pytest.fixture(scope="session")
def busybox_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bin directory with busybox's applets and curl only: the Alpine curl image's tools."""

    def make() -> Path:
        busybox = shutil.which("busybox")
        curl = shutil.which("curl")
        if busybox is None or curl is None:
            raise ComponentMissing("busybox and curl are needed (Debian: busybox, curl; scripts/install-test-deps.sh)")
        bin_dir = tmp_path_factory.mktemp("busybox-bin")
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            (bin_dir / applet).symlink_to(busybox)
        (bin_dir / "curl").symlink_to(curl)
        return bin_dir

    return component(make)


def run_script(name: str, env: dict[str, str], cwd: Path, *, busybox: Path | None = None) -> Run:
    """Run a script as the Job does: its environment only. With ``busybox``, under busybox sh
    with nothing but busybox's applets and curl on PATH."""
    script = SCRIPTS / name
    home = cwd / "home"
    home.mkdir(exist_ok=True)
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(home)}
    command = [str(script)]
    if busybox is not None:
        base["PATH"] = str(busybox)
        command = [str(busybox / "sh"), str(script)]
    result = subprocess.run(
        command, env={**base, **env}, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    return Run(name, result.returncode, result.stdout, result.stderr)


def presigned(s3: S3Client, prefix: str, method: str, expires_seconds: int = 3600) -> dict[str, str]:
    return {var: s3.presign(method, prefix + name, expires_seconds=expires_seconds) for var, name in OBJECTS.items()}


def assert_no_secrets(runs: list[Run], *, secret_values: list[str], urls: list[dict[str, str]]) -> None:
    """No output carries a password, the secret key, or a URL's signature or query string."""
    values = [value for value in secret_values if value]
    for url_set in urls:
        for url in url_set.values():
            query = urllib.parse.urlsplit(url).query
            values.append(query)
            values.extend(urllib.parse.parse_qs(query).get("X-Amz-Signature", []))
    for run in runs:
        assert "X-Amz-Signature" not in run.output, f"{run.script} printed a signature:\n{run.output}"
        assert "X-Amz-Credential" not in run.output, f"{run.script} printed a credential:\n{run.output}"
        for value in values:
            assert value not in run.output, f"{run.script} printed a secret:\n{run.output}"


# -- files ------------------------------------------------------------------------------------


def seed_files(root: Path) -> None:
    """An uploads tree: nested directories, a binary file, an empty file and an empty
    directory, a dotfile, spaces and unicode in a name, a symlink, modes 0644/0755/0600."""
    uploads = root / "wp-content" / "uploads"
    (uploads / "2024" / "05").mkdir(parents=True)
    (uploads / "2024" / "05" / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(300_000))
    (uploads / "empty.txt").write_bytes(b"")
    (uploads / "Sommer Ausverkauf – größe ✓.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(5000))
    (uploads / "latest.jpg").symlink_to("2024/05/photo.jpg")
    (root / ".htaccess").write_text("# BEGIN WordPress\nRewriteEngine On\n")
    tool = root / "wp-content" / "plugins" / "tool" / "run.sh"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\necho tool\n")
    (root / "wp-content" / "cache").mkdir()
    secret = root / "wp-content" / "private.key"
    secret.write_bytes(os.urandom(64))
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() else 0o644)
    tool.chmod(0o755)
    secret.chmod(0o600)


def file_tree(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under root: directories with their mode, files with mode, mtime and
    sha256, symlinks with their target."""
    entries: dict[str, tuple[Any, ...]] = {".": ("dir", oct(stat.S_IMODE(root.stat().st_mode)))}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                entries[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[rel] = ("dir", oct(stat.S_IMODE(info.st_mode)))
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                entries[rel] = ("file", oct(stat.S_IMODE(info.st_mode)), int(info.st_mtime), digest)
    return entries


def change_files(root: Path) -> None:
    """What a live store does after the backup: new uploads, edits, deletions."""
    (root / "wp-content" / "uploads" / "2024" / "05" / "photo.jpg").write_bytes(b"replaced")
    (root / ".htaccess").unlink()
    (root / "wp-content" / "uploads" / "added after the backup.txt").write_text("new")
    (root / ".added-dotfile").write_text("new")
    (root / "wp-content" / "plugins" / "tool" / "run.sh").chmod(0o644)
    (root / "wp-content" / "cache" / "page.html").write_text("<html></html>")


# -- MariaDB (WooCommerce) ------------------------------------------------------------------

WORDPRESS_SCHEMA = """
CREATE TABLE wp_options (
  option_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  option_name varchar(191) NOT NULL UNIQUE,
  option_value longtext NOT NULL,
  autoload varchar(20) NOT NULL DEFAULT 'yes'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE wp_posts (
  ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  post_title text NOT NULL,
  post_content longtext NOT NULL,
  post_status varchar(20) NOT NULL DEFAULT 'publish',
  post_date datetime NOT NULL DEFAULT '2024-05-01 12:00:00'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE wp_postmeta (
  meta_id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  post_id bigint unsigned NOT NULL DEFAULT 0,
  meta_key varchar(255) DEFAULT NULL,
  meta_value longtext,
  KEY post_id (post_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE wp_wc_product_images (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  post_id bigint unsigned NOT NULL,
  image longblob,
  price decimal(19,4) NOT NULL,
  created timestamp(6) NOT NULL DEFAULT '2024-05-01 12:00:00.123456',
  CONSTRAINT fk_post FOREIGN KEY (post_id) REFERENCES wp_posts (ID) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE wp_audit (
  id int NOT NULL AUTO_INCREMENT PRIMARY KEY,
  post_id bigint unsigned NOT NULL,
  action varchar(20) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TRIGGER wp_posts_audit AFTER UPDATE ON wp_posts FOR EACH ROW
  INSERT INTO wp_audit (post_id, action) VALUES (NEW.ID, 'update');
CREATE VIEW wp_published AS SELECT ID, post_title FROM wp_posts WHERE post_status = 'publish';
CREATE FUNCTION wc_price_with_tax(p decimal(19,4)) RETURNS decimal(19,4) DETERMINISTIC RETURN p * 1.19;
CREATE EVENT wp_cleanup ON SCHEDULE EVERY 1 DAY DO DELETE FROM wp_audit WHERE id < 0;
"""


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t") + "'"


def seed_wordpress(db: MariaDB) -> None:
    """A WordPress-like database, created by the store's own user (as WordPress does)."""
    db.reset()
    posts = ",".join(
        f"({_sql_string(f'Product {n} ' + EMOJI_TEXT)}, {_sql_string('<p>' + EMOJI_TEXT * 3 + '</p>')}, "
        f"'{'publish' if n % 3 else 'draft'}')"
        for n in range(1, 51)
    )
    db.user_sql(
        WORDPRESS_SCHEMA
        + f"INSERT INTO wp_posts (post_title, post_content, post_status) VALUES {posts};"
        + "INSERT INTO wp_options (option_name, option_value) VALUES ('siteurl', 'https://shop.example'),"
        + f" ('blogname', {_sql_string(EMOJI_TEXT)}), ('empty', '');"
        + "SET SESSION max_recursive_iterations = 10000;"
        + "INSERT INTO wp_postmeta (post_id, meta_key, meta_value)"
        + " WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 2500)"
        + " SELECT n % 50 + 1, CONCAT('_price_', n), CONCAT('value ', n, ' ✓ 🎉') FROM seq;"
        + "INSERT INTO wp_postmeta (post_id, meta_key, meta_value) VALUES (1, NULL, NULL);"
        + "INSERT INTO wp_wc_product_images (post_id, image, price) VALUES"
        + f" (1, UNHEX('{BLOB.hex()}'), 19.9900), (2, UNHEX(''), 0.0001), (3, NULL, 123456789012345.1234);"
        + "UPDATE wp_posts SET post_status = 'publish' WHERE ID = 3;"
    )


def mariadb_state(db: MariaDB) -> dict[str, Any]:
    """What must survive a round trip: every object, and per table rows and checksum."""
    schema = db.database
    objects = db.rows(f"SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{schema}'")
    tables = sorted(name for name, kind in objects if kind == "BASE TABLE")
    return {
        "objects": sorted(map(tuple, objects)),
        "counts": {table: int(db.scalar(f"SELECT COUNT(*) FROM `{table}`")) for table in tables},
        "checksums": {table: db.rows(f"CHECKSUM TABLE `{table}`")[0][1] for table in tables},
        "create": {table: db.root_sql(f"SHOW CREATE TABLE `{table}`", schema) for table in tables},
        "views": db.rows(
            f"SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{schema}'"
        ),
        "view rows": db.root_sql("SELECT * FROM wp_published ORDER BY ID", schema)
        if any(name == "wp_published" for name, _ in objects)
        else None,
        "triggers": db.rows(
            "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_STATEMENT"
            f" FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{schema}' ORDER BY 1"
        ),
        "routines": db.rows(
            "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION"
            f" FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{schema}' ORDER BY 1"
        ),
        "events": db.rows(
            "SELECT EVENT_NAME, EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD"
            f" FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{schema}' ORDER BY 1"
        ),
    }


def mariadb_env(db: MariaDB, work: Path, *, password: str | None = None) -> dict[str, str]:
    return {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(db.port),
        "DB_NAME": db.database,
        "DB_USER": db.user,
        "DB_PASSWORD": db.password if password is None else password,
        "WORK_DIR": str(work),
    }


@pytest.fixture
def wordpress(mariadb: MariaDB) -> MariaDB:
    seed_wordpress(mariadb)
    return mariadb


def test_woocommerce_round_trip(
    wordpress: MariaDB, s3: S3Client, s3_server: Versitygw, prefix: str, busybox_path: Path, tmp_path: Path
) -> None:
    files = tmp_path / "html"
    files.mkdir()
    seed_files(files)
    before_db, before_files = mariadb_state(wordpress), file_tree(files)
    assert before_db["counts"]["wp_postmeta"] == 2501
    assert len(before_db["triggers"]) == len(before_db["routines"]) == len(before_db["events"]) == 1
    title = wordpress.scalar("SELECT HEX(post_title) FROM wp_posts WHERE ID = 7")
    assert bytes.fromhex(title).decode() == f"Product 7 {EMOJI_TEXT}"
    assert wordpress.scalar("SELECT HEX(image) FROM wp_wc_product_images WHERE id = 1") == BLOB.hex().upper()

    backup_work, restore_work = tmp_path / "backup-job", tmp_path / "restore-job"
    backup_work.mkdir()
    restore_work.mkdir()
    db_env = mariadb_env(wordpress, backup_work)
    put_urls = presigned(s3, prefix, "PUT")
    runs = [
        run_script("dump-mariadb.sh", db_env, tmp_path).ok(),
        run_script(
            "pack-files.sh", {"FILES_DIR": str(files), "WORK_DIR": str(backup_work)}, tmp_path, busybox=busybox_path
        ).ok(),
        run_script("upload.sh", {"WORK_DIR": str(backup_work), **put_urls}, tmp_path, busybox=busybox_path).ok(),
    ]
    assert runs[0].summary.startswith("dumped database wordpress: 5 tables, "), runs[0].summary
    assert runs[0].summary.endswith(" compressed")
    assert runs[1].summary.startswith(f"packed files of {files}: 7 files, "), runs[1].summary
    assert runs[2].summary.startswith("uploaded backup: database "), runs[2].summary
    assert {obj.key.removeprefix(prefix) for obj in s3.list(prefix)} == set(OBJECTS.values())
    assert s3.get(prefix + "database") == (backup_work / "database").read_bytes()

    # The store lives on: rows go, rows change, a table, a routine and a file appear.
    wordpress.user_sql(
        "DELETE FROM wp_postmeta WHERE meta_id % 3 = 0;"
        "UPDATE wp_posts SET post_title = 'changed' WHERE ID < 10;"
        "DELETE FROM wp_posts WHERE ID = 1;"
        "INSERT INTO wp_options (option_name, option_value) VALUES ('new_option', 'x');"
        "CREATE TABLE wp_new_plugin (id int PRIMARY KEY) ENGINE=InnoDB;"
        "INSERT INTO wp_new_plugin VALUES (1), (2);"
        "CREATE PROCEDURE wp_new_procedure() SELECT 1;"
        "CREATE VIEW wp_new_view AS SELECT 1 AS one;"
        "DROP VIEW wp_published;"
        "DROP TRIGGER wp_posts_audit;"
        "ALTER TABLE wp_audit ADD COLUMN extra int;"
    )
    change_files(files)
    assert mariadb_state(wordpress) != before_db
    assert file_tree(files) != before_files

    get_urls = presigned(s3, prefix, "GET")
    db_env = mariadb_env(wordpress, restore_work)
    file_env = {"FILES_DIR": str(files), "WORK_DIR": str(restore_work)}
    restore = [
        run_script("download.sh", {"WORK_DIR": str(restore_work), **get_urls}, tmp_path, busybox=busybox_path).ok(),
        run_script("import-mariadb.sh", db_env, tmp_path).ok(),
        run_script("unpack-files.sh", file_env, tmp_path, busybox=busybox_path).ok(),
    ]
    assert "sizes and sha256 match the manifest" in restore[0].summary
    assert restore[1].summary.startswith("imported database wordpress from a "), restore[1].summary
    assert restore[1].summary.endswith(": 5 tables (replaced 10 objects)"), restore[1].summary
    assert restore[2].summary == f"restored files into {files}: 7 files"

    after_db = mariadb_state(wordpress)
    assert after_db["objects"] == before_db["objects"]
    assert after_db["counts"] == before_db["counts"]
    assert after_db["checksums"] == before_db["checksums"]
    assert after_db == before_db
    assert file_tree(files) == before_files
    assert not (files / "wp-content" / "uploads" / "added after the backup.txt").exists()
    assert not (files / ".added-dotfile").exists()

    # What came back works: the trigger fires, the function computes, the view selects.
    wordpress.user_sql("UPDATE wp_posts SET post_title = 'after restore' WHERE ID = 2;")
    assert wordpress.scalar("SELECT COUNT(*) FROM wp_audit WHERE post_id = 2") == "1"
    assert wordpress.scalar("SELECT wc_price_with_tax(100)") == "119.0000"
    assert wordpress.scalar("SELECT COUNT(*) FROM wp_published") == str(sum(1 for n in range(1, 51) if n % 3 or n == 3))
    assert_no_secrets(
        runs + restore, secret_values=[wordpress.password, s3_server.secret_key], urls=[put_urls, get_urls]
    )


# -- PostgreSQL (Medusa) --------------------------------------------------------------------

MEDUSA_SCHEMA = """
CREATE TYPE order_status AS ENUM ('pending', 'completed', 'canceled');
CREATE SEQUENCE order_display_id_seq START 1000;
CREATE TABLE product (
  id text PRIMARY KEY,
  title text NOT NULL,
  metadata jsonb,
  thumbnail bytea,
  price numeric(24, 6),
  created_at timestamptz NOT NULL DEFAULT '2024-05-01 12:00:00+00',
  deleted_at timestamptz
);
CREATE TABLE "order" (
  id bigserial PRIMARY KEY,
  display_id integer NOT NULL DEFAULT nextval('order_display_id_seq'),
  status order_status NOT NULL DEFAULT 'pending',
  product_id text REFERENCES product (id),
  total numeric NOT NULL,
  items jsonb NOT NULL DEFAULT '[]'
);
CREATE TABLE line_item (
  id bigserial PRIMARY KEY,
  order_id bigint NOT NULL REFERENCES "order" (id) ON DELETE CASCADE,
  title text,
  quantity integer NOT NULL,
  unit_price numeric(20, 6)
);
CREATE INDEX line_item_order_id ON line_item (order_id);
CREATE VIEW live_product AS SELECT id, title, price FROM product WHERE deleted_at IS NULL;
CREATE FUNCTION round_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.total := round(NEW.total, 2); RETURN NEW; END $$;
CREATE TRIGGER order_round_total BEFORE INSERT OR UPDATE ON "order" FOR EACH ROW EXECUTE FUNCTION round_total();
CREATE SCHEMA medusa_extra;
CREATE TABLE medusa_extra.note (id serial PRIMARY KEY, body text NOT NULL);
"""


@dataclass(frozen=True)
class PgDatabase:
    postgres: Postgres
    name: str
    password: str

    def env(self, work: Path, *, password: str | None = None) -> dict[str, str]:
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.postgres.port),
            "PGDATABASE": self.name,
            "PGUSER": self.name,
            "PGPASSWORD": self.password if password is None else password,
            "WORK_DIR": str(work),
        }

    def owner(self) -> psycopg.Connection[Any]:
        """A connection as the database's owner over TCP, as the store connects."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.postgres.port,
            user=self.name,
            password=self.password,
            dbname=self.name,
            autocommit=True,
        )

    def rows(self, query: str | sql.Composable, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.postgres.admin(self.name) as conn:
            return conn.execute(query, params or None).fetchall()  # type: ignore[arg-type]


@pytest.fixture
def medusa_db(postgres: Postgres) -> Iterator[PgDatabase]:
    name = f"medusa_{secrets.token_hex(5)}"
    url = postgres.create_database(name)
    password = urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")
    database = PgDatabase(postgres, name, password)
    with database.owner() as conn:
        conn.execute(MEDUSA_SCHEMA)
        for n in range(1, 51):
            metadata = Jsonb({"n": n, "tags": ["sale", "🛒"], "nested": {"text": EMOJI_TEXT}})
            conn.execute(
                "INSERT INTO product (id, title, metadata, thumbnail, price, deleted_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    f"prod_{n:03d}",
                    f"Product {n} {EMOJI_TEXT}",
                    metadata,
                    BLOB if n % 2 else None,
                    "123456789012345.123456" if n == 1 else f"{n}.99",
                    "2024-06-01 00:00:00+00" if n % 10 == 0 else None,
                ),
            )
        conn.execute(
            "INSERT INTO \"order\" (status, product_id, total, items) SELECT (ARRAY['pending', 'completed',"
            " 'canceled'])[n % 3 + 1]::order_status, 'prod_' || lpad((n % 50 + 1)::text, 3, '0'), n * 1.005,"
            " jsonb_build_array(jsonb_build_object('sku', 'SKU-' || n, 'qty', n % 5)) FROM generate_series(1, 300) n"
        )
        conn.execute(
            "INSERT INTO line_item (order_id, title, quantity, unit_price) SELECT n % 300 + 1, 'Item ' || n || ' ✓',"
            " n % 7 + 1, n / 3.0 FROM generate_series(1, 1500) n"
        )
        conn.execute("INSERT INTO medusa_extra.note (body) VALUES ('first'), (%s), ('')", (EMOJI_TEXT,))
    yield database
    with postgres.admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


SYSTEM_SCHEMAS = "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"


def postgres_state(db: PgDatabase) -> dict[str, Any]:
    relations = db.rows(
        "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE {SYSTEM_SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'S') ORDER BY 1, 2"
    )
    tables = [(schema, name) for schema, name, kind in relations if kind in ("r", "p")]
    per_table = {}
    for schema, name in tables:
        query = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {}.{} t"
        ).format(sql.Identifier(schema), sql.Identifier(name))
        per_table[f"{schema}.{name}"] = db.rows(query)[0]
    return {
        "relations": relations,
        "tables": per_table,
        "schemas": db.rows(f"SELECT nspname FROM pg_namespace n WHERE {SYSTEM_SCHEMAS} ORDER BY 1"),
        "sequences": db.rows(
            "SELECT schemaname, sequencename, last_value, start_value FROM pg_sequences"
            " WHERE schemaname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
        ),
        "views": db.rows(
            "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE {SYSTEM_SCHEMAS} AND c.relkind = 'v' ORDER BY 1"
        ),
        "triggers": db.rows("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1"),
        "functions": db.rows(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            f" WHERE {SYSTEM_SCHEMAS} ORDER BY 1"
        ),
        "enums": db.rows(
            "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e"
            " JOIN pg_type t ON t.oid = e.enumtypid GROUP BY 1 ORDER BY 1"
        ),
        "indexes": db.rows(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname <> 'information_schema' AND schemaname NOT LIKE 'pg\\_%' ORDER BY 1"
        ),
    }


def test_medusa_round_trip(
    medusa_db: PgDatabase, s3: S3Client, s3_server: Versitygw, prefix: str, tmp_path: Path
) -> None:
    files = tmp_path / "static"
    files.mkdir()
    seed_files(files)
    with medusa_db.owner() as conn:
        for _ in range(7):
            conn.execute("SELECT nextval('order_display_id_seq')")
    before_db, before_files = postgres_state(medusa_db), file_tree(files)
    assert before_db["tables"]["public.line_item"][0] == 1500
    assert ("public", "order_display_id_seq", 1306, 1000) in before_db["sequences"]
    assert medusa_db.rows("SELECT thumbnail FROM product WHERE id = 'prod_001'")[0][0] == BLOB
    assert medusa_db.rows("SELECT price::text FROM product WHERE id = 'prod_001'")[0][0] == "123456789012345.123456"

    backup_work, restore_work = tmp_path / "backup-job", tmp_path / "restore-job"
    backup_work.mkdir()
    restore_work.mkdir()
    put_urls = presigned(s3, prefix, "PUT")
    runs = [
        run_script("dump-postgres.sh", medusa_db.env(backup_work), tmp_path).ok(),
        run_script("pack-files.sh", {"FILES_DIR": str(files), "WORK_DIR": str(backup_work)}, tmp_path).ok(),
        run_script("upload.sh", {"WORK_DIR": str(backup_work), **put_urls}, tmp_path).ok(),
    ]
    assert runs[0].summary.startswith(f"dumped database {medusa_db.name}: 4 tables, "), runs[0].summary

    with medusa_db.owner() as conn:
        conn.execute("DELETE FROM line_item WHERE id % 2 = 0")
        conn.execute("UPDATE product SET title = 'changed', metadata = '{}' WHERE id < 'prod_010'")
        conn.execute("INSERT INTO \"order\" (product_id, total) VALUES ('prod_002', 5)")
        conn.execute("SELECT nextval('order_display_id_seq') FROM generate_series(1, 20)")
        conn.execute("CREATE TABLE added_after_backup (id int PRIMARY KEY)")
        conn.execute("INSERT INTO added_after_backup VALUES (1)")
        conn.execute("CREATE SCHEMA later; CREATE TABLE later.thing (id int)")
        conn.execute("DROP VIEW live_product")
        conn.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
        conn.execute("DROP TABLE medusa_extra.note")
    change_files(files)
    assert postgres_state(medusa_db) != before_db

    get_urls = presigned(s3, prefix, "GET")
    restore = [
        run_script("download.sh", {"WORK_DIR": str(restore_work), **get_urls}, tmp_path).ok(),
        run_script("import-postgres.sh", medusa_db.env(restore_work), tmp_path).ok(),
        run_script("unpack-files.sh", {"FILES_DIR": str(files), "WORK_DIR": str(restore_work)}, tmp_path).ok(),
    ]
    assert restore[1].summary.startswith(f"imported database {medusa_db.name} from a "), restore[1].summary
    assert restore[1].summary.endswith(": 4 tables"), restore[1].summary

    after_db = postgres_state(medusa_db)
    assert after_db["relations"] == before_db["relations"]
    assert after_db["tables"] == before_db["tables"]
    assert after_db["sequences"] == before_db["sequences"]
    assert after_db == before_db
    assert file_tree(files) == before_files
    assert medusa_db.rows("SELECT thumbnail FROM product WHERE id = 'prod_001'")[0][0] == BLOB

    # The restored store carries on: the sequence continues, the trigger fires, and the
    # owner owns what it restored.
    with medusa_db.owner() as conn:
        row = conn.execute(
            "INSERT INTO \"order\" (product_id, total) VALUES ('prod_002', 1.005) RETURNING display_id, total::text"
        ).fetchone()
        assert row == (1307, "1.01")
        conn.execute("CREATE TABLE public.after_restore (id int)")
    assert_no_secrets(
        runs + restore, secret_values=[medusa_db.password, s3_server.secret_key], urls=[put_urls, get_urls]
    )


# -- failures ---------------------------------------------------------------------------------


def test_dump_with_a_wrong_password_fails_clearly(mariadb: MariaDB, medusa_db: PgDatabase, tmp_path: Path) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    run = run_script("dump-mariadb.sh", mariadb_env(mariadb, tmp_path, password=wrong), tmp_path)
    line = run.failed_with(
        f"backup: cannot connect to the database wordpress at 127.0.0.1:{mariadb.port} as wordpress ("
    )
    assert "Access denied" in line
    pg = run_script("dump-postgres.sh", medusa_db.env(tmp_path, password=wrong), tmp_path)
    pg_line = pg.failed_with(
        f"backup: cannot connect to the database {medusa_db.name}"
        f" at 127.0.0.1:{medusa_db.postgres.port} as {medusa_db.name} ("
    )
    assert "password authentication failed" in pg_line
    assert not (tmp_path / "database").exists()
    assert_no_secrets([run, pg], secret_values=[wrong, mariadb.password, medusa_db.password], urls=[])


def test_upload_with_an_expired_url_names_the_object(
    s3: S3Client, s3_server: Versitygw, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "database").write_bytes(b"-- a dump\n")
    run_script("pack-files.sh", {"FILES_DIR": str(tmp_path / "none"), "WORK_DIR": str(tmp_path)}, tmp_path).ok()
    urls = presigned(s3, prefix, "PUT", expires_seconds=1)
    time.sleep(2.2)
    run = run_script("upload.sh", {"WORK_DIR": str(tmp_path), **urls}, tmp_path)
    line = run.failed_with(f"backup: uploading database to backups/{prefix}database failed: HTTP 403 ")
    assert "expired" in line.lower()
    assert s3.list(prefix) == []  # and above all no manifest: the backup is not complete
    assert_no_secrets([run], secret_values=[s3_server.secret_key], urls=[urls])


@pytest.fixture
def uploaded(s3: S3Client, prefix: str, tmp_path: Path) -> str:
    """A complete small backup under ``prefix``."""
    work = tmp_path / "uploaded"
    files = tmp_path / "uploaded-files"
    work.mkdir()
    files.mkdir()
    (files / "a.txt").write_text("a" * 5000)
    (work / "database").write_bytes(gzip.compress(b"-- Dump completed\n"))
    run_script("pack-files.sh", {"FILES_DIR": str(files), "WORK_DIR": str(work)}, tmp_path).ok()
    run_script("upload.sh", {"WORK_DIR": str(work), **presigned(s3, prefix, "PUT")}, tmp_path).ok()
    return prefix


def test_download_detects_a_corrupted_object(
    s3: S3Client, s3_server: Versitygw, uploaded: str, busybox_path: Path, tmp_path: Path
) -> None:
    original = s3.get(uploaded + "files.tar.gz")
    flipped = bytes([original[0] ^ 0xFF]) + original[1:]
    s3.put(uploaded + "files.tar.gz", flipped)  # same size, different bytes
    urls = presigned(s3, uploaded, "GET")
    runs = []
    for busybox in (None, busybox_path):
        work = tmp_path / f"restore-{'busybox' if busybox else 'gnu'}"
        work.mkdir()
        run = run_script("download.sh", {"WORK_DIR": str(work), **urls}, tmp_path, busybox=busybox)
        assert run.failed_with("restore: ") == "restore: files.tar.gz is corrupt: sha256 mismatch"
        runs.append(run)

    s3.put(uploaded + "files.tar.gz", original + b"x")
    run = run_script("download.sh", {"WORK_DIR": str(tmp_path), **urls}, tmp_path)
    assert run.failed_with("restore: ") == (
        f"restore: files.tar.gz is corrupt: {len(original) + 1} bytes, the manifest says {len(original)}"
    )
    assert_no_secrets([*runs, run], secret_values=[s3_server.secret_key], urls=[urls])


def test_download_of_an_incomplete_backup_says_so(s3: S3Client, uploaded: str, tmp_path: Path) -> None:
    s3.delete(uploaded + "manifest.json")
    run = run_script("download.sh", {"WORK_DIR": str(tmp_path), **presigned(s3, uploaded, "GET")}, tmp_path)
    line = run.failed_with(f"restore: the backup backups/{uploaded} has no manifest.json: it is incomplete or was")
    assert line.endswith("deleted (HTTP 404 NoSuchKey: The specified key does not exist.)")


def test_imports_check_the_dump_before_dropping_anything(
    wordpress: MariaDB, medusa_db: PgDatabase, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run_script("dump-mariadb.sh", mariadb_env(wordpress, work), tmp_path).ok()
    dump = gzip.decompress((work / "database").read_bytes())
    (work / "database").write_bytes(gzip.compress(dump[: len(dump) // 2]))
    before = mariadb_state(wordpress)
    run = run_script("import-mariadb.sh", mariadb_env(wordpress, work), tmp_path)
    assert run.failed_with("restore: ") == (
        'restore: the database dump is truncated (no "Dump completed" line at its end)'
    )
    assert mariadb_state(wordpress) == before

    (work / "database").write_bytes(b"PGDMP" + os.urandom(100))
    before_pg = postgres_state(medusa_db)
    pg = run_script("import-postgres.sh", medusa_db.env(work), tmp_path)
    assert pg.failed_with("restore: the database dump is not a readable pg_dump archive (")
    assert postgres_state(medusa_db) == before_pg


def test_empty_files_round_trip_and_a_bad_archive_leaves_files_alone(tmp_path: Path, busybox_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for busybox in (None, busybox_path):
        packed = run_script(
            "pack-files.sh", {"FILES_DIR": str(tmp_path / "missing"), "WORK_DIR": str(work)}, tmp_path, busybox=busybox
        ).ok()
        assert packed.summary.startswith(
            f"packed no files ({tmp_path / 'missing'} does not exist): wrote an empty archive"
        )
        target = tmp_path / "target"
        target.mkdir(exist_ok=True)
        seed_files(target)
        unpacked = run_script(
            "unpack-files.sh", {"FILES_DIR": str(target), "WORK_DIR": str(work)}, tmp_path, busybox=busybox
        ).ok()
        assert unpacked.summary == f"restored files into {target}: 0 files"
        assert list(target.iterdir()) == []

    seed_files(tmp_path / "target")
    before = file_tree(tmp_path / "target")
    (work / "files.tar.gz").write_bytes(b"not a gzip file at all")
    run = run_script("unpack-files.sh", {"FILES_DIR": str(tmp_path / "target"), "WORK_DIR": str(work)}, tmp_path)
    assert run.failed_with("restore: files.tar.gz is not a readable archive (")
    assert file_tree(tmp_path / "target") == before
