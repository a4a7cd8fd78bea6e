#!/usr/bin/env python3
"""The memory browser (`mnemo serve` at /) in a real browser: Debian's headless Chromium through Selenium and
chromium-driver. Run by Tests/CLITests/WebPageTests.swift against a server it started; writes a screenshot of
each step into SHOTS and prints "browser check: all N passed" or exits non-zero naming the step that failed.

  browser_check.py full  BASE_URL SHOTS UPLOAD_FILE    search, open, add, upload, delete, ask, keyboard, 400 px
  browser_check.py token BASE_URL SHOTS TOKEN          the token prompt of a server that has a token
With BROWSER_EXPECT_SHARED=1, the store facts must also show a shared store's database and replica position.
"""
import json
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

passed = []


def check(name, condition, detail=""):
    if not condition:
        print(f"browser check FAILED: {name} {detail}", flush=True)
        sys.exit(1)
    passed.append(name)
    print(f"ok {name}", flush=True)


def browser(width=1280, height=900):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--lang=en-US"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, condition, seconds=60, what=""):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.05).until(condition)
    except TimeoutException:
        check(what or "wait", False, f"(timed out after {seconds} s)")


def text_of(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def shot(driver, shots, name):
    driver.save_screenshot(f"{shots}/{name}.png")


def search(driver, query, k=5):
    driver.find_element(By.ID, "tab-search").click()
    box = driver.find_element(By.ID, "search-query")
    box.clear()
    box.send_keys(query)
    k_box = driver.find_element(By.ID, "search-k")
    k_box.clear()
    k_box.send_keys(str(k))
    driver.execute_script("document.getElementById('search-results').replaceChildren()")
    driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li") or text_of(d, "search-error"),
         what=f"search results for {query!r}")
    return driver.find_elements(By.CSS_SELECTOR, "#search-results li")


