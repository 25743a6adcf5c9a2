"""Math grading: pathological responses cannot hang a batch, nothing is lost, verdicts keep their order."""
import time
import pytest
from ded_nb.core import Problem, Response
from ded_nb.grade import grade_responses, grade_one, extract_answer, math_equal, think_format_ok
from ded_nb.pool import TimeoutPool

PROBLEMS = [Problem('p1', 'toy', 'math', 'q1', '204'), Problem('p2', 'toy', 'math', 'q2', '(1,2]'),
            Problem('p3', 'toy', 'mcq', 'q3', 'C')]

def test_pathological_batch_completes_in_order():
    responses = [
        Response('p1', '\\boxed{1}' * 20000 + ' so \\boxed{204}'),           # boxed spam, right answer last
        Response('p1', '\\boxed{9^{9^{9^{9^{9}}}}}', sample_idx=1),           # math-verify times out on it
        Response('p1', '<think>' + 'I think 204. ' * 5000, sample_idx=2),     # unfinished long CoT: no credit
        Response('p2', 'The answer is $\\boxed{[1,2]}$.'),                    # closed end where the gold is open
        Response('p2', 'So $x \\in \\boxed{(1, 2]}$.', sample_idx=1),
        Response('p3', '<think>B or C</think> \\boxed{C}'),
        Response('p1', '\\boxed{' + '\\frac{1}{' * 2000 + '2' + '}' * 2000 + '}', sample_idx=3),  # deep nesting
        Response('p1', 'Final answer: 204', finish_reason='length', sample_idx=4),  # cut off: no fallback
    ]
    verdicts = grade_responses(PROBLEMS, responses, n_workers=2, timeout=20, progress=False)
    assert [(v.problem_id, v.sample_idx) for v in verdicts] == [(r.problem_id, r.sample_idx) for r in responses]
    assert [v.correct for v in verdicts] == [True, False, False, False, True, True, False, False]
    assert verdicts[1].reason == 'timeout'
    assert verdicts[2].reason == 'unfinished'
    assert verdicts[5].format_ok and not verdicts[0].format_ok
    assert verdicts[7].reason == 'truncated' and verdicts[7].truncated

@pytest.mark.alone  # a 1 s deadline: under a second worker's load the restarted grader missed it too (3 workers, 2 cores)
def test_hard_deadline_kills_a_stuck_item_and_keeps_it():
    "With a deadline shorter than math-verify's own timeouts, the pool kills the worker: reason `timeout`, no row lost."
    responses = [Response('p1', '\\boxed{204}'), Response('p1', '\\boxed{9^{9^{9^{9^{9}}}}}', sample_idx=1),
                 Response('p1', '\\boxed{205}', sample_idx=2)]
    start = time.monotonic()
    verdicts = grade_responses(PROBLEMS, responses, n_workers=1, timeout=1.0, progress=False)
    assert time.monotonic() - start < 15
    assert [v.reason for v in verdicts] == ['correct', 'timeout', 'wrong_answer']
    assert 'no result after' in verdicts[1].extra['error']

def test_unknown_problem_is_an_error():
    with pytest.raises(KeyError, match="unknown problem_id 'nope'"):
        grade_responses(PROBLEMS, [Response('nope', 'x')], n_workers=0)

def test_code_problems_are_refused():
    with pytest.raises(ValueError, match='sandbox'):
        grade_responses([Problem('c', 'lcb', 'code', 'q')], [Response('c', 'x')], n_workers=0)

def test_shared_pool_across_batches():
    from ded_nb.grade import grade_one
    with TimeoutPool(grade_one, n_workers=2, timeout=20) as pool:
        a = grade_responses(PROBLEMS, [Response('p1', '\\boxed{204}')], pool=pool, progress=False)
        b = grade_responses(PROBLEMS, [Response('p3', 'Answer: (C)')], pool=pool, progress=False)
    assert a[0].correct and b[0].correct

@pytest.mark.parametrize('gold, pred, expected', [
    ('10,\\!080', '10080', True), ('10080', '10,080', True), ('\\frac{\\sqrt{3}}{2}', '\\frac{1}{2}\\sqrt{3}', True),
    ('(1,2]', '[1,2]', False), ('[1,2)', '[1,2)', True), ('\\text{(B)}', '\\textbf{(B)}', True), ('3', '3.0', True),
    ('2\\sqrt{2}', '\\sqrt{8}', True), ('x^2+1', '1+x^2', True), ('\\{1,2\\}', '\\{2,1\\}', True), ('7', '8', False),
    ('\\frac{14}{3}', '4\\frac{2}{3}', True), ('90^\\circ', '90', True), ('12', '12^{\\text{th}}\\text{ grade}', True),
])
def test_equivalence_cases(gold, pred, expected):
    assert math_equal(gold, pred) is expected

@pytest.mark.parametrize('response, expected', [
    ('<think>x</think>\n\nSo \\boxed{3}.', True), ('<think>x</think>', False), ('<think>a<think>b</think>c', False),
    ('x</think>y', False), ('<think>x</think>y</think>', False), ('pre<think>x</think>y', False),
])
def test_strict_think_pairing(response, expected):
    assert think_format_ok(response) is expected

def test_format_is_separate_from_correctness():
    v = grade_one({'response': 'no tags, but \\boxed{204}', 'gold': '204'})
    assert v['correct'] is True and v['format_ok'] is False
    v = grade_one({'response': '<think>ok</think> \\boxed{7}', 'gold': '204'})
    assert v['correct'] is False and v['format_ok'] is True
