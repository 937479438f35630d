"""Demo content for Guangzhou's government data-resource catalog and the "开放广州" open-data portal.

Everything in this module is static, deterministic sample data (standard library only).  The
departments carry their real names, but all codes, figures and rows are synthetic demo values.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import random
import re
import zlib
from dataclasses import dataclass

# ---------------------------------------------------------------------------
# Districts and themes
# ---------------------------------------------------------------------------

DISTRICTS: list[tuple[str, str, str]] = [
    ("440103", "荔湾区", "Liwan"),
    ("440104", "越秀区", "Yuexiu"),
    ("440105", "海珠区", "Haizhu"),
    ("440106", "天河区", "Tianhe"),
    ("440111", "白云区", "Baiyun"),
    ("440112", "黄埔区", "Huangpu"),
    ("440113", "番禺区", "Panyu"),
    ("440114", "花都区", "Huadu"),
    ("440115", "南沙区", "Nansha"),
    ("440117", "从化区", "Conghua"),
    ("440118", "增城区", "Zengcheng"),
]

_DISTRICT_NAMES: tuple[str, ...] = tuple(d[1] for d in DISTRICTS)
_ADCODE_BY_NAME: dict[str, str] = {d[1]: d[0] for d in DISTRICTS}

THEMES: list[tuple[str, str, str]] = [
    ("credit", "信用", "Credit"),
    ("transport", "交通", "Transport"),
    ("health", "医疗卫生", "Health"),
    ("education", "教育", "Education"),
    ("employment", "就业", "Employment"),
    ("social-security", "社保", "Social Security"),
    ("energy", "能源", "Energy"),
    ("environment", "生态环境", "Ecology and Environment"),
    ("urban-management", "城市管理", "Urban Management"),
    ("economy", "经济建设", "Economic Development"),
    ("agriculture", "农业农村", "Agriculture and Rural Affairs"),
    ("culture-tourism", "文化旅游", "Culture and Tourism"),
    ("public-safety", "公共安全", "Public Safety"),
    ("geospatial", "地理空间", "Geospatial"),
    ("livelihood", "民生服务", "Livelihood Services"),
    ("finance", "财税金融", "Finance and Taxation"),
    ("science-technology", "科技创新", "Science and Technology"),
    ("organizations", "机构团体", "Organizations"),
    ("weather", "气象", "Weather"),
]

_THEME_SLUGS: tuple[str, ...] = tuple(t[0] for t in THEMES)

# ---------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# ---------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a USCC."""
    if len(first17) != 17:
        raise ValueError(f"expected 17 characters, got {len(first17)}: {first17!r}")
    total = 0
    for ch, weight in zip(first17, USCC_WEIGHTS, strict=True):
        idx = USCC_ALPHABET.find(ch)
        if idx < 0:
            raise ValueError(f"invalid USCC character {ch!r} in {first17!r}")
        total += idx * weight
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_is_valid(code: str) -> bool:
    """True when ``code`` is a well-formed 18-character USCC with a correct check character."""
    if len(code) != 18 or any(ch not in USCC_ALPHABET for ch in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


# ---------------------------------------------------------------------------
# Departments
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoDepartment:
    name: str
    short_name: str
    name_en: str
    slug: str
    uscc: str
    level: str
    district: str | None
    description: str


def _dept(name: str, short_name: str, name_en: str, slug: str, uscc: str, description: str) -> DemoDepartment:
    return DemoDepartment(name, short_name, name_en, slug, uscc, "市", None, description)


DEPARTMENTS: list[DemoDepartment] = [
    _dept(
        "广州市发展和改革委员会",
        "市发展改革委",
        "Guangzhou Development and Reform Commission",
        "gz-dev-reform",
        "11440100009114397B",
        "负责全市国民经济和社会发展规划、价格监测和社会信用体系建设的统筹协调。",
    ),
    _dept(
        "广州市教育局",
        "市教育局",
        "Guangzhou Municipal Education Bureau",
        "gz-education",
        "11440100004291239H",
        "主管全市各级各类教育工作，负责中小学、幼儿园的布局规划和招生管理。",
    ),
    _dept(
        "广州市科学技术局",
        "市科技局",
        "Guangzhou Municipal Science and Technology Bureau",
        "gz-science-tech",
        "11440100007865648X",
        "负责全市科技创新体系建设，组织高新技术企业认定和科技企业孵化器建设。",
    ),
    _dept(
        "广州市工业和信息化局",
        "市工业和信息化局",
        "Guangzhou Municipal Bureau of Industry and Information Technology",
        "gz-industry-it",
        "114401000013896879",
        "负责全市工业、信息化和能源运行管理，统筹新能源汽车充电设施建设。",
    ),
    _dept(
        "广州市公安局",
        "市公安局",
        "Guangzhou Municipal Public Security Bureau",
        "gz-public-security",
        "11440100000319337N",
        "负责全市社会治安、户籍人口、道路交通安全管理等公安工作。",
    ),
    _dept(
        "广州市民政局",
        "市民政局",
        "Guangzhou Municipal Civil Affairs Bureau",
        "gz-civil-affairs",
        "11440100004862505J",
        "负责社会组织登记、社会救助、养老服务、地名管理和婚姻登记等民政工作。",
    ),
    _dept(
        "广州市司法局",
        "市司法局",
        "Guangzhou Municipal Justice Bureau",
        "gz-justice",
        "11440100009963225C",
        "负责全市法治政府建设、公共法律服务体系建设以及律师、公证管理。",
    ),
    _dept(
        "广州市财政局",
        "市财政局",
        "Guangzhou Municipal Finance Bureau",
        "gz-finance",
        "11440100003451974X",
        "负责全市财政收支、预决算编制和政府债务管理，推进预决算信息公开。",
    ),
    _dept(
        "广州市人力资源和社会保障局",
        "市人力资源社会保障局",
        "Guangzhou Human Resources and Social Security Bureau",
        "gz-hrss",
        "11440100000580228D",
        "负责全市就业创业、职业能力建设、社会保险和劳动关系等工作。",
    ),
    _dept(
        "广州市规划和自然资源局",
        "市规划和自然资源局",
        "Guangzhou Municipal Planning and Natural Resources Bureau",
        "gz-planning-natural-resources",
        "11440100001957314H",
        "负责国土空间规划、自然资源调查确权、土地供应和测绘地理信息管理。",
    ),
    _dept(
        "广州市生态环境局",
        "市生态环境局",
        "Guangzhou Municipal Ecology and Environment Bureau",
        "gz-ecology-environment",
        "11440100002609434F",
        "负责全市生态环境监测、污染防治和环境执法监督工作。",
    ),
    _dept(
        "广州市住房和城乡建设局",
        "市住房城乡建设局",
        "Guangzhou Municipal Housing and Urban-Rural Development Bureau",
        "gz-housing-construction",
        "11440100008962298F",
        "负责住房保障、建筑市场监管、建设工程施工许可和城乡建设管理。",
    ),
    _dept(
        "广州市交通运输局",
        "市交通运输局",
        "Guangzhou Municipal Transport Bureau",
        "gz-transport",
        "11440100004735995E",
        "负责全市公共交通、出租汽车、道路运输、停车管理和轨道交通运营监管。",
    ),
    _dept(
        "广州市水务局",
        "市水务局",
        "Guangzhou Water Affairs Bureau",
        "gz-water",
        "11440100004330891X",
        "负责全市水资源、供排水、河涌治理和防洪排涝工作。",
    ),
    _dept(
        "广州市农业农村局",
        "市农业农村局",
        "Guangzhou Municipal Agriculture and Rural Affairs Bureau",
        "gz-agriculture",
        "11440100003772778D",
        "负责全市农业农村发展、农产品质量安全和农民专业合作社指导服务。",
    ),
    _dept(
        "广州市商务局",
        "市商务局",
        "Guangzhou Municipal Commerce Bureau",
        "gz-commerce",
        "114401000002979401",
        "负责全市内外贸易、利用外资、成品油流通和会展业发展。",
    ),
    _dept(
        "广州市文化广电旅游局",
        "市文化广电旅游局",
        "Guangzhou Municipal Culture, Radio, Television and Tourism Bureau",
        "gz-culture-tourism",
        "11440100001844993Q",
        "负责全市文化事业、文物保护、广播电视和旅游行业管理。",
    ),
    _dept(
        "广州市卫生健康委员会",
        "市卫生健康委",
        "Guangzhou Municipal Health Commission",
        "gz-health",
        "1144010000175607XP",
        "负责全市医疗卫生服务体系建设、疾病预防控制和医疗机构监督管理。",
    ),
    _dept(
        "广州市退役军人事务局",
        "市退役军人事务局",
        "Guangzhou Municipal Veterans Affairs Bureau",
        "gz-veterans",
        "114401000093315434",
        "负责退役军人移交安置、优抚褒扬和退役军人服务保障体系建设。",
    ),
    _dept(
        "广州市应急管理局",
        "市应急管理局",
        "Guangzhou Municipal Emergency Management Bureau",
        "gz-emergency",
        "114401000057703621",
        "负责全市应急管理、安全生产综合监管、危险化学品安全和防灾减灾工作。",
    ),
    _dept(
        "广州市人民政府国有资产监督管理委员会",
        "市国资委",
        "State-owned Assets Supervision and Administration Commission of Guangzhou Municipal Government",
        "gz-sasac",
        "11440100005240185W",
        "代表市政府履行出资人职责，监管市属国有企业国有资产。",
    ),
    _dept(
        "广州市市场监督管理局",
        "市市场监管局",
        "Guangzhou Municipal Administration for Market Regulation",
        "gz-market-regulation",
        "11440100006086562K",
        "负责市场主体登记注册、食品安全监督管理、质量和知识产权监管。",
    ),
    _dept(
        "广州市体育局",
        "市体育局",
        "Guangzhou Municipal Sports Bureau",
        "gz-sports",
        "11440100005559604E",
        "负责全民健身、竞技体育和公共体育设施建设管理。",
    ),
    _dept(
        "广州市统计局",
        "市统计局",
        "Guangzhou Municipal Statistics Bureau",
        "gz-statistics",
        "114401000062254970",
        "负责全市国民经济核算、人口普查和各类统计调查，发布统计数据。",
    ),
    _dept(
        "广州市医疗保障局",
        "市医保局",
        "Guangzhou Municipal Healthcare Security Administration",
        "gz-medical-security",
        "11440100002059911P",
        "负责全市医疗保险、生育保险、医疗救助和定点医药机构协议管理。",
    ),
    _dept(
        "广州市城市管理和综合执法局",
        "市城市管理综合执法局",
        "Guangzhou Municipal Urban Management and Comprehensive Law Enforcement Bureau",
        "gz-urban-management",
        "1144010000408677X7",
        "负责市容环境卫生、生活垃圾分类、城市照明和城市管理综合执法。",
    ),
    _dept(
        "广州市林业和园林局",
        "市林业园林局",
        "Guangzhou Municipal Forestry and Landscaping Bureau",
        "gz-forestry-landscape",
        "11440100000260793A",
        "负责全市林业、城市绿化、公园和古树名木保护管理。",
    ),
    _dept(
        "广州市港务局",
        "市港务局",
        "Guangzhou Port Authority",
        "gz-port",
        "114401000067976718",
        "负责广州港口规划建设、港口经营和航运服务管理。",
    ),
    _dept(
        "广州市地方金融监督管理局",
        "市地方金融监管局",
        "Guangzhou Municipal Local Financial Supervision and Administration",
        "gz-local-finance",
        "114401000058236471",
        "负责小额贷款公司、融资担保公司等地方金融组织的监督管理和金融风险防范。",
    ),
    _dept(
        "广州市政务服务数据管理局",
        "市政务服务数据管理局",
        "Guangzhou Municipal Government Services and Data Administration",
        "gz-gov-data",
        "11440100001938025C",
        "负责全市政务服务、政务数据资源统筹管理和公共数据开放工作。",
    ),
    _dept(
        "广州市人民政府外事办公室",
        "市外办",
        "Foreign Affairs Office of Guangzhou Municipal People's Government",
        "gz-foreign-affairs",
        "11440100008430515C",
        "负责全市外事工作、领事服务和国际友好城市交往。",
    ),
    _dept(
        "国家税务总局广州市税务局",
        "广州市税务局",
        "Guangzhou Municipal Tax Service, State Taxation Administration",
        "gz-tax",
        "11440100006173201E",
        "负责全市税收征收管理、纳税服务和纳税信用评价工作。",
    ),
    _dept(
        "广州市气象局",
        "市气象局",
        "Guangzhou Meteorological Bureau",
        "gz-meteorology",
        "1144010000398931X1",
        "负责全市天气预报、气象灾害预警信号发布和气象观测。",
    ),
    _dept(
        "广州住房公积金管理中心",
        "市住房公积金中心",
        "Guangzhou Housing Provident Fund Management Center",
        "gz-housing-fund",
        "11440100001239005F",
        "负责全市住房公积金归集、提取、贷款和服务网点管理。",
    ),
    DemoDepartment(
        "广州市天河区政务服务数据管理局",
        "天河区政务服务数据管理局",
        "Government Services and Data Administration of Tianhe District",
        "gz-tianhe-data",
        "11440106000237745D",
        "区",
        "天河区",
        "负责天河区政务服务体系建设和区级政务数据资源管理。",
    ),
    DemoDepartment(
        "广州市黄埔区政务服务数据管理局",
        "黄埔区政务服务数据管理局",
        "Government Services and Data Administration of Huangpu District",
        "gz-huangpu-data",
        "114401120066944535",
        "区",
        "黄埔区",
        "负责黄埔区（广州开发区）政务服务和政务数据资源管理。",
    ),
    DemoDepartment(
        "广州市番禺区政务服务数据管理局",
        "番禺区政务服务数据管理局",
        "Government Services and Data Administration of Panyu District",
        "gz-panyu-data",
        "114401130017797579",
        "区",
        "番禺区",
        "负责番禺区政务服务、基层公共服务网点和区级政务数据资源管理。",
    ),
]

_DEPT_BY_SLUG: dict[str, DemoDepartment] = {d.slug: d for d in DEPARTMENTS}

# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------

COLUMN_TYPES: tuple[str, ...] = ("integer", "number", "string", "date", "datetime", "boolean")
CATALOG_TYPES: tuple[str, ...] = ("基础", "主题", "部门")
BASE_CATEGORIES: dict[str, str] = {
    "人口": "01",
    "法人": "02",
    "自然资源和空间地理": "03",
    "社会信用": "04",
    "电子证照": "05",
}
FORMATS: tuple[str, ...] = ("电子表格", "数据库", "图形图像", "流媒体", "文档")
FILE_FORMATS: tuple[str, ...] = ("CSV", "XLSX", "JSON", "GeoJSON")
SHARING_CLASSES: tuple[str, ...] = ("无条件共享", "有条件共享", "不予共享")
SHARING_METHODS: tuple[str, ...] = ("接口", "文件下载", "库表交换")
OPENING_CLASSES: tuple[str, ...] = ("无条件开放", "有条件开放", "不予开放")
UPDATE_CYCLES: tuple[str, ...] = ("实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "不定期")
LICENSES: tuple[str, ...] = ("cc-by-4.0", "odc-odbl", "gz-open-data-1.0")
DEMO_SUFFIX = "（本数据为演示用样例数据。）"


@dataclass(frozen=True)
class DemoColumn:
    name: str
    type: str  # one of "integer", "number", "string", "date", "datetime", "boolean"
    description: str


@dataclass(frozen=True)
class DemoDataset:
    slug: str
    title: str
    title_en: str
    department: str
    theme: str
    catalog_type: str
    base_category: str | None
    class_item: str
    class_category: str
    class_sub: str
    abstract: str
    format: str
    file_format: str
    sharing_class: str
    sharing_condition: str
    sharing_method: tuple[str, ...]
    sharing_basis: str
    opening_class: str
    opening_condition: str
    update_cycle: str
    published: str
    tags: tuple[str, ...]
    districts: tuple[str, ...]
    temporal_start: str
    temporal_end: str | None
    license: str
    columns: tuple[DemoColumn, ...]
    rows_hint: int


def _cols(*specs: tuple[str, str, str]) -> tuple[DemoColumn, ...]:
    return tuple(DemoColumn(n, t, d) for n, t, d in specs)


# Frequently used column specs.
_DIST = ("所属区", "string", "所在行政区")
_ADDR = ("地址", "string", "详细地址")
_LNG = ("经度", "number", "WGS84坐标系经度")
_LAT = ("纬度", "number", "WGS84坐标系纬度")
_TEL = ("联系电话", "string", "单位对外办公电话")
_YEAR = ("统计年份", "integer", "统计年度，范围：2010~2019")
_ALL = _DISTRICT_NAMES

_BASIS_SHARE = "《政务信息资源共享管理暂行办法》（国发〔2016〕51号）"
_BASIS_PIPL = "《中华人民共和国个人信息保护法》"


def _ds(
    slug: str,
    title: str,
    title_en: str,
    department: str,
    theme: str,
    catalog_type: str,
    abstract: str,
    columns: tuple[DemoColumn, ...],
    *,
    published: str,
    tags: tuple[str, ...],
    temporal_start: str,
    temporal_end: str | None = None,
    base_category: str | None = None,
    class_sub: str = "",
    format: str = "电子表格",
    file_format: str = "CSV",
    sharing_class: str = "无条件共享",
    sharing_condition: str = "",
    sharing_method: tuple[str, ...] = ("接口", "文件下载"),
    sharing_basis: str = "",
    opening_class: str = "无条件开放",
    opening_condition: str = "",
    update_cycle: str = "每月",
    districts: tuple[str, ...] = _ALL,
    license: str = "cc-by-4.0",
    rows_hint: int = 120,
) -> DemoDataset:
    if catalog_type == "基础":
        item = BASE_CATEGORIES[base_category or ""]
    elif catalog_type == "主题":
        item = f"{_THEME_SLUGS.index(theme) + 1:02d}"
    else:
        item = f"{[d.slug for d in DEPARTMENTS].index(department) + 1:02d}"
    if not districts:
        coverage = "广州市对外交往情况"
    elif len(districts) == len(_ALL):
        coverage = "全市11个区"
    else:
        coverage = "、".join(districts)
    provenance = f"数据由{_DEPT_BY_SLUG[department].short_name}提供，{update_cycle}更新，覆盖{coverage}。"
    return DemoDataset(
        slug=slug,
        title=title,
        title_en=title_en,
        department=department,
        theme=theme,
        catalog_type=catalog_type,
        base_category=base_category,
        class_item=item,
        class_category="",
        class_sub=class_sub,
        abstract=abstract + provenance + DEMO_SUFFIX,
        format=format,
        file_format=file_format,
        sharing_class=sharing_class,
        sharing_condition=sharing_condition,
        sharing_method=sharing_method,
        sharing_basis=sharing_basis,
        opening_class=opening_class,
        opening_condition=opening_condition,
        update_cycle=update_cycle,
        published=published,
        tags=tags,
        districts=districts,
        temporal_start=temporal_start,
        temporal_end=temporal_end,
        license=license,
        columns=columns,
        rows_hint=rows_hint,
    )


_RAW_DATASETS: list[DemoDataset] = [
    # ----- 基础信息资源 -----------------------------------------------------
    _ds(
        "resident-population-by-district",
        "广州市各区常住人口统计",
        "Resident Population by District",
        "gz-statistics",
        "livelihood",
        "基础",
        "按年度发布广州市11个区的年末常住人口、户籍人口、城镇化率及人口密度等指标，"
        "数据来源于人口抽样调查和统计年鉴，可用于公共服务设施规划和人口发展研究。",
        _cols(
            _YEAR,
            _DIST,
            ("常住人口_万人", "number", "年末常住人口，范围：20~400"),
            ("户籍人口_万人", "number", "年末户籍人口，范围：20~200"),
            ("城镇化率", "number", "城镇人口占常住人口比重（%），范围：40~100"),
            ("人口密度_人每平方公里", "integer", "每平方公里常住人口数，范围：300~35000"),
        ),
        base_category="人口",
        class_sub="1",
        update_cycle="每年",
        published="2017-06-15",
        tags=("人口", "统计", "常住人口"),
        temporal_start="2010-01-01",
        temporal_end="2019-12-31",
        file_format="XLSX",
        rows_hint=110,
    ),
    _ds(
        "registered-population-by-street",
        "各区户籍人口镇街分布统计",
        "Registered Population by Sub-district",
        "gz-public-security",
        "livelihood",
        "基础",
        "汇总全市各区、镇（街道）的户籍人口数、户数及男女性别构成，按季度更新，"
        "仅含汇总统计数据，不含任何个人信息，为人口管理和基层治理提供基础支撑。",
        _cols(
            ("统计季度", "string", "统计季度，取值：2019Q1、2019Q2、2019Q3、2019Q4、2020Q1、2020Q2"),
            _DIST,
            ("镇街名称", "string", "镇或街道名称"),
            ("户数", "integer", "户籍户数，范围：3000~90000"),
            ("户籍人口", "integer", "户籍人口数，范围：8000~260000"),
            ("男性人口", "integer", "男性户籍人口，范围：4000~130000"),
            ("女性人口", "integer", "女性户籍人口，范围：4000~130000"),
        ),
        base_category="人口",
        class_sub="2",
        update_cycle="每季度",
        published="2018-03-20",
        tags=("户籍", "人口", "镇街"),
        temporal_start="2017-01-01",
        rows_hint=200,
    ),
    _ds(
        "enterprise-registrations",
        "企业法人登记信息",
        "Enterprise Legal Person Registrations",
        "gz-market-regulation",
        "economy",
        "基础",
        "公开在广州市登记注册的企业法人基本信息，包括企业名称、统一社会信用代码、企业类型、注册资本、"
        "成立日期、登记机关及登记状态，数据每日从商事登记系统同步更新。",
        _cols(
            ("企业名称", "string", "企业登记名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("企业类型", "string", "取值：有限责任公司、股份有限公司、个人独资企业、合伙企业、外商投资企业"),
            ("注册资本_万元", "number", "注册资本（万元），范围：10~50000"),
            ("成立日期", "date", "营业执照签发日期"),
            _DIST,
            ("登记状态", "string", "取值：存续、在业、迁出、注销"),
        ),
        base_category="法人",
        class_sub="1",
        update_cycle="每日",
        published="2017-03-01",
        tags=("企业", "商事登记", "法人"),
        temporal_start="2000-01-01",
        rows_hint=500,
    ),
    _ds(
        "social-organizations",
        "社会组织登记信息",
        "Registered Social Organizations",
        "gz-civil-affairs",
        "organizations",
        "基础",
        "收录在市、区两级民政部门登记的社会团体、民办非企业单位（社会服务机构）和基金会的名称、"
        "统一社会信用代码、业务主管单位、成立日期及年检结论等法人基础信息。",
        _cols(
            ("组织名称", "string", "社会组织名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("组织类型", "string", "取值：社会团体、社会服务机构、基金会"),
            ("登记管理机关", "string", "取值：广州市民政局、区民政局"),
            ("成立登记日期", "date", "成立登记日期"),
            _DIST,
            ("年检结论", "string", "取值：合格、基本合格、不合格、未参检"),
        ),
        base_category="法人",
        class_sub="2",
        update_cycle="每月",
        published="2017-08-10",
        tags=("社会组织", "社团", "民办非企业"),
        temporal_start="1990-01-01",
        rows_hint=300,
    ),
    _ds(
        "land-supply-parcels",
        "国有建设用地供应地块",
        "State-owned Construction Land Supply Parcels",
        "gz-planning-natural-resources",
        "geospatial",
        "基础",
        "发布全市国有建设用地出让、划拨供应地块的宗地编号、位置、用途、面积、容积率、成交价及供应日期，"
        "附地块空间范围，适用于土地市场分析和城市空间研究。",
        _cols(
            ("宗地编号", "string", "地块宗地编号"),
            _DIST,
            (
                "土地用途",
                "string",
                "取值：住宅用地、商服用地、工业用地、公共管理与公共服务用地、物流仓储用地",
            ),
            ("面积_平方米", "number", "宗地面积，范围：2000~200000"),
            ("容积率上限", "number", "规划容积率上限，范围：1~8"),
            ("供应方式", "string", "取值：挂牌出让、拍卖出让、协议出让、划拨"),
            ("成交价_万元", "number", "成交价（万元），范围：0~800000"),
            ("供应日期", "date", "合同签订日期"),
            _LNG,
            _LAT,
        ),
        base_category="自然资源和空间地理",
        class_sub="1",
        format="图形图像",
        file_format="GeoJSON",
        update_cycle="每月",
        published="2018-05-18",
        tags=("土地", "供地", "空间地理"),
        temporal_start="2015-01-01",
        license="odc-odbl",
        rows_hint=150,
    ),
    _ds(
        "standard-place-names",
        "广州市标准地名",
        "Standard Place Names of Guangzhou",
        "gz-civil-affairs",
        "geospatial",
        "基础",
        "收录经批准命名的道路、街巷、住宅区、桥梁和自然地理实体等标准地名，包括地名类别、"
        "所属区、罗马字母拼写、命名时间和地理坐标，是地名地址服务的权威基础数据。",
        _cols(
            ("标准名称", "string", "标准地名"),
            ("罗马字母拼写", "string", "汉语拼音拼写"),
            ("地名类别", "string", "取值：道路、街巷、住宅区、桥梁、广场、山体、河涌"),
            _DIST,
            ("命名日期", "date", "批准命名日期"),
            _LNG,
            _LAT,
        ),
        base_category="自然资源和空间地理",
        class_sub="2",
        update_cycle="每季度",
        published="2018-11-02",
        tags=("地名", "地址", "空间地理"),
        temporal_start="1985-01-01",
        rows_hint=250,
    ),
    _ds(
        "credit-red-list",
        "守信联合激励红名单",
        "Credit Red List (Trustworthy Entities)",
        "gz-dev-reform",
        "credit",
        "基础",
        "汇集海关高级认证企业、纳税信用A级纳税人、守合同重信用企业等守信联合激励对象名单，"
        "公开主体名称、统一社会信用代码、列入类别、认定部门及有效期，支撑信用广州建设。",
        _cols(
            ("主体名称", "string", "市场主体名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("红名单类别", "string", "取值：纳税信用A级、海关高级认证企业、守合同重信用企业、诚信示范企业"),
            ("认定部门", "string", "作出认定的部门"),
            ("列入日期", "date", "列入名单日期"),
            ("有效期至", "date", "有效期截止日期"),
            _DIST,
        ),
        base_category="社会信用",
        class_sub="1",
        update_cycle="每周",
        published="2017-09-25",
        tags=("信用", "红名单", "联合激励"),
        temporal_start="2016-01-01",
        rows_hint=200,
    ),
    _ds(
        "credit-black-list",
        "失信联合惩戒黑名单",
        "Credit Black List (Dishonest Entities)",
        "gz-dev-reform",
        "credit",
        "基础",
        "汇集重大税收违法案件当事人、严重违法失信企业、拖欠农民工工资失信主体等联合惩戒对象，"
        "公开法人主体名称、统一社会信用代码、失信类别、认定依据及移出日期，不含自然人信息。",
        _cols(
            ("主体名称", "string", "法人主体名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("失信类别", "string", "取值：重大税收违法、严重违法失信企业、拖欠农民工工资、安全生产失信"),
            ("认定部门", "string", "作出认定的部门"),
            ("列入日期", "date", "列入名单日期"),
            ("是否已移出", "boolean", "是否已信用修复移出"),
            _DIST,
        ),
        base_category="社会信用",
        class_sub="2",
        update_cycle="每周",
        published="2017-09-25",
        tags=("信用", "黑名单", "联合惩戒"),
        temporal_start="2016-01-01",
        rows_hint=150,
    ),
    _ds(
        "tax-credit-a-level-taxpayers",
        "纳税信用A级纳税人名单",
        "A-level Tax Credit Taxpayers",
        "gz-tax",
        "credit",
        "基础",
        "按年度公布经评价为纳税信用A级的企业纳税人名单，包括纳税人名称、纳税人识别号、评价年度和主管税务机关，"
        "便于各部门实施守信联合激励措施。",
        _cols(
            ("纳税人名称", "string", "企业纳税人名称"),
            ("纳税人识别号", "string", "统一社会信用代码"),
            ("评价年度", "integer", "纳税信用评价年度，范围：2014~2019"),
            ("主管税务机关", "string", "主管税务局名称"),
            _DIST,
        ),
        base_category="社会信用",
        class_sub="3",
        update_cycle="每年",
        published="2018-04-26",
        tags=("纳税信用", "A级纳税人", "税务"),
        temporal_start="2014-01-01",
        temporal_end="2019-12-31",
        rows_hint=300,
    ),
    _ds(
        "admin-licence-e-certificates",
        "行政许可电子证照目录",
        "Administrative Licence E-certificate Catalog",
        "gz-gov-data",
        "livelihood",
        "基础",
        "依托广州市电子证照系统，汇总各部门签发的行政许可类电子证照种类、证照编号规则、签发部门、"
        "有效期和累计签发数量，为“一网通办”减证便民提供基础数据支撑。",
        _cols(
            (
                "证照名称",
                "string",
                "电子证照名称，取值：营业执照、食品经营许可证、药品经营许可证、建筑工程施工许可证、"
                "排污许可证、道路运输经营许可证、医疗机构执业许可证、民办学校办学许可证、出版物经营许可证",
            ),
            ("证照类型代码", "string", "电子证照类型代码"),
            ("签发部门", "string", "证照签发部门"),
            ("持证主体类型", "string", "取值：法人、自然人、法人和自然人"),
            ("有效期_年", "integer", "证照有效期（年），范围：1~10"),
            ("累计签发数量", "integer", "累计签发数量，范围：10~300000"),
            ("启用日期", "date", "电子证照启用日期"),
        ),
        base_category="电子证照",
        class_sub="1",
        update_cycle="每月",
        published="2019-02-28",
        tags=("电子证照", "一网通办", "行政许可"),
        temporal_start="2017-01-01",
        rows_hint=120,
    ),
    _ds(
        "food-business-licences",
        "食品经营许可证电子证照",
        "Food Business Licence E-certificates",
        "gz-market-regulation",
        "health",
        "基础",
        "公开全市食品经营许可证的许可证编号、经营者名称、经营场所、主体业态、经营项目和有效期等信息，"
        "便于公众查询餐饮及食品销售主体的许可状态。",
        _cols(
            ("许可证编号", "string", "食品经营许可证编号"),
            ("经营者名称", "string", "经营者名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("主体业态", "string", "取值：餐饮服务经营者、食品销售经营者、单位食堂"),
            _DIST,
            _ADDR,
            ("发证日期", "date", "发证日期"),
            ("有效期至", "date", "有效期截止日期"),
        ),
        base_category="电子证照",
        class_sub="2",
        update_cycle="每日",
        published="2018-07-09",
        tags=("食品安全", "许可证", "电子证照"),
        temporal_start="2016-01-01",
        rows_hint=400,
    ),
    _ds(
        "construction-permits",
        "建筑工程施工许可证",
        "Construction Work Permits",
        "gz-housing-construction",
        "urban-management",
        "基础",
        "公开全市房屋建筑和市政基础设施工程施工许可证的证书编号、项目名称、建设单位、建设地址、"
        "建筑面积、合同价格及发证日期，便于社会监督工程建设活动。",
        _cols(
            ("施工许可证编号", "string", "施工许可证编号"),
            ("项目名称", "string", "工程项目名称"),
            ("建设单位", "string", "建设单位名称"),
            _DIST,
            ("建筑面积_平方米", "number", "总建筑面积，范围：500~300000"),
            ("合同价格_万元", "number", "施工合同价格，范围：100~500000"),
            ("发证日期", "date", "发证日期"),
        ),
        base_category="电子证照",
        class_sub="3",
        update_cycle="每周",
        published="2018-10-12",
        tags=("施工许可", "建筑工程", "电子证照"),
        temporal_start="2015-01-01",
        rows_hint=200,
    ),
    # ----- 交通 ---------------------------------------------------------------
    _ds(
        "bus-routes",
        "公交线路信息",
        "Bus Routes",
        "gz-transport",
        "transport",
        "主题",
        "收录全市常规公交线路的线路名称、起讫站点、运营企业、首末班时间、票价和线路长度，"
        "覆盖市区及外围各区，可用于公交出行服务和线网优化分析。",
        _cols(
            ("线路名称", "string", "公交线路名称"),
            ("起点站", "string", "起点站名称"),
            ("终点站", "string", "终点站名称"),
            (
                "运营企业",
                "string",
                "取值：广州市第一公共汽车有限公司、广州市第二公共汽车有限公司、"
                "广州市第三公共汽车有限公司、广州市电车有限公司、广州白云公交集团有限公司",
            ),
            ("首班时间", "string", "首班车发车时间"),
            ("末班时间", "string", "末班车发车时间"),
            ("票价_元", "number", "单程票价，取值：1、2、3、4、5"),
            ("线路长度_公里", "number", "线路长度，范围：5~45"),
            _DIST,
        ),
        class_sub="1",
        update_cycle="每月",
        published="2017-02-16",
        tags=("公交", "线路", "出行"),
        temporal_start="2016-12-01",
        rows_hint=300,
    ),
    _ds(
        "bus-stops",
        "公交站点信息",
        "Bus Stops",
        "gz-transport",
        "transport",
        "主题",
        "公开全市公交站点名称、站点编号、所属区、途经线路数量及经纬度坐标，"
        "与公交线路数据配合使用可构建公交网络，为出行规划应用提供基础数据。",
        _cols(
            ("站点编号", "string", "公交站点编号"),
            ("公交站名称", "string", "公交站点名称"),
            _DIST,
            ("途经线路数", "integer", "途经线路数量，范围：1~40"),
            ("是否有候车亭", "boolean", "是否设置候车亭"),
            _LNG,
            _LAT,
        ),
        class_sub="2",
        update_cycle="每月",
        published="2017-02-16",
        tags=("公交", "站点", "出行"),
        temporal_start="2016-12-01",
        license="odc-odbl",
        rows_hint=500,
    ),
    _ds(
        "metro-station-passenger-flow",
        "地铁车站日客流量",
        "Metro Station Daily Passenger Flow",
        "gz-transport",
        "transport",
        "主题",
        "按日统计广州地铁各线路车站的进站量、出站量和换乘量，反映城市轨道交通客流时空分布，"
        "可用于交通运行监测、站点周边商业分析和重大活动客流预测。",
        _cols(
            ("日期", "date", "统计日期"),
            (
                "线路",
                "string",
                "取值：1号线、2号线、3号线、4号线、5号线、6号线、7号线、8号线、9号线、13号线、14号线、21号线、APM线、广佛线",
            ),
            ("地铁站名称", "string", "车站名称"),
            _DIST,
            ("进站客流_人次", "integer", "进站量，范围：2000~180000"),
            ("出站客流_人次", "integer", "出站量，范围：2000~180000"),
            ("换乘客流_人次", "integer", "换乘量，范围：0~120000"),
        ),
        class_sub="3",
        update_cycle="每日",
        published="2018-01-22",
        tags=("地铁", "客流", "轨道交通"),
        temporal_start="2017-01-01",
        rows_hint=500,
    ),
    _ds(
        "public-parking-lots",
        "公共停车场信息",
        "Public Parking Lots",
        "gz-transport",
        "transport",
        "部门",
        "公开全市经营性公共停车场的名称、地址、泊位总数、充电泊位数、收费标准和开放时间，"
        "支持停车诱导和智慧停车应用开发。",
        _cols(
            ("停车场名称", "string", "停车场名称"),
            _DIST,
            _ADDR,
            ("泊位总数", "integer", "泊位总数，范围：20~1500"),
            ("充电泊位数", "integer", "充电泊位数，范围：0~120"),
            ("收费标准_元每小时", "number", "白天收费标准，范围：3~20"),
            ("是否24小时开放", "boolean", "是否24小时开放"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每月",
        published="2018-06-08",
        tags=("停车", "停车场", "智慧交通"),
        temporal_start="2018-01-01",
        rows_hint=300,
    ),
    _ds(
        "taxi-fleet-statistics",
        "出租汽车运力统计",
        "Taxi Fleet Statistics",
        "gz-transport",
        "transport",
        "部门",
        "按月统计全市巡游出租汽车和网络预约出租汽车的企业数量、车辆数、新能源车占比和日均载客趟次，"
        "反映出租汽车行业运力结构及新能源化进程。",
        _cols(
            ("统计月份", "string", "统计月份，取值：2019-01、2019-04、2019-07、2019-10、2020-01、2020-04"),
            ("车辆类型", "string", "取值：巡游出租汽车、网络预约出租汽车"),
            ("经营企业数", "integer", "经营企业数量，范围：20~150"),
            ("车辆数", "integer", "营运车辆数，范围：10000~120000"),
            ("新能源车占比", "number", "新能源车辆占比（%），范围：40~100"),
            ("日均载客趟次", "integer", "日均载客趟次，范围：200000~900000"),
        ),
        class_sub="2",
        update_cycle="每月",
        published="2019-03-15",
        tags=("出租车", "网约车", "运力"),
        temporal_start="2018-01-01",
        rows_hint=60,
        license="gz-open-data-1.0",
    ),
    _ds(
        "port-cargo-throughput",
        "广州港货物吞吐量统计",
        "Port of Guangzhou Cargo Throughput",
        "gz-port",
        "transport",
        "部门",
        "按月统计广州港各港区货物吞吐量、集装箱吞吐量和外贸货物吞吐量，"
        "涵盖南沙、黄埔、新沙和内港港区，反映广州国际航运枢纽发展态势。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            ("港区", "string", "取值：南沙港区、黄埔港区、新沙港区、内港港区"),
            ("货物吞吐量_万吨", "number", "货物吞吐量，范围：100~3000"),
            ("集装箱吞吐量_万标箱", "number", "集装箱吞吐量，范围：5~200"),
            ("外贸货物吞吐量_万吨", "number", "外贸货物吞吐量，范围：20~1200"),
        ),
        class_sub="1",
        update_cycle="每月",
        published="2018-09-05",
        tags=("港口", "吞吐量", "航运"),
        temporal_start="2015-01-01",
        districts=("黄埔区", "南沙区", "荔湾区", "海珠区"),
        rows_hint=120,
    ),
    _ds(
        "port-terminals",
        "港口码头泊位信息",
        "Port Terminals and Berths",
        "gz-port",
        "transport",
        "主题",
        "公开广州港各港区经营性码头名称、经营人、泊位数量、最大靠泊能力和主要货类，"
        "为港航物流企业和货主提供码头基础信息查询。",
        _cols(
            ("码头名称", "string", "码头名称"),
            ("港区", "string", "取值：南沙港区、黄埔港区、新沙港区、内港港区"),
            _DIST,
            ("泊位数", "integer", "泊位数量，范围：1~16"),
            ("最大靠泊能力_吨级", "integer", "最大靠泊能力，范围：1000~150000"),
            ("主要货类", "string", "取值：集装箱、煤炭、粮食、汽车滚装、石油化工、件杂货"),
        ),
        class_sub="4",
        update_cycle="每年",
        published="2019-07-19",
        tags=("港口", "码头", "泊位"),
        temporal_start="2019-01-01",
        districts=("黄埔区", "南沙区", "荔湾区", "海珠区"),
        rows_hint=60,
    ),
    # ----- 医疗卫生 -----------------------------------------------------------
    _ds(
        "hospitals",
        "医疗机构名录",
        "Hospitals and Medical Institutions",
        "gz-health",
        "health",
        "主题",
        "公开全市医院的机构名称、医院等级、机构类别、床位数、地址及联系电话，"
        "涵盖综合医院、中医医院和专科医院，方便市民就医查询。",
        _cols(
            ("医院名称", "string", "医疗机构名称"),
            ("医院等级", "string", "取值：三级甲等、三级乙等、二级甲等、二级乙等、一级甲等、未定级"),
            ("机构类别", "string", "取值：综合医院、中医医院、专科医院、中西医结合医院"),
            ("经营性质", "string", "取值：公立、民营"),
            ("床位数", "integer", "编制床位数，范围：20~3000"),
            _DIST,
            _ADDR,
            _TEL,
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2017-04-12",
        tags=("医院", "医疗机构", "就医"),
        temporal_start="2017-01-01",
        rows_hint=250,
    ),
    _ds(
        "community-health-centres",
        "社区卫生服务中心名录",
        "Community Health Service Centres",
        "gz-health",
        "health",
        "主题",
        "收录全市社区卫生服务中心及镇卫生院的名称、地址、服务人口、家庭医生团队数和开诊时间，"
        "支撑基本公共卫生服务和家庭医生签约服务查询。",
        _cols(
            ("机构名称", "string", "社区卫生服务中心名称"),
            _DIST,
            _ADDR,
            ("服务人口_万人", "number", "辖区服务人口，范围：2~20"),
            ("家庭医生团队数", "integer", "家庭医生团队数量，范围：3~60"),
            _TEL,
        ),
        class_sub="2",
        update_cycle="每半年",
        published="2018-02-07",
        tags=("社区卫生", "家庭医生", "基层医疗"),
        temporal_start="2018-01-01",
        rows_hint=180,
    ),
    _ds(
        "vaccination-clinics",
        "预防接种门诊",
        "Vaccination Clinics",
        "gz-health",
        "health",
        "部门",
        "公开全市预防接种门诊（含成人接种门诊、狂犬病暴露处置门诊）的名称、地址、接种类别、"
        "门诊时间和咨询电话，方便市民就近接种。",
        _cols(
            ("门诊名称", "string", "预防接种门诊名称"),
            _DIST,
            _ADDR,
            ("接种类别", "string", "取值：儿童预防接种、成人预防接种、狂犬病暴露处置"),
            ("门诊时间", "string", "取值：周一至周五、周一至周六、每天"),
            _TEL,
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2019-05-21",
        tags=("疫苗", "预防接种", "公共卫生"),
        temporal_start="2019-01-01",
        rows_hint=200,
    ),
    _ds(
        "notifiable-disease-statistics",
        "法定传染病疫情统计",
        "Notifiable Infectious Disease Statistics",
        "gz-health",
        "health",
        "部门",
        "按月、分区统计法定报告传染病的发病数和死亡数，仅包含汇总数据，"
        "供卫生健康、疾控及相关部门开展疫情研判和防控决策使用。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            ("病种", "string", "取值：登革热、手足口病、流行性感冒、肺结核、病毒性肝炎、其他感染性腹泻病"),
            ("发病数", "integer", "报告发病数，范围：0~800"),
            ("死亡数", "integer", "报告死亡数，范围：0~3"),
        ),
        class_sub="2",
        sharing_class="有条件共享",
        sharing_condition="仅向承担疾病防控、应急处置职责的部门共享，使用时不得向社会公开未发布的疫情信息。",
        sharing_method=("接口",),
        sharing_basis="《中华人民共和国传染病防治法》第三十八条；" + _BASIS_SHARE,
        opening_class="有条件开放",
        opening_condition="经申请审核后向科研机构开放用于流行病学研究。",
        update_cycle="每月",
        published="2019-08-14",
        tags=("传染病", "疫情", "疾控"),
        temporal_start="2016-01-01",
        rows_hint=300,
    ),
    _ds(
        "medical-insurance-designated-institutions",
        "医保定点医药机构名录",
        "Designated Medical Insurance Institutions and Pharmacies",
        "gz-medical-security",
        "social-security",
        "主题",
        "公开全市基本医疗保险定点医疗机构和定点零售药店的名称、类别、等级、地址及是否开通异地就医直接结算，"
        "便于参保人查询就医购药服务点。",
        _cols(
            ("机构名称", "string", "定点医药机构名称"),
            ("机构类别", "string", "取值：定点医院、社区卫生服务中心、门诊部、定点零售药店"),
            ("是否开通异地结算", "boolean", "是否开通跨省异地就医直接结算"),
            _DIST,
            _ADDR,
        ),
        class_sub="1",
        update_cycle="每月",
        published="2019-10-30",
        tags=("医保", "定点医院", "定点药店"),
        temporal_start="2019-01-01",
        rows_hint=400,
    ),
    _ds(
        "medical-insurance-fund-settlement",
        "医疗保险基金结算统计",
        "Medical Insurance Fund Settlement Statistics",
        "gz-medical-security",
        "social-security",
        "部门",
        "按月分险种统计全市基本医疗保险基金结算人次、结算金额和统筹基金支付金额，"
        "为医保基金监管和运行分析提供数据支撑，仅含汇总统计值。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            ("险种", "string", "取值：职工医保、城乡居民医保、生育保险"),
            ("结算人次", "integer", "结算人次，范围：100000~6000000"),
            ("医疗总费用_万元", "number", "医疗总费用，范围：10000~600000"),
            ("统筹基金支付_万元", "number", "统筹基金支付金额，范围：5000~400000"),
        ),
        class_sub="1",
        sharing_class="有条件共享",
        sharing_condition="仅向财政、审计、卫生健康等承担医保基金监管职责的部门共享。",
        sharing_method=("库表交换",),
        sharing_basis="《医疗保障基金使用监督管理条例》；" + _BASIS_SHARE,
        opening_class="不予开放",
        opening_condition="涉及医保基金运行敏感信息，不向社会开放。",
        update_cycle="每月",
        published="2020-04-16",
        tags=("医保基金", "结算", "统计"),
        temporal_start="2019-01-01",
        rows_hint=80,
    ),
    # ----- 教育 ---------------------------------------------------------------
    _ds(
        "primary-secondary-schools",
        "中小学校名录",
        "Primary and Secondary Schools",
        "gz-education",
        "education",
        "主题",
        "公开全市公办和民办中小学校的学校名称、办学类型、办学性质、所属区、地址和班级数，"
        "为家长择校、学位供给分析和教育设施规划提供参考。",
        _cols(
            ("学校名称", "string", "学校名称"),
            ("办学类型", "string", "取值：小学、初级中学、完全中学、九年一贯制学校、高级中学"),
            ("办学性质", "string", "取值：公办、民办"),
            _DIST,
            _ADDR,
            ("班级数", "integer", "教学班数量，范围：6~90"),
            _TEL,
        ),
        class_sub="1",
        update_cycle="每年",
        published="2017-05-26",
        tags=("学校", "中小学", "教育资源"),
        temporal_start="2016-09-01",
        rows_hint=400,
    ),
    _ds(
        "kindergartens",
        "幼儿园名录",
        "Kindergartens",
        "gz-education",
        "education",
        "主题",
        "收录全市幼儿园名称、办园性质、是否普惠性幼儿园、等级、班级数和地址，"
        "可帮助家长查询就近入园资源并支撑学前教育资源布局。",
        _cols(
            ("幼儿园名称", "string", "幼儿园名称"),
            ("办园性质", "string", "取值：公办、民办"),
            ("是否普惠性", "boolean", "是否为普惠性民办或公办幼儿园"),
            ("幼儿园等级", "string", "取值：省一级、市一级、区一级、未评级"),
            _DIST,
            _ADDR,
            ("班级数", "integer", "班级数，范围：3~24"),
        ),
        class_sub="2",
        update_cycle="每年",
        published="2017-11-17",
        tags=("幼儿园", "学前教育", "普惠"),
        temporal_start="2017-09-01",
        rows_hint=350,
    ),
    _ds(
        "school-enrollment-statistics",
        "各区在校学生数统计",
        "School Enrollment Statistics by District",
        "gz-education",
        "education",
        "部门",
        "按年度统计各区小学、初中、高中阶段在校学生数、招生数和专任教师数，"
        "反映全市基础教育规模及师资配置情况。",
        _cols(
            ("学年", "string", "取值：2016-2017、2017-2018、2018-2019、2019-2020"),
            _DIST,
            ("学段", "string", "取值：小学、初中、普通高中"),
            ("在校学生数", "integer", "在校学生数，范围：5000~200000"),
            ("招生数", "integer", "当年招生数，范围：1000~40000"),
            ("专任教师数", "integer", "专任教师数，范围：400~12000"),
        ),
        class_sub="1",
        update_cycle="每年",
        published="2020-01-09",
        tags=("在校生", "教育统计", "师资"),
        temporal_start="2016-09-01",
        temporal_end="2020-07-31",
        rows_hint=132,
    ),
    # ----- 就业 / 社保 --------------------------------------------------------
    _ds(
        "job-fairs",
        "公益性招聘会信息",
        "Public Job Fairs",
        "gz-hrss",
        "employment",
        "主题",
        "发布市、区公共就业服务机构举办的公益性招聘会名称、举办时间、举办地点、"
        "参会企业数和提供岗位数，帮助求职者及时获取招聘活动信息。",
        _cols(
            ("招聘会名称", "string", "招聘会名称"),
            ("举办日期", "date", "举办日期"),
            _DIST,
            ("举办地点", "string", "举办地点"),
            ("参会企业数", "integer", "参会企业数量，范围：20~600"),
            ("提供岗位数", "integer", "提供岗位数量，范围：200~20000"),
            ("招聘会类型", "string", "取值：综合类、高校毕业生专场、退役军人专场、残疾人专场、南粤春暖"),
        ),
        class_sub="1",
        update_cycle="每周",
        published="2017-03-28",
        tags=("招聘会", "就业", "求职"),
        temporal_start="2017-01-01",
        rows_hint=250,
    ),
    _ds(
        "vocational-training-institutions",
        "职业技能培训机构名录",
        "Vocational Training Institutions",
        "gz-hrss",
        "employment",
        "主题",
        "公开经人社部门审批或备案的民办职业培训学校和职业技能鉴定机构名称、地址、培训工种和办学许可证有效期，"
        "方便劳动者选择培训机构。",
        _cols(
            ("机构名称", "string", "培训机构名称"),
            _DIST,
            _ADDR,
            ("培训工种", "string", "取值：电工、育婴员、中式烹调师、计算机程序设计员、美容师、汽车维修工"),
            ("办学许可证有效期至", "date", "办学许可证有效期"),
            ("是否补贴性培训机构", "boolean", "是否纳入职业培训补贴目录"),
        ),
        class_sub="2",
        update_cycle="每季度",
        published="2018-08-23",
        tags=("职业培训", "技能", "就业"),
        temporal_start="2018-01-01",
        rows_hint=150,
    ),
    _ds(
        "social-security-service-points",
        "社会保险经办服务网点",
        "Social Security Service Points",
        "gz-hrss",
        "social-security",
        "主题",
        "公开全市社会保险经办机构及镇街人社服务站的名称、地址、办理业务范围、办公时间和咨询电话，"
        "方便参保单位和群众就近办理社保业务。",
        _cols(
            ("网点名称", "string", "服务网点名称"),
            _DIST,
            _ADDR,
            ("业务范围", "string", "取值：参保登记、社保卡业务、待遇申领、综合业务"),
            ("办公时间", "string", "取值：周一至周五 9:00-17:00、周一至周六 9:00-17:00"),
            _TEL,
            _LNG,
            _LAT,
        ),
        class_sub="2",
        update_cycle="每季度",
        published="2017-07-04",
        tags=("社保", "服务网点", "经办"),
        temporal_start="2017-01-01",
        rows_hint=200,
    ),
    _ds(
        "social-insurance-enrollment-statistics",
        "社会保险参保人数统计",
        "Social Insurance Enrollment Statistics",
        "gz-hrss",
        "social-security",
        "部门",
        "按月、分区、分险种统计养老、失业、工伤保险参保人数及缴费单位数，"
        "用于社保扩面、就业形势分析，不含个人参保明细。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            ("险种", "string", "取值：企业职工基本养老保险、失业保险、工伤保险"),
            ("参保人数", "integer", "参保人数，范围：50000~2500000"),
            ("缴费单位数", "integer", "缴费单位数，范围：2000~150000"),
        ),
        class_sub="3",
        sharing_class="有条件共享",
        sharing_condition="仅限相关部门用于就业统计、政策评估，不得用于其他用途。",
        sharing_method=("接口", "库表交换"),
        sharing_basis="《中华人民共和国社会保险法》；" + _BASIS_SHARE,
        opening_class="有条件开放",
        opening_condition="向签订数据使用协议的科研机构开放汇总数据。",
        update_cycle="每月",
        published="2019-06-27",
        tags=("社保", "参保", "统计"),
        temporal_start="2017-01-01",
        rows_hint=200,
    ),
    # ----- 能源 ---------------------------------------------------------------
    _ds(
        "ev-charging-stations",
        "电动汽车充电站信息",
        "EV Charging Stations",
        "gz-industry-it",
        "energy",
        "主题",
        "公开全市已建成投运的公共及专用电动汽车充电站名称、运营商、快慢充电桩数量、服务时间和经纬度，"
        "支撑新能源汽车充电导航和充电设施规划。",
        _cols(
            ("充电站名称", "string", "充电站名称"),
            ("运营商", "string", "取值：南方电网、广州供电局、特来电、星星充电、广州巴士集团、小鹏汽车"),
            _DIST,
            _ADDR,
            ("直流快充桩数", "integer", "直流快充桩数量，范围：0~60"),
            ("交流慢充桩数", "integer", "交流慢充桩数量，范围：0~80"),
            ("是否对外开放", "boolean", "是否面向社会车辆开放"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每月",
        published="2018-12-03",
        tags=("充电桩", "新能源汽车", "能源"),
        temporal_start="2018-01-01",
        rows_hint=400,
    ),
    _ds(
        "electricity-consumption-by-district",
        "全社会用电量分区统计",
        "Electricity Consumption by District",
        "gz-industry-it",
        "energy",
        "部门",
        "按月、分区、分行业统计全社会用电量，包括第一、二、三产业及城乡居民生活用电，"
        "用于经济运行监测和能源消费分析。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            ("用电分类", "string", "取值：第一产业、第二产业、第三产业、城乡居民生活"),
            ("用电量_万千瓦时", "number", "用电量，范围：500~90000"),
            ("同比增长", "number", "同比增长（%），范围：-15~20"),
        ),
        class_sub="1",
        sharing_class="有条件共享",
        sharing_condition="仅向承担经济运行监测职责的部门共享，月度数据在统计发布前不得对外提供。",
        sharing_method=("库表交换",),
        sharing_basis="《中华人民共和国统计法》第二十五条；" + _BASIS_SHARE,
        opening_class="有条件开放",
        opening_condition="年度汇总数据经审核后开放。",
        update_cycle="每月",
        published="2019-04-11",
        tags=("用电量", "能源消费", "经济运行"),
        temporal_start="2017-01-01",
        rows_hint=250,
    ),
    _ds(
        "gas-stations",
        "成品油加油站名录",
        "Fuel Stations",
        "gz-commerce",
        "energy",
        "主题",
        "公开全市持有成品油零售经营批准证书的加油站名称、经营企业、地址、经营油品和是否提供加气服务，"
        "便于公众和物流企业查询加油服务。",
        _cols(
            ("加油站名称", "string", "加油站名称"),
            ("经营企业", "string", "取值：中国石化、中国石油、中国海油、广州发展、壳牌、民营"),
            _DIST,
            _ADDR,
            ("是否提供加气", "boolean", "是否提供LNG/CNG加气服务"),
            ("批准证书有效期至", "date", "成品油零售经营批准证书有效期"),
            _LNG,
            _LAT,
        ),
        class_sub="2",
        update_cycle="每季度",
        published="2019-01-17",
        tags=("加油站", "成品油", "能源"),
        temporal_start="2018-01-01",
        rows_hint=250,
    ),
    # ----- 生态环境 -----------------------------------------------------------
    _ds(
        "air-quality-hourly",
        "空气质量小时监测数据",
        "Hourly Air Quality Readings",
        "gz-ecology-environment",
        "environment",
        "主题",
        "发布全市国控、省控空气质量自动监测站点逐小时的PM2.5、PM10、二氧化氮、臭氧、二氧化硫、"
        "一氧化碳浓度及空气质量指数（AQI），实时反映环境空气质量状况。",
        _cols(
            ("站点名称", "string", "空气质量监测站点名称"),
            _DIST,
            ("监测时间", "datetime", "监测时间（整点）"),
            ("PM2_5浓度", "number", "PM2.5小时浓度（微克/立方米），范围：5~150"),
            ("PM10浓度", "number", "PM10小时浓度（微克/立方米），范围：10~200"),
            ("NO2浓度", "number", "二氧化氮浓度（微克/立方米），范围：5~120"),
            ("O3浓度", "number", "臭氧浓度（微克/立方米），范围：10~250"),
            ("SO2浓度", "number", "二氧化硫浓度（微克/立方米），范围：2~30"),
            ("AQI", "integer", "空气质量指数，范围：20~200"),
            ("首要污染物", "string", "取值：PM2.5、PM10、O3、NO2、—"),
        ),
        class_sub="1",
        update_cycle="实时",
        published="2017-01-18",
        tags=("空气质量", "PM2.5", "AQI"),
        temporal_start="2016-01-01",
        sharing_method=("接口",),
        rows_hint=500,
    ),
    _ds(
        "river-water-quality",
        "主要河流水质监测",
        "River Water Quality Monitoring",
        "gz-ecology-environment",
        "environment",
        "主题",
        "按月公布珠江广州河段、流溪河、增江、东江北干流等主要河流监测断面的水质类别、"
        "溶解氧、高锰酸盐指数、氨氮和总磷浓度，反映水环境质量变化趋势。",
        _cols(
            ("断面名称", "string", "监测断面名称"),
            (
                "河流名称",
                "string",
                "取值：珠江广州河段、流溪河、增江、东江北干流、白坭河、沙湾水道、蕉门水道",
            ),
            _DIST,
            ("监测日期", "date", "采样日期"),
            ("溶解氧", "number", "溶解氧（毫克/升），范围：2~9"),
            ("高锰酸盐指数", "number", "高锰酸盐指数（毫克/升），范围：1~8"),
            ("氨氮", "number", "氨氮（毫克/升），范围：0.1~3"),
            ("总磷", "number", "总磷（毫克/升），范围：0.02~0.5"),
            ("水质类别", "string", "取值：Ⅰ类、Ⅱ类、Ⅲ类、Ⅳ类、Ⅴ类、劣Ⅴ类"),
        ),
        class_sub="2",
        update_cycle="每月",
        published="2017-06-30",
        tags=("水质", "河流", "水环境"),
        temporal_start="2016-01-01",
        rows_hint=240,
    ),
    _ds(
        "environmental-noise-monitoring",
        "城市区域环境噪声监测",
        "Urban Environmental Noise Monitoring",
        "gz-ecology-environment",
        "environment",
        "部门",
        "按季度公布功能区噪声自动监测点位的昼间、夜间等效声级及达标情况，"
        "覆盖居住区、商业区、工业区和交通干线两侧区域。",
        _cols(
            ("点位名称", "string", "噪声监测点位名称"),
            _DIST,
            ("功能区类别", "string", "取值：1类区、2类区、3类区、4a类区"),
            ("监测季度", "string", "取值：2019Q1、2019Q2、2019Q3、2019Q4、2020Q1、2020Q2"),
            ("昼间等效声级_dB", "number", "昼间等效声级，范围：45~72"),
            ("夜间等效声级_dB", "number", "夜间等效声级，范围：38~65"),
            ("是否达标", "boolean", "是否达标"),
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2019-09-20",
        tags=("噪声", "声环境", "监测"),
        temporal_start="2019-01-01",
        rows_hint=120,
    ),
    _ds(
        "key-pollutant-dischargers",
        "重点排污单位名录",
        "Key Pollutant Discharging Units",
        "gz-ecology-environment",
        "environment",
        "部门",
        "公开列入重点排污单位名录的企业名称、统一社会信用代码、所属行业、重点监管类别和排污许可证编号，"
        "便于社会公众参与环境监督。",
        _cols(
            ("单位名称", "string", "排污单位名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            (
                "所属行业",
                "string",
                "取值：汽车制造、化学原料和化学制品制造、电力热力生产、污水处理、印染、电子",
            ),
            ("监管类别", "string", "取值：水环境、大气环境、土壤环境、声环境"),
            _DIST,
            ("排污许可证编号", "string", "排污许可证编号"),
        ),
        class_sub="2",
        update_cycle="每年",
        published="2018-04-03",
        tags=("排污", "重点监管", "环境执法"),
        temporal_start="2018-01-01",
        rows_hint=150,
    ),
    _ds(
        "drinking-water-sources",
        "饮用水水源地水质状况",
        "Drinking Water Source Quality",
        "gz-water",
        "environment",
        "主题",
        "按月发布全市集中式饮用水水源地名称、取水口所在区、水源类型、监测达标情况和供水规模，"
        "保障市民饮用水安全知情权。",
        _cols(
            ("水源地名称", "string", "取值：西江引水、北江顺德水道、沙湾水道、流溪河、东江北干流、增江"),
            _DIST,
            ("水源类型", "string", "取值：河流型、湖库型"),
            ("监测月份", "date", "监测月份首日"),
            ("供水规模_万立方米每日", "number", "供水规模，范围：10~400"),
            ("是否达标", "boolean", "水质是否达标"),
        ),
        class_sub="1",
        update_cycle="每月",
        published="2018-03-14",
        tags=("饮用水", "水源地", "水质"),
        temporal_start="2017-01-01",
        rows_hint=72,
    ),
    _ds(
        "urban-parks",
        "城市公园名录",
        "Urban Parks",
        "gz-forestry-landscape",
        "environment",
        "主题",
        "公开全市城市公园、社区公园和森林公园的名称、类型、面积、开放时间及是否免费开放，"
        "为市民休闲游憩和绿地系统规划提供参考。",
        _cols(
            ("公园名称", "string", "公园名称"),
            ("公园类型", "string", "取值：综合公园、社区公园、专类公园、森林公园、湿地公园"),
            _DIST,
            _ADDR,
            ("面积_公顷", "number", "公园面积，范围：0.5~800"),
            ("是否免费开放", "boolean", "是否免费开放"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每半年",
        published="2017-10-13",
        tags=("公园", "绿地", "休闲"),
        temporal_start="2017-01-01",
        rows_hint=300,
    ),
    _ds(
        "ancient-trees",
        "古树名木信息",
        "Ancient and Famous Trees",
        "gz-forestry-landscape",
        "environment",
        "部门",
        "收录全市登记在册的古树名木编号、树种、树龄、保护级别、生长状况和位置，"
        "为古树名木保护和城市历史文化研究提供数据。",
        _cols(
            ("古树编号", "string", "古树名木编号"),
            ("树种", "string", "取值：榕树、樟树、木棉、龙眼、荔枝、秋枫、朴树"),
            ("估测树龄_年", "integer", "估测树龄，范围：100~800"),
            ("保护级别", "string", "取值：一级、二级、三级"),
            ("生长状况", "string", "取值：正常、衰弱、濒危"),
            _DIST,
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每年",
        published="2019-11-08",
        tags=("古树名木", "园林", "保护"),
        temporal_start="2019-01-01",
        format="图形图像",
        file_format="GeoJSON",
        license="odc-odbl",
        rows_hint=200,
    ),
    # ----- 城市管理 -----------------------------------------------------------
    _ds(
        "street-lamps",
        "城市道路路灯设施",
        "Street Lamps",
        "gz-urban-management",
        "urban-management",
        "部门",
        "公开市管城市道路路灯的设施编号、所在道路、灯具类型、功率、是否LED节能灯及坐标，"
        "支持城市照明精细化管理和路灯故障报修应用。",
        _cols(
            ("路灯编号", "string", "路灯设施编号"),
            ("所在道路", "string", "所在道路名称"),
            _DIST,
            ("灯具类型", "string", "取值：LED路灯、高压钠灯、景观灯、高杆灯"),
            ("功率_瓦", "integer", "额定功率，范围：30~400"),
            ("是否节能灯", "boolean", "是否LED节能灯具"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        format="图形图像",
        file_format="GeoJSON",
        update_cycle="每季度",
        published="2019-12-12",
        tags=("路灯", "城市照明", "市政设施"),
        temporal_start="2019-01-01",
        license="odc-odbl",
        rows_hint=500,
    ),
    _ds(
        "public-toilets",
        "公共厕所信息",
        "Public Toilets",
        "gz-urban-management",
        "urban-management",
        "主题",
        "公开全市环卫公厕的名称、地址、类别、开放时间、是否设无障碍厕位和第三卫生间及坐标，"
        "方便市民和游客查询就近如厕。",
        _cols(
            ("公厕名称", "string", "公厕名称"),
            _DIST,
            _ADDR,
            ("公厕类别", "string", "取值：一类、二类、三类、活动公厕"),
            ("是否设无障碍厕位", "boolean", "是否设无障碍厕位"),
            ("是否有第三卫生间", "boolean", "是否有第三卫生间"),
            ("开放时间", "string", "取值：全天、6:00-23:00"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2018-01-31",
        tags=("公厕", "环卫", "便民"),
        temporal_start="2018-01-01",
        rows_hint=400,
    ),
    _ds(
        "refuse-transfer-stations",
        "生活垃圾压缩站及分类收集点",
        "Refuse Transfer Stations and Sorting Points",
        "gz-urban-management",
        "urban-management",
        "主题",
        "公开全市生活垃圾压缩站、定时定点分类投放点的名称、位置、日处理能力和投放时间，"
        "服务生活垃圾分类工作和公众分类投放。",
        _cols(
            ("设施名称", "string", "设施名称"),
            ("设施类型", "string", "取值：压缩站、分类投放点、大件垃圾拆解点"),
            _DIST,
            _ADDR,
            ("日处理能力_吨", "number", "日处理能力，范围：0~200"),
            ("投放时间", "string", "取值：7:00-9:00 19:00-21:00、全天"),
            _LNG,
            _LAT,
        ),
        class_sub="2",
        update_cycle="每季度",
        published="2019-08-01",
        tags=("垃圾分类", "环卫", "压缩站"),
        temporal_start="2019-01-01",
        rows_hint=350,
    ),
    _ds(
        "flood-prone-points",
        "易涝风险点（水浸黑点）",
        "Flood-prone Points",
        "gz-water",
        "urban-management",
        "主题",
        "公开全市道路易涝风险点的位置、成因、整治状态和责任单位，汛期动态更新，"
        "供市民出行避险和排水防涝管理使用。",
        _cols(
            ("易涝点名称", "string", "易涝点名称"),
            _DIST,
            ("所在道路", "string", "所在道路名称"),
            ("积水成因", "string", "取值：地势低洼、排水管网能力不足、河涌顶托、施工影响"),
            ("整治状态", "string", "取值：已完成整治、整治中、未整治"),
            ("最大积水深度_厘米", "integer", "历史最大积水深度，范围：10~80"),
            _LNG,
            _LAT,
        ),
        class_sub="3",
        update_cycle="不定期",
        published="2018-05-30",
        tags=("水浸", "内涝", "防汛"),
        temporal_start="2017-01-01",
        rows_hint=100,
    ),
    _ds(
        "drainage-manhole-covers",
        "排水检查井（井盖）设施",
        "Drainage Manhole Covers",
        "gz-water",
        "urban-management",
        "部门",
        "公开市管排水管网检查井的编号、所在道路、井盖材质、是否安装防坠网和巡查日期，"
        "支撑井盖安全隐患排查和城市部件精细化管理。",
        _cols(
            ("井盖编号", "string", "检查井编号"),
            ("所在道路", "string", "所在道路名称"),
            _DIST,
            ("井盖材质", "string", "取值：球墨铸铁、复合材料、混凝土"),
            ("是否安装防坠网", "boolean", "是否安装防坠网"),
            ("最近巡查日期", "date", "最近巡查日期"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        format="图形图像",
        file_format="GeoJSON",
        update_cycle="每月",
        published="2020-03-26",
        tags=("井盖", "排水", "城市部件"),
        temporal_start="2019-01-01",
        license="odc-odbl",
        rows_hint=500,
    ),
    # ----- 经济建设 / 财税金融 -----------------------------------------------
    _ds(
        "gdp-by-district",
        "各区地区生产总值",
        "Gross Domestic Product by District",
        "gz-statistics",
        "economy",
        "主题",
        "按季度发布各区地区生产总值及第一、二、三产业增加值和可比价增速，"
        "数据来源于地区生产总值统一核算结果，反映各区经济发展水平。",
        _cols(
            (
                "统计期",
                "string",
                "取值：2018年1-3月、2018年1-6月、2018年1-9月、2018年、2019年1-3月、2019年、2020年1-6月",
            ),
            _DIST,
            ("地区生产总值_亿元", "number", "地区生产总值，范围：80~5500"),
            ("第一产业增加值_亿元", "number", "第一产业增加值，范围：0~80"),
            ("第二产业增加值_亿元", "number", "第二产业增加值，范围：10~2000"),
            ("第三产业增加值_亿元", "number", "第三产业增加值，范围：50~4500"),
            ("增速", "number", "可比价增速（%），范围：-8~12"),
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2017-08-03",
        tags=("GDP", "经济", "统计"),
        temporal_start="2015-01-01",
        file_format="XLSX",
        rows_hint=110,
    ),
    _ds(
        "price-monitoring",
        "主要农副产品价格监测",
        "Agricultural Product Price Monitoring",
        "gz-dev-reform",
        "economy",
        "部门",
        "每周发布全市价格监测点（农贸市场、超市）主要农副产品零售价格，包括粮油、猪肉、禽蛋、"
        "蔬菜、水果、水产品等，为稳定市场价格提供决策参考。",
        _cols(
            ("监测日期", "date", "监测日期"),
            ("监测点", "string", "价格监测点名称"),
            _DIST,
            (
                "商品名称",
                "string",
                "取值：大米、花生油、猪肉（精瘦肉）、鸡蛋、白菜、菜心、番茄、土豆、鲩鱼、苹果",
            ),
            ("计量单位", "string", "取值：元/斤、元/500克、元/公斤"),
            ("零售价格_元", "number", "零售价格，范围：1.5~45"),
            ("环比", "number", "环比（%），范围：-15~15"),
        ),
        class_sub="1",
        update_cycle="每周",
        published="2017-04-25",
        tags=("物价", "价格监测", "菜篮子"),
        temporal_start="2017-01-01",
        rows_hint=500,
    ),
    _ds(
        "foreign-invested-enterprises",
        "外商投资企业设立统计",
        "Foreign-invested Enterprise Establishment",
        "gz-commerce",
        "economy",
        "部门",
        "按月、分区统计新设立外商投资企业数、合同外资金额和实际使用外资金额，并按投资来源地分类，"
        "反映广州利用外资规模和结构。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            ("投资来源地", "string", "取值：中国香港、新加坡、日本、韩国、美国、德国、英属维尔京群岛"),
            ("新设企业数", "integer", "新设外商投资企业数，范围：1~300"),
            ("合同外资_万美元", "number", "合同外资金额，范围：100~200000"),
            ("实际使用外资_万美元", "number", "实际使用外资金额，范围：50~120000"),
        ),
        class_sub="1",
        update_cycle="每月",
        published="2018-02-26",
        tags=("外资", "招商", "对外开放"),
        temporal_start="2016-01-01",
        rows_hint=250,
    ),
    _ds(
        "industrial-output",
        "规模以上工业增加值",
        "Industrial Value Added above Designated Size",
        "gz-industry-it",
        "economy",
        "部门",
        "按月统计全市及各区规模以上工业企业工业增加值、工业总产值及重点行业增速，"
        "覆盖汽车制造、电子产品制造和石油化工三大支柱产业。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            (
                "行业",
                "string",
                "取值：汽车制造业、电子产品制造业、石油化工制造业、电力热力生产和供应业、医药制造业",
            ),
            ("工业总产值_亿元", "number", "工业总产值，范围：5~900"),
            ("工业增加值增速", "number", "工业增加值同比增速（%），范围：-20~25"),
        ),
        class_sub="2",
        update_cycle="每月",
        published="2018-07-30",
        tags=("工业", "制造业", "经济运行"),
        temporal_start="2017-01-01",
        rows_hint=300,
    ),
    _ds(
        "municipal-soes",
        "市属国有企业名录",
        "Municipal State-owned Enterprises",
        "gz-sasac",
        "economy",
        "部门",
        "公开市国资委监管的市属国有企业集团名称、统一社会信用代码、所属行业、注册资本和成立日期，"
        "推进国有企业信息公开透明。",
        _cols(
            (
                "企业名称",
                "string",
                "企业集团名称，取值：广州地铁集团有限公司、广州交通投资集团有限公司、"
                "广州市城市建设投资集团有限公司、广州越秀集团股份有限公司、广州汽车工业集团有限公司、广州医药集团有限公司、"
                "广州发展集团股份有限公司、广州市水务投资集团有限公司、广州港集团有限公司、广州无线电集团有限公司、"
                "广州工业投资控股集团有限公司、广州珠江实业集团有限公司、广州轻工工贸集团有限公司、广州岭南商旅投资集团有限公司",
            ),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("所属行业", "string", "取值：交通运输、城市建设、商贸流通、金融投资、制造业、公用事业"),
            ("注册资本_万元", "number", "注册资本，范围：10000~3000000"),
            ("成立日期", "date", "成立日期"),
            _DIST,
        ),
        class_sub="1",
        update_cycle="每年",
        published="2019-03-08",
        tags=("国企", "国资", "企业名录"),
        temporal_start="2019-01-01",
        rows_hint=60,
    ),
    _ds(
        "fiscal-budget",
        "一般公共预算收支",
        "General Public Budget Revenue and Expenditure",
        "gz-finance",
        "finance",
        "主题",
        "按年度公开全市一般公共预算收入和支出的预算数、执行数及完成预算比例，按功能分类科目列示，"
        "落实预决算信息公开要求。",
        _cols(
            ("年度", "integer", "预算年度，范围：2015~2020"),
            ("收支类别", "string", "取值：收入、支出"),
            (
                "科目名称",
                "string",
                "取值：税收收入、非税收入、一般公共服务支出、教育支出、科学技术支出、"
                "社会保障和就业支出、卫生健康支出、城乡社区支出、交通运输支出",
            ),
            ("预算数_亿元", "number", "年初预算数，范围：10~1800"),
            ("执行数_亿元", "number", "执行数，范围：10~1800"),
            ("完成预算比例", "number", "完成预算比例（%），范围：80~120"),
        ),
        class_sub="1",
        update_cycle="每年",
        published="2017-07-21",
        tags=("财政", "预算", "决算"),
        temporal_start="2015-01-01",
        temporal_end="2020-12-31",
        file_format="XLSX",
        rows_hint=60,
    ),
    _ds(
        "tax-service-halls",
        "办税服务厅信息",
        "Tax Service Halls",
        "gz-tax",
        "finance",
        "主题",
        "公开全市各级税务机关办税服务厅的名称、地址、办公时间、可办理业务和咨询电话，"
        "方便纳税人就近办理涉税事项。",
        _cols(
            ("办税服务厅名称", "string", "办税服务厅名称"),
            _DIST,
            _ADDR,
            ("办公时间", "string", "取值：周一至周五 9:00-12:00 13:30-17:30、周一至周六 9:00-17:00"),
            ("是否可办理社保费业务", "boolean", "是否可办理社保费缴纳业务"),
            _TEL,
        ),
        class_sub="2",
        update_cycle="不定期",
        published="2018-06-22",
        tags=("办税", "纳税服务", "税务"),
        temporal_start="2018-01-01",
        rows_hint=60,
    ),
    _ds(
        "enterprise-tax-ledger",
        "企业涉税明细数据",
        "Enterprise Tax Ledger Details",
        "gz-tax",
        "finance",
        "部门",
        "汇总企业纳税人分税种的申报、入库和欠税情况，涉及纳税人商业秘密和税收征管敏感信息，"
        "仅在税务系统内部使用，依法不予共享和开放。",
        _cols(
            ("纳税人识别号", "string", "统一社会信用代码"),
            _DIST,
            ("税种", "string", "取值：增值税、企业所得税、城市维护建设税、印花税、房产税"),
            ("所属期", "date", "税款所属期起"),
            ("入库税额_元", "number", "入库税额，范围：0~5000000"),
            ("欠税余额_元", "number", "欠税余额，范围：0~200000"),
        ),
        class_sub="1",
        sharing_class="不予共享",
        sharing_condition="涉及纳税人商业秘密，不予共享。",
        sharing_method=(),
        sharing_basis="《中华人民共和国税收征收管理法》第八条（税务机关应当依法为纳税人的情况保密）",
        opening_class="不予开放",
        opening_condition="涉及纳税人商业秘密，不予开放。",
        update_cycle="每日",
        published="2020-06-30",
        tags=("税收", "征管", "涉密"),
        temporal_start="2018-01-01",
        license="gz-open-data-1.0",
        rows_hint=50,
    ),
    _ds(
        "local-financial-organizations",
        "地方金融组织名录",
        "Local Financial Organizations",
        "gz-local-finance",
        "finance",
        "主题",
        "公开经批准设立的小额贷款公司、融资担保公司、融资租赁公司、商业保理公司等地方金融组织名称、"
        "统一社会信用代码、注册资本和经营状态，便于公众识别合规机构、防范非法金融活动。",
        _cols(
            ("机构名称", "string", "机构名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("机构类型", "string", "取值：小额贷款公司、融资担保公司、融资租赁公司、商业保理公司、典当行"),
            ("注册资本_万元", "number", "注册资本，范围：5000~200000"),
            _DIST,
            ("经营状态", "string", "取值：正常经营、暂停经营、列入异常名录"),
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2019-05-09",
        tags=("地方金融", "小额贷款", "金融监管"),
        temporal_start="2019-01-01",
        rows_hint=200,
    ),
    # ----- 农业农村 -----------------------------------------------------------
    _ds(
        "agricultural-wholesale-markets",
        "农产品批发市场名录",
        "Agricultural Product Wholesale Markets",
        "gz-agriculture",
        "agriculture",
        "主题",
        "公开全市主要农产品批发市场名称、经营品类、占地面积、年交易量和地址，"
        "包括江南果菜批发市场、黄沙水产交易市场等，服务农产品流通。",
        _cols(
            ("市场名称", "string", "批发市场名称"),
            ("经营品类", "string", "取值：蔬菜、水果、水产品、肉类、粮油、综合"),
            _DIST,
            _ADDR,
            ("占地面积_平方米", "number", "占地面积，范围：5000~400000"),
            ("年交易量_万吨", "number", "年交易量，范围：1~600"),
        ),
        class_sub="1",
        update_cycle="每年",
        published="2018-09-27",
        tags=("农产品", "批发市场", "流通"),
        temporal_start="2018-01-01",
        rows_hint=60,
    ),
    _ds(
        "farmer-cooperatives",
        "农民专业合作社名录",
        "Farmers' Specialized Cooperatives",
        "gz-agriculture",
        "agriculture",
        "部门",
        "收录全市依法登记的农民专业合作社名称、统一社会信用代码、主营产业、成员数量和示范社等级，"
        "为农业经营主体培育和涉农政策实施提供依据。",
        _cols(
            ("合作社名称", "string", "合作社名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("主营产业", "string", "取值：蔬菜种植、水果种植、花卉苗木、水产养殖、畜禽养殖、茶叶"),
            ("成员数", "integer", "成员数量，范围：5~500"),
            ("示范社等级", "string", "取值：国家级、省级、市级、区级、无"),
            _DIST,
        ),
        class_sub="1",
        update_cycle="每半年",
        published="2019-06-06",
        tags=("合作社", "新型经营主体", "农业"),
        temporal_start="2019-01-01",
        districts=("白云区", "黄埔区", "番禺区", "花都区", "南沙区", "从化区", "增城区"),
        rows_hint=200,
    ),
    _ds(
        "leisure-agriculture-sites",
        "休闲农业与乡村旅游示范点",
        "Leisure Agriculture and Rural Tourism Sites",
        "gz-agriculture",
        "agriculture",
        "主题",
        "公开全市休闲农业与乡村旅游示范点、美丽乡村的名称、特色项目、等级和地址，"
        "助力乡村振兴和市民周末休闲出行。",
        _cols(
            ("示范点名称", "string", "示范点名称"),
            _DIST,
            _ADDR,
            ("特色项目", "string", "取值：采摘体验、农家乐、民宿、花海观光、农耕研学、温泉"),
            ("示范等级", "string", "取值：全国示范点、省级示范点、市级示范点"),
            _LNG,
            _LAT,
        ),
        class_sub="2",
        update_cycle="每年",
        published="2020-05-15",
        tags=("乡村旅游", "休闲农业", "乡村振兴"),
        temporal_start="2019-01-01",
        districts=("白云区", "黄埔区", "番禺区", "花都区", "南沙区", "从化区", "增城区"),
        rows_hint=80,
    ),
    # ----- 文化旅游 -----------------------------------------------------------
    _ds(
        "a-level-tourist-attractions",
        "A级旅游景区名录",
        "A-level Tourist Attractions",
        "gz-culture-tourism",
        "culture-tourism",
        "主题",
        "公开全市A级旅游景区名称、等级、所属区、地址、开放时间和门票信息，"
        "包括长隆旅游度假区、白云山风景名胜区、广州塔等，为游客出行提供指引。",
        _cols(
            ("景区名称", "string", "景区名称"),
            ("景区等级", "string", "取值：AAAAA、AAAA、AAA、AA、A"),
            _DIST,
            _ADDR,
            ("是否免费", "boolean", "是否免费开放"),
            ("最大承载量_人次", "integer", "日最大承载量，范围：2000~150000"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2017-03-10",
        tags=("景区", "旅游", "A级景区"),
        temporal_start="2017-01-01",
        rows_hint=80,
    ),
    _ds(
        "museums",
        "博物馆名录",
        "Museums",
        "gz-culture-tourism",
        "culture-tourism",
        "主题",
        "收录在文物部门备案的国有及非国有博物馆名称、类型、等级、开放时间、是否免费开放和地址，"
        "推动公共文化资源共享。",
        _cols(
            ("博物馆名称", "string", "博物馆名称"),
            ("博物馆性质", "string", "取值：国有、非国有"),
            ("质量等级", "string", "取值：一级、二级、三级、未定级"),
            _DIST,
            _ADDR,
            ("是否免费开放", "boolean", "是否免费开放"),
            ("年接待观众_万人次", "number", "年接待观众，范围：0.5~350"),
        ),
        class_sub="2",
        update_cycle="每年",
        published="2017-12-05",
        tags=("博物馆", "文化", "文物"),
        temporal_start="2017-01-01",
        rows_hint=70,
    ),
    _ds(
        "public-libraries",
        "公共图书馆及分馆",
        "Public Libraries and Branches",
        "gz-culture-tourism",
        "culture-tourism",
        "部门",
        "公开全市公共图书馆总分馆体系中各图书馆、分馆及自助图书馆的名称、地址、开放时间和藏书量，"
        "支撑“图书馆之城”建设。",
        _cols(
            ("图书馆名称", "string", "图书馆名称"),
            ("馆别", "string", "取值：中心馆、区总馆、分馆、服务点、自助图书馆"),
            _DIST,
            _ADDR,
            ("藏书量_册", "integer", "藏书量，范围：2000~9000000"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每半年",
        published="2018-04-23",
        tags=("图书馆", "公共文化", "阅读"),
        temporal_start="2018-01-01",
        rows_hint=250,
    ),
    _ds(
        "immovable-cultural-relics",
        "不可移动文物名录",
        "Immovable Cultural Relics",
        "gz-culture-tourism",
        "culture-tourism",
        "部门",
        "公开全市各级文物保护单位和登记保护文物单位的名称、年代、类别、保护级别和位置，"
        "包括陈家祠、镇海楼、南越国宫署遗址等，服务历史文化名城保护。",
        _cols(
            ("文物名称", "string", "文物名称"),
            ("年代", "string", "取值：秦汉、南朝、唐、宋、明、清、民国、近现代"),
            ("类别", "string", "取值：古遗址、古墓葬、古建筑、石窟寺及石刻、近现代重要史迹"),
            (
                "保护级别",
                "string",
                "取值：全国重点文物保护单位、省级文物保护单位、市级文物保护单位、登记保护文物单位",
            ),
            _DIST,
            _LNG,
            _LAT,
        ),
        class_sub="2",
        update_cycle="每年",
        published="2019-04-18",
        tags=("文物", "历史文化", "名城保护"),
        temporal_start="2019-01-01",
        rows_hint=300,
    ),
    _ds(
        "public-sports-venues",
        "公共体育场馆设施",
        "Public Sports Venues",
        "gz-sports",
        "culture-tourism",
        "主题",
        "公开全市公共体育场馆、全民健身中心、社区健身广场和健身步道的名称、类型、开放时间及收费情况，"
        "方便市民就近参与全民健身活动。",
        _cols(
            ("场馆名称", "string", "场馆名称"),
            ("场馆类型", "string", "取值：体育场、体育馆、游泳馆、全民健身中心、社区健身广场、健身步道"),
            _DIST,
            _ADDR,
            ("是否免费或低收费开放", "boolean", "是否免费或低收费开放"),
            ("场地面积_平方米", "number", "场地面积，范围：200~80000"),
            _LNG,
            _LAT,
        ),
        class_sub="3",
        update_cycle="每半年",
        published="2018-08-08",
        tags=("体育场馆", "全民健身", "运动"),
        temporal_start="2018-01-01",
        rows_hint=250,
    ),
    # ----- 公共安全 -----------------------------------------------------------
    _ds(
        "emergency-shelters",
        "应急避护场所",
        "Emergency Shelters",
        "gz-emergency",
        "public-safety",
        "主题",
        "公开全市应急避护场所名称、类型、地址、可容纳人数、有效避险面积和配套设施情况，"
        "供市民在台风、地震等突发事件时就近避险。",
        _cols(
            ("场所名称", "string", "应急避护场所名称"),
            ("场所类型", "string", "取值：室内场所、室外场所"),
            _DIST,
            _ADDR,
            ("可容纳人数", "integer", "可容纳人数，范围：100~20000"),
            ("有效面积_平方米", "number", "有效避险面积，范围：200~60000"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每年",
        published="2018-10-26",
        tags=("应急", "避护场所", "防灾减灾"),
        temporal_start="2018-01-01",
        rows_hint=200,
    ),
    _ds(
        "hazardous-chemical-enterprises",
        "危险化学品企业安全监管信息",
        "Hazardous Chemical Enterprise Supervision",
        "gz-emergency",
        "public-safety",
        "部门",
        "汇总全市危险化学品生产、经营、储存企业名称、许可类别、重大危险源等级和安全生产许可证有效期，"
        "用于安全生产监管和应急救援联动。",
        _cols(
            ("企业名称", "string", "企业名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            _DIST,
            (
                "许可类别",
                "string",
                "取值：危险化学品生产、危险化学品经营（带储存）、危险化学品经营（不带储存）、使用",
            ),
            ("重大危险源等级", "string", "取值：一级、二级、三级、四级、无"),
            ("许可证有效期至", "date", "安全生产许可证有效期"),
        ),
        class_sub="1",
        sharing_class="有条件共享",
        sharing_condition="仅向公安、消防救援、生态环境、交通运输等承担安全监管和应急救援职责的部门共享。",
        sharing_method=("接口",),
        sharing_basis="《危险化学品安全管理条例》第五条、第六条；" + _BASIS_SHARE,
        opening_class="不予开放",
        opening_condition="涉及重大危险源位置等公共安全敏感信息，不予开放。",
        update_cycle="每月",
        published="2019-02-13",
        tags=("危险化学品", "安全生产", "重大危险源"),
        temporal_start="2018-01-01",
        rows_hint=150,
    ),
    _ds(
        "police-stations",
        "公安派出所及户政服务窗口",
        "Police Stations and Household Registration Counters",
        "gz-public-security",
        "public-safety",
        "主题",
        "公开全市公安派出所、户政办证窗口和出入境接待大厅的名称、地址、办公时间和咨询电话，"
        "方便群众就近办理户籍、身份证和出入境证件业务。",
        _cols(
            ("机构名称", "string", "派出所或办证窗口名称"),
            ("机构类型", "string", "取值：派出所、户政办证窗口、出入境接待大厅"),
            _DIST,
            _ADDR,
            ("办公时间", "string", "取值：周一至周五 9:00-17:00、周一至周日 9:00-17:00"),
            _TEL,
        ),
        class_sub="1",
        update_cycle="不定期",
        published="2017-09-08",
        tags=("派出所", "户政", "出入境"),
        temporal_start="2017-01-01",
        rows_hint=220,
    ),
    _ds(
        "traffic-accident-statistics",
        "道路交通事故统计",
        "Road Traffic Accident Statistics",
        "gz-public-security",
        "public-safety",
        "部门",
        "按月分区统计道路交通事故起数、死亡人数、受伤人数和直接财产损失，按事故形态和主要原因分类，"
        "仅含汇总数据，用于道路交通安全治理。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            ("事故形态", "string", "取值：机动车之间、机动车与非机动车、机动车与行人、单车事故"),
            ("事故起数", "integer", "事故起数，范围：5~300"),
            ("死亡人数", "integer", "死亡人数，范围：0~12"),
            ("受伤人数", "integer", "受伤人数，范围：2~320"),
            ("直接财产损失_元", "number", "直接财产损失，范围：5000~900000"),
        ),
        class_sub="2",
        sharing_class="有条件共享",
        sharing_condition="仅向交通运输、卫生健康、应急管理等部门用于交通安全治理。",
        sharing_method=("接口", "库表交换"),
        sharing_basis="《中华人民共和国道路交通安全法》；" + _BASIS_SHARE,
        opening_class="有条件开放",
        opening_condition="经申请审核后向交通安全研究机构开放年度汇总数据。",
        update_cycle="每月",
        published="2018-11-20",
        tags=("交通事故", "交通安全", "统计"),
        temporal_start="2016-01-01",
        rows_hint=200,
    ),
    _ds(
        "public-video-surveillance-points",
        "公共视频监控点位",
        "Public Video Surveillance Points",
        "gz-public-security",
        "public-safety",
        "部门",
        "记录全市公共安全视频监控建设联网点位编号、点位类型、所属区和建设年份，"
        "涉及公共安全防范部署，按规定不予共享和开放。",
        _cols(
            ("点位编号", "string", "监控点位编号"),
            _DIST,
            ("点位类型", "string", "取值：治安监控、交通监控、重点部位监控、社会面监控"),
            ("建设年份", "integer", "建设年份，范围：2012~2020"),
            ("是否联网", "boolean", "是否接入公安视频专网"),
        ),
        class_sub="3",
        sharing_class="不予共享",
        sharing_condition="涉及公共安全防范部署，不予共享。",
        sharing_method=(),
        sharing_basis="《中华人民共和国保守国家秘密法》；《中华人民共和国反恐怖主义法》第二十七条",
        opening_class="不予开放",
        opening_condition="涉及公共安全，不予开放。",
        update_cycle="不定期",
        published="2020-08-18",
        tags=("视频监控", "治安", "涉密"),
        temporal_start="2012-01-01",
        format="数据库",
        file_format="JSON",
        license="gz-open-data-1.0",
        rows_hint=50,
    ),
    # ----- 地理空间 -----------------------------------------------------------
    _ds(
        "administrative-boundaries",
        "行政区划及镇街边界",
        "Administrative and Sub-district Boundaries",
        "gz-planning-natural-resources",
        "geospatial",
        "主题",
        "提供全市区级、镇（街道）级行政区划名称、区划代码、面积和边界范围，"
        "采用2000国家大地坐标系转换的WGS84坐标，可用于专题地图制作和空间统计分析。",
        _cols(
            ("区划代码", "string", "行政区划代码"),
            ("区划名称", "string", "镇或街道名称"),
            _DIST,
            ("区划级别", "string", "取值：镇、街道"),
            ("面积_平方公里", "number", "面积，范围：1~300"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        format="图形图像",
        file_format="GeoJSON",
        update_cycle="每年",
        published="2017-10-24",
        tags=("行政区划", "边界", "地图"),
        temporal_start="2017-01-01",
        license="odc-odbl",
        rows_hint=176,
    ),
    _ds(
        "regulatory-detailed-plans",
        "控制性详细规划批复信息",
        "Approved Regulatory Detailed Plans",
        "gz-planning-natural-resources",
        "geospatial",
        "部门",
        "公开经批准的控制性详细规划（含修改）管理单元编号、规划名称、批复文号、批复日期和规划面积，"
        "促进规划信息公开和社会监督。",
        _cols(
            ("管理单元编号", "string", "规划管理单元编号"),
            ("规划名称", "string", "控规名称"),
            _DIST,
            ("批复文号", "string", "批复文号"),
            ("批复日期", "date", "批复日期"),
            ("规划面积_公顷", "number", "规划面积，范围：20~2000"),
        ),
        class_sub="1",
        format="文档",
        update_cycle="不定期",
        published="2020-02-20",
        tags=("控规", "城市规划", "国土空间"),
        temporal_start="2015-01-01",
        file_format="XLSX",
        rows_hint=120,
    ),
    # ----- 民生服务 -----------------------------------------------------------
    _ds(
        "elderly-care-institutions",
        "养老服务机构名录",
        "Elderly Care Institutions",
        "gz-civil-affairs",
        "livelihood",
        "主题",
        "公开全市养老机构、长者综合服务中心和长者饭堂的名称、性质、床位数、收费区间和地址，"
        "帮助老年人及家属选择养老服务。",
        _cols(
            ("机构名称", "string", "养老服务机构名称"),
            ("机构类型", "string", "取值：养老院、护理院、长者综合服务中心、长者饭堂"),
            ("机构性质", "string", "取值：公办、公建民营、民办"),
            _DIST,
            _ADDR,
            ("床位数", "integer", "床位数，范围：0~1200"),
            ("月收费下限_元", "integer", "月收费下限，范围：1500~9000"),
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2018-03-30",
        tags=("养老", "长者饭堂", "民政"),
        temporal_start="2018-01-01",
        rows_hint=300,
    ),
    _ds(
        "subsistence-allowance-statistics",
        "城乡最低生活保障统计",
        "Minimum Living Allowance Statistics",
        "gz-civil-affairs",
        "livelihood",
        "部门",
        "按月分区统计城乡低保对象户数、人数、保障标准和支出金额，仅含汇总统计，"
        "用于社会救助政策评估和困难群众精准帮扶。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            ("类别", "string", "取值：城市低保、农村低保"),
            ("保障户数", "integer", "保障户数，范围：100~8000"),
            ("保障人数", "integer", "保障人数，范围：200~15000"),
            ("保障标准_元每月", "integer", "低保标准，范围：900~1200"),
            ("支出金额_万元", "number", "当月支出，范围：20~1500"),
        ),
        class_sub="1",
        sharing_class="有条件共享",
        sharing_condition="仅向承担社会救助、帮扶职责的部门共享汇总数据，不得反向识别个人。",
        sharing_method=("库表交换",),
        sharing_basis="《社会救助暂行办法》；" + _BASIS_PIPL + "；" + _BASIS_SHARE,
        opening_class="有条件开放",
        opening_condition="年度汇总数据经审核后向社会开放。",
        update_cycle="每月",
        published="2019-07-25",
        tags=("低保", "社会救助", "民政"),
        temporal_start="2017-01-01",
        rows_hint=200,
    ),
    _ds(
        "public-rental-housing-projects",
        "公共租赁住房项目",
        "Public Rental Housing Projects",
        "gz-housing-construction",
        "livelihood",
        "主题",
        "公开全市公共租赁住房、人才公寓等保障性住房项目名称、地址、房源套数、户型面积和配租对象，"
        "方便住房困难家庭和新就业人员了解保障房源。",
        _cols(
            ("项目名称", "string", "保障性住房项目名称"),
            _DIST,
            _ADDR,
            ("房源套数", "integer", "房源套数，范围：100~6000"),
            ("户型面积_平方米", "string", "取值：30~40、40~50、50~60、60~70"),
            ("配租对象", "string", "取值：户籍住房困难家庭、新就业无房职工、来穗务工人员、人才"),
        ),
        class_sub="1",
        update_cycle="每半年",
        published="2019-09-02",
        tags=("公租房", "住房保障", "人才公寓"),
        temporal_start="2018-01-01",
        rows_hint=80,
    ),
    _ds(
        "housing-fund-outlets",
        "住房公积金服务网点",
        "Housing Provident Fund Service Outlets",
        "gz-housing-fund",
        "livelihood",
        "主题",
        "公开住房公积金管理中心各管理部、受托银行网点的名称、地址、办理业务和办公时间，"
        "便于缴存职工就近办理公积金提取、贷款等业务。",
        _cols(
            ("网点名称", "string", "服务网点名称"),
            ("网点类型", "string", "取值：管理部、受托银行网点、自助服务点"),
            _DIST,
            _ADDR,
            ("可办业务", "string", "取值：缴存、提取、贷款、综合业务"),
            _TEL,
        ),
        class_sub="1",
        update_cycle="不定期",
        published="2018-12-20",
        tags=("公积金", "服务网点", "住房"),
        temporal_start="2018-01-01",
        rows_hint=120,
    ),
    _ds(
        "housing-fund-statistics",
        "住房公积金缴存使用统计",
        "Housing Provident Fund Deposit and Usage Statistics",
        "gz-housing-fund",
        "finance",
        "部门",
        "按月统计住房公积金缴存单位数、缴存职工人数、缴存额、提取额和个人住房贷款发放额，"
        "为住房公积金运行分析提供依据，仅含汇总数据。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            ("缴存单位数", "integer", "缴存单位数，范围：100000~200000"),
            ("缴存职工人数_万人", "number", "缴存职工人数，范围：500~900"),
            ("缴存额_亿元", "number", "当月缴存额，范围：60~150"),
            ("提取额_亿元", "number", "当月提取额，范围：40~130"),
            ("贷款发放额_亿元", "number", "个人住房贷款发放额，范围：10~60"),
        ),
        class_sub="1",
        sharing_class="有条件共享",
        sharing_condition="仅向财政、住房城乡建设、统计等部门共享，用于住房政策研究。",
        sharing_method=("文件下载",),
        sharing_basis="《住房公积金管理条例》；" + _BASIS_SHARE,
        opening_class="有条件开放",
        opening_condition="年度报告数据按规定公开，月度明细经申请开放。",
        update_cycle="每月",
        published="2020-07-09",
        tags=("公积金", "缴存", "统计"),
        temporal_start="2018-01-01",
        rows_hint=60,
    ),
    _ds(
        "legal-aid-stations",
        "公共法律服务站点",
        "Public Legal Service Stations",
        "gz-justice",
        "livelihood",
        "主题",
        "公开市、区公共法律服务中心、镇街公共法律服务工作站和法律援助工作站的名称、地址、服务内容和电话，"
        "方便群众获取法律咨询和法律援助服务。",
        _cols(
            ("站点名称", "string", "公共法律服务站点名称"),
            ("站点级别", "string", "取值：市级中心、区级中心、镇街工作站、村居工作室"),
            _DIST,
            _ADDR,
            ("服务内容", "string", "取值：法律咨询、法律援助、人民调解、公证、综合服务"),
            _TEL,
        ),
        class_sub="1",
        update_cycle="每季度",
        published="2019-03-22",
        tags=("法律援助", "公共法律服务", "司法"),
        temporal_start="2019-01-01",
        rows_hint=250,
    ),
    _ds(
        "law-firms",
        "律师事务所名录",
        "Law Firms",
        "gz-justice",
        "organizations",
        "部门",
        "公开在广州市司法行政机关登记的律师事务所名称、统一社会信用代码、组织形式、执业律师人数和年度考核结果，"
        "便于公众选择法律服务机构。",
        _cols(
            ("律师事务所名称", "string", "律师事务所名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("组织形式", "string", "取值：普通合伙、特殊普通合伙、个人所、国资所"),
            ("执业律师人数", "integer", "执业律师人数，范围：3~600"),
            ("年度考核结果", "string", "取值：合格、基本合格、不合格"),
            _DIST,
        ),
        class_sub="1",
        update_cycle="每年",
        published="2018-05-08",
        tags=("律师", "律所", "法律服务"),
        temporal_start="2018-01-01",
        rows_hint=200,
    ),
    _ds(
        "veterans-service-stations",
        "退役军人服务中心（站）",
        "Veterans Service Centres and Stations",
        "gz-veterans",
        "livelihood",
        "主题",
        "公开市、区退役军人服务中心和镇街、村居退役军人服务站的名称、层级、地址和联系电话，"
        "为退役军人提供就业创业、优抚帮扶等服务指引。",
        _cols(
            ("服务站名称", "string", "服务中心或服务站名称"),
            ("层级", "string", "取值：市级、区级、镇街级、村居级"),
            _DIST,
            _ADDR,
            _TEL,
        ),
        class_sub="1",
        update_cycle="不定期",
        published="2019-10-15",
        tags=("退役军人", "服务站", "优抚"),
        temporal_start="2019-01-01",
        rows_hint=200,
    ),
    _ds(
        "gov-service-centres",
        "政务服务中心及办事大厅",
        "Government Service Centres",
        "gz-gov-data",
        "livelihood",
        "主题",
        "公开市、区政务服务中心和镇街政务服务中心的名称、地址、进驻部门数、可办事项数和办公时间，"
        "便于企业群众就近办理政务服务事项。",
        _cols(
            ("服务中心名称", "string", "政务服务中心名称"),
            ("层级", "string", "取值：市级、区级、镇街级"),
            _DIST,
            _ADDR,
            ("进驻部门数", "integer", "进驻部门数，范围：1~60"),
            ("可办事项数", "integer", "可办事项数，范围：50~1800"),
            _LNG,
            _LAT,
        ),
        class_sub="2",
        update_cycle="每季度",
        published="2017-12-28",
        tags=("政务服务", "办事大厅", "一网通办"),
        temporal_start="2017-01-01",
        rows_hint=200,
    ),
    _ds(
        "hotline-12345-statistics",
        "12345政务服务便民热线工单统计",
        "12345 Hotline Work Order Statistics",
        "gz-gov-data",
        "livelihood",
        "部门",
        "按月、分区、分诉求类别统计12345热线受理工单量、办结率和满意率，"
        "仅含汇总统计，用于分析民生诉求热点和考核部门办理质量。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            ("诉求类别", "string", "取值：城市管理、交通出行、环境保护、劳动社保、市场监管、住房建设、教育"),
            ("受理工单数", "integer", "受理工单数，范围：200~30000"),
            ("按时办结率", "number", "按时办结率（%），范围：85~100"),
            ("满意率", "number", "满意率（%），范围：80~100"),
        ),
        class_sub="1",
        sharing_class="有条件共享",
        sharing_condition="向承办部门共享本部门相关工单统计，跨部门使用须经数据提供方同意。",
        sharing_method=("接口",),
        sharing_basis=_BASIS_SHARE + "；《广州市政务信息共享管理规定》",
        opening_class="有条件开放",
        opening_condition="经申请后开放月度汇总数据。",
        update_cycle="每月",
        published="2020-09-17",
        tags=("12345", "热线", "民生诉求"),
        temporal_start="2019-01-01",
        rows_hint=250,
    ),
    # ----- 科技创新 -----------------------------------------------------------
    _ds(
        "high-tech-enterprises",
        "高新技术企业名单",
        "High-tech Enterprises",
        "gz-science-tech",
        "science-technology",
        "主题",
        "公开经认定的广州市高新技术企业名称、统一社会信用代码、证书编号、技术领域和认定年度，"
        "为科技政策兑现和产业研究提供基础数据。",
        _cols(
            ("企业名称", "string", "企业名称"),
            ("统一社会信用代码", "string", "18位统一社会信用代码"),
            ("证书编号", "string", "高新技术企业证书编号"),
            (
                "技术领域",
                "string",
                "取值：电子信息、生物与新医药、新材料、先进制造与自动化、新能源与节能、资源与环境",
            ),
            ("认定年度", "integer", "认定年度，范围：2016~2020"),
            _DIST,
        ),
        class_sub="1",
        update_cycle="每年",
        published="2018-01-12",
        tags=("高新技术企业", "科技", "创新"),
        temporal_start="2016-01-01",
        rows_hint=400,
    ),
    _ds(
        "tech-incubators",
        "科技企业孵化器名录",
        "Technology Business Incubators",
        "gz-science-tech",
        "science-technology",
        "主题",
        "公开全市科技企业孵化器和众创空间的名称、级别、运营主体、孵化面积和在孵企业数，"
        "为创新创业者选择孵化载体提供参考。",
        _cols(
            ("孵化器名称", "string", "孵化器或众创空间名称"),
            ("载体类型", "string", "取值：科技企业孵化器、众创空间、加速器"),
            ("级别", "string", "取值：国家级、省级、市级、未认定"),
            _DIST,
            ("孵化面积_平方米", "number", "孵化场地面积，范围：1000~200000"),
            ("在孵企业数", "integer", "在孵企业数，范围：10~500"),
        ),
        class_sub="2",
        update_cycle="每年",
        published="2019-12-19",
        tags=("孵化器", "众创空间", "双创"),
        temporal_start="2019-01-01",
        rows_hint=200,
    ),
    # ----- 机构团体 -----------------------------------------------------------
    _ds(
        "consulates-in-guangzhou",
        "驻穗总领事馆名录",
        "Consulates-General in Guangzhou",
        "gz-foreign-affairs",
        "organizations",
        "主题",
        "公开经批准在广州设立的外国驻穗总领事馆名称、国家、领区范围、地址和建馆时间，"
        "便于外籍人士及市民办理领事事务时查询。",
        _cols(
            ("领事馆名称", "string", "驻穗总领事馆名称"),
            ("国家", "string", "取值：美国、日本、泰国、澳大利亚、英国、法国、德国、意大利、新加坡、俄罗斯"),
            ("领区", "string", "取值：广东省、广东和广西、广东、广西、海南、福建四省区"),
            _DIST,
            _ADDR,
            ("建馆日期", "date", "建馆日期"),
        ),
        class_sub="1",
        update_cycle="不定期",
        published="2018-07-16",
        tags=("领事馆", "外事", "国际交往"),
        temporal_start="1979-01-01",
        districts=("越秀区", "天河区", "海珠区"),
        rows_hint=66,
    ),
    _ds(
        "sister-cities",
        "国际友好城市和友好合作交流城市",
        "Sister Cities and Partner Cities",
        "gz-foreign-affairs",
        "organizations",
        "部门",
        "公开与广州缔结国际友好城市关系和友好合作交流关系的城市名称、所在国家、所在大洲和缔结日期，"
        "展示广州国际交往网络。",
        _cols(
            ("城市名称", "string", "城市中文名称"),
            ("国家", "string", "取值：日本、美国、法国、德国、澳大利亚、新西兰、韩国、意大利、巴西、南非"),
            ("大洲", "string", "取值：亚洲、欧洲、美洲、大洋洲、非洲"),
            ("关系类型", "string", "取值：国际友好城市、友好合作交流城市"),
            ("缔结日期", "date", "签约日期"),
        ),
        class_sub="1",
        update_cycle="每年",
        published="2020-10-22",
        tags=("友好城市", "外事", "国际合作"),
        temporal_start="1979-01-01",
        rows_hint=88,
        districts=(),
    ),
    # ----- 气象 ---------------------------------------------------------------
    _ds(
        "weather-warnings",
        "气象灾害预警信号",
        "Meteorological Disaster Warning Signals",
        "gz-meteorology",
        "weather",
        "主题",
        "实时发布全市及各区暴雨、台风、高温、寒冷、大雾、雷雨大风等气象灾害预警信号的类型、等级、"
        "发布时间和解除时间，为防灾减灾和市民出行提供参考。",
        _cols(
            ("预警类型", "string", "取值：暴雨、台风、高温、寒冷、大雾、雷雨大风、灰霾、冰雹"),
            ("预警等级", "string", "取值：白色、蓝色、黄色、橙色、红色"),
            _DIST,
            ("发布时间", "datetime", "预警发布时间"),
            ("解除时间", "datetime", "预警解除时间"),
            ("发布单位", "string", "取值：广州市气象台、区气象台"),
        ),
        class_sub="1",
        update_cycle="实时",
        published="2017-05-11",
        tags=("预警", "暴雨", "台风"),
        temporal_start="2016-01-01",
        sharing_method=("接口",),
        format="数据库",
        file_format="JSON",
        rows_hint=300,
    ),
    _ds(
        "automatic-weather-station-observations",
        "自动气象站逐时观测",
        "Automatic Weather Station Hourly Observations",
        "gz-meteorology",
        "weather",
        "主题",
        "提供全市区域自动气象站逐小时气温、相对湿度、降雨量、风向和风速观测数据，"
        "可用于天气服务、城市热岛研究和内涝风险预警。",
        _cols(
            ("观测站名称", "string", "自动气象站名称"),
            _DIST,
            ("观测时间", "datetime", "观测时间（整点）"),
            ("气温_摄氏度", "number", "气温，范围：5~37"),
            ("相对湿度", "integer", "相对湿度（%），范围：35~100"),
            ("小时雨量_毫米", "number", "小时降雨量，范围：0~60"),
            ("风向", "string", "取值：北、东北、东、东南、南、西南、西、西北"),
            ("风速_米每秒", "number", "风速，范围：0~15"),
        ),
        class_sub="2",
        update_cycle="实时",
        published="2018-06-01",
        tags=("气象观测", "气温", "降雨"),
        temporal_start="2017-01-01",
        sharing_method=("接口",),
        format="数据库",
        file_format="JSON",
        rows_hint=500,
    ),
    # ----- 食品安全 -----------------------------------------------------------
    _ds(
        "food-safety-inspections",
        "食品安全监督抽检结果",
        "Food Safety Sampling Inspection Results",
        "gz-market-regulation",
        "health",
        "主题",
        "公开市、区市场监管部门食品安全监督抽检的样品名称、食品类别、被抽样单位、抽样日期、"
        "检验结果和不合格项目，保障公众食品安全知情权。",
        _cols(
            (
                "样品名称",
                "string",
                "取值：大米、食用植物油、鸡蛋、猪肉、菜心、豆芽、淡水鱼、月饼、桶装饮用水、凉茶",
            ),
            ("食品类别", "string", "取值：粮食加工品、食用油、蛋制品、畜禽肉、蔬菜、水产品、糕点、饮料"),
            ("被抽样单位", "string", "被抽样单位名称"),
            _DIST,
            ("抽样日期", "date", "抽样日期"),
            ("检验结果", "string", "取值：合格、合格、合格、合格、合格、不合格"),
            ("不合格项目", "string", "取值：—、—、—、菌落总数、农药残留、重金属"),
        ),
        class_sub="3",
        update_cycle="每周",
        published="2017-11-03",
        tags=("食品安全", "抽检", "市场监管"),
        temporal_start="2017-01-01",
        rows_hint=400,
    ),
    # ----- 区级部门 -----------------------------------------------------------
    _ds(
        "tianhe-gov-service-outlets",
        "天河区政务服务网点及自助终端",
        "Tianhe Government Service Outlets",
        "gz-tianhe-data",
        "livelihood",
        "部门",
        "公开天河区区级、街道政务服务中心和政务服务自助终端的名称、位置、可办事项和服务时间，"
        "推动政务服务“就近办、自助办”。",
        _cols(
            ("网点名称", "string", "网点或自助终端名称"),
            ("网点类型", "string", "取值：政务服务中心、自助终端"),
            (
                "所属街道",
                "string",
                "取值：石牌街道、天河南街道、林和街道、沙河街道、五山街道、员村街道、"
                "车陂街道、猎德街道、冼村街道、天园街道、棠下街道、珠吉街道",
            ),
            _DIST,
            _ADDR,
            ("可办事项数", "integer", "可办事项数，范围：20~600"),
            _LNG,
            _LAT,
        ),
        class_sub="1",
        update_cycle="每月",
        published="2019-11-26",
        tags=("天河区", "政务服务", "自助终端"),
        temporal_start="2019-01-01",
        districts=("天河区",),
        rows_hint=120,
    ),
    _ds(
        "huangpu-approval-statistics",
        "黄埔区政务服务事项办件统计",
        "Huangpu Government Service Case Statistics",
        "gz-huangpu-data",
        "economy",
        "部门",
        "按月统计黄埔区（广州开发区）政务服务事项受理量、办结量、即办件比例和平均办理时长，"
        "反映营商环境改革和审批服务效率。",
        _cols(
            ("统计月份", "date", "统计月份首日"),
            _DIST,
            ("事项类别", "string", "取值：企业开办、工程建设项目审批、社会事务、市场准入、税务"),
            ("受理量", "integer", "受理量，范围：100~20000"),
            ("办结量", "integer", "办结量，范围：100~20000"),
            ("即办件比例", "number", "即办件比例（%），范围：20~95"),
            ("平均办理时长_工作日", "number", "平均办理时长，范围：0.5~15"),
        ),
        class_sub="1",
        update_cycle="每月",
        published="2020-04-28",
        tags=("黄埔区", "营商环境", "政务服务"),
        temporal_start="2019-01-01",
        districts=("黄埔区",),
        rows_hint=100,
    ),
    _ds(
        "panyu-community-service-centres",
        "番禺区社区综合服务中心",
        "Panyu Community Service Centres",
        "gz-panyu-data",
        "livelihood",
        "部门",
        "公开番禺区镇街社区综合服务中心（家综）的名称、承接机构、服务领域、地址和开放时间，"
        "方便居民获取家庭、长者、青少年等社会工作服务。",
        _cols(
            ("中心名称", "string", "社区综合服务中心名称"),
            (
                "所属镇街",
                "string",
                "取值：市桥街道、沙头街道、东环街道、桥南街道、小谷围街道、大石街道、"
                "洛浦街道、钟村街道、南村镇、新造镇、化龙镇、石楼镇、石碁镇、沙湾街道",
            ),
            _DIST,
            _ADDR,
            ("服务领域", "string", "取值：家庭、长者、青少年、残障、综合"),
            ("开放时间", "string", "取值：周二至周六 9:00-18:00、周一至周五 9:00-17:30"),
        ),
        class_sub="1",
        update_cycle="每半年",
        published="2020-11-11",
        tags=("番禺区", "社工服务", "家综"),
        temporal_start="2020-01-01",
        districts=("番禺区",),
        rows_hint=50,
    ),
]


def _assign_class_categories(raw: list[DemoDataset]) -> list[DemoDataset]:
    """Number datasets sequentially (001, 002, …) within their catalog type / class item."""
    counters: dict[tuple[str, str], int] = {}
    out: list[DemoDataset] = []
    for ds in raw:
        key = (ds.catalog_type, ds.class_item)
        counters[key] = counters.get(key, 0) + 1
        out.append(dataclasses.replace(ds, class_category=f"{counters[key]:03d}"))
    return out


DATASETS: list[DemoDataset] = _assign_class_categories(_RAW_DATASETS)
_DATASET_BY_SLUG: dict[str, DemoDataset] = {d.slug: d for d in DATASETS}


def datasets_of(department_slug: str) -> list[DemoDataset]:
    """All demo datasets provided by the given department, in catalog order."""
    return [d for d in DATASETS if d.department == department_slug]


# ---------------------------------------------------------------------------
# Yearly open-data plans (开放计划)
# ---------------------------------------------------------------------------

PLAN_YEARS: tuple[int, ...] = (2017, 2018, 2019, 2020)


@dataclass(frozen=True)
class DemoPlanItem:
    title: str
    dataset: str | None
    target_date: str
    format: str
    update_cycle: str


_PLANNED_TITLES: tuple[tuple[str, str, str], ...] = (
    ("行政许可事项办理结果", "电子表格", "每月"),
    ("公共服务设施分布", "电子表格", "每季度"),
    ("年度统计公报数据", "文档", "每年"),
    ("行政处罚结果信息", "电子表格", "每周"),
    ("政策文件及解读目录", "文档", "不定期"),
)


def _h(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode("utf-8"))


def _clamp_to_year(day: _dt.date, year: int) -> _dt.date:
    return min(max(day, _dt.date(year, 1, 15)), _dt.date(year, 12, 20))


def plans() -> dict[tuple[str, int], list[DemoPlanItem]]:
    """Deterministic yearly open-data plans for every department and every year 2017–2020.

    Items reference the department's datasets with a target date in the plan year near the
    dataset's publication date.  When the target date precedes the publication date the item was
    opened late.  A few 2020 items have ``dataset=None`` (planned, not yet opened).
    """
    result: dict[tuple[str, int], list[DemoPlanItem]] = {}
    for dept in DEPARTMENTS:
        own = datasets_of(dept.slug)
        for year in PLAN_YEARS:
            items: list[DemoPlanItem] = []
            same = [d for d in own if int(d.published[:4]) == year]
            later = [d for d in own if int(d.published[:4]) > year]
            earlier = [d for d in own if int(d.published[:4]) < year]
            chosen: list[DemoDataset]
            if same:
                chosen = same[:3]
            elif later:
                chosen = later[:1]
            else:
                chosen = earlier[-1:]
            for ds in chosen:
                published = _dt.date.fromisoformat(ds.published)
                if int(ds.published[:4]) == year:
                    # -75..+75 days around publication: negative offsets mean the dataset came out late.
                    offset = _h(dept.slug, year, ds.slug) % 151 - 75
                    target = _clamp_to_year(published + _dt.timedelta(days=offset), year)
                elif published.year > year:
                    target = _dt.date(year, 6 + _h(ds.slug, year) % 6, 1 + _h(year, ds.slug) % 28)
                else:
                    target = _dt.date(year, 1 + _h(ds.slug, year) % 6, 1 + _h(year, ds.slug) % 28)
                items.append(
                    DemoPlanItem(
                        title=f"{year}年开放{ds.title}",
                        dataset=ds.slug,
                        target_date=target.isoformat(),
                        format=ds.format,
                        update_cycle=ds.update_cycle,
                    )
                )
            n_planned = 0
            if year == 2020:
                n_planned = 1 + _h(dept.slug, "planned") % 2 if _h(dept.slug) % 3 != 0 else 0
            if not items:
                n_planned = max(n_planned, 1)
            n_planned = min(n_planned, 4 - len(items))
            for k in range(n_planned):
                title, fmt, cycle = _PLANNED_TITLES[(_h(dept.slug) + k) % len(_PLANNED_TITLES)]
                month = 7 + (_h(dept.slug, k) % 6)
                items.append(
                    DemoPlanItem(
                        title=f"{dept.short_name}{title}",
                        dataset=None,
                        target_date=_dt.date(2020, month, 1 + _h(k, dept.slug) % 28).isoformat(),
                        format=fmt,
                        update_cycle=cycle,
                    )
                )
            result[(dept.slug, year)] = items
    return result


# ---------------------------------------------------------------------------
# Sample rows
# ---------------------------------------------------------------------------

_DISTRICT_CENTRES: dict[str, tuple[float, float]] = {
    "荔湾区": (113.244, 23.126),
    "越秀区": (113.267, 23.129),
    "海珠区": (113.318, 23.084),
    "天河区": (113.361, 23.125),
    "白云区": (113.273, 23.258),
    "黄埔区": (113.459, 23.156),
    "番禺区": (113.384, 22.938),
    "花都区": (113.220, 23.404),
    "南沙区": (113.525, 22.801),
    "从化区": (113.587, 23.548),
    "增城区": (113.811, 23.261),
}

_ROADS: tuple[str, ...] = (
    "天河路",
    "中山大道",
    "黄埔大道",
    "环市东路",
    "东风中路",
    "解放北路",
    "北京路",
    "人民中路",
    "江南大道",
    "新港东路",
    "广州大道",
    "体育东路",
    "天河北路",
    "花城大道",
    "科韵路",
    "华南路",
    "机场路",
    "白云大道",
    "广园东路",
    "工业大道",
    "滨江东路",
    "芳村大道",
    "康王路",
    "沙太路",
    "开创大道",
    "科学大道",
    "迎宾路",
    "市桥大北路",
    "番禺大道",
    "新华路",
    "凤凰大道",
    "蕉门路",
    "进港大道",
    "街口大道",
    "荔城大道",
    "增城大道",
)
_BUS_STOPS: tuple[str, ...] = (
    "天河客运站",
    "体育西路",
    "岗顶",
    "石牌桥",
    "华师",
    "五山",
    "动物园总站",
    "火车站总站",
    "广州塔",
    "客村",
    "中大",
    "市二宫",
    "海珠广场",
    "北京路口",
    "公园前",
    "陈家祠",
    "中山八路",
    "芳村",
    "白云公园",
    "三元里",
    "同和",
    "京溪南方医院",
    "科学城总站",
    "萝岗万达广场",
    "市桥汽车站",
    "番禺广场",
    "花都汽车站",
    "南沙客运港",
    "街口总站",
    "荔城汽车站",
    "大学城南",
    "琶洲塔",
    "珠江新城",
    "员村",
    "车陂路口",
    "龙洞",
    "长湴",
    "天平架",
)
_METRO_STATIONS: tuple[str, ...] = (
    "体育西路",
    "珠江新城",
    "公园前",
    "广州南站",
    "嘉禾望岗",
    "客村",
    "广州火车站",
    "天河客运站",
    "昌岗",
    "杨箕",
    "林和西",
    "广州东站",
    "燕塘",
    "万胜围",
    "车陂南",
    "机场南",
    "市桥",
    "番禺广场",
    "花都广场",
    "南沙客运港",
    "镇龙",
    "增城广场",
    "长寿路",
    "陈家祠",
    "纪念堂",
    "海珠广场",
    "北京路",
    "西门口",
    "大学城南",
    "石牌桥",
    "岗顶",
    "五山",
    "萝岗",
    "香雪",
    "高增",
    "西朗",
)
_AIR_STATIONS: tuple[str, ...] = (
    "广雅中学",
    "市五中",
    "广东商学院",
    "市八十六中",
    "番禺中学",
    "花都师范",
    "市监测站",
    "九龙镇镇龙",
    "麓湖",
    "帽峰山森林公园",
    "天河职幼",
    "从化街口",
    "增城荔城",
    "南沙黄阁",
    "黄埔文冲",
)
_RIVER_SECTIONS: tuple[str, ...] = (
    "鸦岗",
    "长洲",
    "猎德",
    "墩头基",
    "大刀沙",
    "莲花山",
    "李溪坝",
    "人和",
    "西航道",
    "新家埔",
    "白坭河口",
    "增江口",
    "大坳",
    "牛头岭",
    "石楼",
    "虎门",
)
_HOSPITALS: tuple[str, ...] = (
    "中山大学附属第一医院",
    "广东省人民医院",
    "南方医科大学南方医院",
    "广州医科大学附属第一医院",
    "广州市第一人民医院",
    "广州市红十字会医院",
    "广州市妇女儿童医疗中心",
    "广州中医药大学第一附属医院",
    "广州市中医医院",
    "广州市胸科医院",
    "广州市番禺区中心医院",
    "广州市花都区人民医院",
    "广州市增城区人民医院",
    "广州市从化区中心医院",
    "广州市南沙中心医院",
    "广州市白云区人民医院",
)
_SCENIC: tuple[str, ...] = (
    "长隆旅游度假区",
    "白云山风景名胜区",
    "广州塔",
    "陈家祠",
    "越秀公园",
    "沙湾古镇",
    "宝墨园",
    "莲花山旅游区",
    "南沙天后宫",
    "石门国家森林公园",
    "白水寨风景名胜区",
    "黄埔军校旧址",
    "南越王博物院",
    "广东科学中心",
    "海珠国家湿地公园",
    "从化溪头村",
    "芙蓉嶂旅游区",
    "余荫山房",
)
_MUSEUMS: tuple[str, ...] = (
    "广州博物馆",
    "广东省博物馆",
    "南越王博物院",
    "广州艺术博物院",
    "广东民间工艺博物馆",
    "广州近代史博物馆",
    "黄埔军校旧址纪念馆",
    "中共三大会址纪念馆",
    "辛亥革命纪念馆",
    "十三行博物馆",
    "广州海事博物馆",
    "粤剧艺术博物馆",
    "广州农民运动讲习所旧址纪念馆",
)
_COMPANY_WORDS: tuple[str, ...] = (
    "粤华",
    "穗丰",
    "南方",
    "珠江",
    "羊城",
    "花城",
    "越秀",
    "天禾",
    "白云",
    "云山",
    "岭南",
    "广信",
    "恒通",
    "新业",
    "卓越",
    "汇智",
    "瑞丰",
    "华创",
    "宏图",
    "金穗",
    "智联",
    "启明",
)
_INDUSTRY_WORDS: tuple[str, ...] = (
    "科技",
    "信息技术",
    "贸易",
    "电子",
    "生物科技",
    "物流",
    "建设工程",
    "餐饮管理",
    "商贸",
    "新材料",
    "文化传播",
    "环保科技",
    "智能装备",
    "医药",
)
_SUB_DISTRICT_PARTS: tuple[str, ...] = (
    "石牌",
    "冼村",
    "猎德",
    "五山",
    "棠下",
    "员村",
    "东山",
    "北京",
    "华林",
    "沙面",
    "逢源",
    "南华西",
    "江南中",
    "新港",
    "琶洲",
    "三元里",
    "同和",
    "京溪",
    "鱼珠",
    "长洲",
    "市桥",
    "大石",
    "狮岭",
    "新华",
    "南沙",
    "珠江",
    "街口",
    "太平",
    "荔城",
    "新塘",
    "永宁",
)
_PARTS_BY_DISTRICT: dict[str, tuple[str, ...]] = {
    "荔湾区": ("沙面", "逢源", "多宝", "华林", "芳村", "白鹤洞", "东漖", "冲口"),
    "越秀区": ("北京", "东山", "农林", "六榕", "流花", "光塔", "人民", "大塘"),
    "海珠区": ("江南中", "昌岗", "新港", "琶洲", "赤岗", "南华西", "滨江", "南石头"),
    "天河区": ("石牌", "冼村", "猎德", "五山", "棠下", "员村", "车陂", "林和"),
    "白云区": ("三元里", "同和", "京溪", "景泰", "松洲", "新市", "石井", "太和"),
    "黄埔区": ("鱼珠", "长洲", "大沙", "萝岗", "夏港", "永和", "联和", "九龙"),
    "番禺区": ("市桥", "大石", "沙湾", "钟村", "洛浦", "南村", "石楼", "小谷围"),
    "花都区": ("新华", "狮岭", "花山", "炭步", "赤坭", "秀全", "花城", "新雅"),
    "南沙区": ("南沙", "黄阁", "横沥", "万顷沙", "大岗", "东涌", "珠江", "榄核"),
    "从化区": ("街口", "江埔", "太平", "温泉", "良口", "鳌头", "城郊", "吕田"),
    "增城区": ("荔城", "新塘", "永宁", "增江", "朱村", "中新", "派潭", "石滩"),
}
_ROADS_BY_DISTRICT: dict[str, tuple[str, ...]] = {
    "荔湾区": ("芳村大道", "中山八路", "康王路", "黄沙大道"),
    "越秀区": ("东风中路", "解放北路", "北京路", "环市东路", "人民中路"),
    "海珠区": ("江南大道", "新港东路", "工业大道", "滨江东路"),
    "天河区": ("天河路", "黄埔大道", "体育东路", "天河北路", "花城大道", "科韵路"),
    "白云区": ("白云大道", "机场路", "广园中路", "沙太路", "同和路"),
    "黄埔区": ("开创大道", "科学大道", "黄埔东路", "香雪大道"),
    "番禺区": ("市桥大北路", "番禺大道", "迎宾路", "兴南大道"),
    "花都区": ("新华路", "凤凰大道", "迎宾大道", "天贵路"),
    "南沙区": ("蕉门路", "进港大道", "环市大道", "南沙大道"),
    "从化区": ("街口大道", "河滨北路", "新城路", "青云路"),
    "增城区": ("荔城大道", "增城大道", "府佑路", "新塘大道"),
}
_RELICS: tuple[str, ...] = (
    "陈家祠",
    "镇海楼",
    "南越国宫署遗址",
    "光孝寺",
    "六榕寺花塔",
    "怀圣寺光塔",
    "五仙观",
    "沙面建筑群",
    "黄埔军校旧址",
    "中山纪念堂",
    "广州农民运动讲习所旧址",
    "洪秀全故居",
    "余荫山房",
    "莲花山古采石场",
)
_NUMERALS: tuple[str, ...] = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十")

_NAME_SUFFIX: dict[str, str] = {
    "public-parking-lots": "停车场",
    "port-terminals": "码头",
    "ev-charging-stations": "充电站",
    "gas-stations": "加油站",
    "public-toilets": "公厕",
    "refuse-transfer-stations": "垃圾压缩站",
    "flood-prone-points": "易涝点",
    "urban-parks": "公园",
    "emergency-shelters": "应急避护场所",
    "police-stations": "派出所",
    "elderly-care-institutions": "长者综合服务中心",
    "legal-aid-stations": "公共法律服务工作站",
    "veterans-service-stations": "退役军人服务站",
    "gov-service-centres": "政务服务中心",
    "social-security-service-points": "人社服务站",
    "community-health-centres": "社区卫生服务中心",
    "vaccination-clinics": "预防接种门诊",
    "housing-fund-outlets": "公积金服务网点",
    "tax-service-halls": "办税服务厅",
    "public-libraries": "图书馆分馆",
    "public-sports-venues": "全民健身中心",
    "environmental-noise-monitoring": "噪声监测点",
    "automatic-weather-station-observations": "自动气象站",
    "job-fairs": "专场招聘会",
    "agricultural-wholesale-markets": "农产品批发市场",
    "leisure-agriculture-sites": "休闲农业示范点",
    "tech-incubators": "科技企业孵化器",
    "vocational-training-institutions": "职业培训学校",
    "public-rental-housing-projects": "公租房项目",
    "tianhe-gov-service-outlets": "政务服务自助终端",
    "panyu-community-service-centres": "社区综合服务中心",
    "regulatory-detailed-plans": "片区控制性详细规划",
    "administrative-boundaries": "街道",
    "immovable-cultural-relics": "旧址",
    "farmer-cooperatives": "农民专业合作社",
    "price-monitoring": "农贸市场",
    "medical-insurance-designated-institutions": "医药有限公司",
    "consulates-in-guangzhou": "总领事馆",
    "sister-cities": "市",
    "law-firms": "律师事务所",
}

_ENUM_RE = re.compile(r"取值：(.+)$")
_RANGE_RE = re.compile(r"范围：(-?[0-9.]+)~(-?[0-9.]+)")


def _random_uscc(rng: random.Random, district: str) -> str:
    adcode = _ADCODE_BY_NAME.get(district, "440100")
    org = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8)) + rng.choice("0123456789")
    first17 = "91" + adcode + org
    return first17 + uscc_check_char(first17)


def _company(rng: random.Random) -> str:
    return f"广州{rng.choice(_COMPANY_WORDS)}{rng.choice(_INDUSTRY_WORDS)}有限公司"


def _name_value(ds: DemoDataset, col: DemoColumn, rng: random.Random, district: str, idx: int) -> str:
    name = col.name
    part = rng.choice(_PARTS_BY_DISTRICT.get(district, _SUB_DISTRICT_PARTS))
    road = rng.choice(_ROADS_BY_DISTRICT.get(district, _ROADS))
    if ds.slug == "public-rental-housing-projects":
        return f"{part}{rng.choice(('公共租赁住房', '人才公寓', '保障性住房'))}项目"
    if ds.slug == "local-financial-organizations":
        kind = rng.choice(("小额贷款", "融资担保", "融资租赁", "商业保理"))
        return f"广州{rng.choice(_COMPANY_WORDS)}{kind}有限公司"
    if ds.slug == "medical-insurance-designated-institutions":
        if rng.random() < 0.4:
            return rng.choice(_HOSPITALS)
        return f"{rng.choice(('大参林', '老百姓', '健民', '采芝林', '国大'))}药店（{part}店）"
    if ds.slug == "immovable-cultural-relics" and rng.random() < 0.5:
        return rng.choice(_RELICS)
    if "标准名称" in name:
        return f"{part}{rng.choice(('路', '街', '大街', '新村', '桥', '广场', '涌'))}"
    if "举办地点" in name:
        return f"{district}人力资源市场（{part}）"
    if "线路" in name:
        return f"{rng.choice(('', '', 'B', '夜'))}{rng.randint(1, 600)}路"
    if "起点站" in name or "终点站" in name or "公交站" in name:
        return rng.choice(_BUS_STOPS)
    if "地铁站" in name:
        return rng.choice(_METRO_STATIONS)
    if ds.slug == "air-quality-hourly":
        return rng.choice(_AIR_STATIONS)
    if "断面" in name:
        return rng.choice(_RIVER_SECTIONS)
    if "医院" in name:
        if rng.random() < 0.4:
            return rng.choice(_HOSPITALS)
        return f"广州市{district}{rng.choice(('第二人民', '中医', '妇幼保健', '第三人民', '红十字会'))}医院"
    if "学校" in name:
        kind = rng.choice(("小学", "小学", "中学", "实验学校"))
        return (
            f"广州市{district}{part}{kind}"
            if rng.random() < 0.5
            else (f"{district}第{rng.choice(_NUMERALS)}{kind}")
        )
    if "幼儿园" in name:
        return f"广州市{district}{part}幼儿园"
    if "景区" in name:
        return rng.choice(_SCENIC)
    if "博物馆" in name:
        return rng.choice(_MUSEUMS)
    if any(
        k in name
        for k in ("企业", "单位名称", "经营者", "主体", "纳税人名称", "建设单位", "组织名称", "被抽样单位")
    ):
        if "组织" in name:
            kind = rng.choice(("行业协会", "社会工作服务中心", "慈善基金会", "商会", "志愿者协会"))
            return f"广州市{part}{kind}"
        return _company(rng)
    if "监测点" in name:
        return f"{part}{rng.choice(('农贸市场', '综合市场', '超市'))}"
    if "道路" in name:
        return road
    if "镇街" in name or "区划名称" in name:
        return f"{part}街道"
    if "项目名称" in name:
        return f"{part}{rng.choice(('安置房', '综合体', '产业园', '学校新建工程', '道路改造工程'))}项目"
    if "招聘会" in name:
        return f"{district}{rng.randint(1, 12)}月{rng.choice(('综合', '春风行动', '高校毕业生'))}招聘会"
    if "城市名称" in name:
        return rng.choice(
            ("福冈", "洛杉矶", "里昂", "法兰克福", "奥克兰", "光州", "巴里", "累西腓", "德班", "悉尼")
        )
    if "领事馆" in name:
        return f"{rng.choice(('美国', '日本', '泰国', '澳大利亚', '英国', '法国', '德国'))}驻广州总领事馆"
    suffix = _NAME_SUFFIX.get(ds.slug, "服务点")
    return f"{district}{part}{suffix}" if idx % 2 == 0 else f"{road}{suffix}"


def _code_value(ds: DemoDataset, col: DemoColumn, rng: random.Random, district: str, idx: int) -> str:
    if "统一社会信用代码" in col.name or "纳税人识别号" in col.name:
        return _random_uscc(rng, district)
    if "区划代码" in col.name:
        return f"{_ADCODE_BY_NAME.get(district, '440100')}{rng.randint(1, 30):03d}000"
    if "批复文号" in col.name:
        return f"穗府函〔{rng.randint(2015, 2020)}〕{rng.randint(1, 300)}号"
    prefix = "".join(w[0] for w in ds.slug.split("-")[:3]).upper()
    return f"{prefix}{_ADCODE_BY_NAME.get(district, '440100')[-2:]}{idx + 1:05d}"


def _date_bounds(ds: DemoDataset) -> tuple[_dt.date, _dt.date]:
    start = _dt.date.fromisoformat(ds.temporal_start)
    end = _dt.date.fromisoformat(ds.temporal_end) if ds.temporal_end else _dt.date(2020, 12, 31)
    if end < start:
        end = start
    return start, end


def _number_range(col: DemoColumn) -> tuple[float, float]:
    m = _RANGE_RE.search(col.description)
    if m:
        return float(m.group(1)), float(m.group(2))
    name = col.name
    if "经度" in name:
        return 113.2, 113.8
    if "纬度" in name:
        return 22.6, 23.9
    return 0.0, 1000.0


def sample_rows(ds: DemoDataset, seed: int = 0) -> list[dict[str, object]]:
    """Deterministic, plausible sample rows for ``ds`` (``ds.rows_hint`` rows)."""
    # Deterministic demo data, not security sensitive.
    rng = random.Random(zlib.crc32(ds.slug.encode("utf-8")) ^ (seed * 2654435761 & 0xFFFFFFFF))  # noqa: S311
    districts = ds.districts or _DISTRICT_NAMES
    start, end = _date_bounds(ds)
    span = (end - start).days
    rows: list[dict[str, object]] = []
    for idx in range(ds.rows_hint):
        district = rng.choice(districts)
        centre = _DISTRICT_CENTRES.get(district, (113.3, 23.1))
        row: dict[str, object] = {}
        for col in ds.columns:
            value: object
            enum = _ENUM_RE.search(col.description)
            if col.name in ("所属区", "行政区"):
                value = district
            elif enum and col.type in ("string", "integer", "number"):
                choice = rng.choice(enum.group(1).split("、"))
                value = (
                    choice
                    if col.type == "string"
                    else (int(choice) if col.type == "integer" else float(choice))
                )
            elif col.type == "date":
                day = start + _dt.timedelta(days=rng.randint(0, span))
                value = (day.replace(day=1) if "月份" in col.name else day).isoformat()
            elif col.type == "datetime":
                day = start + _dt.timedelta(days=rng.randint(0, span))
                value = _dt.datetime(day.year, day.month, day.day, rng.randint(0, 23)).isoformat()
            elif col.type == "boolean":
                value = rng.random() < 0.7
            elif col.name == "经度":
                value = round(centre[0] + rng.uniform(-0.06, 0.06), 6)
            elif col.name == "纬度":
                value = round(centre[1] + rng.uniform(-0.05, 0.05), 6)
            elif col.type == "integer":
                lo, hi = _number_range(col)
                value = rng.randint(int(lo), int(hi))
            elif col.type == "number":
                lo, hi = _number_range(col)
                value = round(rng.uniform(lo, hi), 3 if hi - lo < 5 else 1)
            elif any(k in col.name for k in ("编号", "代码", "识别号", "文号", "证号")):
                value = _code_value(ds, col, rng, district, idx)
            elif "地址" in col.name:
                road = rng.choice(_ROADS_BY_DISTRICT.get(district, _ROADS))
                value = f"广州市{district}{road}{rng.randint(1, 999)}号"
            elif "电话" in col.name:
                value = f"020-{rng.randint(81000000, 89999999)}"
            elif "时间" in col.name:
                value = (
                    f"{rng.randint(5, 7):02d}:{rng.choice(('00', '15', '30'))}"
                    if "首" in col.name
                    else (f"{rng.randint(21, 23):02d}:{rng.choice(('00', '30'))}")
                )
            elif "认定部门" in col.name:
                value = rng.choice(
                    (
                        "广州市市场监督管理局",
                        "国家税务总局广州市税务局",
                        "广州海关",
                        "广州市人力资源和社会保障局",
                    )
                )
            elif "签发部门" in col.name:
                value = rng.choice([d.name for d in DEPARTMENTS if d.level == "市"])
            elif "主管税务机关" in col.name:
                value = f"国家税务总局广州市{district}税务局"
            elif "罗马字母" in col.name:
                value = rng.choice(
                    ("Tianhe Lu", "Zhongshan Dadao", "Huangpu Dadao", "Beijing Lu", "Jiangnan Dadao")
                )
            else:
                value = _name_value(ds, col, rng, district, idx)
            row[col.name] = value
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Self check
# ---------------------------------------------------------------------------

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _verify_all() -> None:
    """Validate the demo content; raise ValueError on the first inconsistency found."""
    _check(len(DISTRICTS) == 11, "expected 11 districts")
    _check(len(set(_THEME_SLUGS)) == len(THEMES), "duplicate theme slug")
    # Departments
    codes: set[str] = set()
    slugs: set[str] = set()
    for dept in DEPARTMENTS:
        _check(uscc_is_valid(dept.uscc), f"invalid USCC for {dept.slug}: {dept.uscc}")
        _check(dept.uscc.startswith("11"), f"USCC of {dept.slug} must start with 11")
        expected_div = "440100" if dept.level == "市" else _ADCODE_BY_NAME.get(dept.district or "", "?")
        _check(dept.uscc[2:8] == expected_div, f"USCC division mismatch for {dept.slug}")
        _check(
            dept.uscc[8:16].isdigit() and (dept.uscc[16].isdigit() or dept.uscc[16] == "X"),
            f"bad organisation code in {dept.slug}",
        )
        _check(dept.uscc not in codes, f"duplicate USCC {dept.uscc}")
        _check(bool(_SLUG_RE.match(dept.slug)), f"bad department slug {dept.slug}")
        _check(dept.slug not in slugs, f"duplicate department slug {dept.slug}")
        _check(dept.level in ("市", "区"), f"bad level for {dept.slug}")
        _check(
            (dept.level == "区") == (dept.district is not None), f"district/level mismatch for {dept.slug}"
        )
        codes.add(dept.uscc)
        slugs.add(dept.slug)
    # Datasets
    seen: set[str] = set()
    low, high = _dt.date(2017, 1, 1), _dt.date(2020, 12, 31)
    for ds in DATASETS:
        where = f"dataset {ds.slug}"
        _check(bool(_SLUG_RE.match(ds.slug)) and ds.slug not in seen, f"{where}: bad or duplicate slug")
        seen.add(ds.slug)
        _check(ds.department in _DEPT_BY_SLUG, f"{where}: unknown department")
        _check(ds.theme in _THEME_SLUGS, f"{where}: unknown theme")
        _check(ds.catalog_type in CATALOG_TYPES, f"{where}: bad catalog type")
        if ds.catalog_type == "基础":
            _check(ds.base_category in BASE_CATEGORIES, f"{where}: base dataset needs base_category")
            _check(ds.class_item == BASE_CATEGORIES[ds.base_category or ""], f"{where}: bad base class item")
            _check(
                ds.sharing_class == "无条件共享" and ds.sharing_basis == "",
                f"{where}: base data must be shared unconditionally",
            )
        else:
            _check(ds.base_category is None, f"{where}: base_category only for base data")
        _check(len(ds.class_item) == 2 and ds.class_item.isdigit(), f"{where}: bad class_item")
        _check(len(ds.class_category) == 3 and ds.class_category.isdigit(), f"{where}: bad class_category")
        _check(
            len(ds.class_sub) <= 3 and (ds.class_sub == "" or ds.class_sub.isdigit()),
            f"{where}: bad class_sub",
        )
        _check(
            ds.abstract.endswith(DEMO_SUFFIX) and 80 <= len(ds.abstract) <= 300,
            f"{where}: abstract length {len(ds.abstract)} or suffix",
        )
        _check(ds.format in FORMATS and ds.file_format in FILE_FORMATS, f"{where}: bad format")
        _check(ds.sharing_class in SHARING_CLASSES, f"{where}: bad sharing class")
        _check(all(m in SHARING_METHODS for m in ds.sharing_method), f"{where}: bad sharing method")
        if ds.sharing_class == "无条件共享":
            _check(ds.sharing_basis == "", f"{where}: unconditional sharing must have empty basis")
        else:
            _check(bool(ds.sharing_basis), f"{where}: sharing basis required")
        _check(ds.opening_class in OPENING_CLASSES, f"{where}: bad opening class")
        _check(ds.update_cycle in UPDATE_CYCLES, f"{where}: bad update cycle")
        _check(low <= _dt.date.fromisoformat(ds.published) <= high, f"{where}: published out of range")
        _check(2 <= len(ds.tags) <= 5, f"{where}: need 2-5 tags")
        _check(all(d in _DISTRICT_NAMES for d in ds.districts), f"{where}: unknown district")
        start = _dt.date.fromisoformat(ds.temporal_start)
        if ds.temporal_end is not None:
            _check(start <= _dt.date.fromisoformat(ds.temporal_end), f"{where}: temporal range reversed")
        _check(ds.license in LICENSES, f"{where}: bad license")
        _check(4 <= len(ds.columns) <= 10, f"{where}: need 4-10 columns")
        _check(all(c.type in COLUMN_TYPES for c in ds.columns), f"{where}: bad column type")
        _check(len({c.name for c in ds.columns}) == len(ds.columns), f"{where}: duplicate column")
        _check(50 <= ds.rows_hint <= 500, f"{where}: rows_hint out of range")
    _check(len(DATASETS) >= 66, "need at least 66 datasets")
    _check(len({d.department for d in DATASETS}) >= 30, "need at least 30 departments with datasets")
    _check({d.theme for d in DATASETS} == set(_THEME_SLUGS), "every theme must be used")
    _check(sum(d.sharing_class == "有条件共享" for d in DATASETS) >= 6, "need >= 6 conditional sharing")
    _check(sum(d.sharing_class == "不予共享" for d in DATASETS) >= 2, "need >= 2 non-shared")
    _check(sum(d.opening_class != "无条件开放" for d in DATASETS) >= 8, "need >= 8 restricted opening")
    # Plans
    all_plans = plans()
    for dept in DEPARTMENTS:
        for year in PLAN_YEARS:
            items = all_plans.get((dept.slug, year), [])
            _check(1 <= len(items) <= 4, f"plan {dept.slug}/{year}: need 1-4 items")
            for item in items:
                if item.dataset is None:
                    _check(item.target_date.startswith("2020"), f"plan {dept.slug}/{year}: unplanned target")
                else:
                    _check(
                        _DATASET_BY_SLUG[item.dataset].department == dept.slug,
                        f"plan {dept.slug}/{year}: foreign dataset",
                    )
                    _check(item.target_date.startswith(str(year)), f"plan {dept.slug}/{year}: target year")


if __name__ == "__main__":
    _verify_all()
    _plans = plans()
    print(f"districts:   {len(DISTRICTS)}")
    print(f"themes:      {len(THEMES)}")
    print(f"departments: {len(DEPARTMENTS)}")
    print(f"datasets:    {len(DATASETS)} from {len({d.department for d in DATASETS})} departments")
    print(f"plans:       {len(_plans)} department-years, {sum(len(v) for v in _plans.values())} items")
    print(f"sample rows: {sum(len(sample_rows(d)) for d in DATASETS)}")
