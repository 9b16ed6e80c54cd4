"""The untrusted-input layer for REFI-QDA `.qdpx` archives: a ZIP read in memory, and its project XML.

A `.qdpx` comes from another program, often from another person. Nothing here extracts to disk: entries are
read from the ZIP into memory after their names, number, sizes and compression ratios are checked, and the
project XML is parsed without DTDs, entities or network access. Every refusal is an `InputError` naming the
archive and the problem. What the XML *means* is `pipeline.qdpx.importer`'s business.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from pipeline.core.errors import InputError

NAMESPACE = "urn:QDA-XML:project:1.0"
KNOWN_NAMESPACES = (NAMESPACE,)
NS = f"{{{NAMESPACE}}}"

# Limits against zip bombs and hostile XML. Real projects are far below them: the largest sample NVivo
# export here is 2.6 MB uncompressed in 5 entries, with codes nested 4 deep (about 8 XML levels).
MAX_TOTAL_UNCOMPRESSED = 2 * 1024**3  # bytes, all entries together
MAX_ENTRIES = 10_000
MAX_COMPRESSION_RATIO = 200  # uncompressed / compressed, checked for entries above RATIO_MIN_SIZE
RATIO_MIN_SIZE = 1024**2  # small entries (an empty .root, a short .txt) compress arbitrarily well
MAX_XML_DEPTH = 128  # element nesting; libxml2 itself stops at 256 without huge_tree

_DRIVE = re.compile(r"^[A-Za-z]:")
_QDE_SUFFIX = ".qde"


def _check_entry_name(name: str, archive: Path) -> str:
    """The entry's path with `/` separators; refuse names that could land outside an extraction folder."""
    clean = name.replace("\\", "/")
    if "\x00" in clean:
        raise InputError(archive, f"entry {name!r} has a NUL character in its name; refusing a tampered archive")
    if clean.startswith("/") or _DRIVE.match(clean):
        raise InputError(archive, f"entry {name!r} has an absolute path; a .qdpx holds only relative entries")
    if ".." in clean.split("/"):
        raise InputError(archive, f"entry {name!r} points outside the archive ('..'); refusing a tampered archive")
    return clean


@dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    name: str  # normalised: forward slashes


