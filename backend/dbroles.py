"""Two database roles: the owner runs migrations, the runtime role runs the app.

The API and the worker connect as the runtime role: neither owner nor superuser, it may
read and write the register but only INSERT and SELECT the audit trail, so the app
cannot rewrite it (no UPDATE, DELETE, TRUNCATE, and not the owner who could disable the
triggers). It owns the movement-trace table family only, because PostgreSQL lets only a
partitioned table's owner detach and drop its daily partitions, which the app does at run
time. It has no CREATE on schema ``public``: new partitions come from the owner's
SECURITY DEFINER function ``qonys_create_trace_partition`` (migration 0025). On Citus,
whose workers make a partition's shards as the session's role, it keeps CREATE there.

``QONYS_APP_DATABASE_URL`` names the runtime connection of a deployment. Without it,
``qonys db upgrade`` (run by the owner) creates the role ``qonys_app`` with a password
generated into the data folder (mode 0600), and the app connects as it from then on.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from sqlalchemy import Connection, text

from backend.db import on_citus, one_connection_per_node
from backend.localsecrets import existing_secret, generated_secret
from backend.settings import Settings

RUNTIME_ROLE = "qonys_app"
PASSWORD_FILE = "app-db-password"
# The trail the runtime role may only append to and read.
APPEND_ONLY = ("audit_log", "audit_seals")
# The tables the runtime role owns (and so may partition): the movement traces.
RUNTIME_OWNED = ("trace_points",)


class RoleError(RuntimeError):
    """The runtime role cannot be set up; says what is missing."""


def _with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{quote(user)}:{quote(password, safe='')}@{host}"))


def url_user(url: str) -> str:
    return unquote(urlsplit(url).username or "")


def password_file(data_dir: Path) -> Path:
    return data_dir / PASSWORD_FILE


def runtime_url(owner_url: str, data_dir: Path, explicit: str | None) -> str | None:
    """The URL the API and worker connect with: the given one, else the generated role's
    on the owner's database, else None (no ``qonys db upgrade`` has set it up yet)."""
    if explicit:
        return explicit
    password = existing_secret(password_file(data_dir))
    if password is None:
        return None
    return _with_credentials(owner_url, RUNTIME_ROLE, password)


def app_url(settings: Settings) -> str:
    """Where the API and worker connect: as the runtime role once it is set up; before the
    first ``qonys db upgrade`` the owner's URL (and the app then says so in its log)."""
    return (
        runtime_url(settings.database_url, settings.data_dir, settings.app_database_url)
        or settings.database_url
    )


def ensure_runtime_role(conn: Connection, data_dir: Path, explicit: str | None) -> str:
    """Create (or update) the runtime role and grant it exactly its rights; returns its
    name. ``conn`` is the owner's, after the migrations ran."""
    owner = conn.scalar(text("SELECT current_user"))
    if explicit:
        role = url_user(explicit)
        if role == owner:
            raise RoleError(
                "QONYS_APP_DATABASE_URL connects as the owner of the tables: give the app "
                "a role of its own (neither owner nor superuser)"
            )
    else:
        role = RUNTIME_ROLE
        password = generated_secret(password_file(data_dir))
        exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        verb = "ALTER" if exists else "CREATE"
        attributes = (
            "LOGIN"
            if exists
            else "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        )
        try:
            conn.execute(text(f"{verb} ROLE {role} {attributes} PASSWORD :p"), {"p": password})
        except Exception as exc:
            raise RoleError(
                f"cannot {verb.lower()} the runtime role {role} as {owner}: give {owner} "
                "CREATEROLE, or create a role yourself and set QONYS_APP_DATABASE_URL"
            ) from exc
    if conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}):
        raise RoleError(f"the runtime role {role} is a superuser: it must not be")
    grant_rights(conn, role, owner)
    return role


def grant_rights(conn: Connection, role: str, owner: str) -> None:
    database = conn.scalar(text("SELECT current_database()"))
    citus = on_citus(conn)
    statements = [
        f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {role}',
        # No CREATE on public: the one thing it makes at run time, a day's trace
        # partition, it makes through the owner's function (migration 0025).
        f"GRANT USAGE ON SCHEMA public TO {role}",
        # Citus is the one exception: there the partition's shards are made on the
        # workers as the session's role, so it keeps CREATE (backend/services/
        # trace_storage.py, _create_directly).
        (
            f"GRANT CREATE ON SCHEMA public TO {role}"
            if citus
            else f"REVOKE CREATE ON SCHEMA public FROM {role}"
        ),
        f"GRANT EXECUTE ON FUNCTION qonys_create_trace_partition(date) TO {role}",
        # And a closed day's spatial index (migration 0030).
        f"GRANT EXECUTE ON FUNCTION qonys_index_trace_partition(date) TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
        f" GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {', '.join(APPEND_ONLY)}"
        f" FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
        # The owner may act as the runtime role (to migrate the tables it owns), never
        # the other way round.
        f"GRANT {role} TO {owner}",
    ]
    # On Citus the grants reach distributed and reference tables alike, in one transaction.
    one_connection_per_node(conn)
    for statement in statements:
        conn.execute(text(statement))
    for table in RUNTIME_OWNED:
        family = conn.execute(
            text(
                "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
                " WHERE c.relname = :t OR c.oid IN ("
                " SELECT inhrelid FROM pg_inherits WHERE inhparent = CAST(:t AS regclass))"
            ),
            {"t": table},
        ).all()
        moved = [n for n, owner in family if owner != role]
        if moved:
            # A new owner needs CREATE on the schema: held only inside this transaction.
            conn.execute(text(f"GRANT CREATE ON SCHEMA public TO {role}"))
            for name in moved:
                conn.execute(text(f"ALTER TABLE {name} OWNER TO {role}"))
            if not citus:
                conn.execute(text(f"REVOKE CREATE ON SCHEMA public FROM {role}"))
