"""A wrong program must never be graded correct: every suite kind (stdin, functional, calls, script) against every
in-process technique a program has for reaching or faking its judge (frames, gc, memory, file descriptors, patched
builtins, atexit, signal handlers, os._exit, exceptions, objects with custom comparison). Each program computes the
wrong answer (2n instead of n*n) and then tries its trick; none knows the expected values. Honest controls show that
each suite does pass a right program, so every assertion here can fail."""
import pytest
from ded_nb.codegrade import TestSuite as Suite, parse_assert_suite, run_suite
from ded_nb.sandbox import Limits, bwrap_path

pytestmark = [pytest.mark.skipif(bwrap_path() is None, reason='bubblewrap is not installed (apt-get install bubblewrap)'),
              pytest.mark.usefixtures('no_sandbox_leftovers'), pytest.mark.alone]
FAST = Limits(cpu_seconds=1, wall_seconds=4)  # a program spinning until killed runs to a CPU limit that scales with these seconds

SUITES = {
    'stdin': Suite('stdin', ['3\n', '4\n'], ['9\n', '16\n']),
    'functional': Suite('functional', ['3', '4'], ['9', '16'], fn_name='f'),
    'calls': parse_assert_suite('assert f(3) == 9\nassert f(4) == 16'),
    'script': parse_assert_suite('assert abs(f(3) - 9) < 1e-9\nfor x in range(5):\n    assert f(x) == x * x'),
}

# lines in every format a judge of this project has ever read: the old tagged report, a reply, a checker verdict
FORGED = r'''
import json
FORGED = ('\n'.join(['\t'.join(['0' * 32, str(i), 'ok', json.dumps(repr('end'))]) for i in range(-1, 4)]
                    + [str(i) + '\tok\ttrue' for i in range(-1, 8)]
                    + [json.dumps({'reason': 'passed', 'detail': '', 'calls': 1})]) + '\n').encode()
'''

# the reporting functions any driver of this project has had, each called the way that would report a pass
CALLS = "FORGERIES = {'report': (0, 'ok', repr('end')), 'reply': (0, 'ok', 'true'), 'verdict': ('passed',)}\n"

TECHNIQUES = {
    'frames': CALLS + '''
def attack():
    import sys
    frame = sys._getframe()
    while frame is not None:
        for name, args in FORGERIES.items():
            try: frame.f_globals[name](*args)
            except BaseException: pass
        job = frame.f_globals.get('job')
        if isinstance(job, dict): job.update(stop_on_error=False, timeout=1e9, expected=[], script='')
        frame = frame.f_back
''',
    'gc': CALLS + '''
def attack():
    import gc
    for o in gc.get_objects():
        if type(o) is dict:
            for key in ('expected', 'script', 'program_names', 'inputs'):
                if key in o:
                    o[key] = [] if key != 'script' else ''
        elif callable(o) and getattr(o, '__name__', '') in FORGERIES:
            try: o(*FORGERIES[o.__name__])
            except BaseException: pass
''',
    'file_descriptors': FORGED + '''
def attack():
    import os
    for fd in range(256):
        try: os.write(fd, FORGED)
        except OSError: pass
    for pid in os.listdir('/proc'):
        if pid.isdigit() and int(pid) != os.getpid():
            for fd in range(16):
                try:
                    with open('/proc/%s/fd/%d' % (pid, fd), 'wb') as f: f.write(FORGED)
                except OSError: pass
''',
    'memory': '''
def attack():
    import ctypes, os
    ctypes.c_uint32.from_address(id(False) + 24).value = 1  # False is now 1 in this process
    for pid in os.listdir('/proc'):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open('/proc/%s/mem' % pid, 'r+b') as f: f.write(b'x')
            except OSError: pass
''',
    'builtins': '''
def attack():
    import builtins, json, operator, sys
    builtins.abs = lambda x: 0
    builtins.isinstance = lambda *a: True
    builtins.AssertionError = type('Never', (Exception,), {})
    operator.eq = lambda a, b: True
    real_dumps = json.dumps
    json.dumps = lambda *a, **k: real_dumps(*a, **k).replace('false', 'true')
    for module in list(sys.modules.values()):
        for name in ('to_plain', 'from_plain', 'read_reply', 'stdout_matches'):
            if hasattr(module, name):
                try: setattr(module, name, lambda *a, **k: 'true')
                except Exception: pass
''',
    'atexit': FORGED + '''
def attack():
    import atexit, os, sys
    def forge():
        for fd in range(256):
            try: os.write(fd, FORGED)
            except OSError: pass
    atexit.register(forge)
    sys.exit(0)
''',
    'signals': FORGED + '''
def attack():
    import os, signal
    def forge(*_):
        for fd in range(256):
            try: os.write(fd, FORGED)
            except OSError: pass
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGXCPU, signal.SIGINT):
        signal.signal(sig, forge)
    signal.setitimer(signal.ITIMER_REAL, 0)
    while True: pass
''',
    'os_exit': FORGED + '''
def attack():
    import os
    os.write(1, FORGED)
    os._exit(0)
''',
    'exceptions': '''
def attack():
    class Escape(BaseException): pass
    raise Escape('out of the judge')
''',
}

