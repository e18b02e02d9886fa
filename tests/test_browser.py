"""A student's session in a real browser: JupyterLab, notebook 03, move a slider.

Starts JupyterLab on 127.0.0.1 (free port, no token, temporary config,
runtime, settings and workspace directories; autosave off) on a *copy* of the
notebook, opens it in headless Debian chromium through Playwright, runs every
cell from the Run menu, waits for every cell to finish and the kernel to be
idle, then moves a duration slider with the keyboard and re-runs the panel.
It asserts that the live timeline showed frames while the program ran, and
that the run really changed: a new figure, a longer measured time, a longer
ideal time. Screenshots go to tests/artifacts/ for a person to look at.

Every process the test starts (JupyterLab, its kernels, chromium) is stopped
at the end, also on failure. Without chromium the test is skipped, except on
CI (CI=true), where it must run. ``CONCTUTOR_TIME_SCALE`` (tests/conftest.py)
reaches the kernels through the server's environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = Path(os.environ.get("CONCTUTOR_BROWSER_NOTEBOOK", ROOT / "notebooks" / "03-threads.ipynb"))
"""The notebook under test (the variable is for trying the test on another notebook with a panel)."""
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
]
SERVER_START_S = 90
CELLS_DONE_S = 240
RUN_DONE_S = 120
SLIDER_STEPS = 40
"""Arrow presses on the slider: 40 steps of 0.1 s = 4 s more for the task."""

SETTINGS = {
    # no news or update pop-ups over the notebook, no autosave of the copy
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _chromium() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path:
        return path
    if _on_ci():
        pytest.fail("chromium is required on CI (install it with: apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium); this test runs it headless")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _stop_processes(processes: list) -> None:
    """Terminate, wait, then kill whatever is left (by pid, only these)."""
    import psutil

    alive = []
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
            alive.append(proc)
    _, still = psutil.wait_procs(alive, timeout=10)
    for proc in still:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(still, timeout=10)


@contextlib.contextmanager
def jupyterlab(root: Path, tmp: Path):
    """A JupyterLab server on `root`; yields its base URL; stops it and its kernels."""
    import psutil

    port = _free_port()
    settings = tmp / "settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        IPYTHONDIR=str(tmp / "ipython"),
    )
    env.pop("CONCTUTOR_LIVE", None)  # the live view is what we look at
    command = [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False", "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.news_url=None",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp / "jupyterlab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    started: list = []
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                raise AssertionError(f"JupyterLab exited with {server.returncode}:\n{(tmp / 'jupyterlab.log').read_text()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as answer:
                    if answer.status == 200:
                        break
            if time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not answer in {SERVER_START_S} s:\n{(tmp / 'jupyterlab.log').read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        started = _descendants(server.pid)  # kernels and their workers
        with contextlib.suppress(OSError, urllib.error.URLError):
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/shutdown", method="POST"), timeout=10).close()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        _stop_processes([p for p in started if p.is_running()])
        log.close()
        leftover = [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not leftover, f"processes left running after JupyterLab stopped: {leftover}"


def _wait(page, condition: str, timeout_s: float, what: str, arg=None) -> None:
    """Wait for a JavaScript condition, failing with a message that says what we waited for."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(condition, arg=arg, timeout=timeout_s * 1000, polling=200)
    except PlaywrightTimeout:
        shot = ARTIFACTS / "browser-timeout.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot))
        raise AssertionError(f"waited {timeout_s:.0f} s for {what}; screenshot: {shot}") from None


