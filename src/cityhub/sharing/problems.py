"""Bad-input errors of the pure sharing modules, with their message in Chinese and English.

Pure: imports nothing from the rest of CityHub. ``str(error)`` is ``"中文 / English"``, the stored-message
shape that ``cityhub.messages.localize`` shows in the page's language; ``field`` names the offending input
(a column, a parameter) so an action can turn the error into a per-field validation error.
"""

from __future__ import annotations


class SharingInputError(ValueError):
    """Input a sharing algorithm cannot use: ``zh`` and ``en`` say why, ``field`` says where."""

    def __init__(self, zh: str, en: str, field: str | None = None) -> None:
        self.zh = zh
        self.en = en
        self.field = field
        super().__init__(f"{zh} / {en}")
