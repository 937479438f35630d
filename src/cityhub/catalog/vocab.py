"""Controlled vocabularies of the national catalog guide (pure data)."""

from __future__ import annotations

SHARING_CLASSES = ("无条件共享", "有条件共享", "不予共享")
SHARING_EN = {"无条件共享": "unconditional", "有条件共享": "conditional", "不予共享": "not shared"}
OPENING_CLASSES = ("无条件开放", "有条件开放", "不予开放")
OPENING_EN = {"无条件开放": "open", "有条件开放": "conditionally open", "不予开放": "not open"}
SHARING_METHODS = ("接口", "文件下载", "库表交换")
RESOURCE_FORMATS = ("电子表格", "数据库", "图形图像", "流媒体", "文档")
CATALOG_TYPES = {"基础": "1", "主题": "2", "部门": "3"}

# update cycle -> days allowed between data updates (None: no schedule)
UPDATE_CYCLES: dict[str, int | None] = {
    "实时": 1,
    "每日": 1,
    "每周": 7,
    "每月": 31,
    "每季度": 92,
    "每半年": 183,
    "每年": 366,
    "不定期": None,
}
UPDATE_CYCLE_EN = {"实时": "real time", "每日": "daily", "每周": "weekly", "每月": "monthly",
                   "每季度": "quarterly", "每半年": "semi-annual", "每年": "annual", "不定期": "irregular"}

# base data (基础信息资源) categories and their 项 codes; these must be shared unconditionally
BASE_CATEGORIES = {"人口": "01", "法人": "02", "自然资源和空间地理": "03", "社会信用": "04", "电子证照": "05"}

THEMES: tuple[tuple[str, str, str], ...] = (
    ("credit", "信用", "Credit"),
    ("transport", "交通", "Transport"),
    ("health", "医疗卫生", "Health"),
    ("education", "教育", "Education"),
    ("employment", "就业", "Employment"),
    ("social-security", "社保", "Social security"),
    ("energy", "能源", "Energy"),
    ("environment", "生态环境", "Environment"),
    ("urban-management", "城市管理", "Urban management"),
    ("economy", "经济建设", "Economy"),
    ("agriculture", "农业农村", "Agriculture"),
    ("culture-tourism", "文化旅游", "Culture & tourism"),
    ("public-safety", "公共安全", "Public safety"),
    ("geospatial", "地理空间", "Geospatial"),
    ("livelihood", "民生服务", "Livelihood services"),
    ("finance", "财税金融", "Finance & tax"),
    ("science-technology", "科技创新", "Science & technology"),
    ("organizations", "机构团体", "Organizations"),
    ("weather", "气象", "Weather"),
)
THEME_BY_SLUG = {t[0]: t for t in THEMES}

LICENSES: dict[str, tuple[str, str, str]] = {
    "cc-by-4.0": ("知识共享署名 4.0", "Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "odc-odbl": ("开放数据库许可 ODbL", "Open Data Commons ODbL", "https://opendatacommons.org/licenses/odbl/"),
    "cc0-1.0": ("CC0 公共领域贡献", "CC0 1.0 Public Domain Dedication",
                "https://creativecommons.org/publicdomain/zero/1.0/"),
    "gz-open-data-1.0": ("开放广州数据使用协议", "Open Guangzhou data licence 1.0", ""),
}

OPEN_FILE_FORMATS = frozenset({"CSV", "JSON", "GEOJSON", "XML", "NDJSON", "PARQUET", "TSV", "RDF", "TTL", "TXT"})
MEDIA_TYPES = {
    "CSV": "text/csv", "JSON": "application/json", "GEOJSON": "application/geo+json", "XML": "application/xml",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLS": "application/vnd.ms-excel",
    "PDF": "application/pdf", "ZIP": "application/zip", "PARQUET": "application/vnd.apache.parquet",
    "NDJSON": "application/x-ndjson", "TSV": "text/tab-separated-values", "TXT": "text/plain",
    "HTML": "text/html",
}
