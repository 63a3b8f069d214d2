"""The pages of questions, stories and learning. Thin: parse, call a service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import require_role, role_in
from openidds.web.community import services
from openidds.web.community.forms import (
    AskForm,
    LearnPageForm,
    MessageForm,
    ModerationForm,
    StoryForm,
)
from openidds.web.community.models import (
    PublishScope,
    Question,
    QuestionStatus,
    Recipient,
    Story,
    StoryStatus,
)
from openidds.web.portal.access import live_accounts, portal_account
from openidds.web.portal.models import PortalAccount, Relation


def _errors(form: Any, exc: ValidationError) -> None:
    for field, found in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, found)


def _member_clinic(request: HttpRequest, slug: str) -> tuple[Clinic, Role]:
    clinic = get_object_or_404(Clinic, slug=slug)
    role = role_in(request.user, clinic)
    if role is None:
        raise Http404("no such clinic")
    return clinic, role


def _portal_question(account: PortalAccount, question_id: int) -> Question:
    question = (
        Question.objects.select_related("clinic", "patient")
        .filter(pk=question_id, patient_id=account.patient_id)
        .first()
    )
    if question is None:
        raise Http404("no such question")
    return question


# -- the portal: questions -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def portal_questions(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    patient = account.patient
    support = services.support_serves(patient.clinic)
    available = services.shareable(patient) if support else {}
    form = AskForm(request.POST or None, available=available, support=support)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        share = data.get("share") or [] if data["recipient"] == Recipient.SUPPORT else []
        try:
            question = services.ask_question(
                by=request.user,
                patient=patient,
                recipient=data["recipient"],
                subject=data["subject"],
                body=data["body"],
                share=share,
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Your question was sent.")
            return redirect("portal-question", patient_id=patient.pk, question_id=question.pk)
    return render(
        request,
        "community/portal_questions.html",
        {
            "account": account,
            "patient": patient,
            "form": form,
            "support": support,
            "questions": services.portal_questions(by=request.user, patient=patient),
            "notifications": [
                n
                for n in services.portal_notifications(by=request.user, patient=patient)
                if n.read_at is None
            ],
        },
        status=422 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def portal_question(request: HttpRequest, patient_id: int, question_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    question = _portal_question(account, question_id)
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.write_message(
                by=request.user, question=question, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Your message was sent.")
            return redirect("portal-question", patient_id=patient_id, question_id=question.pk)
    return _thread(request, question, form, "community/portal_question.html", {"account": account})


def _thread(
    request: HttpRequest, question: Question, form: MessageForm, template: str, extra: Any
) -> HttpResponse:
    side, thread = services.read_thread(by=request.user, question=question)
    return render(
        request,
        template,
        {
            **extra,
            "question": question,
            "thread": [(m, services.author_label(m, side)) for m in thread],
            "side": side,
            "form": form,
            "closed": question.status == QuestionStatus.CLOSED,
            "shared": [
                (services.SHARE_LABELS.get(k, k), v) for k, v in (question.shared or {}).items()
            ],
        },
        status=422 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def portal_question_close(request: HttpRequest, patient_id: int, question_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    question = _portal_question(account, question_id)
    _close(request, question)
    return redirect("portal-question", patient_id=patient_id, question_id=question.pk)


def _close(request: HttpRequest, question: Question) -> None:
    try:
        services.close_question(by=request.user, question=question)
    except ValidationError as exc:
        messages.warning(request, "; ".join(exc.messages))
    else:
        messages.success(request, "The question is closed.")


# -- the portal: stories -------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def portal_stories(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    patient = account.patient
    if request.method == "POST" and account.relation != Relation.PATIENT:
        raise PermissionDenied("only the patient writes their story")
    posted = services.paragraphs(request.POST.get("body", "")) if request.method == "POST" else []
    form = StoryForm(request.POST or None, paragraphs=posted)
    if request.method == "POST" and form.is_valid():
        story = _save_story(request, form, patient, None)
        if story is not None:
            return redirect("portal-story", patient_id=patient.pk, story_id=story.pk)
    return render(
        request,
        "community/portal_stories.html",
        {
            "account": account,
            "patient": patient,
            "form": form,
            "stories": services.portal_stories(by=request.user, patient=patient),
        },
        status=422 if request.method == "POST" else 200,
    )


def _save_story(request: HttpRequest, form: StoryForm, patient: Any, story: Story | None) -> Any:
    data = form.cleaned_data
    try:
        saved = services.save_story(
            by=request.user,
            patient=patient,
            story=story,
            title=data["title"],
            body=data["body"],
            scope=data["scope"],
            parts=data.get("parts") or [],
            name_choice=data["name_choice"],
            submit=request.POST.get("action") == "submit",
        )
    except ValidationError as exc:
        _errors(form, exc)
        return None
    if saved.status == StoryStatus.SUBMITTED:
        messages.success(request, "Your story was sent to the clinic for review.")
    else:
        messages.success(request, "Saved as a draft. Only you see it.")
    return saved


@login_required
@require_http_methods(["GET", "POST"])
def portal_story(request: HttpRequest, patient_id: int, story_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    story = get_object_or_404(Story, pk=story_id, patient_id=account.patient_id)
    if request.method == "POST":
        if account.relation != Relation.PATIENT:
            raise PermissionDenied("only the patient changes their story")
        form = StoryForm(request.POST, paragraphs=services.paragraphs(request.POST.get("body", "")))
        if form.is_valid() and _save_story(request, form, account.patient, story) is not None:
            return redirect("portal-story", patient_id=patient_id, story_id=story.pk)
    else:
        form = StoryForm(
            initial={
                "title": story.title,
                "body": story.body,
                "scope": story.scope,
                "parts": story.parts,
                "name_choice": story.name_choice,
            },
            paragraphs=services.paragraphs(story.body),
        )
    preview = services.publishable_text(story.body, story.scope, story.parts)
    return render(
        request,
        "community/portal_story.html",
        {
            "account": account,
            "story": story,
            "form": form,
            "editable": account.relation == Relation.PATIENT
            and story.status != StoryStatus.REJECTED,
            "preview_name": services.display_name(account.patient.name, story.name_choice),
            "preview_text": preview,
            "scope_parts": story.scope == PublishScope.PARTS,
        },
        status=422 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def portal_story_withdraw(request: HttpRequest, patient_id: int, story_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    story = get_object_or_404(Story, pk=story_id, patient_id=account.patient_id)
    try:
        services.withdraw_story(by=request.user, story=story)
    except ValidationError as exc:
        messages.warning(request, "; ".join(exc.messages))
    else:
        messages.success(request, "Your story is withdrawn. It is no longer public.")
    return redirect("portal-story", patient_id=patient_id, story_id=story.pk)


# -- the manufacturer's support ------------------------------------------------------------


@login_required
@require_GET
def support_home(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in {"", *QuestionStatus.values}:
        status = ""
    questions = services.support_questions(by=request.user, status=status)
    return render(
        request,
        "community/support_home.html",
        {"questions": questions, "status": status, "statuses": QuestionStatus.choices},
    )


@login_required
@require_http_methods(["GET", "POST"])
def support_question(request: HttpRequest, question_id: int) -> HttpResponse:
    question, _ = services.find_question(by=request.user, question_id=question_id, kind="support")
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.write_message(
                by=request.user, question=question, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Your answer was sent; the patient is notified.")
            return redirect("support-question", question_id=question.pk)
    return _thread(request, question, form, "community/support_question.html", {})


@login_required
@require_POST
def support_question_close(request: HttpRequest, question_id: int) -> HttpResponse:
    question, _ = services.find_question(by=request.user, question_id=question_id, kind="support")
    _close(request, question)
    return redirect("support-question", question_id=question.pk)


# -- the clinic: questions -----------------------------------------------------------------


def _clinic_question(request: HttpRequest, clinic: Clinic, question_id: int) -> Question:
    question = (
        Question.objects.select_related("clinic", "patient")
        .filter(pk=question_id, clinic=clinic)
        .first()
    )
    if question is None:
        raise Http404("no such question")
    services.side_of(request.user, question)  # 403 for a clinic admin, 404 for the rest
    return question


@login_required
@require_GET
def clinic_questions(request: HttpRequest, clinic: str) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, services.CLINIC_ANSWERERS)
    status = request.GET.get("status", "")
    if status not in {"", *QuestionStatus.values}:
        status = ""
    return render(
        request,
        "community/clinic_questions.html",
        {
            "clinic": clinic_obj,
            "role": role,
            "status": status,
            "statuses": QuestionStatus.choices,
            "questions": services.clinic_questions(
                by=request.user, clinic=clinic_obj, status=status
            ),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def clinic_question(request: HttpRequest, clinic: str, question_id: int) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, services.CLINIC_ANSWERERS)
    question = _clinic_question(request, clinic_obj, question_id)
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.write_message(
                by=request.user, question=question, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Your answer was sent; the patient is notified.")
            return redirect("clinic-question", clinic=clinic_obj.slug, question_id=question.pk)
    return _thread(
        request,
        question,
        form,
        "community/clinic_question.html",
        {"clinic": clinic_obj, "role": role, "patient": question.patient},
    )


@login_required
@require_POST
def clinic_question_close(request: HttpRequest, clinic: str, question_id: int) -> HttpResponse:
    clinic_obj, _ = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, services.CLINIC_ANSWERERS)
    question = _clinic_question(request, clinic_obj, question_id)
    _close(request, question)
    return redirect("clinic-question", clinic=clinic_obj.slug, question_id=question.pk)


# -- the clinic: stories -------------------------------------------------------------------


@login_required
@require_GET
def clinic_stories(request: HttpRequest, clinic: str) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    stories = services.clinic_stories(by=request.user, clinic=clinic_obj)
    return render(
        request,
        "community/clinic_stories.html",
        {"clinic": clinic_obj, "role": role, "stories": stories},
    )


@login_required
@require_http_methods(["GET", "POST"])
def clinic_story(request: HttpRequest, clinic: str, story_id: int) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, services.MODERATORS)
    story = get_object_or_404(
        Story.objects.select_related("patient").exclude(status=StoryStatus.DRAFT),
        pk=story_id,
        clinic=clinic_obj,
    )
    form = ModerationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.moderate_story(by=request.user, story=story, **form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Recorded. The patient sees your decision and note.")
            return redirect("clinic-stories", clinic=clinic_obj.slug)
    chosen = set(story.parts) if story.scope == PublishScope.PARTS else None
    return render(
        request,
        "community/clinic_story.html",
        {
            "clinic": clinic_obj,
            "role": role,
            "story": story,
            "form": form,
            "paragraphs": [
                (text, chosen is None or i in chosen)
                for i, text in enumerate(services.paragraphs(story.body))
            ],
            "name_preview": services.display_name(story.patient.name, story.name_choice),
        },
        status=422 if request.method == "POST" else 200,
    )


# -- the clinic: learning pages ------------------------------------------------------------


@login_required
@require_GET
def clinic_learn(request: HttpRequest, clinic: str) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, services.LEARN_EDITORS)
    return render(
        request,
        "community/clinic_learn.html",
        {"clinic": clinic_obj, "role": role, "pages": services.learn_pages(clinic_obj)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def clinic_learn_edit(request: HttpRequest, clinic: str, page: str) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, services.LEARN_EDITORS)
    current = services.learn_page(clinic_obj, page)
    preview = None
    if request.method == "POST":
        form = LearnPageForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            if request.POST.get("action") == "preview":
                preview = services.LearnPage(page, data["title"], data["body_markdown"], 0)
            else:
                try:
                    version = services.update_learn_page(
                        by=request.user, clinic=clinic_obj, slug=page, **data
                    )
                except ValidationError as exc:
                    _errors(form, exc)
                else:
                    messages.success(
                        request, f"Saved as version {version.version}. Your patients read it now."
                    )
                    return redirect("clinic-learn-edit", clinic=clinic_obj.slug, page=page)
    else:
        form = LearnPageForm(
            initial={"title": current.title, "body_markdown": current.body_markdown}
        )
    status = 200 if request.method == "GET" or preview is not None else 422
    return render(
        request,
        "community/clinic_learn_edit.html",
        {
            "clinic": clinic_obj,
            "role": role,
            "page": current,
            "form": form,
            "preview": preview,
            "history": services.learn_history(by=request.user, clinic=clinic_obj, slug=page),
        },
        status=status,
    )


# -- public pages --------------------------------------------------------------------------


def _reader(request: HttpRequest) -> tuple[Any, Clinic | None]:
    account = live_accounts(request.user).first()
    return account, (account.patient.clinic if account is not None else None)


@require_GET
def stories_public(request: HttpRequest) -> HttpResponse:
    account, _ = _reader(request)
    return render(
        request,
        "community/stories_public.html",
        {"account": account, "stories": services.public_stories()},
    )


@require_GET
def learn_index(request: HttpRequest) -> HttpResponse:
    account, clinic = _reader(request)
    return render(
        request,
        "community/learn_index.html",
        {"account": account, "pages": services.learn_pages(clinic), "clinic": clinic},
    )


@require_GET
def learn_page(request: HttpRequest, page: str) -> HttpResponse:
    account, clinic = _reader(request)
    return render(
        request,
        "community/learn_page.html",
        {
            "account": account,
            "page": services.learn_page(clinic, page),
            "pages": services.learn_pages(clinic),
        },
    )
