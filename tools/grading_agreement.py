"""Grading agreement with the Qwen2.5-Math harness on stored model outputs -> reports/grading/agreement.md.

For every file in <data>/generations/skythought_corrupt_branch/{math500,aime24}/ this writes a `ded grade` input file
(problem_id, response, and the harness's own verdict as pass-through fields) under .ded/agreement/, runs the real
`ded grade` command on it, and compares our `correct` with the stored harness `score`. Each disagreement is listed with
the gold answer, both verdicts and a human reading of which is right, taken from reports/grading/readings.json
(keyed `<bench>/<file>#<problem_id>`); a disagreement without a reading is marked UNREAD and fails --check.
"""
import argparse, json, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ded_nb.core import read_jsonl, write_jsonl
from ded_nb.data import find_data_dir, load_benchmark, ids_for_questions

SHORT_COT = 'Qwen2.5-Math-7B'  # the short-CoT model: the >= 98 % bar applies to its files
BAR = 0.98

def problem_ids(bench, rows, problems):
    "Benchmark ids of the stored rows: MATH-500 rows are in test.jsonl order, AIME rows match by problem text."
    if bench == 'math500':
        assert all(r['question'] == p.question for r, p in zip(rows, problems)), 'MATH-500 rows out of order'
        return [p.id for p in problems]
    return ids_for_questions(problems, [r['question'] for r in rows])

def run_file(bench, path, problems, work, workers):
    "Grade one stored file with `ded grade`; returns (rows with both verdicts, summary)."
    rows = list(read_jsonl(path))
    ids = problem_ids(bench, rows, problems)
    inp, out = work / bench / f'{path.stem}.responses.jsonl', work / bench / f'{path.stem}.verdicts.jsonl'
    write_jsonl(inp, [{'problem_id': pid, 'response': r['code'][0], 'harness_score': bool(r['score'][0]), 'harness_pred': r['pred'][0]}
                      for pid, r in zip(ids, rows)])
    ded = Path(sys.executable).parent / 'ded'
    cmd = [str(ded), 'grade', '--benchmark', bench, '--responses', str(inp), '--out', str(out), '--workers', str(workers), '--no-progress']
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return list(read_jsonl(out)), json.loads(done.stdout.strip().splitlines()[-1])

def md_escape(s, limit=90):
    s = str(s).replace('|', '\\|').replace('\n', ' ')
    return (s[:limit] + '…') if len(s) > limit else s

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data-dir', default=None)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--check', action='store_true', help='exit 1 if a short-CoT file is under the bar or a disagreement is unread')
    args = ap.parse_args()
    data = find_data_dir(args.data_dir)
    if data is None: sys.exit('no data directory: pass --data-dir or set DED_DATA_DIR')
    readings_path = ROOT / 'reports' / 'grading' / 'readings.json'
    readings = json.loads(readings_path.read_text()) if readings_path.exists() else {}
    work = ROOT / '.ded' / 'agreement'
    table, details, unread, failed = [], [], [], []
    for bench in ('math500', 'aime24'):
        problems = load_benchmark(bench, data_dir=data)
        gold = {p.id: p.answer for p in problems}
        for path in sorted((data / 'generations' / 'skythought_corrupt_branch' / bench).glob('*.jsonl')):
            verdicts, summary = run_file(bench, path, problems, work, args.workers)
            dis = [v for v in verdicts if v['correct'] != v['harness_score']]
            agree = 1 - len(dis) / len(verdicts)
            short = path.stem == SHORT_COT
            status = ('PASS' if agree >= BAR else 'FAIL') if short else 'reported'
            if short and agree < BAR: failed.append(f'{bench}/{path.name}')
            harness_acc = sum(v['harness_score'] for v in verdicts) / len(verdicts)
            table.append(f"| {bench} | {path.stem} | {len(verdicts)} | {100 * harness_acc:.1f} | {100 * summary['accuracy']:.1f} | "
                         f"{100 * agree:.1f} | {len(dis)} | {status} | {summary['seconds']:.1f} |")
            if dis:
                details.append(f'\n### {bench} / {path.stem}\n')
                details.append('| problem | gold | harness pred → verdict | ded pred → verdict (reason) | right | reading |')
                details.append('|---|---|---|---|---|---|')
            for v in dis:
                key = f"{bench}/{path.name}#{v['problem_id']}"
                r = readings.get(key)
                if r is None: unread.append(key)
                details.append(f"| `{v['problem_id']}` | `{md_escape(gold[v['problem_id']], 40)}` | `{md_escape(v['harness_pred'], 40)}` → {v['harness_score']} | "
                               f"`{md_escape(v['pred'], 40)}` → {v['correct']} ({v['reason']}) | {r['right'] if r else 'UNREAD'} | {md_escape(r['note'], 400) if r else ''} |")
    lines = ['# Grading agreement with the Qwen2.5-Math harness', '',
             'Generated by `tools/grading_agreement.py` (command: `.venv/bin/python tools/grading_agreement.py`), which runs the real',
             '`ded grade` on the stored greedy outputs in `generations/skythought_corrupt_branch/` of the shared data directory and',
             "compares our `correct` with the harness's stored per-row verdict `score`. Gold answers are the benchmarks' own",
             '(MATH-500: the PRM800K `answer`; AIME24: the normalised answer key), never the harness copy `gt`.',
             f'Agreement = share of rows where both verdicts are equal. Bar: ≥ {100 * BAR:.0f} % on the short-CoT model ({SHORT_COT});',
             'the long-CoT Sky-T1 files (many responses never close their reasoning or box an answer) are reported, not barred.', '',
             f'Run: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.', '',
             '| benchmark | model | rows | harness acc % | ded acc % | agreement % | disagreements | bar | seconds |',
             '|---|---|---|---|---|---|---|---|---|', *table, '',
             '## Every disagreement', '',
             '"right" is our reading of the response (read by a person, not computed): `ded` = our verdict is right, `harness` = the',
             "harness's is right, `debatable` = defensible either way (the note says which rule decides).", *details, '']
    out = ROOT / 'reports' / 'grading' / 'agreement.md'
    out.write_text('\n'.join(lines), encoding='utf-8')
    print(f'wrote {out}: {len(table)} files, unread disagreements: {len(unread)}, files under the bar: {failed}')
    for k in unread: print('UNREAD', k)
    if args.check and (unread or failed): sys.exit(1)

if __name__ == '__main__': main()
