"""Database triggers that make a table append-only, for the migrations that need them.

The models refuse UPDATE and DELETE already; these triggers stop raw SQL, ``dbshell``
mistakes and any other code path, on SQLite and on PostgreSQL. A deliberate purge
(retention) must drop the triggers in a migration of its own, visible in the history.

Migrations call :func:`append_only_operation`; keep the generated SQL stable (names
included), since applied migrations are not re-run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations


def append_only_sql(table: str, what: str) -> dict[str, tuple[list[str], list[str]]]:
    """Forward and reverse statements per database vendor for ``table``.

    ``what`` names the rows in the error message: "audit events are append-only".
    """
    message = f"{what} are append-only"
    sqlite = [
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
       BEGIN SELECT RAISE(ABORT, '{message}'); END;""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
       BEGIN SELECT RAISE(ABORT, '{message}'); END;""",
    ]
    sqlite_reverse = [
        f"DROP TRIGGER IF EXISTS {table}_no_update;",
        f"DROP TRIGGER IF EXISTS {table}_no_delete;",
    ]
    postgres = [
        f"""CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION '{message}'; END;
       $$ LANGUAGE plpgsql;""",
        f"""CREATE TRIGGER {table}_no_update_delete
       BEFORE UPDATE OR DELETE ON {table}
       FOR EACH ROW EXECUTE FUNCTION {table}_append_only();""",
        f"""CREATE TRIGGER {table}_no_truncate
       BEFORE TRUNCATE ON {table}
       FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();""",
    ]
    postgres_reverse = [
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};",
        f"DROP FUNCTION IF EXISTS {table}_append_only();",
    ]
    return {"sqlite": (sqlite, sqlite_reverse), "postgresql": (postgres, postgres_reverse)}


def _runner(statements: dict[str, list[str]]) -> Callable[[Any, Any], None]:
    def run(apps: Any, schema_editor: Any) -> None:
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


def append_only_operation(table: str, what: str) -> migrations.RunPython:
    """A migration operation that installs (and on reverse removes) the triggers."""
    sql = append_only_sql(table, what)
    forward = {vendor: pair[0] for vendor, pair in sql.items()}
    reverse = {vendor: pair[1] for vendor, pair in sql.items()}
    return migrations.RunPython(_runner(forward), _runner(reverse))


def append_only_suspended(
    table: str, what: str, operations: list[Any]
) -> list[migrations.operations.base.Operation]:
    """``operations`` run with the triggers of ``table`` dropped and installed again after:
    on SQLite a constraint change remakes the table, which would silently lose them."""
    sql = append_only_sql(table, what)
    create = {vendor: pair[0] for vendor, pair in sql.items()}
    drop = {vendor: pair[1] for vendor, pair in sql.items()}
    return [
        migrations.RunPython(_runner(drop), _runner(create)),
        *operations,
        migrations.RunPython(_runner(create), _runner(drop)),
    ]
