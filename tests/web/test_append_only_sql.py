"""Append-only tables hold against SQL that rewrites rows without an UPDATE or DELETE
statement (issue 10): SQLite's INSERT OR REPLACE (an implicit delete, which fires the delete
trigger only with ``recursive_triggers`` on) and the UPSERT of both databases (an update)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from test_refills_helpers import make_pump

pytestmark = pytest.mark.django_db


def _append_only_tables() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE '%\\_no\\_delete' ESCAPE '\\'"
            )
        else:
            cursor.execute(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname LIKE '%no_update_delete'"
            )
        return sorted(row[0] for row in cursor.fetchall())


def test_every_append_only_table_has_its_triggers_and_sqlite_recurses():
    tables = _append_only_tables()
    for expected in (
        "audit_auditevent",
        "implants_pumpevent",
        "prescriptions_prescription",
        "clinicadmin_clinicdruglibrary",
        "clinicadmin_druglibraryselection",
    ):
        assert expected in tables
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA recursive_triggers")
            assert cursor.fetchone()[0] == 1


@pytest.mark.parametrize("table", ["implants_pumpevent", "audit_auditevent"])
def test_replace_and_upsert_cannot_rewrite_a_row(table, patient, physician):
    make_pump(patient, physician)  # pump events and their audit events
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} ORDER BY id LIMIT 1")
        row_id = cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        before = cursor.fetchone()[0]
    statements = [
        # UPSERT: both databases
        f"INSERT INTO {table} SELECT * FROM {table} WHERE id = %s "
        "ON CONFLICT (id) DO UPDATE SET id = excluded.id",
    ]
    if connection.vendor == "sqlite":
        statements.append(f"INSERT OR REPLACE INTO {table} SELECT * FROM {table} WHERE id = %s")
        statements.append(f"REPLACE INTO {table} SELECT * FROM {table} WHERE id = %s")
    for sql in statements:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            # "AND 1": SQLite parses "SELECT ... ON CONFLICT" only with a WHERE clause
            cursor.execute(sql.replace("WHERE id = %s", "WHERE id = %s AND 1=1"), [row_id])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] == before
