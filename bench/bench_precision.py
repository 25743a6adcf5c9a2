"""bf16 autocast against fp32 for one training step of the tiny world's `1M` Qwen2 on this CPU (AdamW, one thread,
32 sequences of 160 tokens): the reason the tiny world and its SFT train in fp32 (`WORLD_VERSION` 5). Medians over
repeats, and their ratio, from one run; whether the CPU has native bf16 (AVX512-BF16 or AMX) is printed beside them.

Run: `.venv/bin/python bench/bench_precision.py [--steps 6]`.
"""
import argparse, json, statistics, time
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM
from ded_nb.world import SIZES


def step_seconds(bf16: bool, steps: int) -> list[float]:
    "Seconds of each of `steps` optimizer steps, the first (warm-up) left out."
    cfg = Qwen2Config(vocab_size=512, num_key_value_heads=SIZES['1M']['num_attention_heads'], max_position_embeddings=1024,
                      tie_word_embeddings=True, **SIZES['1M'])
    torch.manual_seed(0)
    model, ids = Qwen2ForCausalLM(cfg), torch.randint(0, 512, (32, 160))
    opt, out = torch.optim.AdamW(model.parameters()), []
    for _ in range(steps + 1):
        t = time.perf_counter()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward(); opt.step(); opt.zero_grad()
        out.append(time.perf_counter() - t)
    return out[1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(1)
    flags = open('/proc/cpuinfo').read().split() if __import__('os').path.exists('/proc/cpuinfo') else []
    fp32, bf16 = statistics.median(step_seconds(False, args.steps)), statistics.median(step_seconds(True, args.steps))
    print(json.dumps({'cpu_native_bf16': any(f in flags for f in ('avx512_bf16', 'amx_bf16')),
                      'fp32_s_per_step': round(fp32, 3), 'bf16_s_per_step': round(bf16, 3),
                      'bf16_over_fp32': round(bf16 / fp32, 1)}))


if __name__ == '__main__':
    main()
