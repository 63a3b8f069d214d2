"""The drug library a clinic's dose checks use.

The clinic admin chooses the clinic's library version (``openidds.web.clinicadmin.library``,
``library_for_clinic``). Until that module exists, or for a clinic without a choice, the
checks use the library ``openidds.dosing`` loads by default (the bundled one, or
``$OPENIDDS_DRUG_LIBRARY``).
"""

from __future__ import annotations

from typing import Any


def default_library() -> Any:
    from openidds.dosing import load_library

    return load_library()


def library_for(clinic: Any) -> Any:
    """The clinic's drug library (an ``openidds.dosing.Library``)."""
    try:
        from openidds.web.clinicadmin.library import (  # type: ignore[import-not-found,unused-ignore]
            library_for_clinic,
        )
    except ModuleNotFoundError as exc:
        if exc.name not in {
            "openidds.web.clinicadmin.library",
            "openidds.web.clinicadmin",
        }:
            raise
        return default_library()
    except ImportError:
        return default_library()
    library = library_for_clinic(clinic)
    return library if library is not None else default_library()


__all__ = ["default_library", "library_for"]
