"""Development calibration of the study world (issue 33): candidate models and SFT settings, scored on the dev split.

Each row trains one student (a model of the built world, or a candidate built here from one of its models) on one
corpus with one SFT setting, and scores it greedily on the `tiny` profile's development suites (`tiny:*:dev`), next to
the same student untrained. `--models` scores models (the world's and the candidates, with their checkpoints) on the
first 200 / 100 / 60 dev items. The study's test split is never read. Everything is cached: a rerun trains nothing
it has.

    python tools/calibrate.py                      # every row of ROWS
    python tools/calibrate.py S3/T3                # rows whose name contains the word
    python tools/calibrate.py --seed 1 pool1200    # the same rows on training seed 1 (its rows named `...@seed1`)
    python tools/calibrate.py --models T3 S3       # score models (and their checkpoints) on the dev subsets
    python tools/calibrate.py --diversity T3 T3@1000   # stage 0's `diversity` of teachers (M samples, 100 questions)

Results: `.ded/calibration/<world>/rows/<row>/calibration.json` and `table.md` beside them; `models/<model>/eval.json`
and `models.md`. The world is the one the `tiny` profile names, or `--world-path` (a built world folder: the
calibration of the fp32 build `6dd6aeeca54d` after the code that builds worlds changed).
"""
import sys, time
from dataclasses import replace
from pathlib import Path

from ded_nb.core import derive_seed, read_json, write_json
from ded_nb.curate import sample_trajectories, save_trajectories
from ded_nb.data import eval_suites, recipe_problems
from ded_nb.distill import distill_and_evaluate
from ded_nb.generate import CompletionCache
from ded_nb.models import cache_root, load_tokenizer
from ded_nb.preconditions import correct_pair_distances, median_or_none
from ded_nb.recipe import load_recipe
from ded_nb.sft import read_corpus, sft_steps
from ded_nb.sftcache import SFTCache
from ded_nb.stats import paired_difference, score_matrix
from ded_nb.evaluate import evaluate_model
from ded_nb.recipe import greedy_params
import ded_nb.world as world_module
from ded_nb.world import ModelSpec, TinyWorld, get_world, render, study_zoo, train_zoo_model

# Candidate students and teachers: built from a model of the world (`init_from`) into the calibration folder.
ALL_FAMILIES = ('arith', 'maxof', 'func')
CANDIDATES = {
    # the teachers' format family, weaker in skill: the base plus a short plain-format training
    'student-plain-300': ModelSpec('student-plain-300', 'student', '1M', 'plain', steps=300, lr=1e-3, warmup=10,
                                   families=ALL_FAMILIES, family_limits={'arith': 20000, 'func': 400},
                                   seed=3, init_from='base'),
    # teachers trained on every family (all 3,000 `func` problems: the student's code data capped below theirs)
    'T1': ModelSpec('T1', 'teacher', '1M', 'plain', steps=3000, lr=1e-3, warmup=10, families=ALL_FAMILIES,
                    family_limits={'func': 3000}, seed=1, init_from='base', checkpoints=(1000, 2000)),
    'T3': ModelSpec('T3', 'teacher', '1M', 'plain', steps=2000, lr=5e-4, warmup=10, families=ALL_FAMILIES,
                    family_limits={'func': 3000}, seed=5, init_from='T1', checkpoints=(1000,)),  # T1, 2,000 steps more
    # the worded teachers trained the T1 / T3 way (not measured yet)
    'W1': ModelSpec('W1', 'teacher', '1M', 'worded', steps=3000, lr=1e-3, warmup=10, families=ALL_FAMILIES,
                    family_limits={'func': 3000}, seed=2, init_from='base', checkpoints=(1000, 2000)),
    'W3': ModelSpec('W3', 'teacher', '1M', 'worded', steps=2000, lr=5e-4, warmup=10, families=ALL_FAMILIES,
                    family_limits={'func': 3000}, seed=6, init_from='W1', checkpoints=(1000,)),
    # students in the teachers' `plain` format: `maxof`-heavy (S1), more `arith` (S3), the base's `mixed` styles (S5),
    # and one that reasons on levels 1-2 and answers levels 3-4 directly (S6, `DIRECT_LEVELS`)
    'S1': ModelSpec('S1', 'student', '1M', 'plain', steps=600, lr=1e-3, warmup=10, families=ALL_FAMILIES,
                    family_limits={'arith': 3000, 'func': 400}, seed=3, init_from='base', checkpoints=(200, 400)),
    'S3': ModelSpec('S3', 'student', '1M', 'plain', steps=900, lr=1e-3, warmup=10, families=ALL_FAMILIES,
                    family_limits={'arith': 8000, 'func': 400}, seed=3, init_from='base', checkpoints=(300, 600)),
    'S5': ModelSpec('S5', 'student', '1M', 'mixed', steps=900, lr=1e-3, warmup=10, families=ALL_FAMILIES,
                    family_limits={'arith': 8000, 'func': 400}, seed=3, init_from='base', checkpoints=(300, 600)),
    'S6': ModelSpec('S6', 'student', '1M', 'plain', steps=900, lr=1e-3, warmup=10, families=ALL_FAMILIES,
                    family_limits={'arith': 16000, 'func': 400}, seed=3, init_from='base', checkpoints=(300, 600)),
}
DIRECT_LEVELS = {'S6': {'arith': (3, 4)}}  # candidate -> family -> levels it is trained to answer without reasoning

