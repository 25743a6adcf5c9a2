"""The package as a user installs it: the sdist of this checkout and the wheel built from it, installed into a fresh
virtual environment outside the checkout (dependencies reused from the project's environment; the `installed` fixture
of conftest.py), used from an empty folder. The whole smoke recipe run by the installed `ded` is
`tests/test_reproduce.py`'s run: every test there reads it."""
import json, subprocess
from pathlib import Path
from conftest import ROOT, files_below, run_checked, user_env


def test_the_wheel_carries_configs_and_stage_notebooks(installed):
    import tarfile, zipfile
    _, _, wheel, sdist = installed
    in_sdist = {name.split('/', 1)[1] for name in tarfile.open(sdist).getnames() if '/' in name}
    assert {'settings.ini', 'MANIFEST.in', 'ded_nb/configs/zero3.json', 'stages/00_world.ipynb'} <= in_sdist
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {'ded_nb/configs/zero3.json', 'ded_nb/configs/accelerate_zero3_8gpu.yaml'} <= names
    stages = sorted(p.name for p in (ROOT / 'stages').glob('*.ipynb'))
    assert len(stages) == 6 and {f'ded_nb/stages/{s}' for s in stages} <= names
    modules = sorted(p.name for p in (ROOT / 'ded_nb').glob('*.py'))
    assert {f'ded_nb/{m}' for m in modules} <= names


def test_installed_ded_runs_in_an_empty_folder(installed, tmp_path, data_dir):
    bin_dir, package, _, _ = installed
    home, work = tmp_path / 'home', tmp_path / 'work'
    home.mkdir(), work.mkdir()
    env = user_env(bin_dir, home, data_dir)
    before = files_below(package)
    where = json.loads(run_checked([bin_dir / 'python', '-c', 'import json, ded_nb; from ded_nb.core import project_root; '
                                    'from ded_nb.models import cache_root; from ded_nb.reproduce import stages_dir; '
                                    'print(json.dumps([ded_nb.__file__, str(project_root()), str(cache_root()), '
                                    'str(stages_dir())]))'], work, env))
    assert Path(where[0]).parent == package and where[1] == 'None'  # the installed copy, used outside any checkout
    assert where[2] == str(home / '.cache' / 'ded-nb') and where[3] == str(package / 'stages')

    # `ded grade` on a few rows of MATH-500: one right, one wrong
    from ded_nb.data import load_problems
    problems = load_problems('math500[:2]', data_dir=data_dir)
    rows = [{'problem_id': problems[0].id, 'response': f'<think>ok</think> \\boxed{{{problems[0].answer}}}'},
            {'problem_id': problems[1].id, 'response': '<think>hm</think> \\boxed{-12345}'}]
    (work / 'responses.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    run_checked([bin_dir / 'ded', 'grade', '--benchmark', 'math500', '--responses', 'responses.jsonl', '--out',
                 'verdicts.jsonl', '--workers', '0', '--no-progress'], work, env)
    verdicts = [json.loads(line) for line in (work / 'verdicts.jsonl').read_text().splitlines()]
    assert [v['correct'] for v in verdicts] == [True, False]

    # the paper profile's SFT launch command names configs that exist, inside the installed package
    printed = subprocess.run([bin_dir / 'ded', 'reproduce', '--profile', 'paper', '--dry-run'], cwd=work, env=env,
                             capture_output=True, text=True, timeout=300)
    assert printed.returncode == 0, printed.stderr[-3000:]
    launch = next(line for line in (printed.stdout + printed.stderr).splitlines() if 'accelerate launch' in line)
    words = launch[launch.index('accelerate launch'):].split()
    configs = [Path(words[i + 1]) for i, w in enumerate(words) if w in ('--config_file', '--deepspeed_config_file')]
    assert len(configs) == 2 and all(p.exists() and package in p.parents for p in configs)
    assert files_below(package) == before  # nothing written into site-packages
