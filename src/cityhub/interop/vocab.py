"""Mappings between CityHub's controlled vocabularies and the ones DCAT-AP uses (pure data and functions).

Both directions are here: the DCAT export maps our values out (update cycle → EU frequency, theme slug →
EU data theme, file format → IANA media type and EU file type, licence id → licence URI, district →
district URI) and harvesting maps a foreign DCAT document's values back in. Only ``cityhub.catalog.vocab``
and ``cityhub.geo`` (both pure data) are imported.
"""

from __future__ import annotations

from cityhub.catalog.vocab import LICENSES, MEDIA_TYPES
from cityhub.geo import DISTRICT_BY_NAME, DISTRICTS

EU_AUTHORITY = "http://publications.europa.eu/resource/authority/"
EU_FREQUENCY = EU_AUTHORITY + "frequency/"
EU_DATA_THEME = EU_AUTHORITY + "data-theme/"
EU_FILE_TYPE = EU_AUTHORITY + "file-type/"
EU_LICENCE = EU_AUTHORITY + "licence/"
EU_LANGUAGE = EU_AUTHORITY + "language/"
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"

# The data-theme scheme itself (the value of dcat:themeTaxonomy).
EU_DATA_THEME_SCHEME = EU_AUTHORITY + "data-theme"
EU_FREQUENCY_SCHEME = EU_AUTHORITY + "frequency"

# -- update cycle (更新周期) <-> EU frequency ---------------------------------------------------------------

# Every update cycle of ``cityhub.catalog.vocab.UPDATE_CYCLES`` → its EU frequency code.
FREQUENCY_BY_CYCLE: dict[str, str] = {
    "实时": "UPDATE_CONT",
    "每日": "DAILY",
    "每周": "WEEKLY",
    "每月": "MONTHLY",
    "每季度": "QUARTERLY",
    "每半年": "ANNUAL_2",
    "每年": "ANNUAL",
    "不定期": "IRREG",
}

# EU frequency code → our update cycle. Codes without an exact counterpart go to the cycle whose
# deadline the source still meets (twice a month → 每月) or, for multi-year and unknown ones, to 不定期.
CYCLE_BY_FREQUENCY: dict[str, str] = {
    **{code: cycle for cycle, code in FREQUENCY_BY_CYCLE.items()},
    "CONT": "实时",
    "1MIN": "实时",
    "5MIN": "实时",
    "10MIN": "实时",
    "15MIN": "实时",
    "30MIN": "实时",
    "HOURLY": "实时",
    "BIHOURLY": "实时",
    "TRIHOURLY": "实时",
    "12HRS": "每日",
    "DAILY_2": "每日",
    "WEEKLY_2": "每周",
    "WEEKLY_3": "每周",
    "BIWEEKLY": "每月",
    "MONTHLY_2": "每月",
    "MONTHLY_3": "每月",
    "BIMONTHLY": "每季度",
    "ANNUAL_3": "每半年",
    "BIENNIAL": "不定期",
    "TRIENNIAL": "不定期",
    "QUADRENNIAL": "不定期",
    "QUINQUENNIAL": "不定期",
    "DECENNIAL": "不定期",
    "BIDECENNIAL": "不定期",
    "TRIDECENNIAL": "不定期",
    "OTHER": "不定期",
    "AS_NEEDED": "不定期",
    "NOT_PLANNED": "不定期",
    "NEVER": "不定期",
    "UNKNOWN": "不定期",
    "PROVISIONAL": "不定期",
}


def frequency_uri(update_cycle: str) -> str | None:
    """The EU frequency URI of one of our update cycles (``None`` for an unknown cycle)."""
    code = FREQUENCY_BY_CYCLE.get(update_cycle)
    return EU_FREQUENCY + code if code else None


def update_cycle_from_frequency(value: str) -> str | None:
    """Our update cycle for an EU frequency URI or bare code (``None`` when it is not an EU frequency)."""
    code = _authority_code(value, EU_FREQUENCY)
    return CYCLE_BY_FREQUENCY.get(code) if code else None


