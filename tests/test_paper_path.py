"""The paper path against the objects it targets: the chat templates published with DeepSeek-R1-Distill-Qwen-32B (the
paper's student) and QwQ-32B (a teacher), applied to SmolLM2's tokenizer (fixtures in `fixtures/chat_templates/`,
each naming its model, revision and source); generation whatever a sample's batch-mates; LiveCodeBench as defined.
Each test failed on the code before the fixes (the paper-path issue) and passes after."""
import copy, json, re, warnings
from dataclasses import replace
from pathlib import Path

import pytest

from ded_nb.core import Problem, Response
from ded_nb.models import encode_chat, load_tokenizer

FIXTURES = Path(__file__).parent / 'fixtures' / 'chat_templates'
TEMPLATES = ('deepseek-r1-distill-qwen-32b', 'qwq-32b')
REASONING = 'First, 12 + 7: the ones give 9, the tens give 1, so 19. ' * 40  # ~700 tokens of reasoning
ANSWER = f'<think>\n{REASONING}\n</think>\n\nThe answer is \\boxed{{19}}.'


def with_template(tokenizer, name: str):
    "A copy of `tokenizer` with the chat template of fixture `name`."
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = json.loads((FIXTURES / f'{name}.json').read_text())['chat_template']
    return tok


@pytest.fixture(scope='module')
def smollm2_tokenizer():
    return load_tokenizer('smollm2')


def trained_text(tok, question, answer) -> str:
    enc = encode_chat(tok, question, answer, max_len=10**9)
    return tok.decode([t for t, label in zip(enc['input_ids'], enc['labels']) if label != -100])


def test_the_fixtures_are_the_published_templates():
    "Each fixture names its model and revision, cuts past reasoning from assistant turns, and QwQ's prefills `<think>`."
    for name in TEMPLATES:
        spec = json.loads((FIXTURES / f'{name}.json').read_text())
        assert spec['model'] and spec['revision'] and spec['source']
        assert "split('</think>')[-1]" in spec['chat_template']
    assert json.loads((FIXTURES / 'qwq-32b.json').read_text())['chat_template'].rstrip(' %}').endswith(
        "{{- '<|im_start|>assistant\\n<think>\\n' }} {%- endif")


@pytest.mark.parametrize('name', TEMPLATES)
def test_the_reasoning_is_trained_under_a_reasoning_models_template(smollm2_tokenizer, name):
    """Finding 1: the student's template drops everything before `</think>` of an assistant turn; the text trained (and
    every teacher-forced measurement, which reads `encode_chat`) keeps it. Before: 40-odd answer tokens were trained."""
    tok = with_template(smollm2_tokenizer, name)
    question = 'What is 12 + 7?'
    rendered = tok.apply_chat_template([{'role': 'user', 'content': question}, {'role': 'assistant', 'content': ANSWER}],
                                       tokenize=False)
    assert REASONING.strip() not in rendered  # the template itself drops it: what TRL would have trained
    trained = trained_text(tok, question, ANSWER)
    assert REASONING.strip() in trained and 'The answer is \\boxed{19}.' in trained
    from ded_nb.sft import check_reasoning_trained, corpus_dataset, length_report

    reasoning_tokens = len(tok(REASONING, add_special_tokens=False)['input_ids'])
    assert length_report(tok, [(question, ANSWER)], 10**6)['lengths'][0] > reasoning_tokens  # counted whole
    row = corpus_dataset([(question, ANSWER)], tok)[0]  # what SFTTrainer is given: the same tokens
    assert REASONING.strip() in tok.decode([t for t, label in zip(row['input_ids'], row['labels']) if label != -100])
    assert check_reasoning_trained(tok, [(question, ANSWER)]) == 1


def test_a_prefilled_think_is_not_trained_twice(smollm2_tokenizer):
    "QwQ's generation prompt ends in `<think>\\n`: the stored response's own `<think>` is not repeated after it."
    from ded_nb.models import training_text

    prompt, completion = training_text(with_template(smollm2_tokenizer, 'qwq-32b'), 'Q?', ANSWER)
    assert prompt.endswith('<think>\n') and not completion.startswith('<think>')
    assert (prompt + completion).count('<think>') == 1


