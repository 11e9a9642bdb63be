#!/usr/bin/python3
"""The browser checks of test_web_browser.sh. Environment: WEB, MQ, SHOTS,
T."""
import json
import os
import sqlite3
import subprocess
import sys
import time

import paho.mqtt.publish as publish
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WEB = os.environ["WEB"]
MQ = int(os.environ["MQ"])
SHOTS = os.environ["SHOTS"]
T = os.environ["T"]
HERE = (52.5190, 13.4040)  # the phone, a few hundred metres from car1


def fail(msg):
    print("web_browser: FAIL: " + msg, file=sys.stderr)
    try:
        d.save_screenshot(os.path.join(SHOTS, "failure.png"))
        for e in d.get_log("browser"):
            print("web_browser: console: %s" % e.get("message"), file=sys.stderr)
    except Exception:
        pass
    sys.exit(1)


def wait(what, fn, timeout=10):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.1).until(lambda _: fn())
    except TimeoutException:
        fail("timed out waiting for " + what)


def no_alert():
    try:
        d.switch_to.alert
        fail("a JavaScript alert ran")
    except NoAlertPresentException:
        pass


def listed():
    # read in the page: the list is redrawn at every update
    return d.execute_script(
        "return Array.from(document.querySelectorAll('#cases li')).map(li => li.dataset.device)")


def text_of(css):
    return d.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null", css)


def marker(device):
    return d.execute_script(
        "const l = layers[arguments[0]]; if (!l) return null;"
        "const p = l.marker.getLatLng(); return [p.lat, p.lng];", device)


def commands(device):
    con = sqlite3.connect(os.path.join(T, "lw.db"))
    n = con.execute("SELECT count(*) FROM commands WHERE device = ?", (device,)).fetchone()[0]
    con.close()
    return n


def publish_fix(dev, lat, lon, tst, acc=10):
    publish.single("owntracks/fleet/" + dev, json.dumps(
        {"_type": "location", "lat": lat, "lon": lon, "tst": tst, "acc": acc, "vel": 25}),
        qos=1, hostname="127.0.0.1", port=MQ)


opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
          "--window-size=390,844", "--user-data-dir=" + os.path.join(T, "chrome"),
          "--no-first-run", "--disable-extensions"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