# -- themes <-> EU data themes -------------------------------------------------------------------------------

# Our theme slug (``cityhub.catalog.vocab.THEMES``) → EU data-theme code.
EU_THEME_BY_SLUG: dict[str, str] = {
    "credit": "ECON",
    "transport": "TRAN",
    "health": "HEAL",
    "education": "EDUC",
    "employment": "SOCI",
    "social-security": "SOCI",
    "energy": "ENER",
    "environment": "ENVI",
    "urban-management": "REGI",
    "economy": "ECON",
    "agriculture": "AGRI",
    "culture-tourism": "EDUC",
    "public-safety": "JUST",
    "geospatial": "REGI",
    "livelihood": "SOCI",
    "finance": "ECON",
    "science-technology": "TECH",
    "organizations": "GOVE",
    "weather": "ENVI",
}

# EU data-theme code → the one slug a harvested dataset gets (INTR and OP_DATPRO have no counterpart).
SLUG_BY_EU_THEME: dict[str, str] = {
    "AGRI": "agriculture",
    "ECON": "economy",
    "EDUC": "education",
    "ENER": "energy",
    "ENVI": "environment",
    "GOVE": "organizations",
    "HEAL": "health",
    "JUST": "public-safety",
    "REGI": "urban-management",
    "SOCI": "livelihood",
    "TECH": "science-technology",
    "TRAN": "transport",
}


# English labels of the EU data themes (the authority table's preferred labels).
EU_THEME_LABELS: dict[str, str] = {
    "AGRI": "Agriculture, fisheries, forestry and food",
    "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport",
    "ENER": "Energy",
    "ENVI": "Environment",
    "GOVE": "Government and public sector",
    "HEAL": "Health",
    "INTR": "International issues",
    "JUST": "Justice, legal system and public safety",
    "REGI": "Regions and cities",
    "SOCI": "Population and society",
    "TECH": "Science and technology",
    "TRAN": "Transport",
}


def eu_theme_uri(slug: str) -> str | None:
    """The EU data-theme URI for one of our theme slugs (``None`` for an unknown slug)."""
    code = EU_THEME_BY_SLUG.get(slug)
    return EU_DATA_THEME + code if code else None


def theme_slug_from_eu(value: str) -> str | None:
    """Our theme slug for an EU data-theme URI or bare code (``None`` when there is no counterpart)."""
    code = _authority_code(value, EU_DATA_THEME)
    return SLUG_BY_EU_THEME.get(code) if code else None


def theme_scheme_uri(base_url: str) -> str:
    """Our own theme scheme (a ``skos:ConceptScheme``) under the site's base URL."""
    return f"{base_url.rstrip('/')}/id/theme"


def theme_uri(base_url: str, slug: str) -> str:
    """Our own theme concept (``skos:Concept``) under the site's base URL."""
    return f"{theme_scheme_uri(base_url)}/{slug}"


def theme_slug_from_uri(base_url: str, uri: str) -> str | None:
    """The slug of one of our own theme URIs minted by :func:`theme_uri` (``None`` for any other URI)."""
    prefix = theme_scheme_uri(base_url) + "/"
    return uri[len(prefix):] if uri.startswith(prefix) and len(uri) > len(prefix) else None


# -- file formats <-> media types and EU file types ---------------------------------------------------------

# Upper-cased format name → IANA media type (our catalog's table plus the RDF and archive types we meet).
MEDIA_TYPE_BY_FORMAT: dict[str, str] = {
    **MEDIA_TYPES,
    "JSONL": "application/x-ndjson",
    "DOCX": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "DOC": "application/msword",
    "RDF": "application/rdf+xml",
    "TTL": "text/turtle",
    "JSONLD": "application/ld+json",
    "JSON-LD": "application/ld+json",
    "KML": "application/vnd.google-earth.kml+xml",
    "SHP": "application/vnd.shp",
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "JPG": "image/jpeg",
    "GZ": "application/gzip",
}

