"""The one exception type of the twin."""

from __future__ import annotations

from datetime import datetime


class ScenarioError(ValueError):
    """A scenario that cannot be replayed: names the event, its time and the field at fault.

    ``event_index`` is the 0-based position among the file's ``[[event]]`` tables (``None``
    for header fields); ``at`` is the event's instant when known; ``field`` is the dotted
    name of the field (``"pump.model"``, ``"rate_ml_per_day"``, ``"steps[2].start"``).
    """

    def __init__(
        self,
        message: str,
        *,
        event_index: int | None = None,
        at: datetime | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.event_index = event_index
        self.at = at
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line for people: where, which field, what is wrong."""
        where: list[str] = []
        if self.event_index is not None:
            stamp = ""
            if self.at is not None:
                stamp = " (" + _iso(self.at) + ")"
            where.append(f"event {self.event_index}{stamp}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


def _iso(at: datetime) -> str:
    from datetime import UTC

    if at.tzinfo is None:
        return at.isoformat()
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
