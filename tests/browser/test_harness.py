"""The checks of every step catch what they are for (so a green suite means something)."""

from __future__ import annotations

from typing import Any

import pytest


def test_axe_and_the_csp_listener_catch_violations(ui: Any) -> None:
    ui.goto("/accounts/login/")
    ui.check("login-page-clean")

    # An inline script: the strict Content-Security-Policy refuses it and we notice.
    ui.page.evaluate(
        """() => {
            const s = document.createElement('script');
            s.textContent = 'window.__ran = true';
            document.body.appendChild(s);
        }"""
    )
    assert ui.page.evaluate("() => window.__ran === undefined")
    ui.page.wait_for_function("() => window.__cspViolations.length > 0")
    with pytest.raises(AssertionError, match="CSP violations"):
        ui.assert_no_csp_violation("inline script")

    # A button without a name and an image without a text alternative: critical for axe.
    ui.page.evaluate(
        """() => {
            document.querySelector('main').insertAdjacentHTML('beforeend',
                '<button type="button"></button><img src="/static/openidds/favicon.svg">');
        }"""
    )
    with pytest.raises(AssertionError, match=r"button-name|image-alt"):
        ui.assert_accessible("nameless button")
