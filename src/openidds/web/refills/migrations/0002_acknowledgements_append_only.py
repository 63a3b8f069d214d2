"""Database triggers that refuse UPDATE and DELETE of discrepancy acknowledgements.

A physician's acknowledgement is a clinical record: the model refuses changes already,
these stop raw SQL and other code paths (as implants.0002 does for pump events).
"""

from django.db import migrations

from openidds.web.append_only import append_only_operation


class Migration(migrations.Migration):
    dependencies = [("refills", "0001_initial")]

    operations = [
        append_only_operation("refills_discrepancyacknowledgement", "discrepancy acknowledgements")
    ]
