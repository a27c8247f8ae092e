"""Keep patient identifiers out of logs and error messages.

Results tables carry ``patient_id`` by contract (that is data the user asked for);
everything echoquant *prints* or puts in an error message goes through
:func:`scrub`, which replaces the file's PatientName, PatientID, other patient IDs
and birth date (wherever they appear, paths included) by placeholders, unless the
user opts in (``ECHOQUANT_LOG_IDENTIFIERS=1``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pydicom

__all__ = ["identifiers_of", "scrub", "scrub_for"]

_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "PatientBirthName")
_MIN_LEN = 3  # shorter values ("M", "01") would blank ordinary text


def _allowed() -> bool:
    return os.environ.get("ECHOQUANT_LOG_IDENTIFIERS", "") == "1"


def identifiers_of(path: str | Path) -> dict[str, str]:
    """Identifier values in the file's header (``{value: placeholder}``); empty for
    files that are not readable DICOM."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(_TAGS), force=True)
    except Exception:  # noqa: BLE001 - any unreadable header has no identifiers to hide
        return {}
    found: dict[str, str] = {}
    for tag in _TAGS:
        value = ds.get(tag, None)
        values = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
        for v in values:
            text = str(v or "").strip()
            if len(text) < _MIN_LEN:
                continue
            found[text] = f"<{tag}>"
            # A person name also appears with its components apart ("DOE^JANE" -> "DOE", "JANE").
            for part in re.split(r"[\^= ]+", text):
                if len(part) >= _MIN_LEN:
                    found.setdefault(part, f"<{tag}>")
    return found


def scrub(text: str, identifiers: dict[str, str]) -> str:
    """Replace every identifier value in ``text`` by its placeholder (longest first)."""
    if _allowed() or not text:
        return text
    for value in sorted(identifiers, key=len, reverse=True):
        text = re.sub(re.escape(value), identifiers[value], text, flags=re.IGNORECASE)
    return text


def scrub_for(path: str | Path, text: str) -> str:
    """:func:`scrub` with the identifiers of the file at ``path``."""
    if _allowed():
        return text
    return scrub(text, identifiers_of(path))
