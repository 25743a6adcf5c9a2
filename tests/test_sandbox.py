"""Hostile programs: each gets a failing verdict while the host, the other tests and the batch carry on, and no process outlives its test."""
import os, socket, subprocess, sys, threading, time
from pathlib import Path
import pytest
from ded_nb.sandbox import run_python, Limits, bwrap_path, SandboxUnavailable
from ded_nb.codegrade import TestSuite as Suite, run_suite, parse_assert_suite, grade_code_responses
from ded_nb.core import Problem, Response

pytestmark = [pytest.mark.skipif(bwrap_path() is None, reason='bubblewrap is not installed (apt-get install bubblewrap)'),
              pytest.mark.usefixtures('no_sandbox_leftovers'), pytest.mark.alone]
ROOT = Path(__file__).resolve().parent.parent
FAST = Limits(cpu_seconds=2, wall_seconds=6)
SPIN = Limits(cpu_seconds=1, wall_seconds=3)  # for programs that spin until they are killed: the least the limits allow
HUNT = Limits(cpu_seconds=5, wall_seconds=20)  # a program walking the filesystem: timed out once under FAST, right after the parallel test pass

def test_fork_bomb():
    code = 'import os\nwhile True:\n    try: os.fork()\n    except OSError: pass'
    start = time.monotonic()
    r = run_python(code, limits=SPIN)
    assert r.status == 'timeout' and time.monotonic() - start < 15

def test_memory_bomb():
    r = run_python('x = bytearray(50 * 2**30)', limits=FAST)
    assert r.status == 'memory'
    r = run_python('a = []\nwhile True: a.append(" " * 10**7)', limits=Limits(cpu_seconds=5, memory_mb=512))
    assert r.status == 'memory'

def test_infinite_loop_cpu_and_sleeping_wall():
    assert run_python('while True: pass', limits=SPIN).status == 'timeout'
    r = run_python('import time\ntime.sleep(100)', limits=Limits(cpu_seconds=1, wall_seconds=2))
    assert r.status == 'timeout' and r.wall_seconds < 5

def test_detached_child_is_killed():
    code = ('import os, time\n'
            'if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(300)\n    os._exit(0)\n'
            'print("parent done")')
    r = run_python(code, limits=FAST)
    assert r.status == 'ok' and r.stdout == 'parent done\n'
    # the autouse fixture checks that the grandchild did not survive

def test_no_network_even_to_host_loopback():
    server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen(1); server.settimeout(3)
    port = server.getsockname()[1]
    code = f'import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(("127.0.0.1", {port}))\nprint("connected")'
    r = run_python(code, limits=FAST)
    assert r.status == 'runtime_error' and 'connected' not in r.stdout
    with pytest.raises(socket.timeout): server.accept()
    server.close()
    r = run_python('import socket\nprint(socket.getaddrinfo("example.com", 80))', limits=FAST)
    assert r.status == 'runtime_error'

def test_writes_to_project_and_home_fail(tmp_path):
    targets = [ROOT / 'PWNED', Path.home() / 'PWNED', Path(sys.prefix) / 'PWNED', Path('/usr/PWNED')]
    code = 'import sys\nok = 0\nfor p in sys.argv[1:]:\n    try:\n        open(p, "w").write("x"); ok += 1\n    except OSError: pass\nprint(ok)'
    r = run_python(code, args=[str(t) for t in targets], limits=FAST)
    assert r.stdout.strip() == '0'
    assert not any(t.exists() for t in targets)

def test_reads_outside_the_sandbox_fail():
    secrets_on_host = [ROOT / 'settings.ini', Path.home() / '.bashrc', Path(sys.prefix) / 'pyvenv.cfg', Path('/etc/passwd'), Path('/proc/1/environ')]
    code = ('import sys\nseen = []\nfor p in sys.argv[1:]:\n    try:\n        open(p).read(); seen.append(p)\n    except OSError: pass\n'
            'import os\nprint(seen, os.path.exists(sys.argv[1].rsplit("/", 1)[0]))')
    r = run_python(code, args=[str(p) for p in secrets_on_host], limits=FAST)
    assert r.stdout.startswith('[] False'), r.stdout + r.stderr

