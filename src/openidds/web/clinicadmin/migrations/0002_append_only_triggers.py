"""Database triggers that refuse UPDATE and DELETE of clinic drug libraries and of the
record of which library a clinic uses, whoever asks (see ``openidds.web.append_only``)."""

from django.db import migrations

from openidds.web.append_only import append_only_operation


class Migration(migrations.Migration):
    dependencies = [("clinicadmin", "0001_initial")]

    operations = [
        append_only_operation("clinicadmin_clinicdruglibrary", "clinic drug libraries"),
        append_only_operation("clinicadmin_druglibraryselection", "drug library selections"),
    ]