# name: (student, corpus, SFT learning rate or None for the recipe's, optimizer steps or None for the recipe's epochs,
# and optionally the math pool, else the recipe's `tiny:arith:pool[:400]`)
# student: `tiny:<model>` of the world or a candidate's name; corpus: `teacher:<model>` (its first T=0.7 sample per
# pool question, as the positive control draws it) or `oracle:<style>` (the world's correct trace in that style)
POOL_1200 = 'tiny:arith:pool[:1200]'
ROWS = {
    'student/teacher-plain': ('tiny:student', 'teacher:teacher-plain', None, None),
    'student/oracle-plain': ('tiny:student', 'oracle:plain', None, None),
    'student/oracle-compact': ('tiny:student', 'oracle:compact', None, None),
    'base/teacher-plain': ('tiny:base', 'teacher:teacher-plain', None, None),
    'base/teacher-plain-lr1e-4': ('tiny:base', 'teacher:teacher-plain', 1e-4, None),
    'student-plain-300/teacher-plain': ('student-plain-300', 'teacher:teacher-plain', None, None),
    'student-plain-300/teacher-plain-lr1e-4': ('student-plain-300', 'teacher:teacher-plain', 1e-4, None),
    'S1/teacher-plain': ('S1', 'teacher:teacher-plain', None, None),
    'S1/teacher-plain-lr1e-4': ('S1', 'teacher:teacher-plain', 1e-4, None),
    'S3/teacher-plain-lr3e-4': ('S3', 'teacher:teacher-plain', 3e-4, None),
    'S3/teacher-plain-lr3e-4-2x': ('S3', 'teacher:teacher-plain', 3e-4, 260),
    'S3/T1': ('S3', 'teacher:T1', None, None),
    'S3/T1-lr1e-4': ('S3', 'teacher:T1', 1e-4, None),
    'S3/T1-lr3e-4-2x': ('S3', 'teacher:T1', 3e-4, 260),
    **{f'{s}/T3{tag}': (s, 'teacher:T3', lr, steps) for s in ('S3', 'S5', 'S6')  # the recipe's lr; 3e-4 at 1x and 2x
       for tag, lr, steps in (('', None, None), ('-lr3e-4', 3e-4, None), ('-lr3e-4-2x', 3e-4, 260))},
    'S3/T3-pool1200': ('S3', 'teacher:T3', None, None, POOL_1200),
    'S3/T3-pool1200-lr3e-4': ('S3', 'teacher:T3', 3e-4, None, POOL_1200),
    'S3/T3-pool1200-lr3e-4-2x': ('S3', 'teacher:T3', 3e-4, 750, POOL_1200),
    'S3/T3-pool1200-150steps': ('S3', 'teacher:T3', None, 150, POOL_1200),
    'S3/T3-pool1200-150steps-lr3e-4': ('S3', 'teacher:T3', 3e-4, 150, POOL_1200),
    'S3/T3-pool1200-150steps-lr3e-4-2x': ('S3', 'teacher:T3', 3e-4, 300, POOL_1200),
}


