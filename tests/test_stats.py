"""Intervals and verdicts of `ded_nb.stats` against textbook formulas, and the verdicts flipping with the numbers."""
import math

import numpy as np
import pytest

from ded_nb.stats import compare, interval, paired_difference, score_matrix, verdict_of


def test_one_arm_matches_the_wald_interval_of_a_proportion():
    "One seed, n items, p right: the bootstrap interval is p +- 1.96 sqrt(p(1-p)/n) (within Monte Carlo error)."
    n, right = 900, 270
    got = interval([[1.0] * right + [0.0] * (n - right)], replicates=6000)
    p = right / n
    half = 1.96 * math.sqrt(p * (1 - p) / n)
    assert got['mean'] == pytest.approx(p)
    assert got['ci95'][0] == pytest.approx(p - half, abs=0.005)
    assert got['ci95'][1] == pytest.approx(p + half, abs=0.005)
    assert got['covers'] == 'items only (one seed)'


def test_paired_difference_matches_the_normal_interval_of_paired_data():
    "Discordant pairs 50/30 of 800 items: d = 0.025, half-width 1.96 sd(d_i)/sqrt(n)."
    a = [1.0] * 50 + [0.0] * 30 + [1.0] * 400 + [0.0] * 320
    b = [0.0] * 50 + [1.0] * 30 + [1.0] * 400 + [0.0] * 320
    d = np.array(a) - np.array(b)
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
    got = paired_difference([a], [b], replicates=6000)
    assert got['diff'] == pytest.approx(0.025)
    assert got['ci95'][0] == pytest.approx(0.025 - half, abs=0.004)
    assert got['ci95'][1] == pytest.approx(0.025 + half, abs=0.004)


@pytest.mark.parametrize(
    'a_only,b_only,expected', [(90, 20, 'a>b'), (20, 90, 'a<b'), (40, 45, 'not distinguishable')]
)
def test_the_verdict_follows_the_numbers(a_only, b_only, expected):
    "The same comparison says a>b, a<b or nothing, as the discordant items move."
    rest = 1000 - a_only - b_only
    a = [1.0] * a_only + [0.0] * b_only + [1.0] * (rest // 2) + [0.0] * (rest - rest // 2)
    b = [0.0] * a_only + [1.0] * b_only + [1.0] * (rest // 2) + [0.0] * (rest - rest // 2)
    assert paired_difference([a], [b])['verdict'] == expected
    assert compare({'x': [a], 'y': [b]}, [('x', 'y')], 'in_domain')[0]['verdict'] == expected


def test_seed_variation_widens_the_interval():
    "Five seeds scoring 0.3-0.7 on the same items: wider than the items-only interval of one seed at 0.5."
    rng = np.random.default_rng(0)
    five = [(rng.random(500) < p).astype(float) for p in (0.3, 0.4, 0.5, 0.6, 0.7)]
    one = [(rng.random(500) < 0.5).astype(float)]
    wide, narrow = interval(five), interval(one)
    assert wide['covers'] == 'items and seeds'
    assert wide['ci95'][1] - wide['ci95'][0] > 2 * (narrow['ci95'][1] - narrow['ci95'][0])


def test_verdict_boundaries():
    assert verdict_of([1e-9, 0.1]) == 'a>b'
    assert verdict_of([-0.1, -1e-9]) == 'a<b'
    assert verdict_of([0.0, 0.1]) == 'not distinguishable'
    assert verdict_of([-0.1, 0.0]) == 'not distinguishable'


def test_a_comparison_does_not_move_when_another_is_added():
    "Each comparison has its own bootstrap stream."
    rng = np.random.default_rng(1)
    arms = {k: [(rng.random(300) < 0.5).astype(float)] for k in 'xyz'}
    alone = compare(arms, [('x', 'y')], 'code')[0]
    with_other = compare(arms, [('z', 'y'), ('x', 'y')], 'code')[1]
    assert alone['ci95'] == with_other['ci95']


def test_arms_on_different_items_are_refused():
    with pytest.raises(ValueError, match='different items'):
        paired_difference([[1.0, 0.0]], [[1.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match='seed 7 has no score for item'):
        score_matrix([{'a': 1.0, 'b': 0.0}, {'a': 1.0}], seeds=[3, 7])
    with pytest.raises(KeyError, match="no scores for arm 'w'"):
        compare({'x': [[1.0]]}, [('w', 'x')], 'ood')
