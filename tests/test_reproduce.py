"""The stage notebooks through papermill with the smallest parameters (the `smoke` recipe on the study-micro world),
run as a user runs them: `ded reproduce --profile smoke` of the installed wheel in an empty folder."""
import json, time
from pathlib import Path
import pytest
from conftest import ROOT, files_below, run_checked, user_env
from ded_nb.reproduce import reproduce, plan, StageError, finished_digest, STAGES as ALL_STAGES

STAGES = ['world', 'teacher_study', 'curation', 'distillation', 'benchmarking', 'figures']


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory, installed):
    """`ded reproduce --profile smoke` of the installed package, in an empty folder (HOME there too, the tiny world and
    the training runs in the checkout's cache): (the folder, its run root, its reports, the log, the package's files
    before and after)."""
    bin_dir, package, _, _ = installed
    root = tmp_path_factory.mktemp('smoke')
    home, work = root / 'home', root / 'work'
    home.mkdir(), work.mkdir()
    env = {**user_env(bin_dir, home), 'DED_CACHE': str(ROOT / '.ded' / 'cache')}
    before = files_below(package)
    printed = run_checked([bin_dir / 'ded', 'reproduce', '--profile', 'smoke'], work, env, timeout=1500)
    runs, reports = work / '.ded' / 'runs' / 'smoke', work / 'reports' / 'smoke'
    status = {s['stage']: s['status'] for s in json.loads(printed.strip().splitlines()[-1])}  # the summary `ded` prints
    log = [{**s, 'status': status[s['stage']]} for s in plan('smoke', run_root=runs, reports=reports)]
    return work, runs, reports, log, (before, files_below(package))


