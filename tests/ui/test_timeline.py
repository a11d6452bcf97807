"""The timeline page."""

from __future__ import annotations

from tests.ui.conftest import UiPage


def test_smoke(ui_page: UiPage) -> None:
    ui_page.open("/timeline")
    print(ui_page.page.content()[:6000])
    ui_page.screenshot("timeline")
