"""Dose-error reduction: the drug library and the checks of every program change (issue 3).

>>> from openidds.dosing import check, load_library
>>> findings = check("examples/02-morphine-concentration-change-bridge.toml")  # doctest: +SKIP

Pure Python beside the pump twin: no web framework, no database. Every clinical number comes
from the drug library file (``docs/drug-library.md``); the checks are in
``docs/dose-checks.md``.
"""

from __future__ import annotations

from ._check import check, check_report, ptm_boluses_per_24h, replay
from ._convert import Conversion, ConversionError, convert, parse_dose_text
from ._errors import LibraryError
from ._findings import CODES, FINDINGS_FORMAT, Finding, Report, Severity
from ._library import (
    INDICATIONS,
    LIBRARY_ENV,
    REGIONS,
    CheckPolicy,
    Drug,
    Library,
    Limit,
    RouteRatio,
    StartingDose,
    Titration,
    load_library,
    parse_library,
)
from ._text import amount, fmt

__all__ = [
    "CODES",
    "FINDINGS_FORMAT",
    "INDICATIONS",
    "LIBRARY_ENV",
    "REGIONS",
    "CheckPolicy",
    "Conversion",
    "ConversionError",
    "Drug",
    "Finding",
    "Library",
    "LibraryError",
    "Limit",
    "Report",
    "RouteRatio",
    "Severity",
    "StartingDose",
    "Titration",
    "amount",
    "check",
    "check_report",
    "convert",
    "fmt",
    "load_library",
    "parse_dose_text",
    "parse_library",
    "ptm_boluses_per_24h",
    "replay",
]
