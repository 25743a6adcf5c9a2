"""`ded grade` from the shell: the row contract, errors that name the line, and agreement with the Qwen2.5-Math harness."""
import json, subprocess
import pytest
from ded_nb.core import read_jsonl, write_jsonl
from ded_nb.data import load_benchmark, ids_for_questions

def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

def grade(ded_cli, tmp_path, rows, benchmark='aime24', extra=()):
    inp, out = tmp_path / 'r.jsonl', tmp_path / 'v.jsonl'
    if rows is not None: write_jsonl(inp, rows)
    done = run([ded_cli, 'grade', '--benchmark', benchmark, '--responses', str(inp), '--out', str(out), '--no-progress', *extra])
    return done, out

def test_row_contract_order_and_summary(ded_cli, data_dir, tmp_path):
    rows = [{'problem_id': '2024-I-1', 'response': '<think>t</think> \\boxed{204}', 'sample_idx': 0, 'model': 'm'},
            {'problem_id': '2024-I-2', 'response': '\\boxed{25}', 'sample_idx': 0},
            {'problem_id': '2024-I-1', 'response': 'so it is 205.', 'sample_idx': 1},
            {'problem_id': '2024-I-2', 'response': '<think>long', 'sample_idx': 1, 'finish_reason': 'length'}]
    done, out = grade(ded_cli, tmp_path, rows, extra=['--data-dir', str(data_dir)])
    assert done.returncode == 0, done.stderr
    verdicts = list(read_jsonl(out))
    assert [(v['problem_id'], v['sample_idx']) for v in verdicts] == [(r['problem_id'], r['sample_idx']) for r in rows]
    assert [v['correct'] for v in verdicts] == [True, True, False, False]
    assert [v['format_ok'] for v in verdicts] == [True, False, False, False]
    assert verdicts[0]['model'] == 'm' and verdicts[3]['truncated'] is True and verdicts[3]['reason'] == 'unfinished'
    assert all(isinstance(v['reason'], str) for v in verdicts)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary['n'] == 4 and summary['accuracy'] == 0.5 and summary['avg@2'] == 0.5 and summary['pass@k']['2'] == 1.0
    assert summary['reasons'] == {'correct': 2, 'wrong_answer': 1, 'unfinished': 1} and summary['seconds'] > 0
    meta = json.loads((tmp_path / 'v.jsonl.meta.json').read_text())
    assert meta['config']['benchmark'] == 'aime24' and meta['provenance']['packages']['math-verify']

@pytest.mark.parametrize('rows, needle', [
    ('{"problem_id": "2024-I-1", "response": "x"}\n{"problem_id": "2024-I-2", "response": "y"\n', 'r.jsonl:2: invalid JSON'),
    ('{"problem_id": "2024-I-1", "response": "x"}\n{"problem_id": "2024-I-2"}\n', "r.jsonl:2: field 'response': missing"),
    ('{"problem_id": "2024-I-1", "response": "x"}\n\n', 'r.jsonl:2: blank line'),
    ('{"problem_id": 5, "response": "x"}\n', "r.jsonl:1: field 'problem_id': expected str"),
    ('{"problem_id": "2024-I-1", "response": "x"}\n{"problem_id": "2024-I-16", "response": "y"}\n', "r.jsonl:2: field 'problem_id': unknown id '2024-I-16'"),
])
def test_bad_input_names_the_line_and_writes_nothing(ded_cli, data_dir, tmp_path, rows, needle):
    (tmp_path / 'r.jsonl').write_text(rows)
    done, out = grade(ded_cli, tmp_path, None)
    assert done.returncode == 2
    assert needle in done.stderr
    assert 'Traceback' not in done.stderr
    assert not out.exists()

def test_gpqa_letters(ded_cli, data_dir, tmp_path):
    problems = load_benchmark('gpqa_diamond', data_dir=data_dir)
    rows = [{'problem_id': p.id, 'response': f'<think>hm</think> \\boxed{{{p.answer}}}'} for p in problems[:5]]
    rows.append({'problem_id': problems[5].id, 'response': 'The answer is (A)' if problems[5].answer != 'A' else 'The answer is (B)'})
    done, out = grade(ded_cli, tmp_path, rows, benchmark='gpqa_diamond')
    assert done.returncode == 0, done.stderr
    assert [v['correct'] for v in read_jsonl(out)] == [True] * 5 + [False]
    assert 'question' not in (tmp_path / 'v.jsonl').read_text()  # no GPQA question text is written out

