"""Sandbox costs: fixed cost on a trivial program, per-program wall time on a real LiveCodeBench batch vs a bare
`python3` subprocess (target <= 1.3x), programs/s with 1 and 2 workers, and the cost of a script suite (checker and
program in two sandboxes) vs one bare process. Everything is measured in this one run.

Run: `.venv/bin/python bench/bench_sandbox.py [--programs 120] [--data-dir DIR]` (or `make bench`).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
from ded_nb.core import Response
from ded_nb.data import find_data_dir, load_benchmark
from ded_nb.sandbox import run_python, Limits, bwrap_path
from ded_nb.codegrade import PREAMBLE, grade_code_responses, stdout_matches, suite_for, run_suite

def bare_run(python, code, stdin, timeout):
    "The same program in a plain `python3 -I` subprocess (no sandbox, no limits): the baseline."
    with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f: f.write(code)
    try:
        start = time.perf_counter()
        done = subprocess.run([python, '-I', f.name], input=stdin, capture_output=True, text=True, timeout=timeout)
        return time.perf_counter() - start, done.stdout
    finally: os.unlink(f.name)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--programs', type=int, default=120)
    ap.add_argument('--data-dir', default=None)
    args = ap.parse_args()
    if bwrap_path() is None: sys.exit('bubblewrap is not installed')
    data = find_data_dir(args.data_dir)
    python = os.path.realpath(sys._base_executable)
    limits = Limits(cpu_seconds=6)
    # 1. fixed cost
    trivial_sbx, trivial_bare = [], []
    for _ in range(30):
        start = time.perf_counter(); run_python('pass', limits=limits); trivial_sbx.append(time.perf_counter() - start)
        trivial_bare.append(bare_run(python, 'pass', '', 10)[0])
    fixed = statistics.median(trivial_sbx) - statistics.median(trivial_bare)
    print(f'trivial program: sandbox median {1000 * statistics.median(trivial_sbx):.1f} ms, bare python3 {1000 * statistics.median(trivial_bare):.1f} ms '
          f'-> fixed cost of the sandbox {1000 * fixed:.1f} ms')
    # 2. a real batch: o1-mini's stdin programs that LCB graded correct, every public test, interleaved sandbox/bare
    problems = {p.id: p for p in load_benchmark('lcb', data_dir=data, platform='atcoder')}
    subs = [s for s in json.loads((data / 'livecodebench' / 'lcb_v5_o1-mini-2024-09-12_n1_eval_all.json').read_text())
            if s['question_id'] in problems and s['graded_list'][0] and problems[s['question_id']].meta['public_tests']][:args.programs]
    per_prog_sbx, per_prog_bare, agree = [], [], 0
    for s in subs:
        code, tests = PREAMBLE + s['code_list'][0], problems[s['question_id']].meta['public_tests']
        t_s = t_b = 0.0; ok_s = ok_b = True
        for t in tests:
            start = time.perf_counter(); r = run_python(code, stdin=t['input'], limits=limits); t_s += time.perf_counter() - start
            ok_s &= r.ok and stdout_matches(r.stdout, t['output'])
            dt, out = bare_run(python, code, t['input'], 20); t_b += dt
            ok_b &= stdout_matches(out, t['output'])
        per_prog_sbx.append(t_s); per_prog_bare.append(t_b); agree += ok_s == ok_b
    ratios = [a / b for a, b in zip(per_prog_sbx, per_prog_bare)]
    print(f'real batch: {len(subs)} AtCoder programs (o1-mini, LCB-correct), {sum(len(problems[s["question_id"]].meta["public_tests"]) for s in subs)} test runs each way')
    print(f'  per-program wall: sandbox median {1000 * statistics.median(per_prog_sbx):.0f} ms, bare median {1000 * statistics.median(per_prog_bare):.0f} ms; '
          f'ratio of totals {sum(per_prog_sbx) / sum(per_prog_bare):.2f}x, median per-program ratio {statistics.median(ratios):.2f}x (target <= 1.3x); '
          f'same pass/fail {agree}/{len(subs)}')
    # 3. throughput with the batch runner
    responses = [Response(s['question_id'], f"```python\n{s['code_list'][0]}\n```") for s in subs]
    rates = {}
    for workers in (1, 2):
        start = time.perf_counter()
        verdicts = grade_code_responses(problems, responses, n_workers=workers, limits=limits, progress=False)
        rates[workers] = len(responses) / (time.perf_counter() - start)
        print(f'  grade_code_responses, {workers} worker(s): {rates[workers]:.1f} programs/s ({sum(v.correct for v in verdicts)}/{len(verdicts)} passed)')
    # 4. script suites: the checker's sandbox and the program's, talking over pipes, vs one bare process running
    #    prompt + canonical solution + test (how unsandboxed harnesses run HumanEval)
    script_sbx, script_bare = [], []
    for p in [p for p in load_benchmark('humaneval', data_dir=data) if suite_for(p).kind == 'script']:
        suite, code = suite_for(p), p.question + p.meta['canonical_solution']
        start = time.perf_counter(); verdict = run_suite(code, suite, limits); script_sbx.append(time.perf_counter() - start)
        assert verdict.passed, (p.id, verdict)
        script_bare.append(bare_run(python, PREAMBLE + code + '\n' + suite.script, '', 20)[0])
    print(f'script suites: {len(script_sbx)} HumanEval canonical solutions; checker + program sandboxes median '
          f'{1000 * statistics.median(script_sbx):.0f} ms, one bare process {1000 * statistics.median(script_bare):.0f} ms, '
          f'ratio of medians {statistics.median(script_sbx) / statistics.median(script_bare):.2f}x')
    print(json.dumps({'bench': 'sandbox', 'fixed_cost_ms': round(1000 * fixed, 1), 'trivial_sandbox_ms': round(1000 * statistics.median(trivial_sbx), 1),
                      'trivial_bare_ms': round(1000 * statistics.median(trivial_bare), 1), 'programs': len(subs),
                      'ratio_totals': round(sum(per_prog_sbx) / sum(per_prog_bare), 3), 'ratio_median': round(statistics.median(ratios), 3),
                      'programs_per_s': {str(k): round(v, 2) for k, v in rates.items()}, 'speedup_2_vs_1': round(rates[2] / rates[1], 2),
                      'script_suites': len(script_sbx), 'script_sandbox_ms': round(1000 * statistics.median(script_sbx), 1),
                      'script_bare_ms': round(1000 * statistics.median(script_bare), 1)}))

if __name__ == '__main__': main()