# Upper-cased format name → EU file-type code.
EU_FILE_TYPE_BY_FORMAT: dict[str, str] = {
    "CSV": "CSV",
    "TSV": "TSV",
    "JSON": "JSON",
    "NDJSON": "JSON",
    "JSONL": "JSON",
    "GEOJSON": "GEOJSON",
    "XML": "XML",
    "XLSX": "XLSX",
    "XLS": "XLS",
    "PDF": "PDF",
    "ZIP": "ZIP",
    "PARQUET": "PARQUET",
    "TXT": "TXT",
    "HTML": "HTML",
    "DOCX": "DOCX",
    "DOC": "DOC",
    "RDF": "RDF_XML",
    "TTL": "RDF_TURTLE",
    "JSONLD": "JSON_LD",
    "JSON-LD": "JSON_LD",
    "KML": "KML",
    "SHP": "SHP",
    "PNG": "PNG",
    "JPEG": "JPEG",
    "JPG": "JPEG",
    "GZ": "GZIP",
}

# EU file-type code → our format name (the first format that maps to it wins: JSON, not NDJSON).
FORMAT_BY_EU_FILE_TYPE: dict[str, str] = {}
for _fmt, _code in EU_FILE_TYPE_BY_FORMAT.items():
    FORMAT_BY_EU_FILE_TYPE.setdefault(_code, _fmt)
FORMAT_BY_EU_FILE_TYPE.update({"RDF_XML": "RDF", "RDF_TURTLE": "TTL", "JSON_LD": "JSONLD", "JPEG": "JPEG"})

# IANA media type → our format name (the first format that maps to it wins).
FORMAT_BY_MEDIA_TYPE: dict[str, str] = {}
for _fmt, _mt in MEDIA_TYPE_BY_FORMAT.items():
    FORMAT_BY_MEDIA_TYPE.setdefault(_mt, _fmt)


def media_type(fmt: str) -> str | None:
    """The IANA media type of a format name such as ``CSV`` or ``GeoJSON`` (case-insensitive)."""
    return MEDIA_TYPE_BY_FORMAT.get(fmt.strip().upper())


def media_type_uri(mime: str) -> str | None:
    """The IANA registry URI of a media type (``text/csv`` → ``https://www.iana.org/assignments/media-types/text/csv``).

    Parameters (``; charset=…``) are dropped; ``None`` for something that is not ``type/subtype``."""
    base = mime.split(";", 1)[0].strip().lower()
    if base.count("/") != 1 or not all(base.split("/")):
        return None
    return IANA_MEDIA_TYPES + base


def media_type_from_uri(uri: str) -> str | None:
    """The media type named by an IANA registry URI (``None`` for any other URI)."""
    for prefix in (IANA_MEDIA_TYPES, "http://www.iana.org/assignments/media-types/"):
        if uri.startswith(prefix):
            mime = uri[len(prefix):].strip("/")
            return mime if mime.count("/") == 1 else None
    return None


def file_type_uri(fmt: str) -> str | None:
    """The EU file-type URI of a format name (case-insensitive; ``None`` when the EU list has no entry)."""
    code = EU_FILE_TYPE_BY_FORMAT.get(fmt.strip().upper())
    return EU_FILE_TYPE + code if code else None


def format_from_file_type(value: str) -> str | None:
    """Our format name for an EU file-type URI or bare code (``None`` when unknown)."""
    code = _authority_code(value, EU_FILE_TYPE)
    return FORMAT_BY_EU_FILE_TYPE.get(code) if code else None


def format_from_media_type(mime: str) -> str | None:
    """Our format name for a media type or its IANA URI (``None`` when unknown)."""
    bare = media_type_from_uri(mime) or mime
    return FORMAT_BY_MEDIA_TYPE.get(bare.split(";", 1)[0].strip().lower())


# -- licences ------------------------------------------------------------------------------------------------

# Licence id → EU licence-vocabulary code, for the licences the EU vocabulary lists.
EU_LICENCE_BY_ID: dict[str, str] = {"cc-by-4.0": "CC_BY_4_0", "cc0-1.0": "CC0"}


