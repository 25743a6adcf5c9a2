"""The notebooks as a reader meets them: `make lab` (JupyterLab, headless) and a real browser (Debian's Chromium).

The server is the one `make lab` starts (on 127.0.0.1, a free port, a random token). Its REST API lists the
notebooks; then everything else is checked from the page a browser renders (headless Chromium driven by Selenium
through chromedriver), not from the API: a module notebook opens with every markdown cell rendered, its saved example
results shown and no error output; the executed distillation stage shows its tables as tables; the executed figures
stage shows the report's figure loaded (the same PNG file the README links, natural width > 0). Screenshots go to
`.ded/lab-screenshots/` (git-ignored). The browser tests need `chromium` and `chromedriver` (`make browser-deps`,
part of `make test`, installs them) and the committed `reports/tiny/`.
"""
import json, os, secrets, shutil, signal, socket, subprocess, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / '.ded' / 'lab-screenshots'
CHROMIUM, DRIVER = shutil.which('chromium'), shutil.which('chromedriver')
needs_browser = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason='chromium / chromedriver missing: make browser-deps')
MODULE_NB = 'nbs/03_grade.ipynb'
STAGE_NBS = ['reports/tiny/notebooks/03_distillation.ipynb', 'reports/tiny/notebooks/05_figures.ipynb']
FIGURE = 'reports/tiny/fig1_accuracy_vs_corpus_size.png'  # the figure the README shows for Fig. 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def stop(proc):
    "Stop the process group of `proc` (make and the jupyter server it started)."
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        proc.wait()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "`make lab`, headless on a free loopback port with a random token and its own settings folder; (base url, token)."
    if not (ROOT / '.venv' / '.installed').exists():
        pytest.skip('make lab uses the project environment (.venv, made by make install)')
    port, token, home = free_port(), secrets.token_hex(16), tmp_path_factory.mktemp('lab')
    news = home / 'settings' / '@jupyterlab' / 'apputils-extension' / 'notification.jupyterlab-settings'
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({'fetchNews': 'false'}))  # no "get notified about news?" box over the screenshots
    args = (f'--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token} --ServerApp.port_retries=0 '
            f'--LabApp.user_settings_dir={home / "settings"} --LabApp.workspaces_dir={home / "workspaces"}')
    proc = subprocess.Popen(['make', '-s', 'lab', f'LAB_ARGS={args}'], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f'jupyter lab exited: {proc.stdout.read().decode()[-2000:]}')
            try:
                urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail('JupyterLab did not answer within 90 s')
                time.sleep(0.5)
        yield base, token
    finally:
        stop(proc)


def test_make_lab_serves_the_notebooks(lab):
    base, token = lab
    listing = json.load(urllib.request.urlopen(f'{base}/api/contents/nbs?token={token}', timeout=10))
    names = {item['name'] for item in listing['content']}
    assert {'00_core.ipynb', '14_recipe.ipynb', 'index.ipynb'} <= names
    lab_page = urllib.request.urlopen(f'{base}/lab?token={token}', timeout=10).read().decode()
    assert 'JupyterLab' in lab_page


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    "Headless Chromium driven by chromedriver (both Debian's; Selenium's own driver download is never used)."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1400,1000',
                f'--user-data-dir={tmp_path_factory.mktemp("chromium")}'):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _wait(condition, what: str, timeout: float = 60):
    "Poll `condition()` until it returns something true; fail naming `what`."
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f'timed out after {timeout:.0f} s waiting for {what}')


RENDERED = '''
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
if (!panel) return null;
const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
return {
  cells: cells.length,
  markdown_rendered: panel.querySelectorAll('.jp-MarkdownCell.jp-mod-rendered').length,
  outputs: panel.querySelectorAll('.jp-OutputArea-output').length,
  errors: [...panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
                                     + '.jp-OutputArea-output.jp-mod-error, .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')]
          .map(e => e.innerText.slice(0, 300)),
  tables: panel.querySelectorAll('.jp-OutputArea-output table').length,
  dirty: !!document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty'),
  kernel: (panel.querySelector('.jp-Toolbar-kernelName') || {}).innerText || null,
};
'''


def open_notebook(driver, lab, path: str) -> dict:
    "Open `path` in JupyterLab, wait until every cell of the file is on the page; what the page shows."
    base, token = lab
    cells = len(json.loads((ROOT / path).read_text())['cells'])
    driver.get(f'{base}/lab/tree/{path}?token={token}&reset')
    _wait(lambda: (s := driver.execute_script(RENDERED)) and s['cells'] == cells, f'{path}: {cells} cells')
    # cells render lazily as they scroll into view: walk to the end; the kernel connects (its name in the toolbar)
    driver.execute_script('''
      const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell');
      cells.forEach(c => c.scrollIntoView());''')
    _wait(lambda: driver.execute_script(RENDERED)['kernel'] == 'python3', f'{path}: the python3 kernel', timeout=60)
    time.sleep(1)  # JupyterLab writes the kernel's metadata into the notebook as it connects
    state = driver.execute_script(RENDERED)
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script('''
      const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
      (panel.querySelector('.jp-OutputArea-output') || panel.querySelector('.jp-Cell')).scrollIntoView({block: 'center'});''')
    time.sleep(0.5)
    driver.save_screenshot(str(SHOTS / (Path(path).stem + '.png')))
    return state


def check_page(state: dict):
    "What every notebook must show: no error output, and no 'modified' mark from merely opening it."
    assert state['errors'] == [], state['errors']
    assert not state['dirty'], 'opening the notebook marked it modified (kernelspec or language_info metadata differ)'


@needs_browser
def test_module_notebook_renders_with_its_examples(lab, browser):
    nb = json.loads((ROOT / MODULE_NB).read_text())
    shown = sum(len(c.get('outputs', [])) for c in nb['cells'] if c['cell_type'] == 'code')
    state = open_notebook(browser, lab, MODULE_NB)
    check_page(state)
    assert state['markdown_rendered'] == sum(c['cell_type'] == 'markdown' for c in nb['cells'])
    assert shown > 0 and state['outputs'] >= shown  # the saved example results are on the page


@needs_browser
def test_executed_distillation_stage_shows_tables(lab, browser):
    state = open_notebook(browser, lab, STAGE_NBS[0])
    check_page(state)
    assert state['tables'] >= 3  # the arms, the headlines, the experiments: rendered as tables, not raw text


FIGURE_LOADED = '''
const want = arguments[0];
const imgs = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img')];
const img = imgs.find(i => decodeURIComponent(i.src).split('?')[0].endsWith(want));
if (!img) return {found: false, srcs: imgs.map(i => i.src)};
img.scrollIntoView();
return {found: true, complete: img.complete, width: img.naturalWidth, src: img.src};
'''


@needs_browser
def test_figures_stage_shows_the_report_figure(lab, browser):
    state = open_notebook(browser, lab, STAGE_NBS[1])
    check_page(state)
    img = _wait(lambda: (s := browser.execute_script(FIGURE_LOADED, FIGURE)) and s.get('complete') and s,
                f'{FIGURE} in the rendered notebook', timeout=30)
    assert img['found'] and img['width'] > 0, img  # the PNG file loaded by the browser...
    assert f'({Path(FIGURE).name})' in (ROOT / FIGURE).with_name('README.md').read_text()  # ...is the README's figure
    browser.save_screenshot(str(SHOTS / 'fig1_in_05_figures.png'))
