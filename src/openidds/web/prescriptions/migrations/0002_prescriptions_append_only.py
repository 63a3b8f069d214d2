"""Database triggers that refuse UPDATE and DELETE of prescriptions, whoever asks.

A prescription is changed by signing a new version; the model refuses changes already,
these stop raw SQL and other code paths (as audit.0002 and implants.0002 do).
"""

from django.db import migrations

from openidds.web.append_only import append_only_operation


class Migration(migrations.Migration):
    dependencies = [("prescriptions", "0001_initial")]

    operations = [append_only_operation("prescriptions_prescription", "prescriptions")]
