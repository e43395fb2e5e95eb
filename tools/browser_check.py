"""Run a notebook in JupyterLab in headless Chromium, move a widget slider and check that the plot re-renders.

    .venv/bin/python tools/browser_check.py notebooks/03_attention.ipynb --slider d_k --screenshot build/browser/03.png

Uses Debian's chromium (never a downloaded browser) through Playwright. Prints one line; exits 0 on
success, 0 with "skipped: ..." when no chromium binary exists, 1 on failure.
"""

import argparse
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


# true once the notebook's kernel has nothing left to run
IDLE = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"


class CheckFailed(Exception):
    """The notebook did not behave in the browser as expected."""


def find_chromium() -> str | None:
    """Path to a chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quiet_settings(settings: Path) -> None:
    """User settings for the test's JupyterLab: no news pop-up asking to go online."""
    target = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    target.parent.mkdir(parents=True)
    target.write_text('{"fetchNews": "false", "checkForUpdates": false}')


def start_lab(root: Path, port: int, token: str, log) -> subprocess.Popen:
    """Start JupyterLab on localhost serving `root`; return once it answers."""
    quiet_settings(root.parent / "settings")
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
         "--expose-app-in-browser", f"--LabApp.user_settings_dir={root.parent / 'settings'}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    for _ in range(120):
        if lab.poll() is not None:
            raise CheckFailed(f"JupyterLab exited with code {lab.returncode} (log: {log.name})")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return lab
        except OSError:
            time.sleep(0.5)
    raise CheckFailed(f"JupyterLab did not answer on port {port} within 60 s (log: {log.name})")


def drive(page, slider_label: str, screenshot: Path) -> str:
    """Run every cell, move the slider labelled `slider_label`, and return a one-line summary."""
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(IDLE, polling=500, timeout=300_000)
    # 1. the explorer: the slider whose description is `slider_label`
    box = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=slider_label)).first
    box.wait_for(timeout=120_000)
    output = page.locator(".jp-Cell", has=box).locator(".widget-output img").first
    output.wait_for(timeout=60_000)
    readout = box.locator(".widget-readout")
    before_value, before_src = readout.inner_text(), output.get_attribute("src")
    # 2. move it with the keyboard, as a learner would with the arrow keys
    box.locator(".noUi-handle").first.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([cell, src]) => { const img = cell.querySelector('.widget-output img');"
        " return img && img.getAttribute('src') !== src; }",
        arg=[page.locator(".jp-Cell", has=box).first.element_handle(), before_src], timeout=60_000)
    for _ in range(2):  # the last slider value has been drawn: idle, and still idle a second later
        page.wait_for_function(IDLE, timeout=60_000)
        page.wait_for_timeout(1000)
    after_value = readout.inner_text()
    if after_value == before_value:
        raise CheckFailed(f"the {slider_label} slider did not move (still {before_value})")
    # 3. no cell may have failed
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    if tracebacks.count():
        raise CheckFailed(f"a cell raised: {tracebacks.first.inner_text()[:200]}")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=False)
    return (f"{slider_label} {before_value} -> {after_value}, plot re-rendered, "
            f"{errors.count()} stderr outputs, screenshot {screenshot}")


def check(notebook: Path, slider_label: str, screenshot: Path, chromium: str) -> str:
    """Serve a copy of `notebook` in JupyterLab and drive it in Chromium."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        root.mkdir()
        shutil.copy(notebook, root / notebook.name)  # JupyterLab may save: keep the course's copy untouched
        token, port = secrets.token_hex(16), free_port()
        with open(Path(tmp) / "lab.log", "w") as log:
            lab = start_lab(root, port, token, log)
            try:
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.goto(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}&reset")
                    try:
                        return drive(page, slider_label, screenshot)
                    except PlaywrightError as err:
                        screenshot.parent.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(screenshot))
                        raise CheckFailed(f"{str(err).splitlines()[0]} (screenshot {screenshot})") from None
                    finally:
                        browser.close()
            finally:
                lab.terminate()
                lab.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--slider", default="d_k", help="the description of the slider to move")
    parser.add_argument("--screenshot", type=Path, default=Path("build/browser/screenshot.png"))
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("browser test skipped: no chromium binary found (Debian: apt-get install chromium)")
        return 0
    if not args.notebook.is_file():
        print(f"browser test failed: notebook {args.notebook} not found", file=sys.stderr)
        return 1
    try:
        summary = check(args.notebook, args.slider, args.screenshot, chromium)
    except CheckFailed as err:
        print(f"browser test failed on {args.notebook.name}: {err}", file=sys.stderr)
        return 1
    print(f"✔ browser test on {args.notebook.name}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
