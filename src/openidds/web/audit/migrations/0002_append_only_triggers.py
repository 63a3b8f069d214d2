"""Database triggers that refuse UPDATE and DELETE of audit events, whoever asks.

The model refuses them already; these stop raw SQL, ``manage.py dbshell`` mistakes and
other code paths. A deliberate purge (retention) must drop the trigger in a migration of
its own, which is then itself visible in the history.
"""

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;""",
    """CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete;",
]
POSTGRES = [
    """CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit events are append-only'; END;
       $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER audit_auditevent_no_update_delete
       BEFORE UPDATE OR DELETE ON audit_auditevent
       FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();""",
    """CREATE TRIGGER audit_auditevent_no_truncate
       BEFORE TRUNCATE ON audit_auditevent
       FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_append_only();""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent;",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update_delete ON audit_auditevent;",
    "DROP FUNCTION IF EXISTS audit_auditevent_append_only();",
]


def _run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}),
        ),
    ]
