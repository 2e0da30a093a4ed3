"""Rules, templates and users from the browser: each change through the spine, audited, refusals shown with
their reason; template previews live on sample data with the SMS segment count, inline errors, and markup in
a template that never runs."""

from __future__ import annotations

import pytest
from conftest import ADMIN, PASSWORD, csrf_token, sign_in
from seed_rows import SHOP

from backinstock import templates
from backinstock.store import audit, users
from backinstock.store import releases as stored_releases
from backinstock.store import rules as stored_rules

SCRIPTED = "<p>{{ product_title }}</p><script>parent.document.title='pwned'</script>"
BREAKOUT = "</textarea><script>document.title='pwned'</script>{{ product_title }}"


@pytest.mark.browser
def test_rules_are_set_cleared_and_held_targets_released_from_the_page(console, page):
    sign_in(page, console, path="/rules")
    form = page.locator("#set-rule")
    form.locator("select[name=scope]").select_option("product")
    form.locator("input[name=scope_id]").fill("1001")
    form.locator("select[name=name]").select_option("threshold")
    form.locator("input[name=value]").fill("3")
    form.locator("input[name=reason]").fill("small batches")
    form.locator("button").click()
    page.wait_for_url(f"{console.url}/rules?shop={SHOP}&done=set")
    assert "gid://shopify/Product/1001" in page.locator("#overrides").inner_text()
    form = page.locator("#set-rule")
    form.locator("select[name=name]").select_option("debounce_minutes")
    form.locator("input[name=value]").fill("-4")
    form.locator("button").click()
    assert (
        "debounce_minutes must be a whole number from 0 to 1440" in page.locator("[role=alert]").inner_text()
    )
    page.go_back()
    page.locator("#overrides button").click()
    page.wait_for_url(f"{console.url}/rules?shop={SHOP}&done=cleared")
    assert "None: the defaults apply everywhere" in page.locator("#overrides").inner_text()
    page.locator("#release input[name=product_id]").fill("1001")
    page.locator("#release input[name=reason]").fill("stock counted")
    page.locator("#release button").click()
    page.wait_for_url(f"{console.url}/rules?shop={SHOP}&done=released")
    assert "gid://shopify/Product/1001" in page.locator("#releases").inner_text()
    with console.engine.connect() as connection:
        history = stored_rules.rule_history(connection, shop=SHOP)
        [released] = stored_releases.list_releases(connection, shop=SHOP)
        actions = [(row["action"], row["details"].get("source")) for row in audit.entries(connection)]
    assert [(row["name"], row["value"]) for row in history] == [("threshold", 3), ("threshold", None)]
    assert released["released_by"] == ADMIN
    assert actions[:3] == [
        ("targets.release", "127.0.0.1"),
        ("rule.clear", "127.0.0.1"),
        ("rule.set", "127.0.0.1"),
    ]


def test_a_rule_for_a_shop_not_served_is_refused(console):
    with console.signed_in(ADMIN) as browser:
        token = csrf_token(browser.get("/rules").text)
        answer = browser.post(
            "/rules/set",
            data={"csrf_token": token, "shop": "evil.myshopify.com", "name": "threshold", "value": "2"},
        )
    assert answer.status_code == 400 and "not a shop this product serves" in answer.text


@pytest.mark.browser
def test_sms_template_preview_counts_segments_as_you_type(console, page):
    sign_in(page, console, path="/templates?channel=sms")
    frame = page.frame(name="preview")
    frame.wait_for_selector("#segments")  # the template in use, previewed when the page opens
    page.locator("textarea[name=body_text]").fill("{{ product_title }} is back: {{ product_url }}")
    frame.wait_for_selector("#sms-text:has-text('Linen Shirt is back: https://')")
    assert frame.locator("#sms-text").inner_text().endswith("Reply STOP to opt out.")  # finished as sent
    assert frame.locator("#segments").inner_text().startswith("1 segment · GSM-7")
    page.locator("textarea[name=body_text]").fill("{{ product_title }} ist zurück 🎉 " + "x" * 80)
    frame.wait_for_selector("#segments:has-text('UCS-2')")
    assert frame.locator("#segments").inner_text().startswith("2 segments · UCS-2")


@pytest.mark.browser
def test_email_templates_preview_errors_inline_save_versions_and_publish(console, page):
    sign_in(page, console, path="/templates")
    page.locator("textarea[name=body_html]").fill("<p>{{ product_title | nope }}</p>")
    frame = page.frame(name="preview")
    frame.wait_for_selector("#preview-problems:has-text('nope')")
    page.click("text=Save version")
    assert "nope" in page.locator("#problems").inner_text()  # shown inline, nothing saved
    page.locator("textarea[name=subject]").fill("{{ product_title }} is back")
    page.locator("textarea[name=body_html]").fill(SCRIPTED)
    page.locator("textarea[name=body_text]").fill(BREAKOUT)
    frame = page.frame(name="preview")  # the page was loaded again by the refused save
    frame.wait_for_selector("#html-part p:has-text('Linen Shirt')")
    assert frame.locator("#subject").inner_text() == "Linen Shirt is back"
    assert page.title() != "pwned"  # the frame is sandboxed: its script never ran
    page.locator("input[name=note]").fill("first draft")
    page.click("text=Save version")
    page.wait_for_url(f"{console.url}/templates?shop={SHOP}&channel=email&locale=en&saved=1")
    page.locator("#versions button").click()
    page.wait_for_url(f"{console.url}/templates?shop={SHOP}&channel=email&locale=en&published=1")
    assert "in use" in page.locator("#versions").inner_text()
    assert page.locator("textarea[name=body_text]").input_value() == BREAKOUT  # as text, not markup
    assert page.title() != "pwned" and page.locator("script:not([src])").count() == 0
    with console.engine.connect() as connection:
        source = templates.load(connection, shop=SHOP, channel="email", locale="en")
        actions = [row["action"] for row in audit.entries(connection, target_type="template")]
    assert (source.version, source.html) == (1, SCRIPTED)
    assert actions == ["template.publish", "template.save"]


@pytest.mark.browser
def test_a_user_added_on_the_page_signs_in_with_the_permissions_granted(console, page, chromium):
    sign_in(page, console, path="/users")
    form = page.locator("#add-user")
    form.locator("input[name=name]").fill("marketing")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("input[value=view_kpis]").check()
    form.locator("input[value=view_queue]").check()
    form.locator("button").click()
    page.wait_for_url(f"{console.url}/users?done=marketing")
    row = page.locator("tr[data-user=marketing]")
    row.locator("input[value=view_queue]").uncheck()
    row.locator("text=Save permissions").click()
    page.wait_for_url(f"{console.url}/users?done=marketing")
    with console.engine.connect() as connection:
        assert users.get_user(connection, "marketing")["permissions"] == ["view_kpis"]
        actions = [
            row["action"] for row in audit.entries(connection, target_type="user", target_id="marketing")
        ]
    assert actions == ["user.permissions", "user.add"]
    other = chromium.new_context().new_page()
    try:
        sign_in(other, console, "marketing")
        other.goto(f"{console.url}/queue")
        assert "does not have the view_queue permission" in other.content()
        page.locator("tr[data-user=marketing]").get_by_text("Disable").click()
        page.wait_for_url(f"{console.url}/users?done=marketing")
        other.goto(f"{console.url}/")  # disabling ends the user's sessions at once
        assert other.url.startswith(f"{console.url}/sign-in")
    finally:
        other.context.close()
