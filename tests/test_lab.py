"`make lab` starts JupyterLab on the project's environment: headless on 127.0.0.1, list the notebooks through the REST API, stop."
import json, os, secrets, signal, socket, subprocess, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (ROOT / '.venv' / '.installed').exists(), reason='make lab uses the project environment (.venv, made by make install)')
def test_make_lab_serves_the_notebooks():
    port, token = free_port(), secrets.token_hex(16)
    args = f'--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token} --ServerApp.port_retries=0'
    proc = subprocess.Popen(['make', '-s', 'lab', f'LAB_ARGS={args}'], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f'http://127.0.0.1:{port}/api/contents/nbs?token={token}'
        deadline, listing = time.time() + 90, None
        while time.time() < deadline and listing is None:
            if proc.poll() is not None: pytest.fail(f'jupyter lab exited: {proc.stdout.read().decode()[-2000:]}')
            try: listing = json.load(urllib.request.urlopen(url, timeout=5))
            except OSError: time.sleep(1)
        assert listing is not None, 'JupyterLab did not answer within 90 s'
        names = {item['name'] for item in listing['content']}
        assert {'00_core.ipynb', '14_recipe.ipynb', 'index.ipynb'} <= names
        lab_page = urllib.request.urlopen(f'http://127.0.0.1:{port}/lab?token={token}', timeout=10).read().decode()
        assert 'JupyterLab' in lab_page
    finally:
        stop(proc)
    assert proc.returncode is not None


def stop(proc):
    "Stop the process group of `proc` (make and the jupyter server it started)."
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError: proc.wait()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait()
