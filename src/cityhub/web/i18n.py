"""Portal wording: Simplified Chinese first, English second.

Templates write the Chinese text and wrap it: ``{{ _("数据目录") }}``. ``t(zh, "en")`` looks the English up in
``EN``; a missing entry falls back to the Chinese (a test lists the keys the templates use). Values from the
controlled vocabularies (sharing classes, update cycles, themes, districts, roles…) go through ``term``.
"""

from __future__ import annotations

from fastapi import Request, Response

from cityhub.catalog.vocab import OPENING_EN, SHARING_EN, THEMES, UPDATE_CYCLE_EN
from cityhub.context import ROLE_LABELS
from cityhub.geo import DISTRICTS
from cityhub.settings import get_settings
from cityhub.web.deps import LANG_COOKIE, lang

LANGS = ("zh", "en")

EN: dict[str, str] = {
    # chrome
    "开放广州": "Open Guangzhou",
    "首页": "Home",
    "数据目录": "Datasets",
    "数据提供部门": "Departments",
    "开放计划": "Open-data plans",
    "API 接口": "API",
    "登录": "Sign in",
    "退出": "Sign out",
    "我的账户": "My account",
    "管理": "Admin",
    "部门管理": "Departments",
    "用户管理": "Users",
    "审计日志": "Audit log",
    "跳到主要内容": "Skip to main content",
    "广州市公共数据开放平台": "Guangzhou public data portal",
    "由广州市政务服务数据管理局主办": "Run by the Guangzhou Government Service and Data Administration",
    "数据以开放许可发布,可自由下载、使用和再发布。": "Data is published under open licences: free to download, use and republish.",
    "开放数据 API 文档": "Open-data API documentation",
    "CKAN 兼容接口": "CKAN-compatible API",
    # home
    "发现、下载和使用广州公共数据": "Find, download and use Guangzhou's public data",
    "搜索数据集,例如:交通、空气质量、学校": "Search datasets, e.g. transport, air quality, schools",
    "搜索": "Search",
    "开放数据集": "Open datasets",
    "目标": "target",
    "发布开放计划的部门": "Departments with a published plan",
    "本月下载": "Downloads this month",
    "本月 API 调用": "API calls this month",
    "本月浏览": "Views this month",
    "逾期未更新": "Overdue datasets",
    "平均质量分": "Average quality",
    "实时指标": "Live indicators",
    "年度": "year",
    "最新数据": "Newest datasets",
    "最常用数据": "Most used datasets",
    "按主题浏览": "Browse by theme",
    "个数据集": "datasets",
    "查看全部": "See all",
    # list / search
    "搜索结果": "Search results",
    "共": "",
    "条结果": "results",
    "排序": "Sort",
    "相关度": "Relevance",
    "最新": "Newest",
    "最常用": "Most used",
    "标题": "Title",
    "筛选": "Filters",
    "清除筛选": "Clear filters",
    "已选筛选": "Active filters",
    "提供部门": "Department",
    "主题": "Theme",
    "资源格式": "Resource format",
    "共享类型": "Sharing class",
    "开放类型": "Opening class",
    "更新周期": "Update cycle",
    "行政区": "District",
    "标签": "Tags",
    "没有找到符合条件的数据集。": "No datasets match.",
    "上一页": "Previous",
    "下一页": "Next",
    "第": "Page",
    "页": "",
    "质量分": "Quality",
    "应用": "Apply",
    # dataset page
    "数据资源代码": "Resource code",
    "信息资源分类": "Classification",
    "类": "class",
    "项": "item",
    "目": "category",
    "细目": "sub-category",
    "目录类型": "Catalog type",
    "基础类别": "Base category",
    "摘要": "Abstract",
    "信息资源格式": "Resource format",
    "共享条件": "Sharing condition",
    "共享方式": "Sharing method",
    "共享依据": "Sharing basis",
    "开放条件": "Opening condition",
    "发布日期": "Published",
    "时间范围": "Temporal coverage",
    "空间范围": "Spatial coverage",
    "许可协议": "Licence",
    "联系人": "Contact",
    "关联资源代码": "Related codes",
    "数据项": "Data items",
    "名称": "Name",
    "类型": "Type",
    "长度": "Length",
    "说明": "Description",
    "数据资源": "Resources",
    "下载": "Download",
    "打开链接": "Open link",
    "数据质量": "Data quality",
    "逾期": "Overdue",
    "天": "days",
    "按期更新": "Up to date",
    "下次更新期限": "Next update due",
    "更新记录": "Update history",
    "时间": "Time",
    "操作人": "By",
    "操作": "Action",
    "变更字段": "Changed fields",
    "接口调用示例": "API examples",
    "原生接口": "Native API",
    "编辑": "Edit",
    "添加资源": "Add resource",
    "删除": "Delete",
    "元数据": "Metadata",
    "浏览": "Views",
    "API 调用": "API calls",
    "数据更新于": "Data updated",
    "暂无资源": "No resources yet",
    "暂无记录": "Nothing recorded yet",
    "至": "to",
    "全市": "Whole city",
    "大小": "Size",
    "上传文件": "Uploaded file",
    "外部链接": "External link",
    "本数据集不予开放,仅政府用户可见。": "This dataset is not open; only government users can see it.",
    "本数据集为非公开,仅本部门可见。": "This dataset is private; only its department can see it.",
    "确定要删除这个数据集吗?删除后将从门户和搜索中移除。":
        "Delete this dataset? It will be removed from the portal and search.",
    "确认删除": "Confirm deletion",
    "取消": "Cancel",
    "登记": "Registered",
    "修改": "Changed",
    "撤回": "Withdrawn",
    "添加资源文件": "Resource added",
    "更新资源文件": "Resource changed",
    "删除资源文件": "Resource removed",
    # organizations
    "级别": "Level",
    "统一社会信用代码": "Unified social credit code",
    "简称": "Short name",
    "英文名称": "English name",
    "部门数据集": "Datasets of the department",
    "部门开放计划": "Plans of the department",
    "市": "City",
    "区": "District",
    "市级部门": "City departments",
    "区级部门": "District departments",
    # plans
    "开放计划执行情况": "Open-data plan progress",
    "全部年度": "All years",
    "全部部门": "All departments",
    "已开放": "Opened",
    "计划中": "Planned",
    "事项": "items",
    "计划事项": "Plan item",
    "计划开放日期": "Target date",
    "状态": "Status",
    "开放日期": "Opened on",
    "逾期开放": "Opened late",
    "格式": "Format",
    "发布于": "Published",
    "未发布": "Not published",
    "编辑计划": "Edit plan",
    "完成率": "Completion",
    "没有找到开放计划。": "No plans found.",
    "计划说明": "Plan note",
    "计划发布日期": "Plan published on",
    "计划事项(每行一项)": "Items (one per line)",
    "保存计划": "Save plan",
    # login
    "用户名": "User name",
    "密码": "Password",
    "政府用户和注册用户登录": "Sign in for government and registered users",
    "登录失败": "Sign-in failed",
    "请输入用户名和密码。": "Enter your user name and password.",
    # forms
    "新建数据集": "New dataset",
    "编辑数据集": "Edit dataset",
    "保存": "Save",
    "创建": "Create",
    "表单有错误,请检查标出的字段。": "The form has errors; check the marked fields.",
    "基本信息": "Basics",
    "URL 名称": "URL name",
    "英文标题": "English title",
    "分类与编码": "Classification and code",
    "共享与开放": "Sharing and opening",
    "更新与覆盖": "Updates and coverage",
    "联系信息": "Contact",
    "联系人姓名": "Contact name",
    "联系邮箱": "Contact email",
    "联系电话": "Contact phone",
    "非公开(仅本部门可见)": "Private (only the department sees it)",
    "开始": "Start",
    "结束": "End",
    "(无)": "(none)",
    "用英文逗号或顿号分隔": "separate with commas",
    "每行一列:名称|类型|说明": "One column per line: name|type|description",
    "每行一个": "one per line",
    "小写字母、数字、- 和 _,例如 bus-routes": "lower-case letters, digits, - and _, e.g. bus-routes",
    "支持 Markdown": "Markdown allowed",
    "文件": "File",
    "或链接": "or link",
    "上传文件或填写 http(s) 链接": "Upload a file or give an http(s) link",
    "添加": "Add",
    "每行一项:标题|数据集名称(可空)|YYYY-MM-DD|格式|更新周期":
        "One item per line: title|dataset name (may be empty)|YYYY-MM-DD|format|cycle",
    # account
    "个人信息": "Profile",
    "角色": "Role",
    "部门": "Department",
    "邮箱": "Email",
    "显示名称": "Display name",
    "API 令牌": "API tokens",
    "令牌名称": "Token name",
    "有效天数": "Valid for (days)",
    "创建令牌": "Create token",
    "撤销": "Revoke",
    "已撤销": "Revoked",
    "有效": "Active",
    "前缀": "Prefix",
    "创建于": "Created",
    "过期时间": "Expires",
    "最近使用": "Last used",
    "请立即复制此令牌,它只显示这一次:": "Copy this token now; it is shown only once:",
    "令牌已撤销。": "Token revoked.",
    "暂无令牌": "No tokens yet",
    "用户": "User",
    # admin
    "新建部门": "New department",
    "新建用户": "New user",
    "部门已创建。": "Department created.",
    "用户已创建。": "User created.",
    "英文名": "English name",
    "所属区": "District",
    "描述": "Description",
    "数据集数": "Datasets",
    "最近登录": "Last sign-in",
    "启用": "Active",
    "停用": "Disabled",
    "序号": "Seq",
    "来源": "Source",
    "渠道": "Via",
    "对象": "Target",
    "结果": "Outcome",
    "校验审计链": "Verify the chain",
    "审计链完整": "The audit chain is intact",
    "审计链被篡改": "The audit chain has been tampered with",
    "条记录": "records",
    "首个异常记录": "First bad record",
    "最新审计记录": "Latest audit records",
    # errors
    "出错了": "Something went wrong",
    "返回首页": "Back to home",
    "请先登录。": "Please sign in first.",
    "没有权限": "Not allowed",
    "未找到": "Not found",
}

