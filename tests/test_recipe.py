"The recipe from the command line: `--set` overrides are parsed and checked like the profile's own values."
import json, subprocess
from ded_nb.recipe import load_recipe, recipe_to_dict


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_ded_recipe_prints_the_overridden_recipe(ded_cli):
    done = run([ded_cli, 'recipe', '--profile', 'smoke', '--set', 'curation.tau.math=0.25', '--set', 'seeds=[1,2]'])
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data['curation']['tau'] == {'math': 0.25, 'code': 0.5} and data['seeds'] == [1, 2]
    assert data == recipe_to_dict(load_recipe('smoke', ['curation.tau.math=0.25', 'seeds=[1,2]']))


def test_a_saved_recipe_file_runs_like_the_profile(ded_cli, tmp_path):
    saved = tmp_path / 'mine.json'
    saved.write_text(run([ded_cli, 'recipe', '--profile', 'smoke']).stdout)
    done = run([ded_cli, 'recipe', '--profile', str(saved), '--set', 'curation.p=3'])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)['curation']['p'] == 3


def test_a_bad_override_names_the_field_in_one_line(ded_cli):
    for value, needle in (('curation.tau.math=1.5', 'curation.tau.math: 1.5 is outside [0, 1]'),
                          ('curation.taux=1', 'curation.taux: unknown field'),
                          ('curation.tau.math="high"', 'curation.tau.math: expected a number'),
                          ('curation.p=9', 'curation.p: P = 9 must be in [1, M = 3]'),
                          ('evaluation.suites.ood="tiny:maxof:pool"', 'evaluation.suites.ood')):
        done = run([ded_cli, 'reproduce', '--profile', 'smoke', '--dry-run', '--set', value])
        assert done.returncode == 2 and needle in done.stderr, (value, done.stderr)
        assert 'Traceback' not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_dry_run_says_why_each_stage_runs(ded_cli, tmp_path):
    done = run([ded_cli, 'reproduce', '--profile', 'smoke', '--dry-run', '--run-root', str(tmp_path / 'r'),
                '--reports', str(tmp_path / 'rep')])
    assert done.returncode == 0, done.stderr
    assert [s['why'] for s in json.loads(done.stdout)] == ['not run yet'] * 6
    assert 'would run (not run yet)' in done.stderr


def test_only_user_errors_become_one_line_messages():
    "A bug (KeyError, TypeError) keeps its traceback; a bad file line or recipe value is one line."
    from ded_nb.cli import user_errors
    from ded_nb.core import JsonlError
    from ded_nb.recipe import RecipeError
    caught = user_errors()
    assert not any(issubclass(KeyError, c) or issubclass(TypeError, c) for c in caught)
    assert issubclass(JsonlError, caught) and issubclass(RecipeError, caught)


def test_a_corpus_row_of_the_wrong_shape_names_its_line(ded_cli, tmp_path):
    corpus = tmp_path / 'c.jsonl'
    corpus.write_text('{"question": "Q", "response": "<think>a</think> 1"}\n{"question": "Q", "response": 5}\n')
    done = run([ded_cli, 'distill', '--profile', 'smoke', '--corpus', str(corpus), '--out', str(tmp_path / 'o')])
    assert done.returncode == 2 and 'c.jsonl:2' in done.stderr and 'Traceback' not in done.stderr
