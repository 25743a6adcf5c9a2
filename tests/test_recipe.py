"""The recipe from the command line: YAML profiles shipped and copied, `--set` overrides parsed and checked like the
profile's own values."""
import json, shutil, subprocess
import pytest
import yaml
from ded_nb.recipe import RecipeError, load_recipe, recipe_to_dict, profile_file


def run(cmd, cwd=None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_ded_recipe_prints_the_overridden_recipe(ded_cli):
    done = run([ded_cli, 'recipe', '--profile', 'smoke', '--set', 'curation.tau.math=0.25', '--set', 'seeds=[1,2]'])
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert data['curation']['tau'] == {'math': 0.25, 'code': 0.5} and data['seeds'] == [1, 2]
    assert data == recipe_to_dict(load_recipe('smoke', ['curation.tau.math=0.25', 'seeds=[1,2]']))


def test_ded_recipe_prints_the_paper_profile_with_its_sft_settings(ded_cli):
    done = run([ded_cli, 'recipe', '--profile', 'paper'])
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert data == recipe_to_dict(load_recipe('paper'))
    assert (data['sft']['learning_rate'], data['sft']['epochs'], data['sft']['global_batch'], data['sft']['max_length']) \
        == (1e-5, 10, 48, 16384)  # the paper's, in its profile


def test_a_saved_recipe_file_runs_like_the_profile(ded_cli, tmp_path):
    saved = tmp_path / 'mine.yaml'
    saved.write_text(run([ded_cli, 'recipe', '--profile', 'smoke']).stdout)
    done = run([ded_cli, 'recipe', '--profile', str(saved), '--set', 'curation.p=3'])
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)['curation']['p'] == 3


