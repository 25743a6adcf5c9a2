"""Shared fixtures: the real data directory (tests that need it skip with a clear message when there is none); the
package as a user installs it (built once for all workers); the `alone` mark; the longest test modules collected
first, so that two workers (`make test`: pytest-xdist, a module per worker at a time) start with them and finish
together."""
import fcntl, json, os, shutil, subprocess, sys, sysconfig, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tests'))

@pytest.fixture(scope='session')
def data_dir():
    "The local data directory (../shared/data or $DED_DATA_DIR); skips the test when none is found."
    from ded_nb.data import find_data_dir
    found = find_data_dir()
    if found is None:
        pytest.skip('no data directory: set DED_DATA_DIR or place the shared data at ../shared/data (see its MANIFEST.md)')
    return found

@pytest.fixture
def ded_cli():
    "The path of the installed `ded` command of this environment."
    path = Path(sys.executable).parent / 'ded'
    if not path.exists(): pytest.fail(f'`ded` is not installed beside {sys.executable}: run `make install`')
    return str(path)

# what a source distribution of this checkout holds
SOURCES = ['setup.py', 'settings.ini', 'pyproject.toml', 'README.md', 'MANIFEST.in', 'ded_nb', 'stages']


def run_checked(cmd, cwd, env, timeout=900) -> str:
    "Run `cmd`; its stdout, or a failed test naming the command, its exit code and the tails of its output."
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f'{cmd}: exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out.stdout


def build_installed(tmp: Path) -> dict:
    "The sdist of this checkout, its wheel, and a venv in `tmp` with the wheel installed (dependencies: this one's)."
    source = tmp / 'source'  # a copy of the sources: building must not write into the checkout (build/, egg-info)
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns('__pycache__', '*.egg-info'))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(src, source / name)
    env = {**os.environ, 'PIP_DISABLE_PIP_VERSION_CHECK': '1'}
    run_checked([sys.executable, 'setup.py', '-q', 'sdist', '-d', tmp / 'sdist'], source, env)  # the sdist, its wheel
    sdist = next((tmp / 'sdist').glob('ded_nb-*.tar.gz'))
    run_checked([sys.executable, '-m', 'pip', 'wheel', sdist, '--no-deps', '--no-build-isolation', '-q', '-w',
                 tmp / 'dist'], tmp, env)
    wheel = next((tmp / 'dist').glob('ded_nb-*.whl'))
    venv = tmp / 'venv'
    run_checked([getattr(sys, '_base_executable', sys.executable), '-m', 'venv', venv], tmp, env)
    py = venv / 'bin' / 'python'
    site = Path(run_checked([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], tmp, env).strip())
    # the dependencies: this environment's site-packages, after the new one's (its .pth files, such as the checkout's
    # editable install, are not read: only the new environment's own are)
    (site / 'project-deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    run_checked([py, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', wheel], tmp, env)
    return {'bin': str(venv / 'bin'), 'package': str(site / 'ded_nb'), 'wheel': str(wheel), 'sdist': str(sdist)}


@pytest.fixture(scope='session')
def installed(tmp_path_factory):
    """A venv outside the checkout with the wheel of this checkout installed: (its bin folder, its ded_nb folder, the
    wheel, the sdist). Built once per `pytest` run: under pytest-xdist the first worker to ask builds it in the run's
    shared temporary folder, under a lock, and the others wait and use it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        shared = shared.parent  # the folder every worker's temporary folder is in
    ready = shared / 'installed-wheel.json'
    with open(shared / 'installed-wheel.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            tmp = shared / 'installed-wheel'
            shutil.rmtree(tmp, ignore_errors=True)  # a build that failed half-way
            tmp.mkdir()
            ready.write_text(json.dumps(build_installed(tmp)))
    where = json.loads(ready.read_text())
    return Path(where['bin']), Path(where['package']), Path(where['wheel']), Path(where['sdist'])


def files_below(folder: Path) -> set:
    "Every file below `folder` (bytecode caches aside), relative to it."
    return {p.relative_to(folder) for p in folder.rglob('*') if p.is_file() and '__pycache__' not in p.parts}


def user_env(bin_dir: Path, home: Path, data_dir: Path | None = None) -> dict:
    "The environment of a user of the installed package: its `bin` first on PATH, `home` as HOME, the data directory."
    env = {k: v for k, v in os.environ.items() if k not in ('DED_CACHE', 'VIRTUAL_ENV', 'PYTHONPATH')}
    env.update(HOME=str(home), PATH=f'{bin_dir}:{env["PATH"]}')
    if data_dir is not None:
        env['DED_DATA_DIR'] = str(data_dir)
    return env


def sandbox_processes():
    "Pids of live processes running as a sandbox uid."
    from ded_nb.sandbox import UID_BASE, UID_COUNT
    pids = []
    for d in Path('/proc').iterdir():
        if not d.name.isdigit(): continue
        try:
            uid = int(next(l for l in (d / 'status').read_text().splitlines() if l.startswith('Uid:')).split()[1])
            state = next(l for l in (d / 'status').read_text().splitlines() if l.startswith('State:')).split()[1]
        except (OSError, StopIteration): continue
        if UID_BASE <= uid < UID_BASE + UID_COUNT and state != 'Z': pids.append(int(d.name))
    return pids

@pytest.fixture
def no_sandbox_leftovers():
    "Fails the test when a sandboxed process outlives it (is still there 0.2 s after the test; with none, no wait)."
    yield
    deadline = time.monotonic() + 0.2  # a killed process may take a moment to be reaped
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes() == [], 'a sandboxed process outlived its test'


# test modules by measured time (`make test` on a fresh clone, 2 cores, cold caches): the longest first
LONGEST_FIRST = ('test_real_smoke', 'test_reproduce', 'test_codegrade_data', 'test_real_models',
                 'test_notebook_outputs', 'test_distributed', 'test_generate')


def pytest_configure(config):
    config.addinivalue_line('markers', 'alone: counts sandbox processes or times them; `make test` runs these with no '
                                       'other test beside them')


def pytest_collection_modifyitems(config, items):
    "The longest modules first (a stable sort: within a module, and among the rest, the order stays the file's)."
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).stem, len(rank)))
