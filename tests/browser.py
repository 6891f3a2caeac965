"""Headless Debian Chromium driven by Selenium through Debian's chromedriver: no download."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Flags for a closed network: without the background ones Chromium keeps dialling Google.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1920,1200",
]


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail(
            "Chromium and ChromeDriver are needed for the UI tests: `make test` installs "
            "Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # An explicit driver path keeps Selenium Manager from looking for one online.
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.implicitly_wait(30)
    try:
        yield session
    finally:
        session.quit()