try:
    d.set_window_size(390, 844)
    d.execute_cdp_cmd("Browser.grantPermissions", {"origin": WEB, "permissions": ["geolocation"]})
    d.execute_cdp_cmd("Emulation.setGeolocationOverride",
                      {"latitude": HERE[0], "longitude": HERE[1], "accuracy": 20})

    # ---- sign in ------------------------------------------------------------
    d.get(WEB + "/")
    wait("the login form", lambda: d.find_element(By.ID, "login-view").is_displayed())
    d.find_element(By.NAME, "username").send_keys("alice")
    d.find_element(By.NAME, "password").send_keys("wrong password")
    d.find_element(By.ID, "login-button").click()
    wait("the login error", lambda: "wrong" in d.find_element(By.ID, "login-error").text)
    d.find_element(By.NAME, "username").clear()
    d.find_element(By.NAME, "username").send_keys("alice")
    d.find_element(By.NAME, "password").send_keys("alice-secret-1")
    d.find_element(By.ID, "login-button").click()
    wait("the case list", lambda: len(listed()) == 2)
    # nearest first once the phone's position is known: car1 is ~150 m away
    wait("sorted by distance", lambda: listed() == ["fleet/car1", "fleet/car5"] and
         " m" in (text_of("#cases li .dist") or ""))
    if "fleet/car2" in listed() or "B-LW 202" in d.page_source:
        fail("the agent sees a car that is not hers")
    # the description is text, not HTML
    desc = text_of("#cases li[data-device='fleet/car1'] .desc")
    if desc != "<img src=x onerror=alert(1)>":
        fail("description shown as %r" % desc)
    if d.find_elements(By.CSS_SELECTOR, "#cases img, #detail img"):
        fail("an <img> element came from the description")
    no_alert()
    if d.execute_script("return document.querySelector('#cases li.fresh') !== null") is not True:
        fail("a 2-minute-old fix is not coloured fresh")
    if d.execute_script("return document.querySelector('#cases li.stale') !== null") is not True:
        fail("a 2-hour-old fix is not coloured stale")
    wait("the no-tiles note", lambda: d.find_element(By.ID, "tile-note").is_displayed())
    wait("two markers", lambda: marker("fleet/car1") and marker("fleet/car5"))
    d.save_screenshot(os.path.join(SHOTS, "agent-list.png"))

    # ---- open the car ----------------------------------------------------------
    d.find_element(By.CSS_SELECTOR, "#cases li[data-device='fleet/car1']").click()
    wait("the detail", lambda: d.find_element(By.ID, "detail").is_displayed())
    if d.find_element(By.ID, "d-plate").text != "B-LW 101":
        fail("detail plate: %r" % d.find_element(By.ID, "d-plate").text)
    nav = d.find_element(By.ID, "d-nav").get_attribute("href")
    if not nav.startswith("geo:52.520000,13.405000"):
        fail("navigate link: %r" % nav)
    if d.find_element(By.ID, "d-desc").text != "<img src=x onerror=alert(1)>":
        fail("detail description")
    # where it usually parks: home (there now) first, then work; numbered
    # alike in the list and on the map
    wait("the places", lambda: len(d.find_elements(By.CSS_SELECTOR, "#d-places-list li")) == 2)
    items = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#d-places-list li")]
    print("web_browser: places listed: %r" % items)
    if not items[0].startswith("there now") or "likely now" not in items[0] or \
            "2 visits" not in items[0] or "1 visit" not in items[1] or "usually" not in items[1]:
        fail("places list: %r" % items)
    if d.execute_script("return document.querySelector('#d-places-list li.here')"
                        ".dataset.rank") != "1":
        fail("the place it is at now is not marked")
    wait("the places on the map", lambda: d.execute_script(
        "return document.querySelectorAll('.place-label[data-place]').length") == 2)
    if d.find_elements(By.CSS_SELECTOR, "#d-places img"):
        fail("an element came from the places")
    no_alert()
    d.save_screenshot(os.path.join(SHOTS, "agent-map.png"))
    d.execute_script("map.setView([52.5152, 13.4165], 14)")
    d.execute_script("document.getElementById('d-places').scrollIntoView({block: 'end'})")
    time.sleep(0.5)
    d.save_screenshot(os.path.join(SHOTS, "agent-places.png"))
    d.execute_script("window.scrollTo(0, 0)")

    # ---- locate now ------------------------------------------------------------
    d.find_element(By.ID, "d-locate").click()
    wait("the command state", lambda: any(s in d.find_element(By.ID, "d-cmd").text
                                          for s in ("queued", "sent")))
    # lienwatchd publishes it; the device answers with a fix
    wait("sent", lambda: "sent" in (text_of("#d-cmd") or ""), 10)
    publish_fix("car1", 52.5205, 13.4055, int(time.time()) + 1)
    wait("answered", lambda: "answered" in (text_of("#d-cmd") or ""), 10)
    d.save_screenshot(os.path.join(SHOTS, "agent-locate.png"))

    # ---- a live fix moves the marker ------------------------------------------------
    before = marker("fleet/car1")
    publish_fix("car1", 52.5230, 13.4100, int(time.time()) + 2)
    wait("the marker to move", lambda: (marker("fleet/car1") or [0])[0] > 52.5225, 10)
    print("web_browser: marker moved from %r to %r" % (before, marker("fleet/car1")))
    d.save_screenshot(os.path.join(SHOTS, "agent-live.png"))

    # ---- offline: reload, still the cases, marked offline ------------------------------
    wait("the service worker", lambda: d.execute_script(
        "return navigator.serviceWorker && navigator.serviceWorker.controller !== null"), 10)
    d.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    d.refresh()
    wait("the offline mark", lambda: d.find_element(By.ID, "netstate").is_displayed(), 15)
    wait("the saved cases", lambda: listed() == ["fleet/car1", "fleet/car5"], 10)
    marks = d.execute_script("return document.querySelectorAll('#cases li .offline-mark').length")
    if marks != 2:
        fail("cases not marked offline")
    if abs(marker("fleet/car1")[0] - 52.523) > 1e-6:
        fail("the last live position was not kept: %r" % marker("fleet/car1"))
    d.save_screenshot(os.path.join(SHOTS, "agent-offline.png"))
    # "Locate now" pressed offline waits on the phone and goes out when back
    n_cmd = commands("fleet/car1")
    d.execute_script("document.querySelector(\"#cases li[data-device='fleet/car1']\").click()")
    wait("the detail offline", lambda: d.find_element(By.ID, "detail").is_displayed())
    d.find_element(By.ID, "d-locate").click()
    wait("the offline locate note", lambda: "waiting for a connection" in (text_of("#d-cmd") or ""))
    if commands("fleet/car1") != n_cmd:
        fail("a command went out while offline")
    d.set_network_conditions(offline=False, latency=0, download_throughput=-1, upload_throughput=-1)
    # the page that started offline sees the connection come back before the
    # reload (its saved state has no CSRF token: the send must fetch one)
    time.sleep(1.5)
    d.refresh()
    wait("back online", lambda: not d.find_element(By.ID, "netstate").is_displayed() and len(listed()) == 2, 15)
    wait("the queued locate sent", lambda: commands("fleet/car1") == n_cmd + 1, 10)

    # ---- a case ends: its car leaves the list and the phone's saved copy -----------
    wait("car5 saved", lambda: "fleet/car5" in (d.execute_script(
        "return localStorage.getItem('lienwatch.cache')") or ""))
    subprocess.run([os.environ["LW"], "--db", os.environ["DB"], "case", "close",
                    os.environ["CASE5"], "--outcome", "cancelled"], check=True,
                   capture_output=True)
    wait("car5 gone from the list", lambda: listed() == ["fleet/car1"], 10)
    wait("car5 gone from the saved copy", lambda: "fleet/car5" not in (d.execute_script(
        "return localStorage.getItem('lienwatch.cache')") or ""), 5)
    if marker("fleet/car5") is not None:
        fail("the ended case's marker is still on the map")

    # ---- sign out: nothing of the cases stays on the phone --------------------------
    d.find_element(By.ID, "logout").click()
    wait("the login form again", lambda: d.find_element(By.ID, "login-view").is_displayed())
    if d.execute_script("return localStorage.getItem('lienwatch.cache')") is not None:
        fail("cached cases survived the logout")
    d.refresh()
    wait("still signed out", lambda: d.find_element(By.ID, "login-view").is_displayed())
    if listed():
        fail("cases shown after logout")
    no_alert()
    d.save_screenshot(os.path.join(SHOTS, "signed-out.png"))

    # ---- ops: all open cases, watched vehicles, open a case -----------------------
    d.find_element(By.NAME, "username").send_keys("olga")
    d.find_element(By.NAME, "password").send_keys("olga-secret-333")
    d.find_element(By.ID, "login-button").click()
    wait("ops' view", lambda: d.find_element(By.ID, "ops").is_displayed())
    wait("all open cases", lambda: sorted(listed()) == ["fleet/car1"])
    wait("the watched vehicles", lambda: d.execute_script(
        "return document.querySelectorAll('#watched li').length") == 3)
    f = d.find_element(By.ID, "newcase")
    f.find_element(By.NAME, "device").send_keys("fleet/car2")
    f.find_element(By.NAME, "agent").send_keys("alice")
    f.find_element(By.NAME, "reason").send_keys("order 2")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait("the case opened", lambda: "opened" in (text_of("#newcase-msg") or ""))
    wait("two open cases", lambda: len(listed()) == 2)
    no_alert()
    d.save_screenshot(os.path.join(SHOTS, "ops.png"))
    # ... and close it again
    d.execute_script("document.querySelector(\"#cases li[data-device='fleet/car2']\").click()")
    wait("the close buttons", lambda: d.find_element(By.ID, "d-close").is_displayed())
    # the page asks for confirmation: answer yes
    d.execute_script("window.confirm = () => true; document.getElementById('d-cancelled').click()")
    wait("the case closed", lambda: listed() == ["fleet/car1"], 10)
    print("web_browser: all checks passed")
finally:
    d.quit()
