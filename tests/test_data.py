"""Benchmark loaders on the real files, the offline fail-fast path, and decontamination."""
import os
import pytest
from ded_nb.core import Problem
from ded_nb.data import load_benchmark, find_data_dir, decontaminate, DataNotFoundError, BENCHMARKS, word_ngrams

EXPECTED = {'math500': (500, 'test/precalculus/807.json'), 'aime24': (30, '2024-I-1'), 'aime25': (30, '2025-I-1'),
            'gpqa_diamond': (198, '1'), 'lcb': (880, None), 'humaneval': (164, 'HumanEval/0'), 'mbpp': (974, '1'),
            'aime_1983_2023': (975, '1983-1'), 'math_train': (7474, 'math-train-0')}

@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_loaders_counts_and_string_ids(data_dir, name):
    problems = load_benchmark(name, data_dir=data_dir)
    count, first = EXPECTED[name]
    assert len(problems) == count
    assert all(isinstance(p.id, str) for p in problems)
    assert len({p.id for p in problems}) == count, 'ids must be unique'
    if first: assert problems[0].id == first
    assert all(p.kind == BENCHMARKS[name].kind for p in problems)
    if BENCHMARKS[name].kind != 'code':
        missing = [p.id for p in problems if not p.answer]
        assert missing == (['math-train-5328', 'math-train-5330'] if name == 'math_train' else []), missing

def test_math500_gold_is_prm800k_answer(data_dir):
    p = {p.id: p for p in load_benchmark('math500', data_dir=data_dir)}
    assert p['test/counting_and_probability/508.json'].answer == '10,\\!080'

def test_lcb_filters(data_dir):
    all_ = load_benchmark('lcb', data_dir=data_dir)
    window = load_benchmark('lcb', data_dir=data_dir, start_date='2024-08-01', end_date='2024-12-31')
    assert 0 < len(window) < len(all_)
    assert all('2024-08-01' <= p.meta['contest_date'][:10] <= '2024-12-31' for p in window)
    by_diff = {d: len(load_benchmark('lcb', data_dir=data_dir, difficulty=d)) for d in ('easy', 'medium', 'hard')}
    assert sum(by_diff.values()) == len(all_)
    lc = {p.id: p for p in load_benchmark('lcb', data_dir=data_dir, platform='leetcode')}
    assert lc['2727'].meta['fn_name'] == 'countSeniors' and lc['2727'].meta['public_tests'][0]['testtype'] == 'functional'

def test_gpqa_options_reordered_reproducibly(data_dir):
    a, b = load_benchmark('gpqa_diamond', data_dir=data_dir), load_benchmark('gpqa_diamond', data_dir=data_dir)
    assert [p.answer for p in a] == [p.answer for p in b]
    assert {p.answer for p in a} == set('ABCD')
    original = load_benchmark('gpqa_diamond', data_dir=data_dir, choice_seed=None)
    assert {p.answer for p in original} == {'A'}
    for p, o in zip(a, original):  # same options, and the gold option text moves with its letter
        assert sorted(p.meta['options']) == sorted(o.meta['options'])
        assert p.meta['options'][ord(p.answer) - 65] == o.meta['options'][0]

def test_offline_without_local_copy_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(DataNotFoundError) as err: load_benchmark('aime25', data_dir=tmp_path)
    msg = str(err.value)
    assert '--data-dir' in msg and 'DED_DATA_DIR' in msg and 'aime/aime25.norm.jsonl' in msg

def test_source_local_refuses_hub(tmp_path):
    with pytest.raises(DataNotFoundError, match='no local copy'): load_benchmark('math500', data_dir=tmp_path, source='local')

def test_env_var_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv('DED_DATA_DIR', str(tmp_path))
    assert find_data_dir() == tmp_path
    monkeypatch.setenv('DED_DATA_DIR', str(tmp_path / 'missing'))
    with pytest.raises(FileNotFoundError, match='DED_DATA_DIR'): find_data_dir()

def test_unknown_benchmark_and_option():
    with pytest.raises(KeyError, match='known:'): load_benchmark('aime26')
    with pytest.raises(TypeError, match='unknown option'): load_benchmark('math500', difficulty='hard')

def test_decontamination_finds_a_planted_duplicate(data_dir):
    aime24 = load_benchmark('aime24', data_dir=data_dir)
    pool = load_benchmark('aime_1983_2023', data_dir=data_dir)[:200]
    planted = Problem('planted', 'pool', 'math', 'Here is a warm-up. ' + aime24[7].question.upper())
    hits = decontaminate(pool + [planted], aime24, n=8)
    planted_hits = [h for h in hits if h['pool_id'] == 'planted']
    assert planted_hits[0]['benchmark_id'] == aime24[7].id
    assert planted_hits[0]['shared_ngrams'] == len(word_ngrams(aime24[7].question))
    # other AIME 2024 problems share only boilerplate ("relatively prime positive integers. Find m+n") with it
    assert all(h['shared_ngrams'] < 0.5 * planted_hits[0]['shared_ngrams'] for h in planted_hits[1:])
    assert hits[0]['pool_id'] == 'planted'  # most shared first

def test_aime_pool_vs_aime_2024_2025(data_dir, capsys):
    "Reports what 8-gram decontamination finds between AIME 1983-2023 and AIME 2024/2025 (no exact copies expected)."
    pool = load_benchmark('aime_1983_2023', data_dir=data_dir)
    bench = load_benchmark('aime24', data_dir=data_dir) + load_benchmark('aime25', data_dir=data_dir)
    hits = decontaminate(pool, bench, n=8)
    with capsys.disabled():
        print(f'\nAIME 1983-2023 vs AIME 2024+2025 (8-grams): {len(hits)} pairs, {len({h["pool_id"] for h in hits})} pool questions;'
              f' most shared: {hits[0]["shared_ngrams"] if hits else 0}')
    for h in hits:  # overlaps are boilerplate phrases, not copied problems: no pair shares a large part of a question
        bench_q = next(b for b in bench if b.id == h['benchmark_id'])
        assert h['shared_ngrams'] < 0.5 * len(word_ngrams(bench_q.question)), h
