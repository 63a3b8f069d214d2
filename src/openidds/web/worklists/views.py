"""The worklist page: the landing page of nurses and physicians."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from openidds.web.accounts.models import Clinic
from openidds.web.accounts.roles import role_in
from openidds.web.worklists import services

#: items shown per section on the page; the rest behind "show all" (``?all=<section>``)
PAGE_ITEMS = 200


@login_required
@require_GET
def worklist(request: HttpRequest, clinic: str) -> HttpResponse:
    clinic_obj = get_object_or_404(Clinic, slug=clinic)
    role = role_in(request.user, clinic_obj)
    if role is None:
        raise Http404("no such clinic")
    result = services.worklist(by=request.user, clinic=clinic_obj)
    show_all = request.GET.get("all", "")
    sections: list[dict[str, Any]] = []
    for section in result.sections:
        everything = show_all in {section.key, "all"}
        shown = section.items if everything else section.items[:PAGE_ITEMS]
        rows = []
        for item in shown:
            when, zone = ("", "")
            if item.at is not None:
                when, zone = services.local_parts(item.at, item.time_zone)
            rows.append({"item": item, "when": when, "zone": zone})
        sections.append(
            {
                "key": section.key,
                "title": section.title,
                "description": section.description,
                "count": len(section.items),
                "rows": rows,
                "more": len(section.items) - len(shown),
            }
        )
    return render(
        request,
        "worklists/worklist.html",
        {"clinic": clinic_obj, "role": role, "worklist": result, "sections": sections},
    )
