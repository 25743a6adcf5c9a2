"""The package as a user installs it: the sdist of this checkout and the wheel built from it, installed into a fresh
virtual environment outside the checkout (dependencies reused from the project's environment), used from an empty
folder."""
import json, os, shutil, subprocess, sys, sysconfig
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ['setup.py', 'settings.ini', 'pyproject.toml', 'README.md', 'MANIFEST.in', 'ded_nb', 'stages']


def _run(cmd, cwd, env, timeout=900):
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f'{cmd}: exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out.stdout


def _files(folder: Path) -> set:
    return {p.relative_to(folder) for p in folder.rglob('*') if p.is_file() and '__pycache__' not in p.parts}


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    "A venv outside the checkout with the wheel of this checkout installed: (its bin folder, its ded_nb folder)."
    tmp = tmp_path_factory.mktemp('wheel')
    source = tmp / 'source'  # a copy of the sources: building must not write into the checkout (build/, egg-info)
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns('__pycache__', '*.egg-info'))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(src, source / name)
    env = {**os.environ, 'PIP_DISABLE_PIP_VERSION_CHECK': '1'}
    _run([sys.executable, 'setup.py', '-q', 'sdist', '-d', tmp / 'sdist'], source, env)  # the sdist, then its wheel
    sdist = next((tmp / 'sdist').glob('ded_nb-*.tar.gz'))
    _run([sys.executable, '-m', 'pip', 'wheel', sdist, '--no-deps', '--no-build-isolation', '-q', '-w', tmp / 'dist'],
         tmp, env)
    wheel = next((tmp / 'dist').glob('ded_nb-*.whl'))
    venv = tmp / 'venv'
    _run([getattr(sys, '_base_executable', sys.executable), '-m', 'venv', venv], tmp, env)
    py = venv / 'bin' / 'python'
    site = Path(_run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], tmp, env).strip())
    # the dependencies: this environment's site-packages, after the new one's (its .pth files, such as the checkout's
    # editable install, are not read: only the new environment's own are)
    (site / 'project-deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    _run([py, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', wheel], tmp, env)
    return venv / 'bin', site / 'ded_nb', wheel, sdist


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
    from ded_nb.data import load_problems
    bin_dir, package, _, _ = installed
    home, work = tmp_path / 'home', tmp_path / 'work'
    home.mkdir(), work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('DED_CACHE', 'VIRTUAL_ENV', 'PYTHONPATH')}
    env.update(HOME=str(home), DED_DATA_DIR=str(data_dir), PATH=f'{bin_dir}:{env["PATH"]}')
    before = _files(package)
    where = json.loads(_run([bin_dir / 'python', '-c', 'import json, ded_nb; from ded_nb.core import project_root; '
                             'from ded_nb.models import cache_root; from ded_nb.reproduce import stages_dir; '
                             'print(json.dumps([ded_nb.__file__, str(project_root()), str(cache_root()), '
                             'str(stages_dir())]))'], work, env))
    assert Path(where[0]).parent == package and where[1] == 'None'  # the installed copy, used outside any checkout
    assert where[2] == str(home / '.cache' / 'ded-nb') and where[3] == str(package / 'stages')

    # `ded grade` on a few rows of MATH-500: one right, one wrong
    problems = load_problems('math500[:2]', data_dir=data_dir)
    rows = [{'problem_id': problems[0].id, 'response': f'<think>ok</think> \\boxed{{{problems[0].answer}}}'},
            {'problem_id': problems[1].id, 'response': '<think>hm</think> \\boxed{-12345}'}]
    (work / 'responses.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    _run([bin_dir / 'ded', 'grade', '--benchmark', 'math500', '--responses', 'responses.jsonl', '--out', 'verdicts.jsonl',
          '--workers', '0', '--no-progress'], work, env)
    verdicts = [json.loads(line) for line in (work / 'verdicts.jsonl').read_text().splitlines()]
    assert [v['correct'] for v in verdicts] == [True, False]

    # `ded reproduce --profile smoke`: runs and reports under this folder; the tiny world in the shared cache (DED_CACHE)
    smoke_env = {**env, 'DED_CACHE': str(ROOT / '.ded' / 'cache')}
    _run([bin_dir / 'ded', 'reproduce', '--profile', 'smoke'], work, smoke_env, timeout=1500)
    reports = work / 'reports' / 'smoke'
    assert (reports / 'README.md').exists() and (reports / 'results.json').exists()
    assert len(list((reports / 'notebooks').glob('*.ipynb'))) == 6 and (reports / 'fig1_accuracy_vs_corpus_size.png').exists()
    assert len(list((work / '.ded' / 'runs' / 'smoke').glob('*/done.json'))) == 6
    assert _files(package) == before  # nothing written into site-packages

    # the paper profile's SFT launch command names configs that exist, inside the installed package
    printed = subprocess.run([bin_dir / 'ded', 'reproduce', '--profile', 'paper', '--dry-run'], cwd=work, env=env,
                             capture_output=True, text=True, timeout=300)
    assert printed.returncode == 0, printed.stderr[-3000:]
    launch = next(line for line in (printed.stdout + printed.stderr).splitlines() if 'accelerate launch' in line)
    words = launch[launch.index('accelerate launch'):].split()
    configs = [Path(words[i + 1]) for i, w in enumerate(words) if w in ('--config_file', '--deepspeed_config_file')]
    assert len(configs) == 2 and all(p.exists() and package in p.parents for p in configs)