def test_every_stage_runs_and_writes_its_outputs(smoke_run):
    work, runs, reports, log, (before, after) = smoke_run
    assert [s['stage'] for s in log] == STAGES and all(s['status'] == 'ran' for s in log)
    # the installed `ded`, in an empty folder: runs and reports under it, nothing written into site-packages
    assert len(list(runs.glob('*/done.json'))) == 6 and len(list((reports / 'notebooks').glob('*.ipynb'))) == 6
    assert all(Path(s['run_dir']).parent == runs and work in Path(s['executed']).parents for s in log)
    assert after == before
    for s in log:
        done = json.loads((Path(s['run_dir']) / 'done.json').read_text())
        assert done['config_hash'] == s['hash'] and Path(done['executed_notebook']).exists()
        assert 'ded_nb.core' in done['modules']  # what the stage's kernel loaded, recorded
        config = json.loads((Path(s['run_dir']) / 'config.json').read_text())
        assert config['config_hash'] == s['hash'] and config['config']['recipe']['name'] == 'smoke'
    by_stage = {s['stage']: json.loads((Path(s['run_dir']) / 'done.json').read_text()) for s in log}
    assert 'ded_nb.teacher' in by_stage['teacher_study']['modules']
    assert 'ded_nb.teacher' not in by_stage['figures']['modules'] and 'ded_nb.report' in by_stage['figures']['modules']
    # presentation is the figures stage's alone: rewording a table re-runs no compute stage
    assert [st for st in STAGES[:-1] if 'ded_nb.report' in by_stage[st]['modules']] == []
    assert by_stage['curation']['inputs'] == {'teacher_study': by_stage['teacher_study']['outputs']}  # what it read
    executed = json.loads(Path(by_stage['figures']['executed_notebook']).read_text())
    assert not any('module_hashes' in ''.join(c['source']) for c in executed['cells'])  # the runner's cell is removed
    for fig in ('fig1_accuracy_vs_corpus_size', 'fig3_token_entropy', 'fig4_pca_shift', 'fig_curation_funnel'):
        assert (reports / f'{fig}.png').stat().st_size > 1000 and (reports / f'{fig}.svg').exists()
    readme = (reports / 'README.md').read_text()
    for heading in ('The world and its preconditions', 'Table 1', 'Headline comparisons', 'Table 3', 'Table 5',
                    'Table 7', 'equal compute', 'random subset of the same size', 'Curation funnel',
                    'How long each stage took'):
        assert heading in readme
    results = json.loads((reports / 'results.json').read_text())  # the README's tables are rendered from this file
    assert results['profile'] == 'smoke' and set(results['world']['preconditions']) >= {'teachers', 'diversity'}
    for name, exp in results['experiments'].items():
        for arm in exp['arms'].values():
            assert {'samples', 'steps', 'scores'} <= set(arm)
            assert all(lo <= s['mean'] <= hi for s in arm['scores'].values() for lo, hi in [s['ci95']])
        for c in exp['comparisons']:
            assert c['verdict'] in ('a>b', 'a<b', 'not distinguishable') and c['suite'] in exp['n_items']
    steps = results['experiments']['equal_steps']['arms']
    trained = {a['steps'] for a in steps.values() if a['samples']}  # an arm whose corpus came out empty trains 0 steps
    assert trained == {steps['math/full']['steps']}  # equal steps means the full arm's
    sizes = results['experiments']['random_same_size']['arms']
    assert sizes['math/right']['samples'] == sizes['math/random@right']['samples']
    study = json.loads(next(runs.glob('teacher_study-*/teacher_study.json')).read_text())
    assert study['chosen_teacher'] in readme and study['config']['seeds'] == [0]
    # H6 and the teacher study's experiments come from the teacher study stage, beside the distillation's H1-H5
    assert list(results['headlines']) == ['H1', 'H2', 'H3', 'H4', 'H5', 'H6']
    assert {'teacher_study', 'teacher_choice'} <= set(results['experiments'])
    assert results['headlines']['H6']['b'] == study['ranking_by_teacher_accuracy'][0]
    # the kernels' progress lines reached the runner's log (which the terminal is shown), one per SFT run
    progress = {s['stage']: (Path(s['run_dir']) / 'progress.log').read_text().splitlines() for s in log}
    for stage in ('teacher_study', 'distillation'):
        run_dir = next(Path(s['run_dir']) for s in log if s['stage'] == stage)
        sft_runs = list(run_dir.glob('*/seed*/result.json'))  # one per SFT run of the stage
        assert sft_runs and sum(line.startswith('SFT runs') for line in progress[stage]) == len(sft_runs)
    assert any(line.startswith('teacher ') for line in progress['teacher_study'])
    # the executed notebooks, as JupyterLab shows them: paths relative to their folder, progress on stdout, no stderr
    for s in log:
        nb = json.loads(Path(s['executed']).read_text())
        injected = next(c for c in nb['cells'] if 'injected-parameters' in c['metadata'].get('tags', []))
        source = ''.join(injected['source'])
        assert 'in force' in source and str(work) not in source, source
        assert str(work) not in json.dumps(nb['metadata']['papermill'])
        streams = [o for c in nb['cells'] for o in c.get('outputs', []) if o['output_type'] == 'stream']
        assert not [o for o in streams if o['name'] == 'stderr'], s['stage']
    dist_nb = json.loads(next(Path(s['executed']) for s in log if s['stage'] == 'distillation').read_text())
    assert any('SFT runs' in ''.join(o['text']) for c in dist_nb['cells'] for o in c.get('outputs', [])
               if o.get('name') == 'stdout')


def test_second_run_skips_every_stage(smoke_run):
    _, runs, reports, _, _ = smoke_run
    start = time.time()
    log = reproduce('smoke', run_root=runs, reports=reports, progress=False)
    assert [s['status'] for s in log] == ['skip'] * len(STAGES)
    assert all(s['why'].startswith('done') for s in log)
    assert time.time() - start < 30


def _trainings(log: list) -> dict:
    "{stage: [how each SFT run of it went]} from the stages' progress lines (`trained`, `reused`, `none`)."
    out = {}
    for s in log:
        lines = (Path(s['run_dir']) / 'progress.log').read_text().splitlines()
        out[s['stage']] = ['reused' if 'training run reused' in l else 'none' if 'no training' in l else 'trained'
                           for l in lines if l.startswith('SFT runs')]
    return out


