"""Pages of questions, stories and learning (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern, path

from openidds.web.community import views

urlpatterns: list[URLPattern] = [
    # the portal (a patient or their caregiver; another patient's id is a 404)
    path("portal/p/<int:patient_id>/questions/", views.portal_questions, name="portal-questions"),
    path(
        "portal/p/<int:patient_id>/questions/<int:question_id>/",
        views.portal_question,
        name="portal-question",
    ),
    path(
        "portal/p/<int:patient_id>/questions/<int:question_id>/close/",
        views.portal_question_close,
        name="portal-question-close",
    ),
    path("portal/p/<int:patient_id>/stories/", views.portal_stories, name="portal-stories"),
    path(
        "portal/p/<int:patient_id>/stories/<int:story_id>/",
        views.portal_story,
        name="portal-story",
    ),
    path(
        "portal/p/<int:patient_id>/stories/<int:story_id>/withdraw/",
        views.portal_story_withdraw,
        name="portal-story-withdraw",
    ),
    # the manufacturer's support
    path("support/", views.support_home, name="support-home"),
    path("support/questions/<int:question_id>/", views.support_question, name="support-question"),
    path(
        "support/questions/<int:question_id>/close/",
        views.support_question_close,
        name="support-question-close",
    ),
    # the clinic
    path("clinics/<slug:clinic>/questions/", views.clinic_questions, name="clinic-questions"),
    path(
        "clinics/<slug:clinic>/questions/<int:question_id>/",
        views.clinic_question,
        name="clinic-question",
    ),
    path(
        "clinics/<slug:clinic>/questions/<int:question_id>/close/",
        views.clinic_question_close,
        name="clinic-question-close",
    ),
    path("clinics/<slug:clinic>/stories/", views.clinic_stories, name="clinic-stories"),
    path("clinics/<slug:clinic>/stories/<int:story_id>/", views.clinic_story, name="clinic-story"),
    path("clinics/<slug:clinic>/learn/", views.clinic_learn, name="clinic-learn"),
    path(
        "clinics/<slug:clinic>/learn/<slug:page>/edit/",
        views.clinic_learn_edit,
        name="clinic-learn-edit",
    ),
    # public, no log-in
    path("stories/", views.stories_public, name="stories-public"),
    path("learn/", views.learn_index, name="learn-index"),
    path("learn/<slug:page>/", views.learn_page, name="learn-page"),
]