TERMS: dict[str, str] = {
    **SHARING_EN,
    **OPENING_EN,
    **UPDATE_CYCLE_EN,
    **{t[1]: t[2] for t in THEMES},
    **{d[1]: d[2] for d in DISTRICTS},
    **{zh: en for zh, en in ROLE_LABELS.values()},
    "接口": "API",
    "文件下载": "file download",
    "库表交换": "database exchange",
    "电子表格": "spreadsheet",
    "数据库": "database",
    "图形图像": "image",
    "流媒体": "streaming media",
    "文档": "document",
    "基础": "base",
    "主题": "thematic",
    "部门": "departmental",
    "市": "city",
    "区": "district",
    "人口": "population",
    "法人": "legal entities",
    "自然资源和空间地理": "natural resources & geospatial",
    "社会信用": "social credit",
    "电子证照": "e-licences",
    "opened": "opened",
    "late": "late",
    "planned": "planned",
}


HISTORY_ACTIONS = {"create": "登记", "update": "修改", "delete": "撤回", "resource_create": "添加资源文件",
                   "resource_update": "更新资源文件", "resource_delete": "删除资源文件"}


def t(text: str, language: str = "zh") -> str:
    """``text`` (the Chinese wording) in ``language``."""
    if language == "en":
        return EN.get(text, text)
    return text


def term(value: str | None, language: str = "zh") -> str:
    """A controlled-vocabulary value (Chinese) in ``language``; unknown values are shown as they are."""
    if value is None:
        return ""
    if language == "en":
        return TERMS.get(value, value)
    return value


def pair(zh: str, en: str, language: str) -> str:
    """Pick the side of a bilingual pair; English falls back to Chinese when empty."""
    return (en or zh) if language == "en" else zh


def request_lang(request: Request) -> str:
    return lang(request)


def remember_lang(request: Request, response: Response) -> None:
    """``?lang=en`` (or ``zh``) sets the language cookie so the switch sticks."""
    wanted = request.query_params.get("lang")
    if wanted in LANGS and request.cookies.get(LANG_COOKIE) != wanted:
        response.set_cookie(LANG_COOKIE, wanted, max_age=365 * 86400, path="/", samesite="lax",
                            secure=get_settings().cookie_secure)