def test_a_forced_rerun_trains_nothing_and_gives_identical_results(smoke_run):
    """`--force` runs the stages that train again (the others are not what this is about, and cost a minute); every SFT
    run is a finished training run of the first run, reused, not trained, and each stage writes the same results
    (its `results_digest`: every result file, provenance and timings aside; one config, one machine). The training runs
    themselves are reproducible: `tests/test_sftcache.py` retrains one and gets the same run."""
    _, runs, reports, _, _ = smoke_run
    training = ['teacher_study', 'distillation']
    first = {s: finished_digest(next(runs.glob(f'{s}-*')), s) for s in training}
    log = reproduce('smoke', run_root=runs, reports=reports, progress=False, force=True, only=training)
    assert [s['stage'] for s in log if s['status'] == 'ran'] == training
    trainings = _trainings([s for s in log if s['status'] == 'ran'])
    assert trainings['teacher_study'] and trainings['distillation']
    assert set(trainings['teacher_study'] + trainings['distillation']) <= {'reused', 'none'}, trainings
    again = {s['stage']: finished_digest(Path(s['run_dir']), s['stage']) for s in log if s['status'] == 'ran'}
    assert again == first
    # a stage run alone records the results of the inputs it read (the stages not selected): nothing is stale after it
    planned = plan('smoke', run_root=runs, reports=reports)
    assert not any(s['runs'] for s in planned), [(s['stage'], s['why']) for s in planned]


def test_an_upstream_rerun_with_equal_results_leaves_downstream_skipped(smoke_run):
    "Curation's code changed (its record says so) but its corpora come out the same: nothing after it runs."
    _, runs, reports, _, _ = smoke_run
    done = next(runs.glob('curation-*/done.json'))
    record = json.loads(done.read_text())
    record['modules']['ded_nb.curate'] = '0' * 64  # as if ded_nb.curate had been edited since
    done.write_text(json.dumps(record))
    planned = {s['stage']: s['why'] for s in plan('smoke', run_root=runs, reports=reports)}
    assert planned['curation'] == 'library changed: ded_nb.curate'
    assert planned['distillation'].startswith('input runs now: curation')
    log = reproduce('smoke', run_root=runs, reports=reports, progress=False)
    status = {s['stage']: (s['status'], s['why']) for s in log}
    assert status['curation'][0] == 'ran' and status['teacher_study'][0] == 'skip'
    assert all(status[s] == ('skip', 'done: same config, input results and library code')
               for s in ('distillation', 'benchmarking', 'figures')), status


def test_an_override_changes_the_config_hashes(smoke_run):
    _, runs, reports, _, _ = smoke_run
    before = {s['stage']: s['hash'] for s in plan('smoke', run_root=runs, reports=reports)}
    after = {s['stage']: s['hash'] for s in plan('smoke', ['curation.tau.math=0.25'], runs, reports)}
    assert all(before[s] != after[s] for s in STAGES)  # conservative: any recipe value reruns every stage
    again = {s['stage']: s['hash'] for s in plan('smoke', ['curation.tau.math=0.5'], runs, reports)}
    assert again == before  # the profile's own value, set again, is the same recipe


def test_failing_stage_names_notebook_and_cell(tmp_path):
    with pytest.raises(StageError) as e:
        reproduce('smoke', ['teachers=["tiny:nobody"]'], run_root=tmp_path / 'runs', reports=tmp_path / 'reports',
                  only=['teacher_study'], progress=False)
    msg = str(e.value)
    assert 'teacher_study' in msg and 'cell' in msg and 'no such model' in msg and '01_teacher_study.ipynb' in msg
    assert not list((tmp_path / 'runs').glob('teacher_study-*/done.json'))  # not marked done


