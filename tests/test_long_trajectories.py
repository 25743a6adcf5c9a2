"No silent truncation: the entropy and surprisal of a 5,000-token trajectory are computed over all of it."
import pytest
from ded_nb.models import load_model
from ded_nb.world import build_tiny_world, micro_zoo
from ded_nb.teacher import corpus_token_stats


@pytest.fixture(scope='module')
def student(tmp_path_factory):
    world = build_tiny_world(micro_zoo(), tmp_path_factory.mktemp('world'), progress=False)
    return load_model('tiny:student', world)


def long_pair(tok, n_tokens=5000):
    "A (question, response) pair whose response is at least `n_tokens` student tokens."
    step = '3+4=7\n'
    per_step = len(tok(step, add_special_tokens=False)['input_ids'])
    text = '<think>\n' + step * (n_tokens // per_step + 1) + '</think>\nThe answer is \\boxed{7}.'
    return 'Start with 3. Add 4. What number do you get?', text


def test_entropy_of_a_5000_token_trajectory_covers_every_token(student):
    model, tok = student
    pair = long_pair(tok)
    n = len(tok(pair[1], add_special_tokens=False)['input_ids'])
    assert n >= 5000
    full = corpus_token_stats(model, tok, [pair], max_len=n + 128)['entropy']
    assert full['tokens'] == n + 1  # every response token and the end-of-turn token
    assert full['sequences_cut'] == 0 and full['tokens_cut'] == 0
    assert len(full['values']) == full['tokens']
    # the old fixed 1,024-token window would have seen a fifth of it: with that limit the cut is counted, not hidden
    cut = corpus_token_stats(model, tok, [pair], max_len=1024)['entropy']
    assert cut['sequences_cut'] == 1 and cut['tokens'] < 1024 and cut['tokens_cut'] > 3900


def test_surprisal_of_a_5000_token_trajectory_covers_every_token(student):
    model, tok = student
    pair = long_pair(tok)
    n = len(tok(pair[1], add_special_tokens=False)['input_ids'])
    s = corpus_token_stats(model, tok, [pair], max_len=n + 128)['surprisal']
    assert s['tokens'] == n + 1 and s['sequences_cut'] == 0
