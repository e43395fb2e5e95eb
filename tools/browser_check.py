"""Run a notebook in JupyterLab in headless Chromium, move a widget slider and check that the plot re-renders.

    .venv/bin/python tools/browser_check.py notebooks/03_attention.ipynb --slider d_k --screenshot build/browser/03.png

Uses Debian's chromium (/usr/bin/chromium or `chromium` on PATH; never a downloaded browser) through
Playwright. Prints one line; exits 0 on success, 0 with "browser test skipped: ..." when no chromium
binary exists, 1 with "browser test failed: ..." on any failure. JupyterLab, its kernel and Chromium are
stopped whatever happens (SIGTERM included); JupyterLab's log is kept beside the screenshot.
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# Debian's chromium, where `apt-get install chromium` puts it
KNOWN_PATHS = ("/usr/bin/chromium",)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--no-first-run"]

# true once every code cell has been cleared (the stored execution counts would read as "already run")
CLEARED = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    if (cells.get(i).type === 'code' && cells.get(i).executionCount !== null) return false;
  }
  return true;
}"""
# true once the notebook has finished running: kernel idle and every code cell run, or one has failed
DONE = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  if (nb.sessionContext.session.kernel.status !== 'idle') return false;
  if (document.querySelector(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")) return true;
  const cells = nb.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type === 'code' && cell.executionCount === null) return false;
  }
  return true;
}"""
IDLE = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"


class CheckFailed(Exception):
    """The notebook did not behave in the browser as expected."""


def find_chromium() -> str | None:
    """Path to Debian's chromium binary, or None."""
    path = shutil.which("chromium")
    if path:
        return path
    return next((p for p in KNOWN_PATHS if os.access(p, os.X_OK)), None)


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
    """Start JupyterLab on localhost serving `root`, all its state under root's parent."""
    home = root.parent
    quiet_settings(home / "settings")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_CONFIG_DIR": str(home / "config")}
    env.pop("MPLBACKEND", None)  # it leaks into the kernel and breaks the figure cells
    return subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
         "--expose-app-in-browser", f"--LabApp.user_settings_dir={home / 'settings'}",
         f"--LabApp.workspaces_dir={home / 'workspaces'}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )


def wait_for_lab(lab: subprocess.Popen, port: int, token: str, log_name: str) -> None:
    """Return once JupyterLab answers on `port`."""
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    for _ in range(120):
        if lab.poll() is not None:
            raise CheckFailed(f"JupyterLab exited with code {lab.returncode} (log: {log_name})")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise CheckFailed(f"JupyterLab did not answer on port {port} within 60 s (log: {log_name})")


def stop_lab(lab: subprocess.Popen, grace_s: float = 20) -> None:
    """Stop JupyterLab and every process it started (its kernels run in sessions of their own)."""
    try:
        import psutil
        children = psutil.Process(lab.pid).children(recursive=True)
    except Exception:  # psutil missing, or the server already gone: the server shuts its kernels down itself
        children = []
    lab.terminate()  # the server shuts its kernels down on SIGTERM
    try:
        lab.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(lab.pid, signal.SIGKILL)
        lab.wait()
    for child in children:
        try:
            child.kill()
        except Exception:  # already gone, as it should be
            pass


def drive(page, slider_label: str, screenshot: Path, step: list[str]) -> str:
    """Run every cell, move the slider labelled `slider_label`, and return a one-line summary.

    `step` gets a description of each step as it starts, for the failure message."""
    step.append("opening the notebook in JupyterLab")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
                           timeout=60_000)
    step.append("running every cell")
    page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function(CLEARED, timeout=30_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(DONE, polling=500, timeout=300_000)
    # 1. no cell may have failed
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    if tracebacks.count():
        raise CheckFailed(f"a cell raised: {' '.join(tracebacks.first.inner_text().split())[:200]}")
    # 2. the explorer: the slider whose description is `slider_label`, and the plot drawn beside it
    step.append(f"finding the slider labelled {slider_label!r} and its plot")
    box = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=slider_label)).first
    box.wait_for(timeout=30_000)
    cell = page.locator(".jp-Cell", has=box).first
    image = cell.locator(".widget-output img").first
    image.wait_for(timeout=30_000)
    readout = box.locator(".widget-readout")
    page.wait_for_function("el => el.textContent.trim() !== ''", arg=readout.element_handle(), timeout=30_000)
    before_value, before_src = readout.text_content().strip(), image.get_attribute("src")
    # 3. move it with the keyboard, as a learner would with the arrow keys
    step.append(f"moving the {slider_label} slider and waiting for the plot to be redrawn")
    box.locator(".noUi-handle").first.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([cell, src]) => { const img = cell.querySelector('.widget-output img');"
        " return img && img.getAttribute('src') !== src; }",
        arg=[cell.element_handle(), before_src], timeout=60_000)
    for _ in range(2):  # the last slider value has been drawn: idle, and still idle a second later
        page.wait_for_function(IDLE, timeout=60_000)
        page.wait_for_timeout(1000)
    after_value, after_src = readout.text_content().strip(), image.get_attribute("src")
    if after_value == before_value:
        raise CheckFailed(f"the {slider_label} slider did not move (still {before_value})")
    if after_src == before_src:
        raise CheckFailed(f"the plot was not redrawn after moving {slider_label} to {after_value}")
    image.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot), full_page=False)
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
    return (f"{slider_label} {before_value} -> {after_value}, plot re-rendered, {stderr} stderr outputs,"
            f" screenshot {screenshot}")


