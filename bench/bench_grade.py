"""Grading throughput on a real file: 2 worker processes vs 1, rows/s, and no row lost.

Grades the Qwen2.5-Math-7B MATH-500 outputs (500 greedy responses, some with pathological \\boxed{} spam) from the
shared data directory with `grade_responses`, `repeats` times per setting, and prints medians and the 2-vs-1 ratio in
one run. Pool start-up is included (a fresh pool per repeat), as a user of `ded grade` pays it.
Run: `.venv/bin/python bench/bench_grade.py [--repeats 3] [--data-dir DIR]` (or `make bench`).
"""
import argparse, json, statistics, sys, time
from ded_nb.core import Response, read_jsonl
from ded_nb.data import find_data_dir, load_benchmark
from ded_nb.grade import grade_responses, find_boxed

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--data-dir', default=None)
    args = ap.parse_args()
    data = find_data_dir(args.data_dir)
    if data is None: sys.exit('no data directory: pass --data-dir or set DED_DATA_DIR')
    problems = load_benchmark('math500', data_dir=data)
    rows = list(read_jsonl(data / 'generations' / 'skythought_corrupt_branch' / 'math500' / 'Qwen2.5-Math-7B.jsonl'))
    responses = [Response(p.id, r['code'][0]) for p, r in zip(problems, rows)]
    boxes = sorted(len(find_boxed(r.response)) for r in responses)
    print(f'file: 500 responses, {sum(len(r.response) for r in responses) / 1e6:.1f} MB of text, boxes per response: '
          f'median {boxes[len(boxes) // 2]}, max {boxes[-1]}')
    results = {}
    for workers in (1, 2):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            verdicts = grade_responses(problems, responses, n_workers=workers, timeout=30, progress=False)
            times.append(time.perf_counter() - start)
            assert len(verdicts) == len(responses), 'rows lost'
            reasons = {}
            for v in verdicts: reasons[v.reason] = reasons.get(v.reason, 0) + 1
        med = statistics.median(times)
        results[workers] = {'seconds_median': round(med, 3), 'seconds_all': [round(t, 3) for t in times],
                            'rows_per_s': round(len(responses) / med, 1), 'rows_out': len(verdicts), 'reasons': reasons}
        print(f'{workers} worker(s): median {med:.2f} s over {args.repeats} runs -> {len(responses) / med:.0f} rows/s; '
              f'rows out {len(verdicts)}/{len(responses)}; reasons {reasons}')
    ratio = results[1]['seconds_median'] / results[2]['seconds_median']
    print(f'speed-up 2 workers vs 1: {ratio:.2f}x')
    print(json.dumps({'bench': 'grade_math500_qwen25math7b', 'results': results, 'speedup_2_vs_1': round(ratio, 2)}))

if __name__ == '__main__': main()
