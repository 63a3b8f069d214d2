"""Database triggers that refuse UPDATE and DELETE of every diary table, whoever asks.

The models refuse changes already; these stop raw SQL and other code paths (as audit.0002
and implants.0002 do). A plan or template changes by a new version, a red flag by a
resolution row, a diary day by a later entry.
"""

from django.db import migrations

from openidds.web.append_only import append_only_operation

TABLES = {
    "diary_diaryentry": "diary entries",
    "diary_questionnaire": "questionnaires",
    "diary_checkin": "recovery check-ins",
    "diary_redflag": "red flags",
    "diary_redflagresolution": "red flag resolutions",
    "diary_painplan": "pain management plans",
    "diary_goalprogress": "goal progress records",
    "diary_recoverytemplate": "recovery templates",
}


class Migration(migrations.Migration):
    dependencies = [("diary", "0001_initial")]

    operations = [append_only_operation(table, what) for table, what in TABLES.items()]
