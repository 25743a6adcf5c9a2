"""Farthest-P selection cost for one question: M = 16 synthetic trajectories of 16k tokens (the paper's length cap),
token-level vs character-level Levenshtein (rapidfuzz), P = 4. Medians over repeats, measured in this one run.

The synthetic trajectories share a vocabulary-like word list and long common stretches, as samples of one question do.
Run: `.venv/bin/python bench/bench_diversity.py [--repeats 3] [--tokens 16384]`.
"""
import argparse, json, random, statistics, time
from ded_nb.curate import levenshtein_matrix, farthest_p

def synthetic(m: int, n_tokens: int, seed: int = 0):
    "`m` token-id sequences of `n_tokens` ids sharing a common skeleton with per-sample edits, and their text (4 chars/token)."
    rng = random.Random(seed)
    base = [rng.randrange(5000) for _ in range(n_tokens)]
    seqs = []
    for _ in range(m):
        s = list(base)
        for _ in range(n_tokens // 4): s[rng.randrange(n_tokens)] = rng.randrange(5000)  # a quarter of the tokens differ
        seqs.append(s)
    words = [f'w{i:03d}' for i in range(5000)]
    return seqs, [''.join(words[t] for t in s) for s in seqs]

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--m', type=int, default=16); ap.add_argument('--p', type=int, default=4)
    ap.add_argument('--tokens', type=int, default=16384); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--workers', type=int, default=1)
    args = ap.parse_args()
    seqs, texts = synthetic(args.m, args.tokens)
    out = {'bench': 'diversity', 'm': args.m, 'p': args.p, 'tokens': args.tokens, 'chars': len(texts[0]), 'workers': args.workers}
    for unit, items in (('token', seqs), ('char', texts)):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            chosen = farthest_p(levenshtein_matrix(items, workers=args.workers), args.p)
            times.append(time.perf_counter() - start)
        out[f'{unit}_seconds'] = round(statistics.median(times), 3)
        print(f'{unit}-level: {statistics.median(times):.2f} s per question (median of {args.repeats}; {args.m * (args.m - 1) // 2} pairs of '
              f'{len(items[0])} {unit}s), chose {sorted(chosen)}')
    out['char_over_token'] = round(out['char_seconds'] / out['token_seconds'], 2)
    print(json.dumps(out))

if __name__ == '__main__': main()