@pytest.fixture(scope='module')
def micro():
    from ded_nb.world import get_world
    return get_world('micro', progress=False)


def test_a_prefilled_think_is_kept_in_what_is_generated_and_stored(micro):
    """Finding 2: with a template that prefills `<think>\\n` (QwQ-32B's, on the micro world's tokenizer), the model writes
    only what follows it; the stored completion holds the whole reasoning, so the strict format filter can keep it."""
    from ded_nb.curate import sample_trajectories
    from ded_nb.generate import HFBackend, SamplingParams, generate
    from ded_nb.models import load_model

    model, tok = load_model('tiny:teacher-verbose', micro)
    backend = HFBackend((model, with_template(tok, 'qwq-32b')))
    questions = [p for p in micro.problems['chain']['test'][:2]]
    assert backend.prompt_text(questions[0].question).endswith('<think>\n')
    done = generate(backend, [q.question for q in questions], SamplingParams(n=2, temperature=0.8, max_new_tokens=12),
                    progress=False)
    texts = [c.text for cs in done for c in cs]
    # the prefill is put back unless the sampled text opens its own `<think>` (`with_prefill`); at T = 0.8 the micro
    # teacher may write one (this failed once in `make test` with `startswith('<think>\n')`, never alone)
    assert all(t.lstrip().startswith('<think>') for t in texts), texts
    trajs = sample_trajectories(backend, questions, SamplingParams(n=1, max_new_tokens=12), tok, n_workers=0,
                                progress=False)
    assert all(t.text.startswith('<think>\n') for t in trajs)


def test_an_arm_smaller_than_the_minimum_stops_the_study_naming_it(tmp_path):
    "Finding 2, its consequence: an empty curated arm no longer trains the base student under the arm's name."
    from ded_nb.core import write_jsonl
    from ded_nb.distill import StudyError
    from ded_nb.distillation import run_distillation
    from ded_nb.recipe import load_recipe

    recipe = load_recipe('smoke', ['curation.pools={"math": "tiny:arith:pool[:4]"}', 'curation.tau={"math": 0.5}',
                                   'curation.mix_target={}', 'study.min_arm_samples=2'])
    corpora = tmp_path / 'curation-x' / 'corpora'
    for arm in recipe.study.arms:  # `right_hard` and `right_hard_diverse` came out empty (a prefill's doing, before)
        write_jsonl(corpora / f'math-{arm}.jsonl', [{'problem_id': 'q', 'text': 't'}] * (3 if 'hard' not in arm else 0))
    with pytest.raises(StudyError, match=r'math/right_hard \(0\), math/right_hard_diverse \(0\): fewer samples'):
        run_distillation(recipe, tmp_path / 'curation-x', tmp_path / 'distillation-x')
    assert not (tmp_path / 'distillation-x').exists() or not any((tmp_path / 'distillation-x').rglob('final'))


def test_a_sample_depends_only_on_itself_not_on_its_batch_mates(micro, tmp_path):
    """Finding 3: the same (model, prompt, sampling parameters, sample index) gives the same sample whatever else is in
    its batch and whatever the cache already held. Before, a batch was seeded from its first row."""
    from ded_nb.generate import CompletionCache, HFBackend, SamplingParams, generate

    backend = HFBackend('tiny:teacher-verbose', micro)
    qs = [p.question for p in micro.problems['chain']['test'][:4]]
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=16, seed=3)
    together = generate(backend, qs, params, progress=False)
    alone = generate(backend, qs[2:3], params, progress=False)
    assert [c.token_ids for c in together[2]] == [c.token_ids for c in alone[0]]
    cache = CompletionCache(tmp_path / 'c.sqlite')
    generate(backend, qs[:1], params, cache, progress=False)  # a warm cache changes which rows share a batch
    warm = generate(backend, qs, params, cache, batch_size=3, progress=False)
    assert [[c.token_ids for c in cs] for cs in warm] == [[c.token_ids for c in cs] for cs in together]


