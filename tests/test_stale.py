"""Results cannot go stale: editing the code of a `ded_nb` module re-runs exactly the stages whose kernels loaded it (and
the stages that read their outputs when those come out different), nothing else; an edit to comments or docstrings
re-runs nothing. Run on a copy of the package (PYTHONPATH), so the real one is never edited."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parent.parent

RUNNER = '''
import json, sys
from ded_nb.reproduce import reproduce, Stage
here = sys.argv[2]
stages = [Stage('a', f'{here}/a.ipynb'), Stage('b', f'{here}/b.ipynb'), Stage('c', f'{here}/c.ipynb', ('b',))]
log = reproduce('smoke', run_root=f'{here}/runs', reports=f'{here}/reports', stages=stages, progress=False,
                dry_run=sys.argv[1] == 'plan')
print(json.dumps({s['stage']: [s['status'], s['why']] for s in log}))
'''


def stage_notebook(path: Path, body: str):
    "A stage notebook: the parameters cell every stage has, then `body`."
    params = "profile = 'smoke'\noverrides = []\nrun_dir = ''\nreports_dir = ''\ninputs = {}"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(params, metadata={'tags': ['parameters']}),
                                         nbformat.v4.new_code_cell(body)])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nbformat.write(nb, str(path))


def test_editing_a_module_reruns_exactly_the_stages_that_loaded_it(tmp_path):
    pkg = tmp_path / 'pkg'
    shutil.copytree(ROOT / 'ded_nb', pkg / 'ded_nb', ignore=shutil.ignore_patterns('__pycache__'))
    stage_notebook(tmp_path / 'a.ipynb', 'import ded_nb.tasks')  # a loads tasks
    stage_notebook(tmp_path / 'b.ipynb', 'import ded_nb.stats')  # b loads stats (and core); c reads b's outputs
    stage_notebook(tmp_path / 'c.ipynb', 'x = 1')
    (tmp_path / 'runner.py').write_text(RUNNER)
    env = {**os.environ, 'PYTHONPATH': str(pkg)}

    def ded(mode):
        done = subprocess.run([sys.executable, str(tmp_path / 'runner.py'), mode, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert {s: v[0] for s, v in ded('run').items()} == {'a': 'ran', 'b': 'ran', 'c': 'ran'}
    assert {s: v[0] for s, v in ded('plan').items()} == {'a': 'skip', 'b': 'skip', 'c': 'skip'}

    tasks = pkg / 'ded_nb' / 'tasks.py'
    tasks.write_text(tasks.read_text().replace('"""', '"""Reworded. ', 1) + '\n# a comment\n')  # docs, no code
    assert {s: v[0] for s, v in ded('plan').items()} == {'a': 'skip', 'b': 'skip', 'c': 'skip'}
    with open(tasks, 'a') as f: f.write('\nEDITED = 1\n')
    plan = ded('plan')
    assert plan['a'] == ['would run', 'library changed: ded_nb.tasks']
    assert plan['b'][0] == 'skip' and plan['c'][0] == 'skip'
    assert {s: v[0] for s, v in ded('run').items()} == {'a': 'ran', 'b': 'skip', 'c': 'skip'}

    with open(pkg / 'ded_nb' / 'stats.py', 'a') as f: f.write('\nEDITED = 1\n')
    plan = ded('plan')
    assert plan['a'][0] == 'skip'
    assert plan['b'] == ['would run', 'library changed: ded_nb.stats']
    assert plan['c'] == ['would run', 'input runs now: b (skipped if its results come out the same)']  # it reads b's
    ran = ded('run')
    assert ran['b'][0] == 'ran' and ran['c'] == ['skip', 'done: same config, input results and library code']

    with open(pkg / 'ded_nb' / 'core.py', 'a') as f: f.write('\nEDITED = 1\n')  # every kernel loads core
    assert {s: v[0] for s, v in ded('plan').items()} == {'a': 'would run', 'b': 'would run', 'c': 'would run'}