def test_gigabytes_of_output():
    start = time.monotonic()
    r = run_python('import sys\nwhile True: sys.stdout.write("x" * 2**20)', limits=FAST)
    assert r.status == 'output_limit' and time.monotonic() - start < 10
    assert len(r.stdout) <= FAST.output_bytes

def test_early_exit_cannot_pass_an_unparsed_suite():
    suite = parse_assert_suite('assert abs(f(1) - 2.0) < 1e-9\nassert f(2) > 3')
    assert suite.kind == 'script'
    for code in ('import sys\nsys.exit(0)', 'import os\nos._exit(0)', 'raise SystemExit', 'def f(x): return 2.0\nexit()'):
        assert not run_suite(code, suite, FAST).passed, code
    assert run_suite('def f(x): return 2.0 * x', suite, FAST).passed

def test_early_exit_in_functional_and_calls_suites():
    fn = Suite('functional', ['1', '2'], ['2', '4'], fn_name='double')
    exits = 'import os\nclass Solution:\n    def double(self, x):\n        if x == 2: os._exit(0)\n        return 2 * x'
    assert run_suite(exits, fn, FAST).failed_test == 1
    calls = parse_assert_suite('assert double(1) == 2\nassert double(2) == 4')
    assert run_suite(exits.replace('class Solution:\n    def double(self, x):', 'def double(x):').replace('\n        ', '\n    '), calls, FAST).failed_test == 1

def test_objects_whose_eq_is_always_true():
    cheat = ('class Any:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n'
             'class Int(int):\n    def __eq__(self, other): return True\n')
    fn = Suite('functional', ['3'], ['[1, 2, 3]'], fn_name='f')
    assert run_suite(cheat + 'class Solution:\n    def f(self, n): return Any()', fn, FAST).reason == 'wrong_answer'
    assert run_suite(cheat + 'class Solution:\n    def f(self, n): return [Int(0)] * n', fn, FAST).reason == 'wrong_answer'
    calls = parse_assert_suite('assert f(3) == 9')
    assert run_suite(cheat + 'def f(n): return Any()', calls, FAST).reason == 'wrong_answer'

def test_programs_hunting_for_the_expected_output():
    "The expected output never enters the sandbox: a program that searches the filesystem, stdin and its parent's frames finds nothing."
    expected = 'EXPECTED-7b1e5'
    hunter = ('import os, sys, gc\nfound = None\nkey = "EXP" + "ECTED-"\n'
              'for root, dirs, files in os.walk("/"):\n'
              '    if root.startswith(("/proc", "/sys", "/dev", "/usr", sys.prefix)): continue\n'
              '    for f in files:\n'
              '        try:\n            t = open(os.path.join(root, f), errors="ignore").read()\n'
              '            if key in t: found = t[t.index(key):][:14]\n'
              '        except OSError: pass\n'
              'for o in gc.get_objects():\n'
              '    if isinstance(o, str) and o.startswith(key) and len(o) == 14: found = o\n'
              'print(found or "nothing")\n')
    stdin_suite = Suite('stdin', ['go\n'], [expected])
    verdict = run_suite(hunter, stdin_suite, HUNT)
    assert verdict.reason == 'wrong_answer' and 'nothing' in verdict.detail
    fn_hunter = hunter.replace('print(found or "nothing")', 'class Solution:\n    def f(self, x): return found or "nothing"')
    assert run_suite(fn_hunter, Suite('functional', ['1'], [f'"{expected}"'], fn_name='f'), HUNT).reason == 'wrong_answer'
    calls = parse_assert_suite(f'assert f(1) == "{expected}"')
    assert run_suite(fn_hunter.replace('class Solution:\n    def f(self, x)', 'def f(x)'), calls, HUNT).reason == 'wrong_answer'

def test_forged_driver_lines_do_not_count():
    forge = ('import sys\nsys.__stdout__.write("\\t".join(["0" * 32, "0", "ok", "\\"4\\""]) + "\\n")\n'
             'class Solution:\n    def f(self, x): raise ValueError("no")')
    assert run_suite(forge, Suite('functional', ['1'], ['4'], fn_name='f'), FAST).passed is False