def test_the_completion_cache_key_names_the_sampler():
    "Old entries (drawn by another sampler) are never read back as if the new one had drawn them."
    from ded_nb.generate import SAMPLER_VERSION, SamplingParams, row_key
    import hashlib

    params = SamplingParams(n=1, temperature=0.6)
    before = hashlib.sha256(json.dumps(['fp', 'Q', params.cache_key(), 0], sort_keys=True).encode()).hexdigest()
    assert SAMPLER_VERSION >= 2 and row_key('fp', 'Q', params, 0) != before


@pytest.fixture(scope='module')
def lcb(data_dir):
    from ded_nb.data import load_benchmark
    return load_benchmark('lcb', data_dir=data_dir)


def test_livecodebench_is_asked_as_its_evaluations_ask_it(lcb, data_dir):
    "Finding 4: the prompt of every problem QwQ's LCB evaluation lists is exactly QwQ's (starter code or stdin format)."
    qwq = [json.loads(line) for line in (data_dir / 'livecodebench' / 'qwq_livecodebench_v5_2408_2502.jsonl').open()]
    by_id = {p.id: p for p in lcb}
    assert len(qwq) == 279 and all(by_id[q['question_id']].question == q['prompt'] for q in qwq)


def test_livecodebench_hidden_tests_are_graded(lcb):
    """Finding 4: a program that only knows the statement's examples passes them and fails the hidden tests (the DeepSeek
    LeetCode tests joined to 128 problems). Before, grading used the examples alone and called it correct."""
    from ded_nb.codegrade import grade_code_responses
    from ded_nb.sandbox import bwrap_path

    if not bwrap_path():
        pytest.skip('needs bubblewrap (the code sandbox)')
    p = next(p for p in lcb if p.meta.get('deepseek_leetcode_task_id') and 'linked-list' not in p.meta['deepseek_leetcode_task_id']
             and p.meta['fn_name'] and len(p.meta['public_tests']) >= 2)
    known = {json.dumps([json.loads(line) for line in t['input'].split('\n')]): json.loads(t['output'])
             for t in p.meta['public_tests']}
    program = (f'import json\nclass Solution:\n    def {p.meta["fn_name"]}(self, *args):\n'
               f'        return {known!r}.get(json.dumps(list(args)))\n')
    verdict = grade_code_responses([p], [Response(p.id, f'```python\n{program}```')], n_workers=1, progress=False)[0]
    assert verdict.extra['tests_passed'] >= len(p.meta['public_tests'])  # every example passes
    assert verdict.reason == 'wrong_answer' and verdict.extra['tests_total'] > len(p.meta['public_tests'])


def test_a_codeforces_pool_question_asks_for_python_on_stdin():
    "Finding 4: the teacher is asked for what it is graded on (a Python program reading stdin), not just the statement."
    from ded_nb.data import HUB_POOLS, LCB_FORMAT_STDIN

    rows = [{'id': 7, 'description': 'Print the sum of two integers.', 'input_format': 'Two integers.',
             'output_format': 'Their sum.', 'official_tests': [{'input': '1 2\n', 'output': '3\n'}]}]
    question = HUB_POOLS['open-r1/codeforces'](rows, 'cf')[0].question
    assert LCB_FORMAT_STDIN in question and '```python' in question


def test_a_window_half_outside_the_data_is_clipped_with_a_warning(data_dir):
    "Finding 4: the paper's window lies past the local copy: a partly covered window warns naming both ranges."
    from ded_nb.data import DataNotFoundError, load_benchmark

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        clipped = load_benchmark('lcb', data_dir=data_dir, start_date='2024-12-01', end_date='2025-05-31')
    assert clipped and re.search(r'2024-12-01\.\.2025-05-31 .* contests run 2023-05-07\.\.2025-01-04', str(seen[0].message))
    with pytest.raises(DataNotFoundError, match='2025-02-01..2025-05-31'):
        load_benchmark('lcb', data_dir=data_dir, start_date='2025-02-01', end_date='2025-05-31')
