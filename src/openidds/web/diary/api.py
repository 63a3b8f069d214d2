"""API operations of diary and recovery, mounted under ``/api/v1/`` by ``openidds.web.api``.

Declare every error status (``response={200: ..., **ERRORS}``), raise ``ValidationError``
by field, ``PermissionDenied`` or ``Http404``; the API turns them into JSON.
"""

from ninja import Router

router = Router(tags=["diary"])