def _style_of(m, p, styles):
    "The world's style choice, but `direct` on the levels `DIRECT_LEVELS` names for a candidate."
    levels = DIRECT_LEVELS.get(m.name, {}).get(p.benchmark.removeprefix('tiny_'), ())
    return 'direct' if p.meta.get('level') in levels else _world_style_of(m, p, styles)


_world_style_of, world_module._style_of = world_module._style_of, _style_of  # the builds here train S6 this way


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


def corpus(kind: str, recipe, world, cache, root: Path, pool_spec: str | None = None) -> list[tuple[str, str]]:
    "The (question, response) pairs of a corpus kind over the math pool `pool_spec` (None: the recipe's)."
    spec = pool_spec or recipe.curation.pools['math']
    pool = recipe_problems(recipe, spec)
    source, name = kind.split(':')
    if source == 'oracle':
        return [(p.question, render(p, name, derive_seed(0, p.id))) for p in pool]
    suffix = '' if spec == recipe.curation.pools['math'] else f'-pool{len(pool)}'
    path = root / 'corpora' / f'{name}{suffix}.jsonl'
    if not path.exists():
        params = replace(recipe.curation.sampling, n=1)
        tok = load_tokenizer('tiny:student', world)
        save_trajectories(sample_trajectories(f'tiny:{name}', pool, params, tok, world, cache, desc=name), path)
    return read_corpus(path)


def run_row(name: str, row: tuple, recipe, world, scratch, cache, root: Path, seed: int) -> dict:
    "Train (on training seed `seed`) and score one row, and its student untrained; cached in the row's folder."
    student, kind, lr, steps, pool_spec = (*row, None)[:5]
    path, suites = student_path(student, world, scratch), eval_suites(recipe)
    profile = recipe.sft if lr is None else replace(recipe.sft, learning_rate=lr)
    pairs = corpus(kind, recipe, scratch, cache, root, pool_spec)  # a candidate teacher lives in the scratch world
    common = dict(suites=suites, eval_params=recipe.evaluation.sampling, cache=cache, seed=seed,
                  sft_cache=SFTCache(cache_root() / 'sft'))
    base = distill_and_evaluate(path, [], root / 'students' / student.replace(':', '-'), profile, **common)
    run = distill_and_evaluate(path, pairs, root / 'rows' / name.replace('/', '-'), profile, max_steps=steps, **common)
    out = {'row': name, 'student': student, 'corpus': kind, 'pool': pool_spec or recipe.curation.pools['math'],
           'learning_rate': profile.learning_rate, 'steps': run['sft']['steps'] if run['sft'] else 0,
           'samples': len(pairs), 'seed': seed, 'train_loss': run['sft']['train_loss'] if run['sft'] else None,
           'suites': {}}
    for suite, s in run['eval'].items():
        a, b = (score_matrix([x['eval'][suite]['item_scores']]) for x in (run, base))
        out['suites'][suite] = {'base': base['eval'][suite]['accuracy'], 'sft': s['accuracy'],
                                'vs_base': paired_difference(a, b)}
    return out


def score_models(names: list[str], recipe, scratch, cache, root: Path) -> list[dict]:
    "Greedy dev-subset accuracies of models (a candidate is built first; its checkpoints scored beside it)."
    suites = {'in_domain': 'tiny:arith:dev[:200]', 'ood': 'tiny:maxof:dev[:100]', 'code': 'tiny:func:dev[:60]'}
    suites = {k: recipe_problems(recipe, v) for k, v in suites.items()}
    out = []
    for name in names:
        m = CANDIDATES.get(name.split('@')[0])
        if m is not None and '@' not in name:
            student_path(name, None, scratch)
        for model in [name] if m is None or '@' in name else [f'{name}@{c}' for c in m.checkpoints] + [name]:
            folder = root / 'models' / model
            if not (folder / 'eval.json').exists():
                evaluate_model(f'tiny:{model}', suites, greedy_params(recipe.evaluation.sampling), folder, scratch,
                               cache, progress=False, n_workers=1)
            ev = read_json(folder / 'eval.json')
            out.append({'model': model, **{s: v['accuracy'] for s, v in ev['suites'].items()},
                        'in_domain_by_level': {k: g['accuracy']
                                               for k, g in ev['suites']['in_domain']['by_group'].items()}})
    return out