def save_screenshot(page, screenshot: Path) -> str:
    """Screenshot of the page as it is when a step failed; says where it went, or that there is none."""
    try:
        page.screenshot(path=str(screenshot))
        return f"screenshot {screenshot}"
    except Exception:  # the page itself is gone
        return "no screenshot"


def check(notebook: Path, slider_label: str, screenshot: Path, chromium: str) -> str:
    """Serve a copy of `notebook` in JupyterLab and drive it in Chromium."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    log_path = screenshot.parent / "jupyterlab.log"
    screenshot.parent.mkdir(parents=True, exist_ok=True)  # the log and every screenshot go here
    with tempfile.TemporaryDirectory() as tmp, open(log_path, "w") as log:
        root = Path(tmp) / "course"
        root.mkdir()
        shutil.copy(notebook, root / notebook.name)  # JupyterLab may save: keep the course's copy untouched
        token, port = secrets.token_hex(16), free_port()
        lab = start_lab(root, port, token, log)
        try:
            wait_for_lab(lab, port, token, str(log_path))
            with sync_playwright() as pw:
                # a fresh profile, and Chromium's config and caches, in the temporary folder
                env = {**os.environ, "XDG_CONFIG_HOME": f"{tmp}/xdg-config", "XDG_CACHE_HOME": f"{tmp}/xdg-cache"}
                try:
                    context = pw.chromium.launch_persistent_context(
                        f"{tmp}/chromium-profile", executable_path=chromium, args=CHROMIUM_ARGS, headless=True,
                        env=env, viewport={"width": 1280, "height": 900})
                except PlaywrightError as err:
                    raise CheckFailed(f"chromium ({chromium}) did not start: {str(err).splitlines()[0]}") from None
                try:
                    page = context.pages[0] if context.pages else context.new_page()
                    step = ["loading JupyterLab"]
                    try:
                        page.goto(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}&reset")
                        return drive(page, slider_label, screenshot, step)
                    except PlaywrightError as err:
                        message = f"{step[-1]}: {str(err).splitlines()[0]}"
                        raise CheckFailed(f"{message} ({save_screenshot(page, screenshot)})") from None
                finally:
                    context.close()
        finally:
            stop_lab(lab)


def stop_on_sigterm(signum, frame):
    """Turn SIGTERM (a CI timeout, `kill`) into an exception, so that JupyterLab and Chromium are stopped."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--slider", default="d_k", help="the description of the slider to move")
    parser.add_argument("--screenshot", type=Path, default=Path("build/browser/screenshot.png"))
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("browser test skipped: no chromium binary (/usr/bin/chromium or chromium on PATH);"
              " as root: apt-get update && apt-get install chromium")
        return 0
    if not args.notebook.is_file():
        print(f"browser test failed: notebook {args.notebook} not found", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        summary = check(args.notebook, args.slider, args.screenshot, chromium)
    except CheckFailed as err:
        print(f"browser test failed on {args.notebook.name}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        print(f"browser test failed on {args.notebook.name}: interrupted ({err or 'Ctrl-C'})", file=sys.stderr)
        return 1
    except Exception as err:  # anything unforeseen still ends in one line, not a traceback
        first = str(err).splitlines()[0] if str(err) else ""
        print(f"browser test failed on {args.notebook.name}: {type(err).__name__}: {first}", file=sys.stderr)
        return 1
    print(f"✔ browser test on {args.notebook.name}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
