"""Reading Word transcripts: the paragraphs of the main body, in order, one per line."""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

from pipeline.core.errors import InputError

_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_HEAD = 64 * 1024  # a DOCTYPE must come before the root element, so the start of the part is enough


def _refuse_entities(path: Path) -> None:
    """Word never writes a DOCTYPE. One in a .docx declares entities that the XML parser does not expand (an
    external one could read files), so their text would silently vanish: refuse the document instead."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("word/document.xml") as part:
            head = part.read(_HEAD)
    except (zipfile.BadZipFile, OSError, zlib.error) as err:
        raise InputError(path, f"broken .docx package: {err}") from None
    if _DTD.search(head):
        raise InputError(path, "word/document.xml declares XML entities (a DOCTYPE), which Word never writes; their "
                         "text cannot be read safely. Open and re-save the document in Word, or save it as .txt")


def read_docx_text(path: Path) -> str:
    """Return the document's paragraphs joined by newlines (tables and headers are not transcript text)."""
    import docx  # python-docx; imported here so plain-text work does not pay for it
    from docx.opc.exceptions import PackageNotFoundError

    if not zipfile.is_zipfile(path):
        raise InputError(path, "not a Word .docx file (not a ZIP package); save it as .docx or .txt")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as err:
        raise InputError(path, f"broken .docx package: {err}") from None
    if "word/document.xml" not in names:
        raise InputError(path, "a ZIP file but not a Word document (no word/document.xml); expected a .docx")
    _refuse_entities(path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(path, f"cannot open as a Word document: {err}") from None
    except Exception as err:  # lxml errors on a damaged document.xml
        raise InputError(path, f"damaged Word document: {type(err).__name__}: {err}") from None
    return "\n".join(paragraph.text for paragraph in document.paragraphs)