def full(base, shots, upload):
    driver = browser()
    try:
        driver.get(base + "/")
        wait(driver, lambda d: "Documents" in text_of(d, "facts"), what="store facts")
        facts = text_of(driver, "facts")
        check("facts name documents, chunks, index, disk, encoder, model and namespaces",
              all(w in facts for w in ["Documents", "Chunks", "Index", "Disk", "Encoder", "Model", "Namespaces"]), facts)
        if os.environ.get("BROWSER_EXPECT_SHARED") == "1":
            check("a shared store's facts name the database and the replica's position",
                  "Shared store" in facts and "postgresql://" in facts and "Replica" in facts and "change " in facts, facts)
        labelled = driver.execute_script(
            "return [...document.querySelectorAll('input,select,textarea')].every(e => e.labels.length > 0)")
        check("every control has a label", labelled)
        shot(driver, shots, "01-page")

        # Search: results with source, byte range and score, the query's words marked.
        results = search(driver, "boiler service")
        check("search finds the boiler note", results and "household-notes.md" in results[0].text, results[0].text if results else "")
        head = results[0].find_element(By.CSS_SELECTOR, ".head").text
        check("a result shows its byte range and score", "bytes" in head and "score" in head, head)
        marks = [m.text.lower() for m in results[0].find_elements(By.TAG_NAME, "mark")]
        check("the query's words are marked", "boiler" in marks, str(marks))
        shot(driver, shots, "02-search")

        # A result opens its document with the chunk in place.
        chunk_id = results[0].get_attribute("data-chunk")
        results[0].find_element(By.TAG_NAME, "button").click()
        here = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#document-chunks li.here"), what="the document opens")
        check("the opened document marks the result's chunk", here[0].get_attribute("data-chunk") == chunk_id)
        check("the document shows all its chunks", len(driver.find_elements(By.CSS_SELECTOR, "#document-chunks li")) > 1)
        shot(driver, shots, "03-document")

        # Text from the store is text: a document full of markup runs nothing and makes no elements.
        results = search(driver, "pwned script onerror img")
        hostile = [r for r in results if "hostile.txt" in r.text]
        check("the hostile document is found", bool(hostile), str([r.text[:80] for r in results]))
        check("its markup shows as text", "<script>" in hostile[0].text and "onerror=" in hostile[0].text, hostile[0].text)
        check("no element came from the store's text",
              not hostile[0].find_elements(By.CSS_SELECTOR, "script, img, iframe, b"))
        hostile[0].find_element(By.TAG_NAME, "button").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#document-chunks li"), what="the hostile document opens")
        time.sleep(0.5)
        check("nothing ran", driver.execute_script("return window.__pwned === undefined && document.title === 'Mnemo memory'"))
        shot(driver, shots, "04-hostile")

        # Add a note, find it.
        driver.find_element(By.ID, "tab-add").click()
        driver.find_element(By.ID, "note-text").send_keys("The spare key is under the blue flowerpot by the garden shed.")
        driver.find_element(By.ID, "note-source").send_keys("note:spare-key")
        driver.find_element(By.ID, "note-metadata").send_keys("topic=keys")
        driver.find_element(By.CSS_SELECTOR, "#note-form button[type=submit]").click()
        wait(driver, lambda d: "note:spare-key" in text_of(d, "add-status") or text_of(d, "add-error"), what="the note is added")
        check("the note is added", text_of(driver, "add-status").startswith("Added"), text_of(driver, "add-error"))
        shot(driver, shots, "05-add")
        results = search(driver, "where is the spare key flowerpot")
        check("the note is found", results and "note:spare-key" in results[0].text, results[0].text if results else "")

        # Upload a file of a format `mnemo index` takes.
        driver.find_element(By.ID, "tab-add").click()
        driver.find_element(By.ID, "file-input").send_keys(upload)
        driver.find_element(By.CSS_SELECTOR, "#file-form button[type=submit]").click()
        wait(driver, lambda d: "Added" in text_of(d, "add-status") or text_of(d, "add-error"), what="the upload")
        check("the file is uploaded and indexed", "chunks" in text_of(driver, "add-status"), text_of(driver, "add-error"))
        results = search(driver, "aquarium heater thermostat")
        check("the uploaded file is found", results and "aquarium.md" in results[0].text, results[0].text if results else "")

        # Delete the note from the document list (with its confirmation); it is gone from search.
        driver.find_element(By.ID, "tab-documents").click()
        row = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#documents-table tr[data-source='note:spare-key']"),
                   what="the note in the document list")
        check("the list shows chunk counts and dates", "UTC" in row[0].text, row[0].text)
        row[0].find_element(By.CSS_SELECTOR, "button.danger").click()
        alert = wait(driver, EC.alert_is_present(), what="the delete confirmation")
        check("delete asks first", "note:spare-key" in alert.text, alert.text)
        alert.accept()
        wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "#documents-table tr[data-source='note:spare-key']"),
             what="the note leaves the list")
        shot(driver, shots, "06-delete")
        results = search(driver, "where is the spare key flowerpot")
        check("the deleted note is not found", not any("note:spare-key" in r.text for r in results))

        # Errors are words, not a blank panel.
        driver.find_element(By.ID, "tab-search").click()
        driver.execute_script("document.getElementById('search-query').value = 'boiler '.repeat(2000)")
        driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
        wait(driver, lambda d: text_of(d, "search-error"), what="the server's refusal")
        check("a refused search says why", "the limit is" in text_of(driver, "search-error"), text_of(driver, "search-error"))

        # Ask: the answer streams in (several states of the answer before the sources), then the sources.
        driver.find_element(By.ID, "tab-ask").click()
        driver.execute_script("""
            window.__states = [];
            new MutationObserver(() => {
              const t = document.getElementById('ask-answer').textContent;
              if (document.querySelectorAll('#ask-sources li').length === 0 && t && window.__states.at(-1) !== t) window.__states.push(t);
            }).observe(document.getElementById('ask-answer'), {childList: true, characterData: true, subtree: true});""")
        driver.find_element(By.ID, "ask-question").send_keys("Who serviced the boiler?")
        driver.find_element(By.CSS_SELECTOR, "#ask-form button[type=submit]").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#ask-sources li") or text_of(d, "ask-error"), seconds=300,
             what="the answer and its sources")
        answer = text_of(driver, "ask-answer")
        states = driver.execute_script("return window.__states")
        check("ask answers", "Priya" in answer or "Dunmore" in answer, f"{answer!r} {text_of(driver, 'ask-error')}")
        check("the answer streamed in pieces", len(states) >= 2, json.dumps(states))
        sources = driver.find_elements(By.CSS_SELECTOR, "#ask-sources li")
        check("numbered sources", sources and sources[0].text.startswith("[1]") and "household-notes.md" in sources[0].text,
              sources[0].text if sources else "")
        check("the context mode is shown", "Context: sentences" in text_of(driver, "ask-meta"), text_of(driver, "ask-meta"))
        shot(driver, shots, "07-ask")

        # The keyboard alone: Tab to the Documents view's button, Enter opens it.
        driver.get(base + "/")
        wait(driver, lambda d: "Documents" in text_of(d, "facts"), what="reload")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        for _ in range(30):
            if driver.execute_script("return document.activeElement.id") == "tab-documents":
                break
            driver.switch_to.active_element.send_keys(Keys.TAB)
        check("Tab reaches the views", driver.execute_script("return document.activeElement.id") == "tab-documents")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait(driver, lambda d: d.find_element(By.ID, "view-documents").is_displayed(), what="Enter opens the view")
        check("Enter opens the documents view", not driver.find_element(By.ID, "view-search").is_displayed())
    finally:
        driver.quit()

    # 400 px wide: nothing wider than the window.
    narrow = browser(400, 900)
    try:
        narrow.get(base + "/")
        wait(narrow, lambda d: "Documents" in text_of(d, "facts"), what="the narrow page")
        search(narrow, "boiler service")
        overflow = narrow.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check("readable at 400 px (no sideways scrolling)", overflow <= 0, f"{overflow} px too wide")
        shot(narrow, shots, "08-narrow")
    finally:
        narrow.quit()


