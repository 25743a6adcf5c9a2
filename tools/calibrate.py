"""Development calibration of the study world (issue 33): candidate students and SFT settings, scored on the dev split.

Each row trains one student (a model of the built world, or a candidate built here from one of its models) on one
corpus with one SFT setting, and scores it greedily on the `tiny` profile's development suites (`tiny:*:dev`), next to
the same student untrained. The study's test split is never read. Rows are cached: a rerun trains nothing it has.

    python tools/calibrate.py                  # every row of ROWS
    python tools/calibrate.py oracle-compact   # rows whose name contains the word

Results: `.ded/calibration/<world>/rows/<row>/result.json` and `table.md` beside them.
"""
import json, sys, time
from dataclasses import asdict, replace
from pathlib import Path

from ded_nb.core import derive_seed, read_json, write_json
from ded_nb.curate import sample_trajectories, save_trajectories
from ded_nb.data import eval_suites, recipe_problems
from ded_nb.distill import distill_and_evaluate
from ded_nb.generate import CompletionCache
from ded_nb.models import cache_root, load_tokenizer
from ded_nb.recipe import load_recipe
from ded_nb.sft import read_corpus, sft_steps
from ded_nb.sftcache import SFTCache
from ded_nb.stats import paired_difference, score_matrix
from ded_nb.world import ModelSpec, TinyWorld, get_world, render, train_zoo_model

# Candidate students: built from a model of the world (`init_from`) into the calibration folder.
CANDIDATES = {
    # the teachers' format family, weaker in skill: the base plus a short plain-format training
    'student-plain-300': ModelSpec('student-plain-300', 'student', '1M', 'plain', steps=300, lr=1e-3, warmup=10,
                                   families=('arith', 'maxof', 'func'), family_limits={'arith': 20000, 'func': 400},
                                   seed=3, init_from='base'),
}

# name: (student, corpus, SFT learning rate or None for the recipe's, optimizer steps or None for the recipe's epochs)
# student: `tiny:<model>` of the world or a candidate's name; corpus: `teacher:<model>` (its first T=0.7 sample per
# pool question, as the positive control draws it) or `oracle:<style>` (the world's correct trace in that style)
ROWS = {
    'student/teacher-plain': ('tiny:student', 'teacher:teacher-plain', None, None),
    'student/oracle-plain': ('tiny:student', 'oracle:plain', None, None),
    'student/oracle-compact': ('tiny:student', 'oracle:compact', None, None),
    'base/teacher-plain': ('tiny:base', 'teacher:teacher-plain', None, None),
    'base/teacher-plain-lr1e-4': ('tiny:base', 'teacher:teacher-plain', 1e-4, None),
    'student-plain-300/teacher-plain': ('student-plain-300', 'teacher:teacher-plain', None, None),
    'student-plain-300/teacher-plain-lr1e-4': ('student-plain-300', 'teacher:teacher-plain', 1e-4, None),
}


def scratch_world(world, root: Path) -> TinyWorld:
    "A world in `root` holding the candidates, whose tokenizer and models are links to `world`'s."
    spec = replace(world.spec, models=list(world.spec.models) + list(CANDIDATES.values()))
    scratch = TinyWorld(root, spec, world.problems)
    (root / 'models').mkdir(parents=True, exist_ok=True)
    if not (root / 'tokenizer').exists():
        (root / 'tokenizer').symlink_to(world.path / 'tokenizer')
    for m in world.spec.models:
        for path in world.path.joinpath('models').glob(f'{m.name}*'):
            if not (root / 'models' / path.name).exists():
                (root / 'models' / path.name).symlink_to(path)
    return scratch


def student_path(name: str, world, scratch) -> str:
    "The folder of a student: a model of the world, or a candidate (built on first use)."
    if name.startswith('tiny:'):
        return str(world.model_path(name[5:]))
    if not (scratch.model_path(name) / 'done.json').exists():
        train_zoo_model(scratch, name, progress=True)
    return str(scratch.model_path(name))