def license_uri(license_id: str, base_url: str) -> str | None:
    """The URI of one of our licences: its canonical URL (Creative Commons, Open Data Commons), or for a
    licence with no public URL one minted under the site (``<base>/id/licence/<id>``). ``None`` when the
    dataset has no licence."""
    if not license_id:
        return None
    known = LICENSES.get(license_id)
    if known and known[2]:
        return known[2]
    return f"{base_url.rstrip('/')}/id/licence/{license_id}"


def license_id_from_uri(uri: str, base_url: str = "") -> str | None:
    """Our licence id for a licence URI: a canonical URL (with or without ``https``/trailing slash), an EU
    licence URI or code, or one minted by :func:`license_uri`. ``None`` when unknown."""
    norm = _norm_url(uri)
    for lic_id, (_zh, _en, url) in LICENSES.items():
        if url and _norm_url(url) == norm:
            return lic_id
    code = _authority_code(uri, EU_LICENCE)
    if code:
        for lic_id, eu in EU_LICENCE_BY_ID.items():
            if eu == code:
                return lic_id
    if base_url:
        prefix = f"{base_url.rstrip('/')}/id/licence/"
        if uri.startswith(prefix) and uri[len(prefix):] in LICENSES:
            return uri[len(prefix):]
    return None


# -- opening class (开放属性) <-> EU access rights ---------------------------------------------------------

EU_ACCESS_RIGHT = EU_AUTHORITY + "access-right/"
ACCESS_RIGHT_BY_OPENING: dict[str, str] = {"无条件开放": "PUBLIC", "有条件开放": "RESTRICTED", "不予开放": "NON_PUBLIC"}
OPENING_BY_ACCESS_RIGHT: dict[str, str] = {code: opening for opening, code in ACCESS_RIGHT_BY_OPENING.items()}


def access_right_uri(opening_class: str) -> str | None:
    """The EU access-right URI of one of our opening classes (``None`` for an unknown class)."""
    code = ACCESS_RIGHT_BY_OPENING.get(opening_class)
    return EU_ACCESS_RIGHT + code if code else None


def opening_class_from_access_right(value: str) -> str | None:
    """Our opening class for an EU access-right URI or bare code (``None`` when unknown)."""
    code = _authority_code(value, EU_ACCESS_RIGHT)
    return OPENING_BY_ACCESS_RIGHT.get(code) if code else None


# Metadata languages: BCP 47 tag used on literals → EU language URI.
LANG_ZH = "zh-Hans"
LANG_EN = "en"
EU_LANGUAGE_BY_TAG: dict[str, str] = {LANG_ZH: EU_LANGUAGE + "ZHO", LANG_EN: EU_LANGUAGE + "ENG"}


# -- districts ----------------------------------------------------------------------------------------------

DISTRICT_BY_CODE = {d[0]: d for d in DISTRICTS}


def district_uri(base_url: str, name: str) -> str | None:
    """The stable URI of a district given by its Chinese name (``<base>/id/district/<admin code>``, the
    GB/T 2260 administrative division code); ``None`` for a name that is not one of the city's districts."""
    district = DISTRICT_BY_NAME.get(name)
    return f"{base_url.rstrip('/')}/id/district/{district[0]}" if district else None


def district_from_uri(base_url: str, uri: str) -> str | None:
    """The Chinese district name for a URI minted by :func:`district_uri` (``None`` for any other URI)."""
    prefix = f"{base_url.rstrip('/')}/id/district/"
    if not uri.startswith(prefix):
        return None
    district = DISTRICT_BY_CODE.get(uri[len(prefix):])
    return district[1] if district else None


# -- helpers ------------------------------------------------------------------------------------------------


def _authority_code(value: str, prefix: str) -> str | None:
    """The code of an EU authority URI under ``prefix`` (http or https), or a bare code; ``None`` for any
    other URI."""
    value = value.strip()
    if "/" not in value:
        return value.upper() or None
    for candidate in (prefix, prefix.replace("http://", "https://", 1)):
        if value.startswith(candidate):
            return value[len(candidate):].strip("/").upper() or None
    return None


def _norm_url(url: str) -> str:
    url = url.strip().rstrip("/").lower()
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme):]
    return url