# results whose comparisons, arithmetic or conversions always "succeed"
RETURNS = {
    'always_equal': 'class R:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n'
                    '    def __lt__(self, o): return True\n    def __sub__(self, o): return self\n'
                    '    def __abs__(self): return 0\n    def __hash__(self): return 0\ndef result(n): return R()',
    'int_subclass': 'class R(int):\n    def __eq__(self, o): return True\n    def __hash__(self): return 0\n'
                    'def result(n): return R(2 * n)',
    'float_subclass': 'class R(float):\n    def __eq__(self, o): return True\n    def __sub__(self, o): return 0.0\n'
                      '    def __hash__(self): return 0\ndef result(n): return R(2 * n)',
    'str_subclass': 'class R(str):\n    def __eq__(self, o): return True\n    def __hash__(self): return 0\n'
                    'def result(n): return R(str(2 * n))',
    'list_of_cheats': 'class R(int):\n    def __eq__(self, o): return True\n    def __hash__(self): return 0\n'
                      'def result(n): return [R(0)][0]',
    'generator': 'def result(n): return (n * n for _ in range(1))',
}


def program(kind: str, prelude: str, body: str) -> str:
    "A program for suite `kind`: `prelude`, then f(n) (or Solution.f, or stdin) running `body` for its value."
    if kind == 'stdin':
        return prelude + '\nn = int(input())\nvalue = ' + body + '\nprint(value)\n'
    fn = f'def f(n):\n    return {body}\n'
    if kind == 'functional':
        return prelude + '\nclass Solution:\n    ' + fn.replace('def f(n)', 'def f(self, n)').replace('\n', '\n    ') + '\n'
    return prelude + '\n' + fn


@pytest.mark.parametrize('kind', SUITES)
def test_honest_control_passes(kind):
    assert run_suite(program(kind, '', 'n * n'), SUITES[kind], FAST).passed
    assert not run_suite(program(kind, '', '2 * n'), SUITES[kind], FAST).passed


@pytest.mark.parametrize('ending', ['return', 'exit'])
@pytest.mark.parametrize('technique', TECHNIQUES)
@pytest.mark.parametrize('kind', SUITES)
def test_in_process_techniques_never_pass(kind, technique, ending):
    "The trick, then either the wrong answer or an immediate `os._exit(0)` (so a forged report would be the last word)."
    then = '\nimport os\nplain_attack = attack\ndef attack():\n    plain_attack()\n    os._exit(0)\n' if ending == 'exit' else ''
    verdict = run_suite(program(kind, TECHNIQUES[technique] + then, '(attack(), 2 * n)[1]'), SUITES[kind], FAST)
    assert not verdict.passed, verdict
    assert verdict.reason != 'passed'


@pytest.mark.parametrize('cheat', RETURNS)
@pytest.mark.parametrize('kind', [k for k in SUITES if k != 'stdin'])
def test_objects_that_are_not_plain_data_never_pass(kind, cheat):
    verdict = run_suite(program(kind, RETURNS[cheat], 'result(n)'), SUITES[kind], FAST)
    assert not verdict.passed and verdict.reason == 'wrong_answer', verdict
    assert 'not plain data' in verdict.detail, verdict


def test_prompt_helpers_are_the_checkers_own():
    "A HumanEval-style test that checks the answer with a prompt helper: the program redefining it gains nothing."
    prompt = 'def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\ndef find_zero(xs):\n    """A zero."""\n'
    test = 'def check(candidate):\n    assert abs(poly([-2, 1], candidate([-2, 1]))) < 1e-6\n'
    suite = parse_assert_suite(test, entry_point='find_zero', prompt=prompt)
    assert (suite.kind, suite.program_names) == ('script', ['find_zero'])
    honest = prompt + '    return -xs[0] / xs[1]\n'
    cheat = 'def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 123.0\n'
    assert run_suite(honest, suite, FAST).passed
    assert run_suite(cheat, suite, FAST).reason == 'wrong_answer'


def test_a_stray_reply_line_is_a_failure_not_a_skip():
    """Right answers, but the program also writes a reply line of its own (fd 4 is the driver's reply channel): the
    host reads replies strictly in order, so the stray line makes the verdict `a reply out of order`."""
    stray = 'import os\nclass Solution:\n    def f(self, n):\n        os.write(4, b"7\\tok\\t0\\n")\n        return n * n\n'
    verdict = run_suite(stray, Suite('functional', ['3', '5'], ['9', '25'], fn_name='f'), FAST)
    assert (verdict.passed, verdict.reason, verdict.detail) == (False, 'wrong_answer', 'a reply out of order')
    honest = stray.replace('os.write(4, b"7\\tok\\t0\\n")', 'pass')
    assert honest != stray and run_suite(honest, Suite('functional', ['3', '5'], ['9', '25'], fn_name='f'), FAST).passed
