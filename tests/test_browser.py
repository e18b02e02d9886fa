"""A student's session in a real browser: JupyterLab, notebooks 03 and 05, sliders moved.

Starts one JupyterLab on 127.0.0.1 (free port, no token, temporary config,
runtime, settings and workspace directories; autosave off) on *copies* of the
notebooks, and one headless Debian chromium through Playwright. Each test
opens its notebook in a workspace of its own, runs every cell from the Run
menu, waits for every cell to finish and the kernel to be idle, then moves a
slider of the notebook's panel with the keyboard and re-runs the panel.

- Notebook 03: moves a duration slider and asserts that the live timeline
  showed frames while the program ran, and that the run really changed: a
  new figure, a longer measured time, a longer ideal time.
- Notebook 05: asserts that no cell wrote an error and that every figure the
  saved notebook shows is there, then runs the producer/consumer panel, moves
  its "consumidores" slider down to 1 and asserts a new figure, measured
  with one consumer (at least 20 items × 60 ms).

Screenshots go to tests/artifacts/ for a person to look at (``browser-*``
for 03, ``browser-05-*`` for 05). Every process the tests start (JupyterLab,
its kernels, chromium) is stopped at the end, also on failure. Without
chromium the tests are skipped, except on CI (CI=true), where they must run.
``CONCTUTOR_TIME_SCALE`` (tests/conftest.py) reaches the kernels through the
server's environment; notebook 05's own millisecond durations are not scaled.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = Path(os.environ.get("CONCTUTOR_BROWSER_NOTEBOOK", ROOT / "notebooks" / "03-threads.ipynb"))
"""The notebook of the slider test (the variable is for trying the test on another notebook with a panel)."""
QUEUE_NOTEBOOK = ROOT / "notebooks" / "05-sincronizacao-e-filas.ipynb"
"""Notebook 05: run top to bottom, then its producer/consumer panel."""
TASK_QUEUE_NOTEBOOK = ROOT / "notebooks" / "07-filas-de-tarefas.ipynb"
"""Notebook 07: run top to bottom (Celery workers started from cells), then its worker panel."""
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
    log = open(tmp / "jupyterlab.log", "w")  # noqa: SIM115 - the server's output, closed in the finally below
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    started: list = []
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                raise AssertionError(
                    f"JupyterLab exited with {server.returncode}:\n{(tmp / 'jupyterlab.log').read_text()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as answer:
                    if answer.status == 200:
                        break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"JupyterLab did not answer in {SERVER_START_S} s:\n{(tmp / 'jupyterlab.log').read_text()}")
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


# A folded cell (a solution: source_hidden) shows a placeholder with a prompt of its own, never "[n]:":
# only the real input prompts count.
ALL_CELLS_DONE = """() => {
    const prompts = [...document.querySelectorAll(
        '.jp-Notebook .jp-CodeCell .jp-InputPrompt:not(.jp-Placeholder-prompt)')]
        .map(p => p.textContent.trim());
    return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
}"""

STOPPED_ON_ERROR = """() => {
    const running = [...document.querySelectorAll(
        '.jp-Notebook .jp-CodeCell .jp-InputPrompt:not(.jp-Placeholder-prompt)')]
        .some(p => p.textContent.includes('*'));
    const idle = /\\|\\s*Idle/.test((document.querySelector('#jp-main-statusbar') || {}).textContent || '');
    const error = document.querySelector(
        ".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
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

# The slider panel: a VBox with a slider and a "Rodar" button. This reads its
# state: the figure's src, the measured and ideal times printed under it, the
# slider's readout, and how many live frames (SVG) it holds.
def panel_state(slider: str) -> str:
    """JavaScript that reads the state of the panel with a slider labelled `slider` (null if none)."""
    return """() => {
    const panels = [...document.querySelectorAll('.jp-Notebook .widget-vbox')].filter(p =>
        [...p.querySelectorAll('.widget-slider')].some(s => s.textContent.includes('SLIDER'))
        && [...p.querySelectorAll('button')].some(b => /Rodar|rodando/.test(b.textContent)));
    if (!panels.length) return null;
    const p = panels[0];
    const slider = [...p.querySelectorAll('.widget-slider')].find(s => s.textContent.includes('SLIDER'));
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
}""".replace("SLIDER", slider)


def panel_ran(slider: str) -> str:
    """JavaScript: the panel shows a final figure and its measured time, and no live frame."""
    return ("() => { const s = (" + panel_state(slider) + ")(); "
            "return !!s && !!s.src && s.measured !== null && !s.svgFrames; }")


def new_run(slider: str) -> str:
    """JavaScript taking the old figure's src: the panel shows another final figure."""
    return ("(old) => { const s = (" + panel_state(slider) + ")(); "
            "return !!s && !!s.src && s.src !== old && s.measured !== null && !s.svgFrames; }")


PANEL_STATE = panel_state(SLIDER_TASK)
PANEL_RAN = panel_ran(SLIDER_TASK)
NEW_RUN = new_run(SLIDER_TASK)

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


def _prepare_root(tmp: Path, notebooks: list[Path]) -> Path:
    """Copies of the notebooks, without outputs, in a fresh directory, and of ``imgs/`` beside it.

    The repository's files are never touched, and with no stored outputs or
    execution counts a prompt "[n]:" can only come from this run. The notebooks
    read runs stored in ``../imgs`` where this Python cannot make them (a newer
    Python's features: notebook 05's ``Queue.shutdown`` and race microscope).
    """
    import nbformat

    root = tmp / "notebooks"
    root.mkdir()
    shutil.copytree(ROOT / "imgs", tmp / "imgs")
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        notebook.metadata.pop("widgets", None)
        nbformat.write(notebook, root / path.name)
    return root


def _saved_figures(path: Path) -> int:
    """How many figures (PNG outputs) the repository's copy of a notebook shows."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    return sum("image/png" in output.get("data", {})
               for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)


@dataclass
class Lab:
    url: str
    browser: Any


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One JupyterLab server on copies of the notebooks, and one chromium; both stopped at the end."""
    chromium = _chromium()
    for path in (NOTEBOOK, QUEUE_NOTEBOOK, TASK_QUEUE_NOTEBOOK):
        if not path.exists():
            pytest.fail(f"{path} is missing")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("browser-*.*"):
        old.unlink()
    tmp = tmp_path_factory.mktemp("lab")
    root = _prepare_root(tmp, list(dict.fromkeys([NOTEBOOK, QUEUE_NOTEBOOK, TASK_QUEUE_NOTEBOOK])))
    ours_before = {p.pid for p in _descendants(os.getpid())}
    try:
        with jupyterlab(root, tmp) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                yield Lab(url, browser)
            finally:
                browser.close()
    finally:
        leftover = [p for p in _descendants(os.getpid()) if p.pid not in ours_before]
        _stop_processes(leftover)


def _stop_kernels(url: str) -> None:
    """Shut down every kernel of the server (a test's notebook is done: free its memory and CPU)."""
    with urllib.request.urlopen(f"{url}/api/kernels", timeout=10) as answer:
        kernels = json.load(answer)
    for kernel in kernels:
        request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}", method="DELETE")
        with contextlib.suppress(urllib.error.URLError):
            urllib.request.urlopen(request, timeout=30).close()


def _run_all_cells(lab: Lab, notebook: Path, shots: str) -> Any:
    """Open `notebook` in a workspace of its own, Run ▸ Run All Cells, wait until all ran; returns the page.

    Fails with the error's text if a cell raised. `shots` prefixes the screenshots' names.
    """
    page = lab.browser.new_page(viewport={"width": 1400, "height": 1000})
    # a workspace per notebook: the other test's notebook is not restored next to this one
    page.goto(f"{lab.url}/lab/workspaces/{notebook.stem}/tree/{notebook.name}", timeout=120_000)
    _wait(page, "() => !!document.querySelector('.jp-Notebook .jp-CodeCell')", 120, "the notebook to open")
    _wait(page, KERNEL_IDLE_OR_DIALOG, 90, "the kernel to start (status bar 'Idle')")
    if page.locator(".jp-Dialog").count():  # a notebook without kernel metadata asks which one
        page.locator(".jp-Dialog .jp-mod-accept").click()
    _wait(page, KERNEL_IDLE, 90, "the kernel to start (status bar 'Idle')")
    page.screenshot(path=str(ARTIFACTS / f"{shots}-1-opened.png"))

    # Run ▸ Run All Cells
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    _wait(page, f"() => ({ALL_CELLS_DONE})() || ({STOPPED_ON_ERROR})()", CELLS_DONE_S,
          "every cell to run (prompts [n]:)")
    if not page.evaluate(ALL_CELLS_DONE):
        page.screenshot(path=str(ARTIFACTS / f"{shots}-error.png"))
        error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        raise AssertionError(f"Run All stopped at an error:\n{error.last.inner_text()[-2000:]}")
    _wait(page, KERNEL_IDLE, CELLS_DONE_S, "the kernel to be idle after running all cells")
    # live cells (record(live=True), run_and_show) ended with their final figure in place:
    # no placeholder text and no live frame left behind
    _wait(page, LIVE_CELLS_FINISHED, 30, "every live figure in a cell to be replaced by its final figure")
    return page


def _panel(page: Any, slider: str) -> Any:
    """The panel with a slider labelled `slider` and a "Rodar" button; runs it once if it has not run."""
    _wait(page, "() => !!(" + panel_state(slider) + ")()", 60, f"the slider panel (a '{slider}' slider and 'Rodar')")
    panel = page.locator(".jp-Notebook .widget-vbox").filter(
        has=page.locator(".widget-slider", has_text=slider)).filter(
        has=page.locator("button", has_text="Rodar")).first
    if page.evaluate(panel_state(slider))["measured"] is None:  # the panel has not run yet: run it once
        panel.locator("button", has_text="Rodar").first.click()
    _wait(page, panel_ran(slider), RUN_DONE_S, "the panel to show a figure and 'tempo medido'")
    _wait(page, KERNEL_IDLE, RUN_DONE_S, "the kernel to be idle after the first run of the panel")
    return panel


def test_moving_a_slider_reruns_the_program_live(lab: Lab) -> None:
    page = _run_all_cells(lab, NOTEBOOK, "browser")
    try:
        panel = _panel(page, SLIDER_TASK)
        rerun = panel.locator("button", has_text="Rodar").first
        before = page.evaluate(PANEL_STATE)
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser-2-all-cells-ran.png"))

        # move the slider with the keyboard: focus its handle, press the right arrow
        panel.locator(".widget-slider", has_text=SLIDER_TASK).locator(".noUi-handle").first.click()
        for _ in range(SLIDER_STEPS):
            page.keyboard.press("ArrowRight")
        _wait(page, "(old) => { const s = (" + PANEL_STATE + ")(); return !!s && s.readout !== old; }", 30,
              f"the readout of the '{SLIDER_TASK}' slider to change", arg=before["readout"])
        # The readout changes in the page at once; the kernel learns the value through comm messages. Under
        # load, a click sent before they arrived re-ran the old value (README run: ideal 0,36 s, unchanged).
        page.wait_for_timeout(500)
        _wait(page, KERNEL_IDLE, 30, "the kernel to take the slider's new value")

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
            frame_page = lab.browser.new_page()
            frame_page.set_content(f"<body style='margin:0'>{last_frame}</body>")
            frame_page.locator("svg").screenshot(path=str(ARTIFACTS / "browser-3-live-frame.png"))
            frame_page.close()
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser-4-after-slider.png"))
        panel.screenshot(path=str(ARTIFACTS / "browser-5-panel.png"))
    finally:
        page.close()
        _stop_kernels(lab.url)

    scale = float(os.environ.get("CONCTUTOR_TIME_SCALE", "1") or 1)
    delta = SLIDER_STEPS * 0.1 * scale  # seconds the moved task now lasts longer
    assert after["src"] != before["src"], "the figure did not change"
    assert frames, "no live frame (SVG) appeared in the browser while the program ran"
    rate = (len(times) - 1) / ((times[-1] - times[0]) / 1000) if len(times) > 1 and times[-1] > times[0] else 0.0
    print(f"live frames seen by the browser (spans|clock): {frames}; {rate:.1f} per second")
    assert after["ideal"] == pytest.approx(before["ideal"] + delta, abs=0.011 + 0.01 * delta), (before, after)
    assert after["measured"] > before["measured"] + delta / 2, (before, after)


QUEUE_SLIDER = "consumidores"
"""The slider of notebook 05's producer/consumer panel that the test moves (from 2 down to 1)."""
QUEUE_ITEMS, QUEUE_HANDLE_S = 20, 0.060
"""The panel's defaults: 20 items, 60 ms to handle each (not scaled by CONCTUTOR_TIME_SCALE)."""

ERROR_OUTPUTS = ".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
FIGURES = ".jp-Notebook .jp-Cell-outputArea img"


def _ran_clean(page: Any, shots: str) -> tuple[Any, int]:
    """After Run All: no cell wrote an error. Returns the error outputs' locator and how many figures show."""
    errors = page.locator(ERROR_OUTPUTS)
    assert errors.count() == 0, f"a cell wrote an error:\n{errors.first.inner_text()[-2000:]}"
    page.screenshot(path=str(ARTIFACTS / f"{shots}-2-all-cells-ran.png"))
    return errors, page.locator(FIGURES).count()


def test_queue_notebook_runs_and_its_panel_reruns_with_one_consumer(lab: Lab) -> None:
    page = _run_all_cells(lab, QUEUE_NOTEBOOK, "browser-05")
    try:
        errors, figures = _ran_clean(page, "browser-05")

        panel = _panel(page, QUEUE_SLIDER)
        before = page.evaluate(panel_state(QUEUE_SLIDER))
        # one consumer instead of two: focus the slider's handle, one step left
        panel.locator(".widget-slider", has_text=QUEUE_SLIDER).locator(".noUi-handle").first.click()
        page.keyboard.press("ArrowLeft")
        _wait(page, "(old) => { const s = (" + panel_state(QUEUE_SLIDER) + ")(); return !!s && s.readout !== old; }",
              30, f"the readout of the '{QUEUE_SLIDER}' slider to change", arg=before["readout"])
        page.evaluate(WATCH_FRAMES)
        panel.locator("button", has_text="Rodar").first.click()
        _wait(page, new_run(QUEUE_SLIDER), RUN_DONE_S, "a new final figure after moving the slider", arg=before["src"])
        _wait(page, KERNEL_IDLE, RUN_DONE_S, "the kernel to be idle after the re-run")
        after = page.evaluate(panel_state(QUEUE_SLIDER))
        frames = page.evaluate("() => window.__conctutorFrames")
        last_frame = page.evaluate("() => window.__conctutorLastFrame || ''")
        if last_frame:
            (ARTIFACTS / "browser-05-3-live-frame.svg").write_text(last_frame)
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser-05-4-after-slider.png"))
        panel.screenshot(path=str(ARTIFACTS / "browser-05-5-panel.png"))
        errors_after = errors.count()
    finally:
        page.close()
        _stop_kernels(lab.url)

    assert figures >= _saved_figures(QUEUE_NOTEBOOK), f"{figures} figures in the browser"
    assert errors_after == 0, "the panel's re-run wrote an error"
    assert (before["readout"], after["readout"]) == ("2", "1"), (before, after)
    assert after["src"] != before["src"], "the figure did not change"
    assert frames, "no live frame (SVG) appeared in the browser while the panel ran"
    # two consumers need at least 20 × 60 ms / 2; one consumer handles the 20 items one after another
    assert before["measured"] >= QUEUE_ITEMS * QUEUE_HANDLE_S / 2 - 0.01, before
    assert after["measured"] >= QUEUE_ITEMS * QUEUE_HANDLE_S - 0.01, (before, after)


WORKER_PROCESS = "conctutor.queue.workers"
"""In the command line of every Celery worker that `run_workers` starts."""


def _celery_workers() -> list[Any]:
    import psutil

    found = []
    for process in _descendants(os.getpid()):
        with contextlib.suppress(psutil.Error):
            if any(WORKER_PROCESS in part for part in process.cmdline()):
                found.append(process)
    return found


def test_task_queue_notebook_runs_and_its_panel_restarts_the_workers(lab: Lab) -> None:
    page = _run_all_cells(lab, TASK_QUEUE_NOTEBOOK, "browser-07")
    try:
        errors, figures = _ran_clean(page, "browser-07")
        workers_after_all_cells = _celery_workers()

        # the panel (interact_manual): one worker instead of two, then "Run Interact"
        panel = page.locator(".jp-Notebook .widget-interact").filter(
            has=page.locator(".widget-slider", has_text="workers")).first
        panel.scroll_into_view_if_needed()
        panel.locator(".widget-slider", has_text="workers").locator(".noUi-handle").first.click()
        page.keyboard.press("ArrowLeft")
        readout = panel.locator(".widget-slider", has_text="workers").locator(".widget-readout").first
        _wait(page, "(el) => el.textContent.trim() === '1'", 30, "the workers slider to read 1",
              arg=readout.element_handle())
        panel.locator("button", has_text="Run Interact").click()
        _wait(page, "(el) => !!el.querySelector('img')", RUN_DONE_S, "the panel's figure",
              arg=panel.element_handle())
        _wait(page, KERNEL_IDLE, RUN_DONE_S, "the kernel to be idle after the panel ran")
        panel.screenshot(path=str(ARTIFACTS / "browser-07-3-panel.png"))
        title = panel.locator("img").first.get_attribute("src") or ""
        errors_after = errors.count()
        workers_after_panel = _celery_workers()
    finally:
        page.close()
        _stop_kernels(lab.url)

    assert figures >= _saved_figures(TASK_QUEUE_NOTEBOOK), f"{figures} figures in the browser"
    assert title.startswith("data:image/png"), "the panel showed no figure"
    assert errors_after == 0, "the panel's run wrote an error"
    # the notebook stops every group it starts, and so does each run of the panel
    assert not workers_after_all_cells, [p.cmdline() for p in workers_after_all_cells]
    assert not workers_after_panel, [p.cmdline() for p in workers_after_panel]
