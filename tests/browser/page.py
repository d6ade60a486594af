#!/usr/bin/python3
"""Drives lanseal's web page (src/api/page.html) in Debian's headless Chromium
through chromedriver, as a user would, for tests/api_page.rs.

A wrong token is refused; the right one logs in; the blocklist panel shows a
list's row (printed as `blocklist {"cells": [...], "full": bool}` for the test
to check); a certificate's card and its
setup records show, one copied with the clipboard API and one with the page's
fallback for plain HTTP (each pasted back and compared); a malformed record
shows the API's reason; a record added through the form appears in the list;
screenshots are saved (wide, and phone width: `<screenshot>-phone.png`); then
this prints `added <id>` and waits for a line on stdin while the test asks the
DNS server. It deletes the record through the page, prints `deleted`, flushes
the cache, asks for a renewal, logs out (the token leaves sessionStorage), and
fails if the browser's console shows a Content-Security-Policy violation or a
script error. Every wait is for a condition, with a generous deadline. The
browser may reach loopback only: no host name but 127.0.0.1 resolves.
"""

import argparse
import json
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# A loaded 2-core machine: waits end as soon as the condition holds.
WAIT_SECONDS = 60
WIDE = (1100, 900)
PHONE_WIDTH = 390


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in [
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--no-proxy-server",
        # Nothing but loopback: every host name but 127.0.0.1 fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--window-size={WIDE[0]},{WIDE[1]}",
    ]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Page:
    def __init__(self, driver, failure_screenshot):
        self.driver = driver
        self.failure_screenshot = failure_screenshot

    def wait(self, what, condition):
        """Waits until `condition(driver)` is truthy; fails naming `what`."""
        waiter = WebDriverWait(
            self.driver, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException]
        )
        try:
            return waiter.until(condition)
        except TimeoutException:
            self.driver.save_screenshot(self.failure_screenshot)
            raise SystemExit(
                f"page.py: waited {WAIT_SECONDS} s for {what}; the page is in "
                f"{self.failure_screenshot}; console: {self.driver.get_log('browser')}"
            )

    def by_id(self, name):
        return self.driver.find_element(By.ID, name)

    def shown(self, name):
        return lambda driver: self.by_id(name).is_displayed()

    def type(self, name, text):
        field = self.by_id(name)
        field.clear()
        field.send_keys(text)

    def record_row(self, owner):
        """The runtime record row whose text names `owner`, or None."""
        for row in self.driver.find_elements(By.CSS_SELECTOR, "#records tr[data-id]"):
            if owner in row.text:
                return row
        return None

    def screenshot(self, path, width, mobile):
        """The whole page at `width` CSS pixels (`mobile`: as a phone lays it out)."""
        metrics = {"width": width, "height": WIDE[1], "deviceScaleFactor": 1, "mobile": mobile}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        metrics["height"] = self.driver.execute_script(
            "return document.documentElement.scrollHeight"
        )
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        self.driver.save_screenshot(path)
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def check_console(entries):
    """Fails on a CSP violation or a script error; a refused request (the
    wrong token's 401, the setup's 502) is logged by Chromium and expected."""
    for entry in entries:
        message = entry.get("message", "")
        csp = "Content Security Policy" in message or "Content-Security-Policy" in message
        script_error = entry.get("level") == "SEVERE" and "Failed to load resource" not in message
        if csp or script_error or "Uncaught" in message:
            raise SystemExit(f"page.py: the browser console shows: {message}")


def copy_line(page, setup, index):
    """Copies setup record `index` with its button and pastes it into the
    flush field until the clipboard holds exactly the record's line."""
    driver = page.driver
    item = driver.find_elements(By.CSS_SELECTOR, f"{setup} .record")[index]
    line = item.find_element(By.TAG_NAME, "code").text
    item.find_element(By.TAG_NAME, "button").click()
    field = page.by_id("flush-name")

    def pasted(driver):
        field.clear()
        field.send_keys(Keys.CONTROL, "v")
        return field.get_attribute("value") == line

    page.wait(f"the clipboard to hold `{line}`", pasted)
    field.clear()
    return line


