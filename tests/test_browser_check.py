"""tools/browser_check: one line and exit 0 when there is no chromium, one line and exit 1 when a step fails,
and JupyterLab and the browser stopped either way. No real browser: Playwright and JupyterLab are faked."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import browser_check  # noqa: E402  (tools/ is not a package)

NOTEBOOK = ROOT / "notebooks" / "03_attention.ipynb"


def run_main(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    """browser_check.main on `args`: exit code, stdout lines, stderr lines."""
    code = browser_check.main([str(NOTEBOOK), "--screenshot", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


@pytest.fixture
def no_chromium(monkeypatch, tmp_path):
    """A PATH without chromium, and Debian's known path pointing nowhere."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(browser_check, "KNOWN_PATHS", (str(tmp_path / "no" / "chromium"),))


@pytest.fixture
def fake_chromium(monkeypatch, tmp_path):
    """A `chromium` on PATH (never started: the tests replace what would start it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    chromium = bin_dir / "chromium"
    chromium.write_text("#!/bin/sh\nexit 1\n")
    chromium.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return str(chromium)


def test_without_chromium_it_skips_with_exactly_one_line(no_chromium, capsys, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(browser_check, "check", lambda *a: started.append(a))
    code, out, err = run_main(capsys, str(tmp_path / "shot.png"))
    assert code == 0
    assert len(out) == 1 and out[0].startswith("browser test skipped: no chromium binary"), out
    assert err == [] and started == []


def test_only_debians_chromium_counts(no_chromium, tmp_path, monkeypatch):
    bin_dir = tmp_path / "empty-bin"
    bin_dir.mkdir()
    for name in ("google-chrome", "chromium-browser"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    assert browser_check.find_chromium() is None
    (bin_dir / "chromium").write_text("#!/bin/sh\n")
    (bin_dir / "chromium").chmod(0o755)
    assert browser_check.find_chromium() == str(bin_dir / "chromium")


@pytest.mark.parametrize("error", [browser_check.CheckFailed("the d_k slider did not move (still 64)"),
                                   RuntimeError("something unforeseen\nwith a second line")])
def test_a_failure_is_one_line_and_exit_1(fake_chromium, capsys, tmp_path, monkeypatch, error):
    def failing_check(*args):
        raise error

    monkeypatch.setattr(browser_check, "check", failing_check)
    code, out, err = run_main(capsys, str(tmp_path / "shot.png"))
    assert code == 1 and out == []
    assert len(err) == 1 and err[0].startswith("browser test failed on 03_attention.ipynb: "), err
    assert str(error).splitlines()[0] in err[0]


def test_a_missing_notebook_is_one_line_and_exit_1(fake_chromium, capsys, tmp_path):
    code = browser_check.main([str(tmp_path / "nope.ipynb")])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1 and "not found" in err


class FakeContext:
    """A persistent browser context whose page fails the way Playwright does when a wait times out."""

    def __init__(self, error_class):
        self.error_class, self.closed, self.pages = error_class, False, [self]

    def goto(self, url):
        self.url = url

    def screenshot(self, path):
        Path(path).write_bytes(b"png")

    def close(self):
        self.closed = True


def test_a_failing_step_names_the_step_and_stops_lab_and_browser(fake_chromium, tmp_path, monkeypatch):
    pytest.importorskip("playwright", reason="not installed (requirements.txt has it; a GPU image may not)")
    import playwright.sync_api
    from playwright.sync_api import Error as PlaywrightError

    context = FakeContext(PlaywrightError)
    labs = []

    class FakePlaywright:
        def __enter__(self):
            self.chromium = self
            return self

        def __exit__(self, *exc):
            return False

        def launch_persistent_context(self, user_data_dir, executable_path, args, **options):
            assert executable_path == fake_chromium and "--headless" in args and "--no-sandbox" in args
            assert Path(user_data_dir).parent.is_dir() and not Path(user_data_dir).exists()  # a fresh profile
            return context

    def fake_lab(root, port, token, log):  # a real process, to see that it is stopped
        labs.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True))
        return labs[-1]

    def failing_drive(page, slider_label, screenshot, step):
        step.append(f"finding the slider labelled {slider_label!r} and its plot")
        raise PlaywrightError("Locator.wait_for: Timeout 30000ms exceeded.\nCall log: ...")

    monkeypatch.setattr(playwright.sync_api, "sync_playwright", FakePlaywright)
    monkeypatch.setattr(browser_check, "start_lab", fake_lab)
    monkeypatch.setattr(browser_check, "wait_for_lab", lambda *a: None)
    monkeypatch.setattr(browser_check, "drive", failing_drive)
    screenshot = tmp_path / "browser" / "03.png"
    with pytest.raises(browser_check.CheckFailed) as failure:
        browser_check.check(NOTEBOOK, "d_k", screenshot, fake_chromium)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("finding the slider labelled 'd_k' and its plot: Locator.wait_for: Timeout"), message
    assert f"screenshot {screenshot}" in message and screenshot.read_bytes() == b"png"
    assert context.closed, "the browser was left open"
    assert labs[0].poll() is not None, "JupyterLab was left running"


def test_stop_lab_kills_a_server_that_ignores_sigterm():
    lab = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                            " print('ready', flush=True); time.sleep(60)"],
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert lab.stdout.readline() == "ready\n"
    browser_check.stop_lab(lab, grace_s=0.5)
    assert lab.poll() is not None