def teacher_diversity(names: list[str], recipe, world, scratch, cache) -> list[dict]:
    "Stage 0's `diversity` of each teacher: the median distance of its correct samples' pairs (M per pool question)."
    pool = recipe_problems(recipe, recipe.curation.pools['math'])[: recipe.preconditions.diversity_questions]
    tok, out = load_tokenizer('tiny:student', world), []
    for name in names:
        trajs = sample_trajectories(f'tiny:{name}', pool, recipe.curation.sampling, tok, scratch, cache, desc=name)
        distances = correct_pair_distances(trajs)
        out.append({'teacher': name, 'correct_share': sum(bool(t.correct) for t in trajs) / len(trajs),
                    'pairs': len(distances), 'diversity': median_or_none(distances)})
    return out


def models_table(rows: list[dict]) -> str:
    "The scored models in markdown."
    pct = lambda x: f'{100 * x:.1f}'
    lines = ['| model | in-domain (200) | by level 1 / 2 / 3 / 4 | OOD `maxof` (100) | code `func` (60) |',
             '|' + '---|' * 5]
    for r in rows:
        levels = ' / '.join(pct(r['in_domain_by_level'][k]) for k in sorted(r['in_domain_by_level']))
        lines.append(f"| {r['model']} | {pct(r['in_domain'])} | {levels} | {pct(r['ood'])} | {pct(r['code'])} |")
    return '\n'.join(lines) + '\n'


def table(rows: list[dict]) -> str:
    "The calibration table in markdown: each row's scores and its difference from its untrained student."
    head = ('| row | corpus (samples) | lr | steps | in-domain base → SFT | vs base [95 % CI] | OOD base → SFT | '
            'code base → SFT |')
    lines = [head, '|' + '---|' * 8]
    for r in rows:
        s = r['suites']
        d = s['in_domain']['vs_base']
        pct = lambda x: f'{100 * x:.1f}'
        lines.append(f"| {r['row']} | {r['corpus']} ({r['samples']}) | {r['learning_rate']:g} | {r['steps']} | "
                     f"{pct(s['in_domain']['base'])} → {pct(s['in_domain']['sft'])} | {100 * d['diff']:+.1f} "
                     f"[{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}] | {pct(s['ood']['base'])} → "
                     f"{pct(s['ood']['sft'])} | {pct(s['code']['base'])} → {pct(s['code']['sft'])} |")
    return '\n'.join(lines) + '\n'


def main(args: list[str]):
    recipe = load_recipe('tiny')  # the development profile: dev suites, the study's SFT settings, seeds 0 and 1
    world = get_world(recipe.world)
    root = cache_root().parent / 'calibration' / world.path.name
    scratch, cache = scratch_world(world, root / 'world'), CompletionCache(cache_root() / 'generations.sqlite')
    if args[:1] == ['--models']:
        scored = score_models(args[1:], recipe, scratch, cache, root)
        (root / 'models.md').write_text(models_table(scored))
        print(models_table(scored))
        return
    if args[:1] == ['--diversity']:
        for r in teacher_diversity(args[1:], recipe, world, scratch, cache):
            print(f"{r['teacher']}: diversity {r['diversity']:.3f} over {r['pairs']} pairs of correct samples "
                  f"({100 * r['correct_share']:.1f} % of samples correct)")
        return
    seed = int(args[1]) if args[:1] == ['--seed'] else recipe.seeds[0]
    words, done = args[2:] if args[:1] == ['--seed'] else args, []
    for name, row in ROWS.items():
        if words and not any(w in name for w in words):
            continue
        name = name if seed == recipe.seeds[0] else f'{name}-seed{seed}'
        start = time.time()
        result = run_row(name, row, recipe, world, scratch, cache, root, seed)
        write_json(root / 'rows' / name.replace('/', '-') / 'calibration.json', result)
        done.append(result)
        print(f'{name}: {time.time() - start:.0f} s', file=sys.stderr, flush=True)
    every = [read_json(p) for p in sorted((root / 'rows').glob('*/calibration.json'))]
    (root / 'table.md').write_text(table(every))
    print(table(every))


if __name__ == '__main__':
    main(sys.argv[1:])
