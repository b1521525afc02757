"""/api/docs/ in a real browser: the machine's Chromium, driven by Playwright, renders the
schema's operations from files this app serves (no CDN: the network is closed)."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_docs_page_renders_every_operation(live_server, browser):
    page = browser.new_page()
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)

    summaries = page.locator(".opblock-summary-description").all_inner_texts()
    assert "Check out a cart" in summaries
    assert "Add a product to a cart" in summaries
    assert page.locator(".opblock").count() >= 15  # every operation of the schema
    assert page.locator("button.authorize").is_visible()  # the token scheme
    assert failed == []
