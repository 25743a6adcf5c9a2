"""SFT throughput on the tiny world: trained tokens/s with and without packing, and the padding fraction of each
(TRL SFTTrainer through `ded_nb.sft.sft`, the `tiny` profile, the micro-zoo student on the default world's verbose
and concise traces of mixed lengths). One run, medians over repeats; ratios are what to compare across machines.

Run: `.venv/bin/python bench/bench_sft.py [--samples 256] [--repeats 3]`.
"""
import argparse, json, statistics, tempfile, time
from dataclasses import replace
from pathlib import Path
from ded_nb.models import encode_chat
from ded_nb.world import build_tiny_world, micro_zoo, render
from ded_nb.sft import sft
from ded_nb.recipe import load_recipe


def padding_fraction(lengths, batch: int) -> float:
    "Share of pad tokens when batches of `batch` sequences in order are padded to their longest (no packing)."
    pads = total = 0
    for i in range(0, len(lengths), batch):
        chunk = lengths[i:i + batch]
        pads += max(chunk) * len(chunk) - sum(chunk); total += max(chunk) * len(chunk)
    return pads / total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--samples', type=int, default=256); ap.add_argument('--repeats', type=int, default=3)
    args = ap.parse_args()
    world = build_tiny_world(micro_zoo(), progress=False)
    tok = world.tokenizer()
    probs = world.problems['chain']['train'][:args.samples]
    pairs = [(p.question, render(p, 'verbose' if i % 2 else 'concise')) for i, p in enumerate(probs)]
    lengths = [len(encode_chat(tok, q, a)['input_ids']) for q, a in pairs]
    base = replace(load_recipe('tiny').sft, epochs=1, global_batch=16, per_device_batch=16, save_steps=10 ** 6, logging_steps=10 ** 6)
    out = {'bench': 'sft', 'samples': len(pairs), 'tokens': sum(lengths), 'mean_len': sum(lengths) / len(lengths), 'max_len': max(lengths),
           'padding_fraction_unpacked': round(padding_fraction(lengths, base.per_device_batch), 3), 'padding_fraction_packed': 0.0}
    for packing in (False, True):
        rates = []
        for r in range(args.repeats):
            with tempfile.TemporaryDirectory() as d:
                start = time.time()
                m = sft('tiny:student', pairs, Path(d), replace(base, packing=packing), world=world, progress=False)
                rates.append(sum(lengths) / (time.time() - start))
        out[f'tokens_per_s_{"packed" if packing else "unpacked"}'] = round(statistics.median(rates), 1)
        out[f'steps_{"packed" if packing else "unpacked"}'] = m['steps']
    out['packed_over_unpacked'] = round(out['tokens_per_s_packed'] / out['tokens_per_s_unpacked'], 2)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
