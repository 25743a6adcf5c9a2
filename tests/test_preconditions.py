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
    assert table['teachers']['value'] == len(recipe.teachers)
    assert table['pool_exact_overlap']['value'] == 0
    assert (tmp_path / 'preconditions.json').exists() and (tmp_path / 'student' / 'eval.json').exists()
    assert '| `teachers` |' in precondition_table(result)
    assert result['enforced'] is False
