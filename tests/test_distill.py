"""SFT: a run interrupted after a checkpoint resumes from it; the multi-GPU configs load and validate."""
import json
from dataclasses import replace
from pathlib import Path
import pytest
from ded_nb.sft import sft, length_report
from ded_nb.recipe import load_recipe
from ded_nb.world import build_tiny_world, micro_zoo, render

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope='module')
def world(tmp_path_factory):
    return build_tiny_world(micro_zoo(), tmp_path_factory.mktemp('world'), progress=False)

def test_resume_from_last_checkpoint(world, tmp_path):
    corpus = [(p.question, render(p, 'verbose')) for p in world.problems['chain']['train'][:64]]
    prof = replace(load_recipe('tiny').sft, global_batch=8, per_device_batch=8, save_steps=2, logging_steps=1)
    first = sft('tiny:student', corpus, tmp_path, prof, world=world, max_steps=2, progress=False)
    assert first['steps'] == 2 and (tmp_path / 'checkpoint-2').exists()
    second = sft('tiny:student', corpus, tmp_path, prof, world=world, max_steps=4, progress=False)
    assert second['steps'] == 4 and second['resumed_from'].endswith('checkpoint-2')
    assert second['steps_this_run'] == 2  # steps 1-2 were not trained again
    assert [e['step'] for e in second['log'] if 'loss' in e] == [1, 2, 3, 4]  # the history of both runs, each step once
    metrics = json.loads((tmp_path / 'metrics.json').read_text())
    assert metrics['provenance']['packages']['trl'] and metrics['profile']['learning_rate'] == prof.learning_rate

def test_overflow_drop_is_counted(world, tmp_path):
    corpus = [(p.question, render(p, 'verbose')) for p in world.problems['chain']['train'][:32]]
    lengths = length_report(world.tokenizer(), corpus, 200)['lengths']
    prof = replace(load_recipe('tiny').sft, global_batch=8, per_device_batch=8, max_length=200, on_overflow='drop', save_steps=100)
    m = sft('tiny:student', corpus, tmp_path, prof, world=world, max_steps=1, progress=False)
    assert m['over_max_length'] == sum(l > 200 for l in lengths) > 0 and m['samples_trained'] > 0
    assert m['samples_trained'] == len(corpus) - m['over_max_length']

def test_paper_profile_is_the_papers_settings():
    p = load_recipe('paper').sft
    assert (p.learning_rate, p.epochs, p.global_batch, p.max_length, p.mode) == (1e-5, 10, 48, 16384, 'full')

def test_multi_gpu_configs_load_and_validate():
    "The DeepSpeed ZeRO-3 config cannot run here (no GPU; tests/test_distributed.py runs its CPU stand-in): parsed and checked."
    ds = json.loads((ROOT / 'ded_nb' / 'configs' / 'zero3.json').read_text())
    assert ds['zero_optimization']['stage'] == 3 and ds['zero_optimization']['stage3_gather_16bit_weights_on_model_save']
    assert ds['train_batch_size'] == 'auto' and ds['bf16']['enabled'] == 'auto'  # filled in by the HF Trainer from the profile
    from accelerate.commands.config.config_args import ClusterConfig
    cfg = ClusterConfig.from_yaml_file(str(ROOT / 'ded_nb' / 'configs' / 'accelerate_zero3_8gpu.yaml'))
    assert str(cfg.distributed_type).endswith('DEEPSPEED') and cfg.num_processes == 8
    assert (ROOT / cfg.deepspeed_config['deepspeed_config_file']).exists()
    assert load_recipe('paper').sft.global_batch % (cfg.num_processes * load_recipe('paper').sft.per_device_batch) == 0
    assert load_recipe('paper').sft.processes == cfg.num_processes  # the recipe launches what the config describes