def token(base, shots, secret):
    driver = browser()
    try:
        driver.get(base + "/")
        wait(driver, lambda d: d.find_element(By.ID, "auth").is_displayed(), what="the token prompt")
        check("the page asks for the token", "Token needed" in text_of(driver, "auth"))
        shot(driver, shots, "09-token")
        driver.find_element(By.ID, "auth-token").send_keys("not-the-token")
        driver.find_element(By.CSS_SELECTOR, "#auth-form button").click()
        wait(driver, lambda d: "not accepted" in text_of(d, "auth-error"), what="a wrong token is refused")
        check("a wrong token is refused", True)
        driver.find_element(By.ID, "auth-token").send_keys(secret)
        driver.find_element(By.CSS_SELECTOR, "#auth-form button").click()
        wait(driver, lambda d: "Documents" in text_of(d, "facts") and not d.find_element(By.ID, "auth").is_displayed(),
             what="the right token opens the page")
        check("the right token opens the page", True)
        kept = driver.execute_script("return [sessionStorage.getItem('mnemo-token'), localStorage.length]")
        check("the token is kept for the tab only", kept[0] == secret and kept[1] == 0, str(kept))
        results = search(driver, "boiler service")
        check("search works with the token", bool(results) and "household-notes.md" in results[0].text)
    finally:
        driver.quit()


if __name__ == "__main__":
    mode, base, shots, extra = sys.argv[1:5]
    (full if mode == "full" else token)(base.rstrip("/"), shots, extra)
    print(f"browser check: all {len(passed)} passed", flush=True)