def test_a_missed_precondition_stops_an_enforcing_study(tmp_path):
    "The smoke world's micro teachers are far below 80 %: enforced, stage 0 stops the run and says which and by how much."
    with pytest.raises(StageError) as e:
        reproduce('smoke', ['preconditions.enforce=true'], run_root=tmp_path / 'runs', reports=tmp_path / 'reports',
                  only=['world'], progress=False)
    msg = str(e.value)
    assert 'PreconditionError' in msg and 'best_teacher_accuracy' in msg and 'off by' in msg
    assert not list((tmp_path / 'runs').glob('world-*/done.json'))


def _files(root: Path, name: str) -> list:
    "Every file `name` below `root`, through the links to stored training runs (`sft/` is a link into the cache)."
    import os

    return [Path(d) / name for d, _, files in os.walk(root, followlinks=True) if name in files]


def _sft_curves(run_root: Path) -> dict:
    "{(stage, SFT folder inside the stage's run): (processes, global batch, {step: loss})} of every SFT of a run."
    curves = {}
    for metrics in _files(run_root, 'metrics.json'):
        stage_dir = next(p for p in metrics.parents if p.parent == run_root)
        m = json.loads(metrics.read_text())
        if 'log' in m:
            key = (stage_dir.name.rsplit('-', 1)[0], str(metrics.parent.relative_to(stage_dir)))
            curves[key] = (m['processes'], m['global_batch'], {e['step']: e['loss'] for e in m['log'] if 'loss' in e})
    return curves


def _trained_results(run_root: Path) -> dict:
    "What the two stages that train found: the teacher study's choice and the distillation's experiments and headlines."
    keys = {'teacher_study': ('experiments', 'headlines', 'ranking_by_student_score', 'chosen_teacher'),
            'distillation': ('experiments', 'headlines')}
    found = {stage: json.loads(next(run_root.glob(f'{stage}-*/{stage}.json')).read_text()) for stage in keys}
    chosen = {k: found['distillation']['benchmarked'][k] for k in ('arm', 'seed', 'reason')}  # not its weights' hash
    return {**{stage: {k: found[stage][k] for k in names} for stage, names in keys.items()}, 'benchmarked': chosen}


def test_the_stages_with_sft_in_two_processes(smoke_run, tmp_path):
    """`sft.processes=2` and `lora.processes=2` (with 2 x 16 per device for the same global batch of 32): every SFT of
    every stage is launched in two processes, its loss curve is the one-process run's, and what the stages that train
    find is the same, number for number (the stages up to distillation: the two after it only read those results).

    Tolerance 1e-2 relative: smoke trains in bf16 autocast, and 2 x 16 per device against 1 x 32 changes the shapes of
    the bf16 matrix products, which moved the tiny world's losses by up to 1.1e-3 relative in 8 steps (in fp32, or with
    equal shapes, the runs are bit-identical: tests/test_distributed.py, which also checks that a wrong global batch is
    caught). Here the global batch is checked directly."""
    _, runs, _, _, _ = smoke_run
    sets = ['sft.processes=2', 'sft.per_device_batch=16', 'lora.processes=2', 'lora.per_device_batch=16']
    upto = [st for st in ALL_STAGES if st.name in STAGES[:STAGES.index('distillation') + 1]]
    reproduce('smoke', sets, run_root=tmp_path / 'runs', reports=tmp_path / 'reports', progress=False, stages=upto)
    one, two = _sft_curves(runs), _sft_curves(tmp_path / 'runs')
    assert one.keys() == two.keys() and len(one) >= 3
    for key in one:
        assert (one[key][:2], two[key][:2]) == ((1, 32), (2, 32)), key
        a, b = one[key][2], two[key][2]
        assert a.keys() == b.keys() and all(abs(a[s] - b[s]) <= 1e-2 * abs(a[s]) for s in a), key
    assert len(_files(tmp_path / 'runs', 'launch.log')) == len(two)
    assert _trained_results(tmp_path / 'runs') == _trained_results(runs)
