"""Authorization of the DCAT export actions (one function per action, of the same name).

The catalog lists published open datasets only, so anyone may read it; a single dataset's description is
shown to whoever may see the dataset itself (checked by the nested ``dataset_show``)."""

from __future__ import annotations

from typing import Any

from cityhub.context import Context


def catalog_dcat(ctx: Context, p: Any) -> None:
    return None  # public datasets only


def dataset_dcat(ctx: Context, p: Any) -> None:
    return None  # the nested dataset_show applies the dataset's own visibility rules
