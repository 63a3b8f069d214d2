"""Database triggers that refuse UPDATE and DELETE of pump events, whoever asks.

A pump event is corrected by a new record that supersedes it; the model refuses changes
already, these stop raw SQL and other code paths (as audit.0002 does for audit events).
"""

from django.db import migrations

from openidds.web.append_only import append_only_operation


class Migration(migrations.Migration):
    dependencies = [("implants", "0001_initial")]

    operations = [append_only_operation("implants_pumpevent", "pump events")]