def test_hostile_batch_carries_on_in_parallel():
    "A batch mixing hostile and honest programs: every verdict is right, in order, with two workers."
    prob = Problem('p', 'lcb', 'code', 'add', None, {'public_tests': [{'input': '1 2\n', 'output': '3\n', 'testtype': 'stdin'}],
                                                      'contest_date': '2024-01-01', 'difficulty': 'easy', 'platform': 'atcoder', 'fn_name': None})
    honest = 'a, b = map(int, input().split())\nprint(a + b)'
    hostile = ['import os\nwhile True:\n    try: os.fork()\n    except OSError: pass', 'x = bytearray(50 * 2**30)', 'while True: pass',
               'import sys\nwhile True: sys.stdout.write("x" * 2**20)', 'print(open("/etc/shadow").read())']
    codes = [honest, *hostile, honest]
    responses = [Response('p', f'```python\n{c}\n```', sample_idx=i) for i, c in enumerate(codes)]
    verdicts = grade_code_responses([prob], responses, n_workers=2, limits=SPIN, progress=False)
    assert [v.sample_idx for v in verdicts] == list(range(len(codes)))
    assert [v.correct for v in verdicts] == [True] + [False] * len(hostile) + [True]
    assert [v.reason for v in verdicts[1:-1]] == ['timeout', 'memory', 'timeout', 'output_limit', 'runtime_error']

def test_refuses_without_bubblewrap(monkeypatch):
    monkeypatch.setattr('ded_nb.sandbox.bwrap_path', lambda: None)
    with pytest.raises(SandboxUnavailable, match='apt-get install bubblewrap'): run_python('print(1)')

def test_unsafe_mode_warns_loudly(capfd):
    with pytest.warns(RuntimeWarning, match='UNSANDBOXED'):
        r = run_python('print(6 * 7)', limits=FAST, mode='unsafe')
    assert r.stdout == '42\n' and 'UNSAFE' in capfd.readouterr().err

SPIN_FOR = 'import time\ndef spin(seconds):\n    end = time.process_time() + seconds\n    while time.process_time() < end: pass\n    return 1\n'

@pytest.fixture
def loaded_core():
    "This process and two busy loops share one core, so a sandboxed program gets about a third of it."
    core, before = min(os.sched_getaffinity(0)), os.sched_getaffinity(0)
    # each in its own session, as the sandbox is: the scheduler shares a core between sessions' groups
    hogs = [subprocess.Popen([sys.executable, '-c', 'while True: pass'], start_new_session=True) for _ in range(2)]
    try:
        for hog in hogs: os.sched_setaffinity(hog.pid, {core})
        os.sched_setaffinity(0, {core})
        yield
    finally:
        os.sched_setaffinity(0, before)
        for hog in hogs: hog.kill(); hog.wait()

@pytest.mark.parametrize('test', ['assert spin(0.6) == 1', 'def check(candidate):\n    assert candidate(0.6) == 1'])
def test_a_call_is_timed_in_cpu_seconds_not_by_the_load(loaded_core, test):
    "A call using 0.6 of its 1 CPU second passes on a core it shares with two busy loops (its wall time: ~2 s)."
    suite = parse_assert_suite(test, entry_point='spin' if 'check' in test else None)
    start = time.monotonic()
    verdict = run_suite(SPIN_FOR, suite, Limits(cpu_seconds=1))
    assert (verdict.passed, verdict.reason) == (True, 'passed'), verdict
    assert time.monotonic() - start > 1.5  # the core was shared: the wall clock alone would have timed it out

@pytest.mark.parametrize('test', ['assert spin(30) == 1', 'assert nap(30) == 1'])
def test_a_call_past_its_cpu_seconds_or_its_wall_clock_times_out(test):
    "A call that spins past its CPU second, or sleeps past its wall clock (Limits.wall: 4 s), is a timeout."
    code = SPIN_FOR + 'def nap(seconds):\n    time.sleep(seconds)\n    return 1\n'
    start = time.monotonic()
    verdict = run_suite(code, parse_assert_suite(test), Limits(cpu_seconds=1))
    assert verdict.reason == 'timeout' and time.monotonic() - start < 10, verdict
