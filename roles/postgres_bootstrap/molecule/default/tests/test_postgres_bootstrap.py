"""The application's database objects exist, usable by the application user over TLS."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import yaml

testinfra_hosts = ["pgboot-api"]

VARS = yaml.safe_load(
    (Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "group_vars" / "all.yml").read_text()
)


def psql(host, sql: str, user: str = "ideation_user", password: str | None = None,
         dbname: str = "ideation_db"):
    """Run SQL on the server over verify-full TLS, quietly; rows come back as 'a|b' lines."""
    secret = VARS["postgres_bootstrap_rotated_password"] if password is None else password
    conninfo = (
        f"host={VARS['postgres_bootstrap_login_host']} dbname={dbname} user={user} "
        f"sslmode=verify-full sslrootcert={VARS['postgres_bootstrap_ca_cert']} connect_timeout=5"
    )
    return host.run(
        f"PGPASSWORD={shlex.quote(secret)} psql {shlex.quote(conninfo)} -XAtq -v ON_ERROR_STOP=1"
        f" -c {shlex.quote(sql)}"
    )


def master(host, sql: str):
    return psql(host, sql, user=VARS["postgres_bootstrap_login_user"],
                password=VARS["postgres_bootstrap_login_password"])


def test_database_user_and_privileges(host):
    result = master(
        host,
        "SELECT has_database_privilege('ideation_user', 'ideation_db', 'CONNECT,TEMP'),"
        " has_database_privilege('ideation_user', 'ideation_db', 'CREATE'),"
        " (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'ideation_user')",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "t|f|t"


def test_application_user_is_no_superuser_and_member_of_nothing(host):
    result = master(
        host,
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,"
        " (SELECT count(*) FROM pg_auth_members WHERE member = r.oid)"
        " FROM pg_roles r WHERE rolname = 'ideation_user'",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "f|f|f|f|0"


def test_application_user_is_not_the_master_user():
    assert VARS["postgres_bootstrap_login_user"] != "ideation_user"


def test_application_user_cannot_create_a_schema_or_a_role(host):
    schema = psql(host, "CREATE SCHEMA sneaky")
    assert schema.rc != 0
    assert "permission denied for database ideation_db" in schema.stderr
    role = psql(host, "CREATE ROLE sneaky")
    assert role.rc != 0
    assert "permission denied to create role" in role.stderr


def test_application_user_cannot_read_another_schema(host):
    setup = master(
        host,
        "CREATE SCHEMA IF NOT EXISTS billing;"
        " CREATE TABLE IF NOT EXISTS billing.cards (number text);"
        " CREATE TABLE IF NOT EXISTS public.master_notes (note text);",
    )
    assert setup.rc == 0, setup.stderr
    other = psql(host, "SELECT * FROM billing.cards")
    assert other.rc != 0
    assert "permission denied for schema billing" in other.stderr
    public = psql(host, "SELECT * FROM public.master_notes")
    assert public.rc != 0
    assert "permission denied for table master_notes" in public.stderr


def test_schema_is_owned_by_the_application_user(host):
    result = master(host, "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'ideation'")
    assert result.stdout.strip() == "ideation_user", result.stderr


def test_extensions_exist(host):
    result = master(host, "SELECT extname FROM pg_extension ORDER BY extname")
    assert {"pg_trgm", "uuid-ossp"} <= set(result.stdout.split()), result.stderr


def test_application_user_works_in_its_schema(host):
    result = psql(
        host,
        "CREATE TABLE ideation.probe (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), title text);"
        " INSERT INTO ideation.probe (title) VALUES ('solar roads');"
        " SELECT similarity(title, 'solar road') > 0.5 FROM ideation.probe;"
        " DROP TABLE ideation.probe;",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["t"]


def test_application_user_cannot_create_in_public(host):
    result = psql(host, "CREATE TABLE public.nope (id int)")
    assert result.rc != 0
    assert "permission denied for schema public" in result.stderr


def test_rotated_password_replaced_the_old_one(host):
    assert psql(host, "SELECT 1").stdout.strip() == "1"
    old = psql(host, "SELECT 1", password=VARS["postgres_bootstrap_password"])
    assert old.rc != 0
    assert "password authentication failed" in old.stderr
