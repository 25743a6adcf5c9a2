"""The module notebooks run as `nbdev_test` runs them (this is where `make test` runs them), and the example results
saved in them (cells tagged `show`) are what the code gives today.

`tools/nb_outputs.py --check` runs every module notebook as `nbdev_test` does and fails when a saved output differs
from a fresh run, when a shown cell writes to stderr (a warning or a progress bar a reader would see), or when a
notebook leaves files in its temporary folder. Refresh the outputs with `python tools/nb_outputs.py`.
"""
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_saved_example_outputs_are_current_and_quiet():
    run = subprocess.run([sys.executable, 'tools/nb_outputs.py', '--check', '--workers', '2'], cwd=ROOT,
                         capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    shown = [line for line in run.stdout.splitlines() if ' shown cells, ' in line]
    assert len(shown) == len(list((ROOT / 'nbs').glob('*.ipynb')))  # every notebook ran
    assert sum(int(line.split(': ')[1].split()[0]) for line in shown) >= 50  # and they show their examples


def test_the_check_fails_on_a_stale_output(tmp_path):
    "The check must be able to fail: a notebook whose saved output no longer matches the code is reported."
    import json

    nbs = tmp_path / 'nbs'
    nbs.mkdir()
    nb = json.loads((ROOT / 'nbs' / '17_stats.ipynb').read_text())
    cell = next(c for c in nb['cells'] if 'show' in c['metadata'].get('tags', []) and c.get('outputs'))
    for out in cell['outputs']:
        if 'data' in out:
            out['data']['text/plain'] = 'a stale result'
    (nbs / '17_stats.ipynb').write_text(json.dumps(nb, indent=1))
    run = subprocess.run([sys.executable, str(ROOT / 'tools' / 'nb_outputs.py'), '--check', str(nbs / '17_stats.ipynb')],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1 and 'saved outputs differ from a fresh run' in run.stderr, run.stderr[-3000:]


def test_the_check_fails_on_a_failing_notebook_check(tmp_path):
    "`make test` runs the notebooks here alone (no separate nbdev_test): a failing `test_eq` in a notebook must fail it."
    import json

    nbs = tmp_path / 'nbs'
    nbs.mkdir()
    nb = json.loads((ROOT / 'nbs' / '17_stats.ipynb').read_text())
    cell = next(c for c in nb['cells'] if c['cell_type'] == 'code' and 'test_eq(' in ''.join(c['source'])
                and 'show' not in c['metadata'].get('tags', []))
    cell['source'] = ''.join(cell['source']) + '\ntest_eq(1, 2)  # a broken check'
    (nbs / '17_stats.ipynb').write_text(json.dumps(nb, indent=1))
    run = subprocess.run([sys.executable, str(ROOT / 'tools' / 'nb_outputs.py'), '--check', str(nbs / '17_stats.ipynb')],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 and 'a broken check' in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]