def test_parallel_runs_give_the_serial_results(tmp_path, monkeypatch):
    """Arms run in two worker processes train the same steps and score the same items as run one after another. Both
    train for real: each run sets `DED_RETRAIN` (as `ded reproduce --retrain` does), or the second would be the first's
    finished training runs, reused from the training-run cache."""
    import time
    from ded_nb.core import write_jsonl
    from ded_nb.distill import Arm, run_arms
    from ded_nb.world import get_world, training_pairs
    from ded_nb.recipe import apply_overrides
    from ded_nb.data import eval_suites

    smoke = load_recipe('smoke')
    w = get_world(smoke.world, progress=False)
    corpus = tmp_path / 'c.jsonl'
    write_jsonl(corpus, [{'question': q, 'response': r} for q, r in training_pairs(w, 'teacher-plain')[:24]])
    arms = [Arm('a', str(corpus), ['in_domain'], [0, 1]), Arm('b/x', str(corpus), ['in_domain'], [0], max_steps=3)]
    suites = eval_suites(smoke, ['in_domain'])
    monkeypatch.setenv('DED_RETRAIN', str(time.time()))
    serial = run_arms(apply_overrides(smoke, ['controls.parallel_runs=1']), arms, tmp_path / 's', suites)
    monkeypatch.setenv('DED_RETRAIN', str(time.time()))
    parallel = run_arms(apply_overrides(smoke, ['controls.parallel_runs=2']), arms, tmp_path / 'p', suites)
    assert all(r['training'] == 'trained' for rs in (*serial.values(), *parallel.values()) for r in rs)
    assert [r['seed'] for r in parallel['a']] == [0, 1] and parallel['b/x'][0]['sft']['steps'] == 3
    for name in ('a', 'b/x'):
        for one, two in zip(serial[name], parallel[name]):
            assert one['sft']['steps'] == two['sft']['steps']
            assert one['sft']['train_loss'] == pytest.approx(two['sft']['train_loss'], abs=1e-3)
            assert one['eval']['in_domain']['item_scores'] == two['eval']['in_domain']['item_scores']
    assert (tmp_path / 'p' / 'b-x' / 'seed0' / 'result.json').exists()  # `/` in an arm name is a folder-safe `-`


def test_a_resumed_arm_whose_model_is_gone_or_was_trained_by_other_code_is_done_again(world, tmp_path):
    """A stage resumed after a crash keeps each arm-seed result whose model is where it says and was trained under the
    key today's code gives; one whose model is gone (a cleaned or re-filed cache), or whose key differs, is done again."""
    import shutil
    from ded_nb.core import read_json, write_json
    from ded_nb.distill import distill_and_evaluate
    from ded_nb.generate import SamplingParams
    from ded_nb.sftcache import SFTCache

    cache = SFTCache(tmp_path / 'cache')
    pairs = [(p.question, render(p, 'verbose')) for p in world.problems['chain']['train'][:8]]
    suites = {'t': world.problems['chain']['test'][:4]}
    prof = replace(load_recipe('tiny').sft, global_batch=8, per_device_batch=8)

    def run():
        return distill_and_evaluate('tiny:student', pairs, tmp_path / 'arm', prof, suites, SamplingParams(max_new_tokens=8),
                                    world, seed=0, eval_kwargs={'n_workers': 0}, max_steps=1, sft_cache=cache)

    first = run()
    shutil.rmtree(cache.root / first['sft']['cache_key'])  # the model the stored result names is gone
    second = run()
    assert second['training'] == 'trained' and Path(second['final_model']).exists()
    stored = read_json(tmp_path / 'arm' / 'result.json')
    write_json(tmp_path / 'arm' / 'result.json', {**stored, 'sft': {**stored['sft'], 'cache_key': 'older-code'}})
    third = run()  # trained under another key: done again (here the cache holds today's run: reused, not retrained)
    assert third['training'] == 'reused' and third['sft']['cache_key'] == second['sft']['cache_key']
    assert run()['training'] == 'reused' and read_json(tmp_path / 'arm' / 'result.json') == third  # it stands now
