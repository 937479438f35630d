"""Input schemas of the account actions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cityhub.geo import DISTRICT_NAMES
from cityhub.ids import validate_uscc

SLUG = r"^[a-z0-9][a-z0-9_-]{1,99}$"
USERNAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"
EMAIL = r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE = r"^$|^\+?[0-9][0-9 ()-]{2,38}$"  # mainland mobiles, landlines with area code and extension
Role = Literal["platform_admin", "dept_admin", "steward", "analyst", "auditor", "public"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DepartmentContact(Strict):
    contact_name: str = Field("", max_length=100, description="who answers for the department's data")
    contact_phone: str = Field("", max_length=40, pattern=PHONE)
    contact_email: str = Field("", max_length=254, pattern=EMAIL)


class DepartmentIn(DepartmentContact):
    slug: str = Field(pattern=SLUG, description="URL name, e.g. gz-transport")
    name: str = Field(min_length=2, max_length=200)
    short_name: str = Field(min_length=1, max_length=100)
    name_en: str = Field("", max_length=200)
    uscc: str = Field(description="unified social credit code (统一社会信用代码)")
    level: Literal["市", "区"] = "市"
    district: str | None = None
    description: str = Field("", max_length=5000)

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str) -> str:
        return validate_uscc(value)

    @model_validator(mode="after")
    def _district(self) -> DepartmentIn:
        if self.district is not None and self.district not in DISTRICT_NAMES:
            raise ValueError(f"未知行政区 / unknown district: {self.district}")
        if self.level == "区" and not self.district:
            raise ValueError("区级部门须指定所属区 / a district-level department needs its district")
        return self


class DepartmentUpdate(Strict):
    """The fields to change (the rest stay); the merged record is validated whole as ``DepartmentIn``."""

    slug: str = Field(pattern=SLUG)
    name: str | None = Field(None, min_length=2, max_length=200)
    short_name: str | None = Field(None, min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=200)
    uscc: str | None = None
    level: Literal["市", "区"] | None = None
    district: str | None = Field(None, description="district name; empty string: none (a city-level department)")
    description: str | None = Field(None, max_length=5000)
    contact_name: str | None = Field(None, max_length=100)
    contact_phone: str | None = Field(None, max_length=40, pattern=PHONE)
    contact_email: str | None = Field(None, max_length=254, pattern=EMAIL)

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str | None) -> str | None:
        return None if value is None else validate_uscc(value)


class SlugIn(Strict):
    slug: str = Field(min_length=1, max_length=100)


class UserCreate(Strict):
    name: str = Field(pattern=USERNAME)
    password: str = Field(min_length=1, max_length=1024)
    role: Role = "public"
    department: str | None = Field(None, description="department slug, for department roles")
    display_name: str = Field("", max_length=200)
    email: str = Field("", max_length=254, pattern=EMAIL)

    @model_validator(mode="after")
    def _dept(self) -> UserCreate:
        if self.role in ("dept_admin", "steward") and not self.department:
            raise ValueError("部门角色须指定部门 / department roles need a department")
        return self


class UserUpdate(Strict):
    """Role, department and profile. Passwords change through ``user_password_change`` (the user, with the current
    one) or ``user_password_reset`` (an administrator); accounts are disabled with ``user_disable``."""

    name: str = Field(min_length=1, max_length=64)
    role: Role | None = None
    department: str | None = Field(None, description="department slug; empty string: none")
    display_name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254, pattern=EMAIL)


class PasswordChange(Strict):
    name: str = Field(min_length=1, max_length=64)
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class UserName(Strict):
    name: str = Field(min_length=1, max_length=64)


class ListIn(Strict):
    limit: int = Field(1000, ge=1, le=10000)
    offset: int = Field(0, ge=0)


class UserListIn(ListIn):
    department: str | None = Field(None, max_length=100, description="department slug; empty string: no department")
    role: Role | None = None
    active: bool | None = Field(None, description="true: enabled accounts only; false: disabled ones only")


class SessionCreate(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    totp_code: str = Field("", max_length=12, description="one-time code, for accounts with a second factor")
    new_password: str = Field("", max_length=1024, description="the new password, when signing in with a one-time "
                              "password from an administrator's reset")


class TotpUser(Strict):
    user: str = Field(min_length=1, max_length=64)


class TotpCode(Strict):
    user: str = Field(min_length=1, max_length=64)
    code: str = Field("", max_length=12)


class SessionToken(Strict):
    token: str = Field(min_length=1, max_length=200)


class TokenCreate(Strict):
    user: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=100)
    days: int = Field(90, ge=1, le=3650)


class TokenRevoke(Strict):
    id: int


class TokenResolve(Strict):
    token: str = Field(min_length=1, max_length=300)
