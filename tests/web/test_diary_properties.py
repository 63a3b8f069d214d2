"""Hypothesis properties of the diary's safety rules:

- a check-in with any red-flag answer raises exactly one open urgent item (shown on the
  worklist) and always shows the call instruction; without one, neither;
- a portal user never sees another patient's data, whatever the id in the URL or the API.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_diary_support import ALL_NO, diary_kwargs, portal_user
from web_helpers import MODEL_BACKEND, patient_fields

from openidds.web.diary import services, worklist
from openidds.web.diary.models import RedFlag
from openidds.web.patients.models import Patient

pytestmark = pytest.mark.django_db

FLAGS = list(ALL_NO)
fixture_ok = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fixture_ok
@given(
    answers=st.fixed_dictionaries({k: st.booleans() for k in FLAGS}),
    zone=st.sampled_from(["Europe/Berlin", "America/Chicago", "Asia/Tokyo", "UTC"]),
)
def test_a_red_flag_always_raises_one_item_and_shows_the_call(client, patient, answers, zone):
    Patient.objects.filter(pk=patient.pk).update(time_zone=zone)
    patient.refresh_from_db()
    user = patient.portal_accounts.first()
    user = user.user if user is not None else portal_user("prop-anna", patient)
    client.force_login(user, backend=MODEL_BACKEND)
    open_before = RedFlag.objects.filter(resolution__isnull=True).count()
    items_before = len(worklist.red_flag_items(patient.clinic, timezone.now()))
    form = {f"flag_{k}": "yes" if v else "no" for k, v in answers.items()}
    response = client.post(reverse("portal-recovery", args=[patient.pk]), form, follow=True)
    text = response.content.decode()
    raised = RedFlag.objects.filter(resolution__isnull=True).count() - open_before
    items = len(worklist.red_flag_items(patient.clinic, timezone.now())) - items_before
    if any(answers.values()):
        assert raised == 1
        assert items == 1
        assert 'role="alert"' in text
        if answers["overdose"]:
            expected = {"Europe/Berlin": "112", "America/Chicago": "911"}.get(
                zone, "your local emergency number"
            )
            assert f"Call emergency services now: {expected}" in text
        else:
            assert "Call your clinic now: Own Clinic" in text
    else:
        assert raised == 0
        assert items == 0
        assert "Call " not in text
        assert "no warning signs" in text


PAGES = ["diary/", "diary/bpi/", "diary/odi/", "recovery/", "plan/"]
API = ["diary-entries", "questionnaires", "check-ins", "plan"]


@fixture_ok
@given(
    page=st.sampled_from(PAGES),
    api=st.sampled_from(API),
    shift=st.integers(min_value=-3, max_value=50),
    caregiver=st.booleans(),
)
def test_a_patient_never_sees_another_patients_data(
    client, clinic, other_clinic, page, api, shift, caregiver
):
    mine = Patient.objects.filter(mrn="MINE").first()
    if mine is None:
        mine = Patient.objects.create(clinic=clinic, **patient_fields(mrn="MINE", name="Mine"))
        theirs = Patient.objects.create(
            clinic=clinic, **patient_fields(mrn="THEIRS", name="Theodora Secret")
        )
        far = Patient.objects.create(
            clinic=other_clinic, **patient_fields(mrn="FAR", name="Farah Hidden")
        )
        portal_user("me", mine)
        portal_user("my-carer", mine, "caregiver")
        for other in (theirs, far):
            owner = portal_user(f"owner-{other.mrn}", other)
            services.record_diary_entry(
                by=owner, patient=other, **diary_kwargs(note=f"secret note of {other.mrn}")
            )
            services.record_checkin(by=owner, patient=other, answers=ALL_NO | {"fever": True})
    user = mine.portal_accounts.get(relation="caregiver" if caregiver else "patient").user
    client.force_login(user, backend=MODEL_BACKEND)
    target = mine.pk + shift
    response = client.get(f"/portal/p/{target}/{page}")
    api_response = client.get(f"/api/v1/portal/patients/{target}/{api}")
    if target == mine.pk:
        assert response.status_code == 200
        assert api_response.status_code == 200
    else:
        assert response.status_code == 404
        assert api_response.status_code == 404
    for body in (response.content.decode(), api_response.content.decode()):
        assert "Theodora" not in body
        assert "Farah" not in body
        assert "secret note" not in body
