"""Headless Chromium for the tests that meet the workspace as a person does: Debian's chromium and chromium-driver
(``scripts/ensure-chromium.sh``, run by ``make test``) through Selenium, against a real uvicorn server on a free
local port."""

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and DRIVER.exists()) or shutil.which("chromium") is None,
    reason="needs Debian's chromium and chromium-driver: `bash scripts/ensure-chromium.sh` (make test runs it)")


@contextlib.contextmanager
def serving(app):
    """``app`` under uvicorn on a free local port, in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with another process
    sock.listen(64)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the workspace server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@contextlib.contextmanager
def chromium(downloads: Path):
    """A headless Chromium driver on a laptop-sized window that saves downloads to ``downloads``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1366,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.implicitly_wait(0)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def click_and_wait(driver, element) -> None:
    """Click what loads a new page, and wait until the old page is gone (a click does not wait for navigation)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def left(_driver) -> bool:
        try:
            old.is_enabled()
        except WebDriverException:  # stale, or detached mid-navigation (Chromium says either)
            return True
        return False

    WebDriverWait(driver, 15).until(left)
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def sign_in(driver, name: str, password: str, path: str = "/login") -> None:
    """Fill and send the sign-in form at ``driver.base + path``."""
    from selenium.webdriver.common.by import By

    driver.get(driver.base + path)
    driver.find_element(By.ID, "name").clear()
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    click_and_wait(driver, driver.find_element(By.ID, "sign-in"))


def no_alert(driver) -> None:
    """No JavaScript alert is open: no injected script ran."""
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 — reading it is what raises when no alert is open
