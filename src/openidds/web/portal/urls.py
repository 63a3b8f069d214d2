"""Pages of the patient portal (included at the site root by ``openidds.web.urls``).

Portal pages: ``/portal/...`` (patients and caregivers, gated by ``access.portal_account``);
the private calendar feed (no log-in, a secret token in the address); clinic pages under
``/clinics/<slug>/...`` (invitations, accounts, refill appointments, contact details).
"""

from django.urls import path

from openidds.web.portal import views

urlpatterns = [
    path("portal/", views.home, name="portal-home"),
    path("portal/invitation/", views.accept, name="portal-accept"),
    path(
        "portal/calendar/<str:token>/refills.ics",
        views.calendar_feed,
        name="portal-calendar-feed",
    ),
    path("portal/p/<int:patient_id>/", views.patient_home, name="portal-patient"),
    path("portal/p/<int:patient_id>/pump/", views.pump, name="portal-pump"),
    path(
        "portal/p/<int:patient_id>/pump/refills.ics",
        views.calendar_download,
        name="portal-calendar",
    ),
    path(
        "portal/p/<int:patient_id>/pump/calendar-feed/",
        views.calendar_feed_manage,
        name="portal-calendar-feed-manage",
    ),
    path(
        "portal/p/<int:patient_id>/wallet-card.pdf",
        views.wallet_card,
        name="portal-wallet-card",
    ),
    path(
        "portal/p/<int:patient_id>/pump-summary.pdf",
        views.wallet_summary,
        name="portal-wallet-summary",
    ),
    path("portal/p/<int:patient_id>/caregiver/", views.caregiver, name="portal-caregiver"),
    path(
        "portal/p/<int:patient_id>/caregiver/revoke/",
        views.caregiver_revoke,
        name="portal-caregiver-revoke",
    ),
    # clinic side
    path("clinics/<slug:clinic>/portal/", views.clinic_portal_admin, name="clinic-portal-admin"),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/portal/invite/",
        views.invite,
        name="portal-invite",
    ),
    path(
        "clinics/<slug:clinic>/portal/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="portal-invitation-revoke",
    ),
    path(
        "clinics/<slug:clinic>/portal/accounts/<int:account_id>/revoke/",
        views.account_revoke,
        name="portal-account-revoke",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/refill-appointments/new/",
        views.refill_schedule,
        name="portal-refill-schedule",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/refill-appointments/"
        "<int:appointment_id>/status/",
        views.refill_status,
        name="portal-refill-status",
    ),
]