def drive(page, arguments):
    driver = page.driver
    driver.get(arguments.url)
    page.wait("the login form", page.shown("login"))

    page.type("token", "not-the-token")
    page.by_id("login-button").click()
    page.wait(
        "the wrong token to be refused",
        lambda d: "refused" in page.by_id("message").text and page.by_id("login").is_displayed(),
    )

    page.type("token", arguments.token)
    page.by_id("login-button").click()
    page.wait("the main view", page.shown("main"))
    page.wait(
        "the statistics and the records",
        lambda d: "Queries" in page.by_id("stats").text
        and d.find_elements(By.CSS_SELECTOR, "#records tr"),
    )
    page.wait(
        "the version in the header",
        lambda d: page.by_id("summary").text.startswith("version "),
    )

    if arguments.blocklist:
        selector = f'#blocklists tr[data-list="{arguments.blocklist}"]'
        row = page.wait(
            f"blocklist {arguments.blocklist} in its panel",
            lambda d: d.find_element(By.CSS_SELECTOR, selector),
        )
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        full = bool(row.find_elements(By.CSS_SELECTOR, "[data-full]"))
        print("blocklist", json.dumps({"cells": cells, "full": full}), flush=True)

    if arguments.cert:
        selector = f'#certs article[data-name="{arguments.cert}"]'
        card = page.wait(
            f"certificate {arguments.cert}", lambda d: d.find_element(By.CSS_SELECTOR, selector)
        )
        card.find_element(By.XPATH, ".//button[text()='Setup records']").click()
        setup = f"{selector} .setup"
        page.wait(
            "the setup records and their copy buttons",
            lambda d: d.find_elements(By.CSS_SELECTOR, f"{setup} .record button"),
        )
        print("copied", copy_line(page, setup, 0), flush=True)
        # As on plain HTTP off localhost: no clipboard API, the fallback copies.
        driver.execute_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
        print("copied", copy_line(page, setup, 1), flush=True)

    page.type("zone", arguments.zone)
    page.type("record", "not a record")
    page.by_id("add-button").click()
    page.wait(
        "the API's reason for a malformed record",
        lambda d: page.by_id("add-error").is_displayed() and page.by_id("add-error").text,
    )
    print("invalid", page.by_id("add-error").text, flush=True)

    page.type("record", arguments.record)
    page.by_id("add-button").click()
    row = page.wait("the new record in the list", lambda d: page.record_row(arguments.owner))
    record_id = row.get_attribute("data-id")
    page.wait("the add form to be ready again", lambda d: not page.by_id("add-error").is_displayed())

    page.screenshot(arguments.screenshot, WIDE[0], False)
    page.screenshot(arguments.screenshot.replace(".png", "-phone.png"), PHONE_WIDTH, True)
    print("added", record_id, flush=True)
    if sys.stdin.readline().strip() != "continue":
        raise SystemExit("page.py: the test did not say `continue`")

    delete = page.record_row(arguments.owner).find_element(By.TAG_NAME, "button")
    delete.click()
    page.wait("the delete button to ask again", lambda d: delete.text == "Really delete?")
    delete.click()
    page.wait(
        "the record to leave the list",
        lambda d: not d.find_elements(By.CSS_SELECTOR, f'#records tr[data-id="{record_id}"]'),
    )
    print("deleted", flush=True)

    page.by_id("flush-name").send_keys(arguments.owner + "." + arguments.zone)
    page.driver.find_element(By.CSS_SELECTOR, "#flush button").click()
    page.wait("the flush's answer", lambda d: page.by_id("message").text.startswith("Flushed "))
    if arguments.cert:
        card = f"//article[@data-name='{arguments.cert}']"
        driver.find_element(By.XPATH, f"{card}//button[text()='Renew now']").click()
        page.wait("the renewal's answer", lambda d: "requested" in page.by_id("message").text)
    page.by_id("logout").click()
    page.wait("the login form after logging out", page.shown("login"))
    if driver.execute_script("return sessionStorage.length") != 0:
        raise SystemExit("page.py: the token is still in sessionStorage after logging out")
    check_console(driver.get_log("browser"))
    print("console clean", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--zone", required=True)
    parser.add_argument("--record", required=True, help="zone-file line, e.g. 'nas 300 A 192.0.2.1'")
    parser.add_argument("--owner", required=True, help="the record's owner as the list shows it")
    parser.add_argument("--cert", help="a certificate whose card and setup answer must show")
    parser.add_argument("--blocklist", help="a blocklist whose row must show in its panel")
    parser.add_argument("--screenshot", required=True)
    arguments = parser.parse_args()
    with open(arguments.token_file) as file:
        arguments.token = file.read().strip()
    driver = browser()
    try:
        drive(Page(driver, arguments.screenshot.replace(".png", "-failure.png")), arguments)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