def test_code_grading_lcb_window_and_difficulty(ded_cli, data_dir, tmp_path):
    "o1-mini's programs for a few LeetCode and AtCoder problems, graded in the sandbox; LCB ids as strings; split by difficulty."
    subs = {s['question_id']: s for s in json.loads((data_dir / 'livecodebench' / 'lcb_v5_o1-mini-2024-09-12_n1_eval_all.json').read_text())}
    ids = ['2727', 'abc301_a', 'abc301_b']
    rows = [{'problem_id': i, 'response': f"Here:\n```python\n{subs[i]['code_list'][0]}\n```"} for i in ids]
    rows.append({'problem_id': '2727', 'response': 'no code at all', 'sample_idx': 1})
    done, out = grade(ded_cli, tmp_path, rows, benchmark='lcb', extra=['--lcb-end-date', '2024-12-31'])
    assert done.returncode == 0, done.stderr
    verdicts = list(read_jsonl(out))
    assert [v['correct'] for v in verdicts] == [subs[i]['graded_list'][0] for i in ids] + [False]
    assert verdicts[-1]['reason'] == 'no_code'
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary['by_difficulty']) <= {'easy', 'medium', 'hard'} and summary['n'] == 4

def test_a_problem_without_tests_does_not_sink_the_batch(ded_cli, data_dir, tmp_path):
    "LCB 1873_A has no public tests in our copy: its row is `no_tests`, outside the accuracy; every other row is graded."
    subs = {s['question_id']: s for s in json.loads((data_dir / 'livecodebench' / 'lcb_v5_o1-mini-2024-09-12_n1_eval_all.json').read_text())}
    rows = [{'problem_id': i, 'response': f"```python\n{subs[i]['code_list'][0]}\n```"} for i in ('abc301_a', '1873_A', 'abc301_b')]
    done, out = grade(ded_cli, tmp_path, rows, benchmark='lcb')
    assert done.returncode == 0, done.stderr
    verdicts = list(read_jsonl(out))
    assert [v['reason'] for v in verdicts] == ['passed', 'no_tests', 'passed']
    assert 'no public tests' in verdicts[1]['detail'] and verdicts[1]['correct'] is False
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary['n'], summary['accuracy'], summary['no_tests']) == (2, 1.0, 1)
    assert sum(group['no_tests'] for group in summary['by_difficulty'].values()) == 1

def test_code_window_excludes_problem(ded_cli, data_dir, tmp_path):
    done, _ = grade(ded_cli, tmp_path, [{'problem_id': 'abc301_a', 'response': 'x'}], benchmark='lcb', extra=['--lcb-start-date', '2024-01-01'])
    assert done.returncode == 2 and "unknown id 'abc301_a'" in done.stderr

def test_humaneval_mbpp_ids(ded_cli, data_dir, tmp_path):
    done, out = grade(ded_cli, tmp_path, [{'problem_id': 'HumanEval/0', 'response': 'x'}], benchmark='humaneval')
    assert done.returncode == 0, done.stderr
    assert [v['reason'] for v in read_jsonl(out)] == ['no_code']
    right = 'def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))'
    wrong = 'def similar_elements(a, b):\n    return tuple(sorted(set(a) | set(b)))'
    done, out = grade(ded_cli, tmp_path, [{'problem_id': '2', 'response': f'```python\n{code}\n```'} for code in (right, wrong)],
                      benchmark='mbpp')
    assert done.returncode == 0, done.stderr
    assert [v['reason'] for v in read_jsonl(out)] == ['passed', 'wrong_answer']

@pytest.mark.parametrize('bench', ['math500', 'aime24'])
def test_agreement_with_the_harness_on_qwen25_math_7b(ded_cli, data_dir, tmp_path, bench):
    "At least 98 % of rows get the same verdict as the Qwen2.5-Math harness's stored `score` (short-CoT model)."
    src = data_dir / 'generations' / 'skythought_corrupt_branch' / bench / 'Qwen2.5-Math-7B.jsonl'
    rows, problems = list(read_jsonl(src)), load_benchmark(bench, data_dir=data_dir)
    ids = ids_for_questions(problems, [r['question'] for r in rows])
    done, out = grade(ded_cli, tmp_path, [{'problem_id': i, 'response': r['code'][0], 'harness': r['score'][0]} for i, r in zip(ids, rows)],
                      benchmark=bench)
    assert done.returncode == 0, done.stderr
    verdicts = list(read_jsonl(out))
    assert len(verdicts) == len(rows)
    agreement = sum(v['correct'] == v['harness'] for v in verdicts) / len(verdicts)
    assert agreement >= 0.98, agreement
