"""Stories (write, choose what and under which name, moderation, public page, withdrawal)
and learning pages (defaults with the studies' numbers, clinic versions, sanitising)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st
from test_community_helpers import portal_user
from web_helpers import MODEL_BACKEND

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.community import learn, services
from openidds.web.community.models import LearnPageVersion, Story, StoryStatus
from openidds.web.portal.models import Relation

pytestmark = pytest.mark.django_db

BODY = "First weeks were hard.\n\nMy husband Tom drove me to every refill.\n\nNow I walk 30 min."


def login(user) -> Client:
    client = Client()
    client.force_login(user, backend=MODEL_BACKEND)
    return client


@pytest.fixture
def anna(patient):
    return portal_user("anna", patient)


def _story(anna, patient, **overrides):
    fields = {
        "title": "Walking again",
        "body": BODY,
        "scope": "parts",
        "parts": [0, 2],
        "name_choice": "initials",
        "submit": True,
    }
    fields.update(overrides)
    return services.save_story(by=anna, patient=patient, **fields)


# -- names and parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "shown"),
    [
        ("real_name", "Anna Maria Becker"),
        ("first_name", "Anna"),
        ("initials", "A. M. B."),
        ("anonymous", "Anonymous"),
    ],
)
def test_display_name(choice, shown):
    assert services.display_name("Anna  Maria Becker", choice) == shown


@given(
    paras=st.lists(
        st.text(alphabet="abcdefgh ", min_size=1, max_size=20).filter(str.strip),
        min_size=1,
        max_size=6,
    ),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_property_only_marked_paragraphs_are_published(paras, data):
    body = "\n\n".join(paras)
    count = len(services.paragraphs(body))
    chosen = data.draw(st.sets(st.integers(0, count - 1)))
    published = services.publishable_text(body, "parts", chosen)
    expected = [p.strip() for i, p in enumerate(services.paragraphs(body)) if i in chosen]
    assert services.paragraphs(published) == expected
    assert services.publishable_text(body, "whole", []) == "\n\n".join(services.paragraphs(body))


# -- the moderation flow -------------------------------------------------------------------


def test_moderation_flow_and_public_page(patient, anna, nurse, physician):
    story = _story(anna, patient)
    assert story.status == StoryStatus.SUBMITTED
    public = Client()
    assert "Walking again" not in public.get("/stories/").content.decode()

    # the clinic asks for changes (a note is required), the patient changes and resubmits
    with pytest.raises(ValidationError) as exc:
        services.moderate_story(by=nurse, story=story, decision="changes", note="")
    assert "note" in exc.value.message_dict
    staff = login(nurse)
    response = staff.post(
        f"/clinics/own/stories/{story.pk}/",
        {"decision": "changes", "note": "Please leave out your husband's name."},
    )
    assert response.status_code == 302
    story.refresh_from_db()
    assert story.status == StoryStatus.CHANGES_REQUESTED
    page = login(anna).get(f"/portal/p/{patient.pk}/stories/{story.pk}/").content.decode()
    assert "Please leave out your husband" in page
    # moderating again before the patient resubmits is refused
    with pytest.raises(ValidationError):
        services.moderate_story(by=nurse, story=story, decision="approve")

    response = login(anna).post(
        f"/portal/p/{patient.pk}/stories/{story.pk}/",
        {
            "title": "Walking again",
            "body": BODY,
            "scope": "parts",
            "parts": ["0", "2"],
            "name_choice": "initials",
            "action": "submit",
        },
    )
    assert response.status_code == 302
    story.refresh_from_db()
    assert story.status == StoryStatus.SUBMITTED

    services.moderate_story(by=physician, story=story, decision="approve")
    story.refresh_from_db()
    assert story.status == StoryStatus.PUBLISHED
    text = public.get("/stories/").content.decode()
    assert "Walking again" in text
    assert "A. B." in text
    assert "First weeks were hard." in text
    assert "Now I walk 30 min." in text
    # the paragraph not chosen and the real name never appear
    assert "Tom" not in text
    assert "Anna" not in text
    assert "Becker" not in text
    api = public.get("/api/v1/stories/published").json()
    assert api == [
        {
            "id": story.pk,
            "title": "Walking again",
            "name": "A. B.",
            "text": "First weeks were hard.\n\nNow I walk 30 min.",
            "published_at": api[0]["published_at"],
        }
    ]
    moderated = AuditEvent.objects.filter(action=Action.STORY_MODERATED).order_by("id")
    assert [e.details["decision"] for e in moderated] == ["changes", "approve"]

    # the patient withdraws it: gone from the public page at once
    response = login(anna).post(f"/portal/p/{patient.pk}/stories/{story.pk}/withdraw/")
    assert response.status_code == 302
    assert "Walking again" not in public.get("/stories/").content.decode()
    assert public.get("/api/v1/stories/published").json() == []


def test_rejected_and_draft_stories_are_never_public(patient, anna, admin):
    draft = _story(anna, patient, title="Draft story", submit=False)
    rejected = _story(anna, patient, title="Rejected story")
    services.moderate_story(by=admin, story=rejected, decision="reject", note="Not suitable.")
    text = Client().get("/stories/").content.decode()
    assert "Draft story" not in text
    assert "Rejected story" not in text
    # a draft is not in the clinic's queue; a rejected story cannot be changed
    queue = login(admin).get("/clinics/own/stories/").content.decode()
    assert "Draft story" not in queue
    assert "Rejected story" in queue
    assert login(admin).get(f"/clinics/own/stories/{draft.pk}/").status_code == 404
    with pytest.raises(ValidationError):
        _story(anna, patient, story=rejected)


def test_editing_a_published_story_takes_it_off_the_public_page(patient, anna, nurse):
    story = _story(anna, patient, scope="whole", parts=[], name_choice="first_name")
    services.moderate_story(by=nurse, story=story, decision="approve")
    assert "Anna" in Client().get("/stories/").content.decode()
    _story(anna, patient, story=story, scope="whole", parts=[], name_choice="first_name")
    assert "Walking again" not in Client().get("/stories/").content.decode()


def test_only_the_patient_writes_and_withdraws(patient, anna, nurse):
    carer = portal_user("carl", patient, Relation.CAREGIVER)
    with pytest.raises(PermissionDenied):
        _story(carer, patient)
    story = _story(anna, patient)
    with pytest.raises(PermissionDenied):
        services.withdraw_story(by=carer, story=story)
    # the caregiver reads it, without a form
    page = login(carer).get(f"/portal/p/{patient.pk}/stories/{story.pk}/")
    assert page.status_code == 200
    assert "Withdraw this story" not in page.content.decode()
    assert login(carer).post(f"/portal/p/{patient.pk}/stories/", {}).status_code == 403
    # and nobody but the clinic moderates
    with pytest.raises(PermissionDenied):
        services.moderate_story(by=anna, story=story, decision="approve")


def test_story_input_errors_change_nothing(patient, anna):
    before = (Story.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        _story(anna, patient, parts=[7], name_choice="nickname", scope="parts")
    assert set(exc.value.message_dict) == {"parts", "name_choice"}
    with pytest.raises(ValidationError) as exc:
        _story(anna, patient, parts=[], submit=True)
    assert "mark at least one paragraph" in exc.value.message_dict["parts"][0]
    assert (Story.objects.count(), AuditEvent.objects.count()) == before


def test_story_text_is_escaped_on_the_public_page(patient, anna, nurse):
    story = _story(
        anna, patient, body="<script>alert(1)</script> I am fine.", scope="whole", parts=[]
    )
    services.moderate_story(by=nurse, story=story, decision="approve")
    text = Client().get("/stories/").content.decode()
    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; I am fine." in text


# -- learning pages ------------------------------------------------------------------------

#: The six references of domain-facts.md section 6 and their key numbers, verbatim
STUDY_NUMBERS = [
    "J Clin Oncol 2002;20:4040-4049",
    "84.5% (60/71) IDDS vs 70.8% (51/72) CMM, P = .05",
    "6-month survival 53.9% IDDS vs 37.2% CMM, P = .06",
    "CMM 7.81→4.76 (−39%); IDDS 7.57→3.67 (−52%), P = .055",
    "Toxicity (NCI CTC composite): CMM 6.36→5.27 (−17%); IDDS 7.22→3.59 (−50%), P = .004",
    "4 wk clinical success 88.5% (46/52) vs 71.4% (65/91), P = .02",
    "Pain −27% (P = .011), toxicity −51% (P &lt; .0001); median survival 103 days",
    "Pain Med 2004;5:6-13",
    "166 trialed, 154 successful trials (93%), 136",
    "back pain NRS ↓ &gt; 47%, leg pain ↓ &gt; 31%",
    "80% satisfied; 87% would repeat",
    "Pain Med 2012;13(10):1304-13",
    "Worst pain 8.91→4.02, average 7.47→3.41 at 36 months (P = .012, P &lt; .001)",
    "Pain 2004;109(3):242-9",
    "38 pump recipients vs 31 failed/declined candidates vs 41 new",
    "Eur J Pain 2001;5(4):353-61",
    "Mean pain relief 60%; 74% more active; MQS 31.0→12.7",
    "IT morphine 9.95 mg/day at 6 mo → 15.26 mg/day at 36 mo",
    "J Neurosurg 1996;85(3):458-67",
    "Pain reduction 67.4% at 6 months, 58.1% at last follow-up; 74.2% benefited",
    "92% satisfied; 81% better QoL",
]


def test_learn_pages_are_public_and_cover_the_topics():
    client = Client()
    index = client.get("/learn/")
    assert index.status_code == 200
    text = index.content.decode()
    for title in (
        "Cancer pain and a drug pump",
        "Chronic pain and a drug pump",
        "After surgery: the first 6 to 8 weeks",
        "Daily living with a pump",
        "Product support: whom to ask",
        "Getting a replacement pump",
        "Personal stories",
        "The clinical studies behind the therapy",
    ):
        assert title in text
    stories = client.get("/learn/personal-stories/").content.decode()
    assert 'href="/stories/"' in stories
    assert client.get("/learn/no-such-page/").status_code == 404


def test_clinical_studies_page_quotes_the_numbers_with_their_citations():
    text = Client().get("/learn/clinical-studies/").content.decode()
    for quote in STUDY_NUMBERS:
        assert quote in text, quote
    for paper in ("Smith TJ", "Deer T", "Hamza M", "Thimineur MA", "Roberts LJ", "Winkelmüller"):
        assert text.count(paper) >= 2, paper  # in its section and in the sources


def test_every_default_page_names_its_sources():
    for page in learn.default_pages().values():
        if page.slug == "personal-stories":
            continue
        assert "## Sources" in page.body_markdown, page.slug


XSS = """## Hello
<script>alert('x')</script>
<img src=x onerror="alert(1)">
[click](javascript:alert(1))
<a href="https://evil.example" onclick="alert(1)">raw link</a>
[fine](https://example.org/info)
"""


def _live(html: str) -> list[str]:
    """Every tag that a browser would make an element of (escaped text does not count)."""
    import re

    return re.findall(r"<[a-zA-Z][^>]*>", html)


def test_markdown_is_sanitised():
    html = learn.render_markdown(XSS)
    tags = " ".join(_live(html))
    assert "<script" not in tags
    assert "<img" not in tags
    assert "onerror" not in tags
    assert "onclick" not in tags
    assert "javascript:" not in tags
    assert "evil.example" not in tags
    # raw HTML is shown as text, so the editor sees what they wrote
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in html
    assert "<h2>Hello</h2>" in html
    assert '<a href="https://example.org/info" rel="noopener noreferrer nofollow">fine</a>' in html


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_property_no_tag_outside_the_allowed_list(text):
    import re

    html = learn.render_markdown(text + "\n<script>x</script><iframe src=x></iframe>")
    tags = {t.lower() for t in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html)}
    assert tags <= learn.ALLOWED_TAGS
    assert not re.search(r"\son[a-z]+\s*=", html)


def test_clinic_edits_its_own_versioned_copy(patient, clinic, other_clinic, physician, admin):
    anna = portal_user("anna", patient)
    client = login(physician)
    form = client.get("/clinics/own/learn/after-surgery/edit/")
    assert form.status_code == 200
    assert "No bending or twisting" in form.content.decode()
    response = client.post(
        "/clinics/own/learn/after-surgery/edit/",
        {
            "title": "After surgery at Own Clinic",
            "body_markdown": XSS + "\nCall **0800 123** day and night.",
            "note": "our phone",
            "action": "save",
        },
    )
    assert response.status_code == 302
    version = LearnPageVersion.objects.get()
    assert (version.version, version.clinic, version.edited_by) == (1, clinic, physician)
    # the clinic's patient reads the new version, sanitised; the public reads the default
    mine = login(anna).get("/learn/after-surgery/").content.decode()
    assert "After surgery at Own Clinic" in mine
    assert "<strong>0800 123</strong>" in mine
    article = mine.split('<article class="learn">')[1].split("</article>")[0]
    assert "<script" not in " ".join(_live(article))
    assert "onerror" not in " ".join(_live(article))
    public = Client().get("/learn/after-surgery/").content.decode()
    assert "After surgery at Own Clinic" not in public
    assert "No bending or twisting" in public
    # a second edit is version 2, the first is kept; both audited
    services.update_learn_page(
        by=admin, clinic=clinic, slug="after-surgery", title="After surgery", body_markdown="x"
    )
    assert list(LearnPageVersion.objects.values_list("version", flat=True).order_by("version")) == [
        1,
        2,
    ]
    events = AuditEvent.objects.filter(action=Action.LEARN_PAGE_UPDATED)
    assert sorted(e.details["version"] for e in events) == [1, 2]
    # unchanged text is refused; versions cannot be edited in place
    with pytest.raises(ValidationError):
        services.update_learn_page(
            by=admin, clinic=clinic, slug="after-surgery", title="After surgery", body_markdown="x"
        )
    from openidds.web.community.models import ImmutableError

    with pytest.raises(ImmutableError):
        version.save()
    # the other clinic is untouched
    assert services.learn_page(other_clinic, "after-surgery").version == 0


def test_learn_preview_saves_nothing(physician):
    response = login(physician).post(
        "/clinics/own/learn/daily-living/edit/",
        {"title": "T", "body_markdown": "<script>x</script> **bold**", "action": "preview"},
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "<strong>bold</strong>" in text
    assert "<script>x" not in text
    assert LearnPageVersion.objects.count() == 0