class QdpxArchive:
    """A checked, read-only view of a `.qdpx` ZIP. Use as a context manager.

    On opening, the central directory is checked against the module limits; `read` enforces the declared
    sizes again while decompressing, so an entry that lies about its size cannot exhaust memory.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "not found; expected a REFI-QDA project (.qdpx)")
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as err:
            raise InputError(self.path, f"not a .qdpx: a .qdpx is a ZIP archive, and this one cannot be opened ({err})") from None
        try:
            self._entries = self._check_entries()
            self._folded = {name.lower(): name for name in self._entries}  # for case-insensitive lookups
            if len(self._folded) != len(self._entries):
                raise InputError(self.path, "has entries whose names differ only in case; refusing an ambiguous archive")
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> QdpxArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _check_entries(self) -> dict[str, _Entry]:
        infos = self._zip.infolist()
        if len(infos) > MAX_ENTRIES:
            raise InputError(self.path, f"has {len(infos)} entries; refusing more than {MAX_ENTRIES} (a zip bomb?)")
        entries: dict[str, _Entry] = {}
        total = 0
        for info in infos:
            name = _check_entry_name(info.filename, self.path)
            if info.flag_bits & 0x1:
                raise InputError(self.path, f"entry {name!r} is encrypted; export the project without a password")
            total += info.file_size
            if total > MAX_TOTAL_UNCOMPRESSED:
                raise InputError(
                    self.path, f"unpacks to more than {MAX_TOTAL_UNCOMPRESSED // 1024**2} MB; refusing (a zip bomb?)"
                )
            if info.file_size > RATIO_MIN_SIZE and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                ratio = info.file_size / max(info.compress_size, 1)
                raise InputError(
                    self.path,
                    f"entry {name!r} is compressed {ratio:.0f} to 1 (limit {MAX_COMPRESSION_RATIO}); refusing a zip bomb",
                )
            if name in entries:
                raise InputError(self.path, f"entry {name!r} appears twice; refusing an ambiguous archive")
            if not info.is_dir():
                entries[name] = _Entry(info, name)
        return entries

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def project_entry(self) -> str:
        """The project XML: the one `*.qde` at the top level (`project.qde`, ATLAS.ti's `<name>.qde`)."""
        candidates = [n for n in self._entries if n.lower().endswith(_QDE_SUFFIX) and "/" not in n]
        if not candidates:
            candidates = [n for n in self._entries if n.lower().endswith(_QDE_SUFFIX)]
        if not candidates:
            raise InputError(self.path, "has no project XML (*.qde) inside; is this a REFI-QDA project export?")
        if len(candidates) > 1:
            preferred = [n for n in candidates if n.lower() == "project.qde"]
            if len(preferred) != 1:
                raise InputError(self.path, f"has several project files {sorted(candidates)}; expected one *.qde")
            return preferred[0]
        return candidates[0]

    def find(self, relative: str) -> str | None:
        """The entry for a source file path as written in the XML, looked up in `sources/` or `Sources/`.

        Folder and file names match case-insensitively (ATLAS.ti writes upper-case GUIDs and `Sources/`).
        """
        relative = _check_entry_name(relative, self.path)
        return self._folded.get(f"sources/{relative}".lower()) or self._folded.get(relative.lower())

    def read(self, name: str) -> bytes:
        """The bytes of one entry, never more than its declared size."""
        entry = self._entries[name]
        limit = entry.info.file_size
        chunks, size = [], 0
        try:
            with self._zip.open(entry.info) as handle:
                while chunk := handle.read(1024**2):
                    size += len(chunk)
                    if size > limit:
                        raise InputError(self.path, f"entry {name!r} is larger than it declares; refusing a tampered archive")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:  # CRC errors, truncated data
            raise InputError(self.path, f"entry {name!r} cannot be read: {err}") from None
        except RuntimeError as err:  # zipfile raises RuntimeError for unsupported compression
            raise InputError(self.path, f"entry {name!r} cannot be read: {err}") from None
        return b"".join(chunks)


def parse_project_xml(data: bytes, archive: Path, entry: str) -> etree._Element:
    """Parse the project XML safely and return its root `Project` element (namespace checked).

    No DTD is loaded, no entity is resolved, nothing is fetched; a document with a DOCTYPE is refused, as
    REFI-QDA never uses one and it is the carrier of entity-expansion and external-entity attacks.
    """
    where = f"{entry}"
    parser_options = dict(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=False,
    )
    depth, root = 0, None
    try:
        for event, element in etree.iterparse(io.BytesIO(data), **parser_options):
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                    _refuse_doctype(root, archive, where)
                if depth > MAX_XML_DEPTH:
                    raise InputError(archive, f"{where} nests elements more than {MAX_XML_DEPTH} deep; refusing")
            else:
                depth -= 1
    except etree.XMLSyntaxError as err:
        message = str(err)
        if "depth" in message.lower():
            raise InputError(archive, f"{where} nests elements too deep ({message}); refusing") from None
        raise InputError(archive, f"{where} is not well-formed XML: {message}") from None
    if root is None:
        raise InputError(archive, f"{where} is empty; expected the project XML")
    _refuse_doctype(root, archive, where)
    _check_root(root, archive, where)
    return root


def _refuse_doctype(root: etree._Element, archive: Path, where: str) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InputError(
            archive, f"{where} declares a DOCTYPE (entities or a DTD); REFI-QDA XML has none, refusing it for safety"
        )
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise InputError(archive, f"{where} uses an XML entity (&{node.name};); refusing it for safety")


def _check_root(root: etree._Element, archive: Path, where: str) -> None:
    tag = root.tag if isinstance(root.tag, str) else ""
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if local != "Project":
        if namespace.startswith("urn:QDA-XML:codebook"):
            raise InputError(archive, f"{where} is a REFI-QDA codebook (.qdc), not a project; export the whole project")
        raise InputError(archive, f"{where} is not a REFI-QDA project: the root element is <{local}>, expected <Project>")
    if namespace not in KNOWN_NAMESPACES:
        found = f"namespace '{namespace}'" if namespace else "no namespace"
        raise InputError(
            archive, f"{where} has {found}; capcode reads REFI-QDA projects in '{NAMESPACE}' (QDA-XML 1.0)"
        )


def local_name(element: etree._Element) -> str:
    """`Code` for `{urn:QDA-XML:project:1.0}Code`; '' for comments and processing instructions."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def source_file_name(uri: str) -> tuple[str, str]:
    """Split `internal://x.txt`, `relative://dir/x.txt`, `absolute://...` into (scheme, path)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "relative", uri
    if scheme == "absolute" or scheme == "file":
        return "absolute", rest
    return scheme, posixpath.normpath(rest.lstrip("/")) if rest.strip("/") else ""
