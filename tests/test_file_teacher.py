"""File teachers on the real stored traces (`../shared/data/generations`): the markup adapters counted over a whole
file, every adapted response in the strict `<think>` format, and the teacher's accuracy by our grader beside the
verdicts its own harness stored."""
import json
import pytest
from ded_nb.generate import FileBackend, SamplingParams, generate, adapt_markup
from ded_nb.grade import think_format_ok

TRACES = 'generations/skythought_corrupt_branch/math500'


def _rows(data_dir, name):
    return [json.loads(line) for line in (data_dir / TRACES / name).read_text().splitlines()]


def test_begin_of_thought_adapter_counts_every_response_of_a_sky_t1_file(data_dir):
    rows = _rows(data_dir, 'Sky-T1-math-correct-5K-27B.jsonl')
    teacher = FileBackend(f'file:{TRACES}/Sky-T1-math-correct-5K-27B.jsonl?markup=begin_of_thought')
    counts = teacher.markup_counts
    texts = [r['code'][0] for r in rows]
    closed = sum('<|begin_of_thought|>' in t and '<|end_of_thought|>' in t.split('<|begin_of_thought|>', 1)[1] for t in texts)
    assert sum(counts.values()) == len(rows) == 500
    assert counts['adapted'] == closed and counts['no_markup'] == sum('<|begin_of_thought|>' not in t for t in texts)
    adapted = [adapt_markup(t, 'begin_of_thought') for t in texts]
    assert all(think_format_ok(a) for a, how in adapted if how == 'adapted')
    assert not any(think_format_ok(a) for a, how in adapted if how == 'unclosed')  # cut off: stays out of the corpus


def test_a_file_teacher_answers_as_stored_and_its_accuracy_agrees_with_its_harness(data_dir):
    from ded_nb.data import load_problems
    from ded_nb.evaluate import evaluate_model

    rows = _rows(data_dir, 'Qwen2.5-Math-7B.jsonl')
    teacher = FileBackend(f'file:{TRACES}/Qwen2.5-Math-7B.jsonl')  # no markup: the text exactly as stored
    problems = load_problems('math500[:100]', data_dir=data_dir)
    got = generate(teacher, [p.question for p in problems], SamplingParams(temperature=0.7), progress=False)
    assert [c[0].text for c in got] == [r['code'][0] for r in rows[:100]]  # sampling cannot change a stored response
    ours = evaluate_model(teacher, {'math500': problems}, SamplingParams(), progress=False)['suites']['math500']
    harness = sum(r['score'][0] for r in rows[:100]) / 100
    assert abs(ours['accuracy'] - harness) <= 0.05  # two graders of the same responses (agreement.md reads each case)
    with pytest.raises(IndexError, match='1 stored'):
        generate(teacher, [problems[0].question], SamplingParams(n=2), progress=False)