def test_an_edited_copy_of_paper_yaml_in_another_folder(ded_cli, tmp_path):
    """A user copies `paper.yaml` into a folder of their own, derives a profile from it beside a JSONL question pool, and
    runs both from elsewhere: the base and the pool are read from the profile's folder, the comments are theirs to keep."""
    mine = tmp_path / 'mine'
    mine.mkdir()
    shutil.copy(profile_file('paper'), mine / 'paper.yaml')
    text = (mine / 'paper.yaml').read_text().replace('  p: 4  #', '  p: 3  #')
    assert '[UNSPECIFIED]' in text
    (mine / 'paper.yaml').write_text(text)
    (mine / 'pool.jsonl').write_text(''.join(json.dumps({'id': f'q{i}', 'question': f'What is {i} + 1?', 'answer': str(i + 1)})
                                             + '\n' for i in range(4)))
    (mine / 'derived.yaml').write_text('base: paper.yaml  # the edited copy beside it\n'
                                       'curation:\n  pools:\n    math: pool.jsonl[:2]\n    code: hub:open-r1/codeforces[:1000]\n')
    done = run([ded_cli, 'recipe', '--profile', 'mine/derived.yaml'], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert data['curation']['p'] == 3 and data['curation']['pools']['math'] == f"{(mine / 'pool.jsonl').resolve()}[:2]"
    assert data['sft'] == recipe_to_dict(load_recipe('paper'))['sft']
    plan = run([ded_cli, 'reproduce', '--profile', 'mine/derived.yaml', '--dry-run', '--out', str(tmp_path / 'out')],
               cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert [s['status'] for s in json.loads(plan.stdout)] == ['would run'] * 6 and 'accelerate launch' in plan.stderr


def test_a_broken_profile_file_is_named_with_its_line(ded_cli, tmp_path):
    (tmp_path / 'bad.yaml').write_text('base: smoke\ncuration:\n  p: [1\n')
    done = run([ded_cli, 'recipe', '--profile', str(tmp_path / 'bad.yaml')])
    assert done.returncode == 2 and 'bad.yaml' in done.stderr and 'line 3' in done.stderr, done.stderr
    (tmp_path / 'loop.yaml').write_text('base: loop.yaml\n')
    done = run([ded_cli, 'recipe', '--profile', str(tmp_path / 'loop.yaml')])
    assert done.returncode == 2 and 'is its own base' in done.stderr, done.stderr


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


def test_a_profile_file_named_relative_to_here_is_found_by_the_stage_kernels(ded_cli, tmp_path):
    """The stage kernels run in the executed notebooks' folder, not where `ded reproduce` started: a profile named by a
    relative path reaches them relative to their own folder, so the executed notebook still names no machine's folder."""
    (tmp_path / 'mine.yaml').write_text('base: smoke\n')
    done = run([ded_cli, 'reproduce', '--profile', 'mine.yaml', '--only', 'world', '--out', 'out'], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [s['status'] for s in json.loads(done.stdout)][0] == 'ran'
    executed = json.loads((tmp_path / 'out' / 'reports' / 'smoke' / 'notebooks' / '00_world.ipynb').read_text())
    injected = next(c for c in executed['cells'] if 'injected-parameters' in c['metadata'].get('tags', []))
    assert 'profile = "../../../../mine.yaml"' in ''.join(injected['source']), ''.join(injected['source'])


def test_a_number_written_without_a_dot_is_a_number(tmp_path):
    "`2e-5` in a profile is a float (YAML 1.2 and JSON read it so; PyYAML's YAML 1.1 reads a string): the edit a user makes."
    (tmp_path / 'mine.yaml').write_text('base: smoke\nsft:\n  learning_rate: 2e-5\nlora:\n  learning_rate: 1E-4\n')
    recipe = load_recipe(str(tmp_path / 'mine.yaml'))
    assert (recipe.sft.learning_rate, recipe.lora.learning_rate) == (2e-5, 1e-4)


def _run(seed, scores):  # a distillation run as `distill_and_evaluate` returns it, items scored 0/1 on every suite
    item_scores = {f'q{i}': v for i, v in enumerate(scores)}
    return {'samples': 10, 'seed': seed, 'sft': {'steps': 5}, 'final_model': f'/m/{seed}', 'eval': {s: {'item_scores': item_scores}
                                                                        for s in ('in_domain', 'ood', 'code')}}


def test_the_study_design_is_read_from_the_profile(tmp_path):
    """The arms, the headline corpus and the pre-registered hypotheses come from the profile: a copy that trains three
    corpora, sets `right_hard` as the headline and pre-registers one hypothesis of its own gets exactly that study."""
    from ded_nb.distill import distillation_experiments, chosen_arm
    from ded_nb.recipe import stage_hypotheses
    mine = tmp_path / 'mine.yaml'
    mine.write_text('base: smoke\nstudy:\n  arms: [full, right, right_hard]\n  headline_arm: right_hard\n  hypotheses:\n'
                    '    H9: {experiment: curation_arms, a: math/right_hard, b: math/full, suite: main,\n'
                    '         claim: dropping solved questions beats every sample, supports: a>b}\n')
    recipe = load_recipe(str(mine))
    assert stage_hypotheses(recipe, 'distillation') == {'H9': {
        'experiment': 'curation_arms', 'a': 'math/right_hard', 'b': 'math/full', 'suite': 'main',
        'claim': 'dropping solved questions beats every sample', 'supports': 'a>b'}}
    assert stage_hypotheses(recipe, 'teacher_study') == {}
    runs = {f'math/{a}': [_run(s, [1] * n + [0] * (60 - n)) for s in (0, 1)]
            for a, n in (('full', 20), ('right', 30), ('right_hard', 45), ('right_hard_diverse', 50))}
    curation = distillation_experiments(recipe, runs)['curation_arms']
    assert list(curation['arms']) == ['math/full', 'math/right', 'math/right_hard']  # not the profile's fourth corpus
    assert [(c['a'], c['b'], c['headline']) for c in curation['comparisons'] if c['suite'] == 'in_domain'] == [
        ('math/right', 'math/full', None), ('math/right_hard', 'math/right', None), ('math/right_hard', 'math/full', 'H9')]
    assert chosen_arm(recipe, runs)['arm'] == 'math/right_hard'  # among the profile's arms only


def _leaf_fields(tp, out=None) -> set:
    "The names of a recipe's values: every field of its sections that is not itself a section."
    import dataclasses, typing
    out = set() if out is None else out
    for f in dataclasses.fields(tp):
        hint = typing.get_type_hints(tp)[f.name]
        sections = [t for t in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(t)]
        for t in sections: _leaf_fields(t, out)
        if not sections: out.add(f.name)
    return out


def _unwritten(data: dict, tp, path='') -> list:
    "The fields of section `tp` that a profile's `data` does not write, as dotted paths."
    import dataclasses, typing
    missing = []
    for f in dataclasses.fields(tp):
        name = f'{path}{f.name}'
        if f.name not in data:
            missing.append(name)
            continue
        hint = typing.get_type_hints(tp)[f.name]
        sub = next((t for t in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(t)), None)
        if sub is not None and isinstance(data[f.name], dict) and not typing.get_origin(hint) is dict:
            missing += _unwritten(data[f.name], sub, f'{name}.')
    return missing


def test_every_recipe_value_a_stage_uses_comes_from_the_profile():
    """No second default: (1) each base profile file writes every value of the recipe, so none comes from a default in the
    schema; (2) every call that code holding the recipe makes into the library passes each argument named like a recipe
    value, so no default in a library signature stands in for the profile's value."""
    import ast, inspect, importlib, pkgutil
    from pathlib import Path
    import ded_nb
    from ded_nb.recipe import Recipe, PROFILES
    for name in PROFILES:
        data = yaml.safe_load(profile_file(name).read_text())
        if 'base' not in data:
            assert _unwritten(data, Recipe) == [], f'{name}.yaml leaves values to the schema defaults'
    values, functions = _leaf_fields(Recipe), {}
    for m in pkgutil.iter_modules(ded_nb.__path__):
        if not m.name.startswith('_'):
            for n, obj in vars(importlib.import_module(f'ded_nb.{m.name}')).items():
                if inspect.isfunction(obj) and obj.__module__.startswith('ded_nb'):
                    functions.setdefault(n, obj)
    defaulted = []
    for path in sorted(Path(ded_nb.__file__).parent.glob('*.py')):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef) or 'recipe' not in [a.arg for a in fn.args.args + fn.args.kwonlyargs]:
                continue
            for call in ast.walk(fn):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in functions):
                    continue
                if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                    continue  # `**recipe.run_options()` and the like pass what they hold
                params = list(inspect.signature(functions[call.func.id]).parameters.values())
                given = {p.name for p in params[:len(call.args)]} | {k.arg for k in call.keywords}
                defaulted += [f'{path.stem}.{fn.name} -> {call.func.id}({p.name}={p.default!r})' for p in params
                              if p.name in values and p.name not in given and p.default not in (inspect.Parameter.empty, None)]
    assert defaulted == [], 'library defaults standing in for recipe values'


@pytest.mark.parametrize('line', ['  decontamination_n: 8\n', '  lora_r: 16\n', '  replay_share: 0.0\n'])
def test_a_profile_without_a_base_that_leaves_a_value_out_is_an_error_naming_it(tmp_path, line):
    """A user's profile with no `base` writes every value: one left out is an error naming its field, never the
    schema's default (before, the schema filled `decontamination_n` with 8, `replay_share` with 0.05, `lora_r` with 16)."""
    text = profile_file('paper').read_text()
    assert text.count(line) == 1
    (tmp_path / 'mine.yaml').write_text(text.replace(line, ''))
    field = line.strip().split(':')[0]
    with pytest.raises(RecipeError, match=rf'\.{field}: missing'):
        load_recipe(str(tmp_path / 'mine.yaml'))
