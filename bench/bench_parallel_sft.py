"""Independent SFT + evaluation runs one after another (torch's default threads) vs two at a time in worker
processes (one thread each), as `ded_nb.distill.run_arms` does with `controls.parallel_runs`. The same arms and seeds
both ways, on the tiny recipe's world and student (`--world study-micro` for seconds); each way in a fresh run folder.
One run; prints both wall times and their ratio.

Run: `.venv/bin/python bench/bench_parallel_sft.py [--runs 4] [--samples 200] [--world study]`.
"""
import argparse, tempfile, time
from pathlib import Path
from ded_nb.core import write_jsonl
from ded_nb.distill import Arm, run_arms
from ded_nb.world import get_world, training_pairs
from ded_nb.recipe import load_recipe
from ded_nb.data import eval_suites


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=int, default=4, help='SFT runs (seeds of one arm)')
    ap.add_argument('--samples', type=int, default=200, help='corpus size (the teacher-plain training traces)')
    ap.add_argument('--world', default='study', choices=['study', 'study-micro'])
    args = ap.parse_args()
    overrides = [f'world="{args.world}"'] + (['evaluation.suites.in_domain="tiny:arith:test[:12]"']
                                             if args.world == 'study-micro' else [])
    recipe = load_recipe('tiny', overrides)
    world = get_world(recipe.world, progress=False)
    root = Path(tempfile.mkdtemp(prefix='bench-parallel-'))
    corpus = root / 'corpus.jsonl'
    write_jsonl(corpus, [{'question': q, 'response': r} for q, r in training_pairs(world, 'teacher-plain')[:args.samples]])
    arm = Arm('bench', str(corpus), ['in_domain'], list(range(100, 100 + args.runs)))
    seconds = {}
    for workers in (1, 2):
        start = time.time()
        run_arms(load_recipe('tiny', overrides + [f'controls.parallel_runs={workers}']), [arm],
                 root / f'workers{workers}', eval_suites(recipe, ['in_domain']))
        seconds[workers] = time.time() - start
    print(f'{args.runs} runs of {args.samples} samples ({recipe.sft.epochs} epochs) + evaluation on {args.world}: '
          f'one after another {seconds[1]:.1f} s, two processes {seconds[2]:.1f} s, speed-up x{seconds[1] / seconds[2]:.2f}')


if __name__ == '__main__':
    main()