ALL_CELLS_DONE = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
}"""

STOPPED_ON_ERROR = """() => {
    const running = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .some(p => p.textContent.includes('*'));
    const idle = /\\|\\s*Idle/.test((document.querySelector('#jp-main-statusbar') || {}).textContent || '');
    const error = document.querySelector(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
    return !running && idle && !!error;
}"""

LIVE_CELLS_FINISHED = """() => {
    const texts = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')].map(o => o.textContent);
    return !texts.some(t => t.includes('<Figure: linha do tempo do conctutor>'))
        && !document.querySelector('.jp-Notebook svg[data-conctutor-frame]');
}"""

KERNEL_IDLE = """() => {
    const bar = document.querySelector('#jp-main-statusbar');
    return !!bar && /\\|\\s*Idle/.test(bar.textContent);
}"""

KERNEL_IDLE_OR_DIALOG = "() => (" + KERNEL_IDLE + ")() || !!document.querySelector('.jp-Dialog')"

# The panel is the output that holds a "tempo medido" line; these read it.
SLIDER_TASK = "consulta_dados"
"""The slider we move: the first task, on the critical path of every chapter program."""

# The slider panel: a VBox with the task's slider and a "Rodar" button. This
# reads its state: the figure's src, the measured and ideal times printed
# under it, the slider's readout, and how many live frames (SVG) it holds.
PANEL_STATE = """() => {
    const panels = [...document.querySelectorAll('.jp-Notebook .widget-vbox')].filter(p =>
        [...p.querySelectorAll('.widget-slider')].some(s => s.textContent.includes('%(task)s'))
        && [...p.querySelectorAll('button')].some(b => /Rodar|rodando/.test(b.textContent)));
    if (!panels.length) return null;
    const p = panels[0];
    const slider = [...p.querySelectorAll('.widget-slider')].find(s => s.textContent.includes('%(task)s'));
    const img = p.querySelector('.widget-output img, .widget-html img');
    const text = p.textContent;
    const number = re => { const m = text.match(re); return m ? parseFloat(m[1].replace(',', '.')) : null; };
    return {
        src: img ? img.getAttribute('src') : null,
        measured: number(/tempo medido:\\s*([\\d.,]+)\\s*s/),
        ideal: number(/ideal[^:|]*:\\s*([\\d.,]+)\\s*s/),
        readout: (slider.querySelector('.widget-readout') || {}).textContent,
        svgFrames: p.querySelectorAll('svg[data-conctutor-frame]').length,
    };
}""" % {"task": SLIDER_TASK}

PANEL_RAN = "() => { const s = (" + PANEL_STATE + ")(); return !!s && !!s.src && s.measured !== null && !s.svgFrames; }"
NEW_RUN = ("(old) => { const s = (" + PANEL_STATE + ")(); "
           "return !!s && !!s.src && s.src !== old && s.measured !== null && !s.svgFrames; }")

# Notes every live frame (SVG) the page shows: "spans|clock", and keeps the
# markup of the latest one so a person can look at it afterwards.
WATCH_FRAMES = """() => {
    window.__conctutorFrames = [];
    window.__conctutorTimes = [];
    const seen = window.__conctutorFrames;
    new MutationObserver(() => {
        for (const svg of document.querySelectorAll('svg[data-conctutor-frame]')) {
            const n = svg.getAttribute('data-conctutor-frame');
            const clock = (svg.textContent.match(/agora:\\s*([\\d,]+)\\s*s/) || [])[1];
            const key = n + '|' + clock;
            if (!seen.includes(key)) { seen.push(key); window.__conctutorTimes.push(performance.now()); }
            window.__conctutorLastFrame = svg.outerHTML;
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def _prepare_root(tmp: Path) -> Path:
    """A copy of the notebook, without outputs, in a fresh directory.

    The repository's file is never touched, and with no stored outputs or
    execution counts a prompt "[n]:" can only come from this run.
    """
    import nbformat

    root = tmp / "notebooks"
    root.mkdir()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, root / NOTEBOOK.name)
    return root


def test_moving_a_slider_reruns_the_program_live(tmp_path: Path) -> None:
    chromium = _chromium()
    if not NOTEBOOK.exists():
        pytest.fail(f"{NOTEBOOK} is missing")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("browser-*.*"):
        old.unlink()
    root = _prepare_root(tmp_path)
    ours_before = {p.pid for p in _descendants(os.getpid())}

    try:
        with jupyterlab(root, tmp_path) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/lab/tree/{NOTEBOOK.name}", timeout=120_000)
                _wait(page, "() => !!document.querySelector('.jp-Notebook .jp-CodeCell')", 120, "the notebook to open")
                _wait(page, KERNEL_IDLE_OR_DIALOG, 90, "the kernel to start (status bar 'Idle')")
                if page.locator(".jp-Dialog").count():  # a notebook without kernel metadata asks which one
                    page.locator(".jp-Dialog .jp-mod-accept").click()
                _wait(page, KERNEL_IDLE, 90, "the kernel to start (status bar 'Idle')")
                page.screenshot(path=str(ARTIFACTS / "browser-1-opened.png"))

                # Run ▸ Run All Cells
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
                _wait(page, f"() => ({ALL_CELLS_DONE})() || ({STOPPED_ON_ERROR})()", CELLS_DONE_S,
                      "every cell to run (prompts [n]:)")
                if not page.evaluate(ALL_CELLS_DONE):
                    page.screenshot(path=str(ARTIFACTS / "browser-error.png"))
                    error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                    raise AssertionError(f"Run All stopped at an error:\n{error.last.inner_text()[-2000:]}")
                _wait(page, KERNEL_IDLE, CELLS_DONE_S, "the kernel to be idle after running all cells")
                # live cells (record(live=True), run_and_show) ended with their final figure in place:
                # no placeholder text and no live frame left behind
                _wait(page, LIVE_CELLS_FINISHED, 30, "every live figure in a cell to be replaced by its final figure")
                _wait(page, "() => !!(" + PANEL_STATE + ")()", 60, f"the slider panel (a '{SLIDER_TASK}' slider and 'Rodar')")
                panel = page.locator(".jp-Notebook .widget-vbox").filter(
                    has=page.locator(".widget-slider", has_text=SLIDER_TASK)).filter(
                    has=page.locator("button", has_text="Rodar")).first
                rerun = panel.locator("button", has_text="Rodar").first
                if page.evaluate(PANEL_STATE)["measured"] is None:  # the panel has not run yet: run it once
                    rerun.click()
                _wait(page, PANEL_RAN, RUN_DONE_S, "the panel to show a figure and 'tempo medido'")
                _wait(page, KERNEL_IDLE, RUN_DONE_S, "the kernel to be idle after the first run of the panel")
                before = page.evaluate(PANEL_STATE)
                panel.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / "browser-2-all-cells-ran.png"))

                # move the slider with the keyboard: focus its handle, press the right arrow
                panel.locator(".widget-slider", has_text=SLIDER_TASK).locator(".noUi-handle").first.click()
                for _ in range(SLIDER_STEPS):
                    page.keyboard.press("ArrowRight")
                _wait(page, "(old) => { const s = (" + PANEL_STATE + ")(); return !!s && s.readout !== old; }", 30,
                      f"the readout of the '{SLIDER_TASK}' slider to change", arg=before["readout"])

                page.evaluate(WATCH_FRAMES)
                rerun.click()
                _wait(page, NEW_RUN, RUN_DONE_S, "a new final figure after moving the slider", arg=before["src"])
                _wait(page, KERNEL_IDLE, RUN_DONE_S, "the kernel to be idle after the re-run")
                after = page.evaluate(PANEL_STATE)
                frames = page.evaluate("() => window.__conctutorFrames")
                times = page.evaluate("() => window.__conctutorTimes")
                last_frame = page.evaluate("() => window.__conctutorLastFrame || ''")
                if last_frame:  # the last live frame the page showed, drawn alone
                    (ARTIFACTS / "browser-3-live-frame.svg").write_text(last_frame)
                    frame_page = browser.new_page()
                    frame_page.set_content(f"<body style='margin:0'>{last_frame}</body>")
                    frame_page.locator("svg").screenshot(path=str(ARTIFACTS / "browser-3-live-frame.png"))
                    frame_page.close()
                panel.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / "browser-4-after-slider.png"))
                panel.screenshot(path=str(ARTIFACTS / "browser-5-panel.png"))
            finally:
                browser.close()
    finally:
        leftover = [p for p in _descendants(os.getpid()) if p.pid not in ours_before]
        _stop_processes(leftover)

    scale = float(os.environ.get("CONCTUTOR_TIME_SCALE", "1") or 1)
    delta = SLIDER_STEPS * 0.1 * scale  # seconds the moved task now lasts longer
    assert after["src"] != before["src"], "the figure did not change"
    assert frames, "no live frame (SVG) appeared in the browser while the program ran"
    rate = (len(times) - 1) / ((times[-1] - times[0]) / 1000) if len(times) > 1 and times[-1] > times[0] else 0.0
    print(f"live frames seen by the browser (spans|clock): {frames}; {rate:.1f} per second")
    assert after["ideal"] == pytest.approx(before["ideal"] + delta, abs=0.011 + 0.01 * delta), (before, after)
    assert after["measured"] > before["measured"] + delta / 2, (before, after)
