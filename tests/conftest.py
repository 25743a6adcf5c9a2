"""Shared fixtures: the real data directory (tests that need it skip with a clear message when there is none); the
`alone` mark; the longest test modules collected first, so that two workers (`make test`: pytest-xdist, a module per
worker at a time) start with them and finish together."""
import os, sys, time
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
LONGEST_FIRST = ('test_real_smoke', 'test_reproduce', 'test_codegrade_data', 'test_real_models', 'test_distributed',
                 'test_notebook_outputs', 'test_wheel', 'test_generate')


def pytest_configure(config):
    config.addinivalue_line('markers', 'alone: counts sandbox processes or times them; `make test` runs these with no '
                                       'other test beside them')


def pytest_collection_modifyitems(config, items):
    "The longest modules first (a stable sort: within a module, and among the rest, the order stays the file's)."
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).stem, len(rank)))
