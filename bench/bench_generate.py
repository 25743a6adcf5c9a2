"""Generation: tokens/s of the hf backend (and vllm, where importable: run it from the vllm environment, see
`make bench-vllm`) on the tiny models at batch 1/16/64, and the completion cache's overhead vs no cache.

Run: `.venv/bin/python bench/bench_generate.py [--world default|micro] [--repeats 3]`. Every number is measured in this one run.
"""
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path
from ded_nb.generate import SamplingParams, CompletionCache, generate, make_backend
from ded_nb.world import build_tiny_world, default_zoo, micro_zoo

def tokens_per_s(backend, prompts, batch, max_new):
    "Forced-length generation throughput: tokens/s at batch size `batch` (greedy, `max_new` tokens, no stop)."
    params = SamplingParams(max_new_tokens=max_new)
    start = time.perf_counter()
    out = generate(backend, prompts, params, None, batch_size=batch, progress=False)
    return sum(c[0].n_tokens for c in out) / (time.perf_counter() - start)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--world', default='default', choices=['default', 'micro'])
    ap.add_argument('--model', default='teacher-verbose')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--backends', default='hf', help='comma-separated: hf,vllm')
    args = ap.parse_args()
    world = build_tiny_world(default_zoo() if args.world == 'default' else micro_zoo(), progress=False)
    questions = [p.question for p in world.problems['chain']['test']]
    result = {'bench': 'generate', 'world': args.world, 'model': args.model}
    for kind in args.backends.split(','):
        backend = make_backend(kind, f'tiny:{args.model}', world, **({'dtype': 'float32', 'max_model_len': 1024, 'enforce_eager': True} if kind == 'vllm' else {}))
        for batch in (1, 16, 64):
            prompts = questions[:max(batch * 2, 16)] if batch > 1 else questions[:8]
            rates = [tokens_per_s(backend, prompts, batch, 64) for _ in range(args.repeats)]
            result[f'{kind}_bs{batch}_tok_s'] = round(statistics.median(rates), 1)
            print(f'{kind} batch {batch}: median {statistics.median(rates):.0f} tokens/s over {args.repeats} runs ({[round(r) for r in rates]})')
    if 'hf' in args.backends and 'vllm' in args.backends:
        for batch in (1, 16, 64): result[f'vllm_over_hf_bs{batch}'] = round(result[f'vllm_bs{batch}_tok_s'] / result[f'hf_bs{batch}_tok_s'], 2)
    # cache overhead: the same greedy batch with a fresh cache (all rows written) vs no cache, alternating
    backend = make_backend('hf', f'tiny:{args.model}', world)
    params, prompts = SamplingParams(max_new_tokens=64), questions[:128]
    with_cache, without = [], []
    for r in range(args.repeats):
        start = time.perf_counter(); generate(backend, prompts, params, None, batch_size=32, progress=False); without.append(time.perf_counter() - start)
        cache = CompletionCache(Path(tempfile.mkdtemp()) / 'c.sqlite')
        start = time.perf_counter(); generate(backend, prompts, params, cache, batch_size=32, progress=False); with_cache.append(time.perf_counter() - start)
        start = time.perf_counter(); generate(backend, prompts, params, cache, batch_size=32, progress=False); hit = time.perf_counter() - start
    overhead = statistics.median(with_cache) / statistics.median(without) - 1
    result.update(cache_overhead=round(overhead, 4), no_cache_s=round(statistics.median(without), 3), cache_s=round(statistics.median(with_cache), 3),
                  all_cached_s=round(hit, 4))
    print(f'cache: {statistics.median(with_cache):.2f} s with a fresh cache vs {statistics.median(without):.2f} s without -> overhead {100 * overhead:.1f} % '
          f'(target < 5 %); the same batch again from the cache: {hit * 1000:.0f} ms')
    print(json.dumps(result))

if __name__ == '__main__': main()
