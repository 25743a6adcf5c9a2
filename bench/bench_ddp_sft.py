"""One SFT run in one process (torch's default threads) vs the same run in two data-parallel processes under
`accelerate launch` (gloo DDP, one thread each, as `ded_nb.sft.launch_sft` starts them): the same corpus, global
batch, seed and steps, each in a fresh folder, alternating, `--repeats` times. Prints the median wall time of each, their
ratio, and the median train losses (the same run, so equal up to bf16 autocast noise: 32 vs 16 sequences per device
change the shapes of the bf16 matrix products, ~1e-4 of the loss).

What it measures on a 2-core machine is the cost of the multi-process path (launch, process start, all-reduce), not a
speed-up: 8 GPUs each get their own device, 2 processes here share two cores.

Run: `.venv/bin/python bench/bench_ddp_sft.py [--samples 256] [--steps 8] [--repeats 3]`.
"""
import argparse, statistics, tempfile, time
from dataclasses import replace
from pathlib import Path
from ded_nb.sft import train_sft
from ded_nb.world import get_world, training_pairs
from ded_nb.recipe import load_recipe


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--samples', type=int, default=256, help='corpus size (the teacher-plain training traces)')
    ap.add_argument('--steps', type=int, default=8, help='optimizer steps of each run')
    ap.add_argument('--repeats', type=int, default=3, help='runs of each way')
    args = ap.parse_args()
    recipe = load_recipe('tiny')
    world = get_world(recipe.world, progress=False)
    pairs = training_pairs(world, 'teacher-plain')[: args.samples]
    root = Path(tempfile.mkdtemp(prefix='bench-ddp-'))
    seconds, losses = {1: [], 2: []}, {1: [], 2: []}
    for repeat in range(args.repeats):
        for processes in (1, 2):
            profile = replace(recipe.sft, per_device_batch=recipe.sft.global_batch // processes, processes=processes)
            start = time.time()
            m = train_sft(recipe.student, pairs, root / f'p{processes}-{repeat}', profile, world=world,
                          max_steps=args.steps, progress=False)
            seconds[processes].append(time.time() - start)
            losses[processes].append(m['train_loss'])
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    print(f'{args.steps} steps of global batch {recipe.sft.global_batch} on {args.samples} samples ({recipe.world}), '
          f'{args.repeats} repeats: one process {one:.1f} s, two processes {two:.1f} s (median wall), '
          f'two / one = x{two / one:.2f}; train loss {statistics.median(losses[1]):.5f} vs {statistics.median(losses[2]):.5f}')


if __name__ == '__main__':
    main()
