"""Signals of the implants app.

``pump_timeline_changed`` is sent (``sender=Implant``, ``implant=...``) inside the writing
transaction whenever what the twin replays for an implant changes: an implant recorded or
ended, a pump event recorded or corrected. Receivers that keep derived data (e.g. the
worklist's pump-state snapshot) update it in the same transaction, so it is never stale
after a commit and vanishes with a rollback.
"""

from __future__ import annotations

from django.dispatch import Signal

pump_timeline_changed = Signal()
