"""JSONL IO: every failure names file, line and field; writes are atomic; run directories and provenance."""
import json, os
import pytest
from ded_nb.core import (Response, Verdict, JsonlError, read_jsonl, write_jsonl, write_json, read_json, RunDir, config_hash,
                         record_from_dict, RecordError)

def write_lines(path, lines):
    path.write_text(''.join(l + '\n' for l in lines), encoding='utf-8')
    return path

@pytest.mark.parametrize('lines, line_no, needle', [
    (['{"problem_id": "a", "response": "x"}', '{"problem_id": "b", "response": '], 2, 'invalid JSON'),
    (['{"problem_id": "a", "response": "x"}', '', '{"problem_id": "b", "response": "y"}'], 2, 'blank line'),
    (['[1, 2]'], 1, 'expected a JSON object'),
    (['{"problem_id": "a", "response": "x"}', '{"problem_id": "b"}'], 2, "field 'response': missing"),
    (['{"problem_id": 12, "response": "x"}'], 1, "field 'problem_id': expected str"),
    (['{"problem_id": "a", "response": "x", "sample_idx": true}'], 1, "field 'sample_idx'"),
    (['{"problem_id": "a", "response": "x", "finish_reason": 3}'], 1, "field 'finish_reason'"),
])
def test_errors_name_file_line_and_field(tmp_path, lines, line_no, needle):
    path = write_lines(tmp_path / 'responses.jsonl', lines)
    with pytest.raises(JsonlError) as err: list(read_jsonl(path, Response))
    assert str(err.value).startswith(f'{path}:{line_no}: ')
    assert needle in str(err.value)
    assert err.value.line_no == line_no

def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.jsonl'): list(read_jsonl(tmp_path / 'nope.jsonl'))

def test_extra_fields_round_trip(tmp_path):
    rows = [{'problem_id': 'a', 'response': 'x', 'model': 'qwq', 'temperature': 0.6}]
    write_jsonl(tmp_path / 'r.jsonl', rows)
    rec = next(read_jsonl(tmp_path / 'r.jsonl', Response))
    assert rec.extra == {'model': 'qwq', 'temperature': 0.6}
    write_jsonl(tmp_path / 'v.jsonl', [Verdict('a', 0, True, False, 'correct', '1', extra=rec.extra)])
    out = next(read_jsonl(tmp_path / 'v.jsonl'))
    assert out['model'] == 'qwq' and out['correct'] is True and out['format_ok'] is False

def test_atomic_write_keeps_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / 'v.jsonl'
    write_jsonl(path, [{'a': 1}])
    def rows():
        yield {'a': 2}
        raise RuntimeError('writer died')
    with pytest.raises(RuntimeError): write_jsonl(path, rows())
    assert [r['a'] for r in read_jsonl(path)] == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ['v.jsonl']  # no temp file left behind

def test_append_adds_rows(tmp_path):
    path = tmp_path / 'cache.jsonl'
    write_jsonl(path, [{'i': 0}], append=True); write_jsonl(path, [{'i': 1}, {'i': 2}], append=True)
    assert [r['i'] for r in read_jsonl(path)] == [0, 1, 2]

def test_read_json_names_position(tmp_path):
    (tmp_path / 'm.json').write_text('{"a": 1,\n "b": }')
    with pytest.raises(JsonlError, match=r'm.json:2: invalid JSON'): read_json(tmp_path / 'm.json')

def test_run_dir_hash_and_provenance(tmp_path):
    cfg = {'benchmark': 'aime24', 'k': 16, 'sampling': {'temperature': 0.6, 'top_p': 0.95}}
    rd = RunDir.keyed(tmp_path, 'evaluate', cfg, seeds={'sampling': 1})
    assert rd.path.name == f'evaluate-{config_hash(cfg)}'
    assert read_json(rd / 'config.json')['config'] == cfg
    assert not rd.done()
    rd.finish({'avg@16': 0.4}, modules={'ded_nb.core': 'x'})
    meta = read_json(rd / 'done.json')
    assert meta['summary'] == {'avg@16': 0.4} and meta['config_hash'] == rd.hash and meta['modules'] == {'ded_nb.core': 'x'}
    assert meta['provenance']['seeds'] == {'sampling': 1}
    assert meta['provenance']['packages']['math-verify']
    assert RunDir.keyed(tmp_path, 'evaluate', dict(reversed(list(cfg.items())))).done()
    assert not RunDir.keyed(tmp_path, 'evaluate', {**cfg, 'k': 8}).done()
    assert not rd.begin().done()  # a restarted run is not done until it finishes again

def test_record_type_errors():
    with pytest.raises(RecordError, match="field 'correct'"): record_from_dict(Verdict, {'problem_id': 'a', 'sample_idx': 0, 'correct': 'yes', 'format_ok': True, 'reason': 'x'})