def corpus(kind: str, recipe, world, cache, root: Path) -> list[tuple[str, str]]:
    "The (question, response) pairs of a corpus kind over the recipe's math pool."
    pool = recipe_problems(recipe, recipe.curation.pools['math'])
    source, name = kind.split(':')
    if source == 'oracle':
        return [(p.question, render(p, name, derive_seed(0, p.id))) for p in pool]
    path = root / 'corpora' / f'{name}.jsonl'
    if not path.exists():
        params = replace(recipe.curation.sampling, n=1)
        tok = load_tokenizer('tiny:student', world)
        save_trajectories(sample_trajectories(f'tiny:{name}', pool, params, tok, world, cache, desc=name), path)
    return read_corpus(path)


def run_row(name: str, row: tuple, recipe, world, scratch, cache, root: Path) -> dict:
    "Train and score one row, and its student untrained; cached in the row's folder."
    student, kind, lr, steps = row
    path, suites = student_path(student, world, scratch), eval_suites(recipe)
    profile = recipe.sft if lr is None else replace(recipe.sft, learning_rate=lr)
    pairs = corpus(kind, recipe, world, cache, root)
    common = dict(suites=suites, eval_params=recipe.evaluation.sampling, cache=cache, seed=recipe.seeds[0],
                  sft_cache=SFTCache(cache_root() / 'sft'))
    base = distill_and_evaluate(path, [], root / 'students' / student.replace(':', '-'), profile, **common)
    run = distill_and_evaluate(path, pairs, root / 'rows' / name.replace('/', '-'), profile, max_steps=steps, **common)
    out = {'row': name, 'student': student, 'corpus': kind, 'learning_rate': profile.learning_rate,
           'steps': run['sft']['steps'] if run['sft'] else 0, 'samples': len(pairs), 'seed': recipe.seeds[0],
           'train_loss': run['sft']['train_loss'] if run['sft'] else None, 'suites': {}}
    for suite, s in run['eval'].items():
        a, b = (score_matrix([x['eval'][suite]['item_scores']]) for x in (run, base))
        out['suites'][suite] = {'base': base['eval'][suite]['accuracy'], 'sft': s['accuracy'],
                                'vs_base': paired_difference(a, b)}
    return out


def table(rows: list[dict]) -> str:
    "The calibration table in markdown: each row's scores and its difference from its untrained student."
    head = '| row | corpus | lr | steps | in-domain base → SFT | vs base [95 % CI] | OOD base → SFT | code base → SFT |'
    lines = [head, '|' + '---|' * 8]
    for r in rows:
        s = r['suites']
        d = s['in_domain']['vs_base']
        pct = lambda x: f'{100 * x:.1f}'
        lines.append(f"| {r['row']} | {r['corpus']} | {r['learning_rate']:g} | {r['steps']} | "
                     f"{pct(s['in_domain']['base'])} → {pct(s['in_domain']['sft'])} | {100 * d['diff']:+.1f} "
                     f"[{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}] | {pct(s['ood']['base'])} → "
                     f"{pct(s['ood']['sft'])} | {pct(s['code']['base'])} → {pct(s['code']['sft'])} |")
    return '\n'.join(lines) + '\n'


def main(words: list[str]):
    recipe = load_recipe('tiny')  # the development profile: dev suites, the study's SFT settings, seed 0
    world = get_world(recipe.world)
    root = cache_root().parent / 'calibration' / world.path.name
    scratch, cache = scratch_world(world, root / 'world'), CompletionCache(cache_root() / 'generations.sqlite')
    done = []
    for name, row in ROWS.items():
        if words and not any(w in name for w in words):
            continue
        start = time.time()
        result = run_row(name, row, recipe, world, scratch, cache, root)
        write_json(root / 'rows' / name.replace('/', '-') / 'calibration.json', result)
        done.append(result)
        print(f'{name}: {time.time() - start:.0f} s', file=sys.stderr, flush=True)
    every = [read_json(p) for p in sorted((root / 'rows').glob('*/calibration.json'))]
    (root / 'table.md').write_text(table(every))
    print(table(every))


if __name__ == '__main__':
    main(sys.argv[1:])
