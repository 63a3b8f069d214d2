"""Database triggers that refuse UPDATE and DELETE of audit events, whoever asks.

The model refuses them already; these stop raw SQL, ``manage.py dbshell`` mistakes and
other code paths. A deliberate purge (retention) must drop the trigger in a migration of
its own, which is then itself visible in the history.
"""

from django.db import migrations

from openidds.web.append_only import append_only_operation


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [append_only_operation("audit_auditevent", "audit events")]
