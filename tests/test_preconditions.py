"""The preconditions check: verdicts that follow the numbers, a study that stops naming what failed, and the
measurement of a real (micro) world end to end."""
import pytest

from ded_nb.preconditions import correct_pair_distances, exact_overlap
from ded_nb.recipe import PRECONDITION_TARGETS as TARGETS, PreconditionError, check_preconditions, enforce_preconditions
from ded_nb.report import precondition_table


def _values(**changes):
    "A world that meets every default target, with `changes` applied."
    ok = {
        'teachers': 4, 'best_teacher_accuracy': 0.9, 'teacher_accuracy_spread': 0.3, 'teacher_entropy_spread': 0.5,
        'student_pool_accuracy': 0.3, 'student_level_spread': 0.5, 'student_ood_accuracy': 0.8, 'diversity': 0.1,
        'pool_level_imbalance': 0.0, 'pool_exact_overlap': 0, 'hard_questions': 400,
        'distillation_gain': {'value': 0.08, 'ci95': [0.03, 0.13]}, 'protocol_settled': {'value': 0.01, 'ci95': [-0.02, 0.04]},
        'teacher_ahead': 0.3, 'ood_reachable': 0.0,
    }
    return {**ok, **changes}


def test_a_world_meeting_every_target_passes():
    table = check_preconditions(_values())
    assert set(table) == set(TARGETS)
    assert all(row['met'] for row in table.values())
    assert enforce_preconditions(table, enforce=True) == []


@pytest.mark.parametrize('name,value,message', [
    ('best_teacher_accuracy', 0.7, 'best_teacher_accuracy: 0.7, target >= 0.8 (off by 0.1)'),
    ('student_pool_accuracy', 0.55, 'student_pool_accuracy: 0.55, target in [0.2, 0.5] (off by 0.05)'),
    ('student_pool_accuracy', 0.1, 'student_pool_accuracy: 0.1, target in [0.2, 0.5] (off by 0.1)'),
    ('pool_exact_overlap', 3, 'pool_exact_overlap: 3, target <= 0 (off by 3)'),
    ('diversity', None, 'diversity: not measured, target >= 0.05'),
    # the committed study's world (reports/study): every distilled student below the base, the code teacher behind
    ('distillation_gain', {'value': -0.232, 'ci95': [-0.262, -0.201]},
     'distillation_gain: -0.232 [-0.262, -0.201], target >= 0.05 (off by 0.282)'),
    ('distillation_gain', {'value': 0.06, 'ci95': [-0.01, 0.13]},
     'distillation_gain: 0.06 [-0.01, 0.13], target >= 0.05 with its 95 % interval above 0'),
    ('distillation_gain', None, 'distillation_gain: not measured, target >= 0.05'),
    ('protocol_settled', {'value': 0.14, 'ci95': [0.1, 0.18]}, 'protocol_settled: 0.14 [0.1, 0.18], target in [-0.03, 0.03] (off by 0.11)'),
    ('teacher_ahead', 0.015 - 0.53, 'teacher_ahead: -0.515, target >= 0.2 (off by 0.715)'),
    ('ood_reachable', 0.008 - 0.664, 'ood_reachable: -0.656, target >= -0.1 (off by 0.556)'),
])
def test_one_miss_stops_an_enforcing_study_and_says_by_how_much(name, value, message):
    "Each precondition flips to unmet when its value leaves the target; the error names it and the distance."
    table = check_preconditions(_values(**{name: value}))
    assert [n for n, row in table.items() if not row['met']] == [name]
    with pytest.raises(PreconditionError) as e:
        enforce_preconditions(table, enforce=True)
    assert message in str(e.value)
    assert enforce_preconditions(table, enforce=False) == [message]  # recorded, not enforced


def test_distances_and_overlap_by_hand():
    from ded_nb.core import Problem
    from ded_nb.curate import Trajectory

    trajs = [Trajectory('q', '<think>\nabcd\n</think>A', 0, 3, True), Trajectory('q', '<think>\nabce\n</think>B', 1, 3, True),
             Trajectory('r', '<think>\nabcd\n</think>A', 0, 3, True)]  # one correct sample of r: no pair
    assert correct_pair_distances(trajs) == [pytest.approx(1 / 6)]  # one edit in the 6 characters '\nabcd\n'
    pool = [Problem('p', 't', 'math', 'Start with 5. Add 3.', '8')]
    assert exact_overlap(pool, {'train': [Problem('x', 't', 'math', 'START WITH 5, ADD 3', '8')], 'test': []}) == {
        'train': 1, 'test': 0}


def test_measured_on_the_smoke_world(tmp_path):
    "The smoke profile's micro world measured end to end: every target has a value, the table renders, nothing stops."
    from ded_nb.recipe import load_recipe
    from ded_nb.preconditions import measure_preconditions

    recipe = load_recipe('smoke', ['preconditions.diversity_questions=4'])
    result = measure_preconditions(recipe, tmp_path, progress=False)
    table = result['preconditions']
    assert all(table[name]['value'] is not None for name in TARGETS if name != 'diversity')
    control = result['measurements']['control']  # the positive control trained and scored at stage 0
    assert set(control['arms']) == {'base', 'math/full', 'math/full@2x'}
    assert control['arms']['math/full@2x']['steps'] == 2 * control['arms']['math/full']['steps'] > 0
    assert 'ci95' in table['distillation_gain'] and result['measurements']['most_accurate_teacher'] in recipe.teachers
    assert table['teachers']['value'] == len(recipe.teachers)
    assert table['pool_exact_overlap']['value'] == 0
    assert (tmp_path / 'preconditions.json').exists() and (tmp_path / 'student' / 'eval.json').exists()
    assert '| `teachers` |' in precondition_table(result)
    assert result['enforced'] is False
