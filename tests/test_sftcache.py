"""The training-run cache (`ded_nb.sftcache`) with real SFT runs of the micro world's student (a few optimizer steps):
a finished run is reused and linked, not trained again; a changed corpus, setting, step count or training-path function
misses; a killed run is never taken as finished (and the next attempt resumes from its checkpoint); two processes
asking for one run at the same time train it once; a retrain trains again, once."""
import json, os, shutil, signal, subprocess, sys, time
from dataclasses import replace
from pathlib import Path

import pytest

from ded_nb.core import config_hash, write_json
from ded_nb.sft import cached_train_sft, sft
from ded_nb.world import build_tiny_world, micro_zoo, render
from ded_nb.recipe import load_recipe
from ded_nb.sftcache import OFF_THE_TRAINING_PATH, SFTCache, reached, training_code, training_key, training_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='module')
def world_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp('world')
    build_tiny_world(micro_zoo(), path, progress=False)
    return path


@pytest.fixture(scope='module')
def world(world_dir):
    return build_tiny_world(micro_zoo(), world_dir, progress=False)


@pytest.fixture(scope='module')
def corpus(world):
    return [(p.question, render(p, 'verbose')) for p in world.problems['chain']['train'][:16]]


def profile(**kw):
    "The tiny recipe's SFT at a global batch of 8, a checkpoint every step."
    return replace(load_recipe('tiny').sft, **{'global_batch': 8, 'per_device_batch': 8, 'save_steps': 1, **kw})


def train(cache, world, corpus, out, steps=2, **kw):
    return cached_train_sft(cache, 'tiny:student', corpus, out, profile(**kw), world, max_steps=steps, progress=False)


def test_a_finished_run_is_reused_and_linked(world, corpus, tmp_path):
    cache = SFTCache(tmp_path / 'cache')
    first = train(cache, world, corpus, tmp_path / 'a' / 'sft')
    second = train(cache, world, corpus, tmp_path / 'b' / 'sft')
    assert (first['reused'], second['reused']) == (False, True) and first['cache_key'] == second['cache_key']
    link = tmp_path / 'b' / 'sft'
    assert link.is_symlink() and link.resolve() == (cache.root / first['cache_key']).resolve()
    assert (link / 'final' / 'model.safetensors').exists() and second['final_model'] == str(link / 'final')
    assert second['train_loss'] == first['train_loss'] and second['steps'] == 2
    assert not list(cache.root.glob('*/checkpoint-*')) and not list(cache.root.glob('*.partial'))
    stored = json.loads((cache.root / first['cache_key'] / 'metrics.json').read_text())
    assert stored['final_model'] == str(cache.root / first['cache_key'] / 'final')  # where it is, not where it trained
    other = train(cache, world, corpus, tmp_path / 'c' / 'sft', learning_rate=2e-3)  # another setting: trained
    assert other['reused'] is False and other['cache_key'] != first['cache_key']


def test_a_changed_corpus_setting_or_step_count_misses(world, corpus):
    def key(pairs=corpus, prof=None, steps=2):
        return config_hash(training_key('tiny:student', pairs, prof or profile(), steps, world))

    same = key()
    assert key() == same  # computed again: the same key
    changed = [key(pairs=corpus[:-1]), key(pairs=[(q, a + ' ') for q, a in corpus]),
               key(prof=profile(learning_rate=2e-3)), key(prof=profile(seed=1)), key(prof=profile(mode='lora')),
               key(steps=3), key(prof=profile(processes=2, per_device_batch=4))]
    assert same not in changed and len(set(changed)) == len(changed)


KEY_SCRIPT = '''
import json, sys
import ded_nb
assert ded_nb.__file__.startswith(sys.argv[1]), ded_nb.__file__  # the edited copy
from ded_nb.core import config_hash
from ded_nb.recipe import SFTProfile
from ded_nb.sftcache import training_code
print(json.dumps(config_hash(training_code())))
'''


def package_copy(tmp_path):
    "A copy of the package, its training code's key (computed in a fresh process) and an editor of its modules."
    pkg = tmp_path / 'pkg'
    shutil.copytree(ROOT / 'ded_nb', pkg / 'ded_nb', ignore=shutil.ignore_patterns('__pycache__'))

    def code_key():
        done = subprocess.run([sys.executable, '-c', KEY_SCRIPT, str(pkg)], env={**os.environ, 'PYTHONPATH': str(pkg)},
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)  # not the checkout's ded_nb
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def edit(module, old, new):
        path = pkg / 'ded_nb' / f'{module}.py'
        text = path.read_text()
        assert text.count(old) == 1, old
        path.write_text(text.replace(old, new))
    return pkg, code_key, edit


def test_a_helper_added_to_sft_joins_the_key(tmp_path):
    "A new function `sft` calls is on the training path without being listed: editing it misses the cache."
    pkg, code_key, edit = package_copy(tmp_path)
    edit('sft', '    out = Path(out_dir)\n    out.mkdir(parents=True, exist_ok=True)\n    seed',
         '    out = Path(_where(out_dir))\n    out.mkdir(parents=True, exist_ok=True)\n    seed')
    (pkg / 'ded_nb' / 'sft.py').write_text((pkg / 'ded_nb' / 'sft.py').read_text() + '\n\ndef _where(p):\n    return str(p)\n')
    helper = code_key()
    edit('sft', '    return str(p)\n', '    return str(p).rstrip("/")\n')
    assert code_key() != helper


def test_an_edit_on_the_training_path_misses_and_an_edit_elsewhere_does_not(tmp_path):
    "On a copy of the package: code on the training path (chat rendering included) changes the key; docs and other code don't."
    pkg, code_key, edit = package_copy(tmp_path)

    original = code_key()
    edit('sft', '"Supervised fine-tuning of `model`', '"Supervised fine-tuning (reworded) of `model`')  # a docstring
    edit('sft', '    out = Path(out_dir)\n    out.mkdir(parents=True, exist_ok=True)\n    seed', '    out = Path(out_dir)  # a comment\n    out.mkdir(parents=True, exist_ok=True)\n    seed')
    edit('distill', "'each curation step improves the student at the paper protocol (Table 3)'",  # the study's code,
         "'each curation step improves the student (Table 3)'")  # off the training path
    edit('distill', 'seeds if name in in_headlines else second', 'seeds if name in in_headlines else second[:]')
    assert code_key() == original
    edit('models', '    prompt = tokenizer.apply_chat_template(chat(question), tokenize=False, add_generation_prompt=True)',
         '    prompt = tokenizer.apply_chat_template(chat(question), tokenize=False, add_generation_prompt=True) + ""')
    rendering = code_key()
    assert rendering != original  # chat rendering is on the training path
    edit('sft', '    out = Path(out_dir)  # a comment\n', '    out = Path(str(out_dir))\n')
    assert code_key() not in (original, rendering)


def test_every_function_named_off_the_training_path_is_reached_and_the_rest_is_on_it():
    "The path is what the runs reach: nothing named off it is stale, and the functions SFT calls are on it."
    from ded_nb.sft import sft_job, train_sft
    runs = reached(train_sft, sft_job)
    assert set(OFF_THE_TRAINING_PATH) <= runs
    assert set(training_path()) == runs - set(OFF_THE_TRAINING_PATH) | {'ded_nb.sft.train_sft', 'ded_nb.sft.sft_job'}
    assert {'ded_nb.sft.read_corpus', 'ded_nb.models.training_text', 'ded_nb.sft.trained_pairs'} <= set(training_path())


def test_a_training_function_moved_to_another_module_keeps_the_key():
    "The key names each function on the training path by its name and code, not its module: a move trains nothing again."
    assert training_code(['ded_nb.core.seed_everything']) == training_code(['ded_nb.sft.seed_everything'])  # one function
    moved = [name.replace('ded_nb.sft.', 'ded_nb.distill.') if name.endswith(('.train_sft', '.sft_steps')) else name
             for name in training_path()]  # `ded_nb.distill` imports both from `ded_nb.sft`
    assert moved != list(training_path()) and training_code(moved) == training_code()


TRAIN_SCRIPT = '''
import json, sys
from dataclasses import replace
from ded_nb.core import read_json
from ded_nb.sft import cached_train_sft
from ded_nb.world import build_tiny_world, micro_zoo
from ded_nb.recipe import load_recipe
from ded_nb.sftcache import SFTCache
job = read_json(sys.argv[1])
world = build_tiny_world(micro_zoo(), job['world'], progress=False)
prof = replace(load_recipe('tiny').sft, global_batch=8, per_device_batch=8, save_steps=1)
m = cached_train_sft(SFTCache(job['cache']), 'tiny:student', [tuple(p) for p in job['corpus']], job['out'], prof, world,
                     max_steps=job['steps'], progress=False)
print(json.dumps({'reused': m['reused'], 'key': m['cache_key']}))
'''


def launch(tmp_path, world_dir, corpus, name, steps):
    job = write_json(tmp_path / f'{name}.json', {'world': str(world_dir), 'cache': str(tmp_path / 'cache'),
                                                 'corpus': corpus, 'out': str(tmp_path / name / 'sft'), 'steps': steps})
    return subprocess.Popen([sys.executable, '-c', TRAIN_SCRIPT, str(job)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_a_killed_run_is_never_taken_as_finished(world, world_dir, corpus, tmp_path):
    """SIGKILL after the first whole checkpoint: no entry; the next ask trains (resuming from the last whole checkpoint,
    not from one the kill cut short while saving) and stores it."""
    killed = launch(tmp_path, world_dir, corpus, 'killed', steps=60)
    cache = SFTCache(tmp_path / 'cache')
    deadline = time.time() + 300
    while not list(cache.root.glob('*.partial/checkpoint-*/trainer_state.json')):  # the Trainer writes it last
        assert killed.poll() is None and time.time() < deadline, killed.stderr.read()[-3000:] if killed.poll() else 'slow'
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    (partial,) = cache.root.glob('*.partial')
    key = partial.name.removesuffix('.partial')
    assert not cache.finished(key) and not (cache.root / key).exists()
    # a kill during a save leaves the newest checkpoint without its trainer state (seen on a fresh clone's make test:
    # resuming from it raised FileNotFoundError); make sure this run has such a one, newer than any whole one
    torn = partial / 'checkpoint-59'
    shutil.rmtree(torn, ignore_errors=True)
    torn.mkdir()
    (torn / 'model.safetensors').write_bytes(b'')
    again = train(cache, world, corpus, tmp_path / 'again' / 'sft', steps=60)
    assert again['cache_key'] == key and again['reused'] is False and again['steps'] == 60
    assert again['resumed_from'] and 'checkpoint-' in again['resumed_from']  # the killed run's work was kept
    assert not again['resumed_from'].endswith('checkpoint-59')
    assert cache.finished(key) and not partial.exists()


def test_sft_resumes_from_its_last_whole_checkpoint_past_a_torn_one(world, corpus, tmp_path):
    "`sft` itself, not through the cache (which drops torn checkpoints first): a newer checkpoint without its trainer state is passed over."
    out = tmp_path / 'sft'
    first = sft('tiny:student', corpus, out, profile(), world, max_steps=1, progress=False)
    assert first['steps'] == 1 and (out / 'checkpoint-1' / 'trainer_state.json').exists()
    torn = out / 'checkpoint-2'  # what a kill while saving step 2 leaves: weights, no trainer state
    torn.mkdir()
    shutil.copy(out / 'checkpoint-1' / 'model.safetensors', torn / 'model.safetensors')
    again = sft('tiny:student', corpus, out, profile(), world, max_steps=2, progress=False)
    assert again['resumed_from'] == str(out / 'checkpoint-1') and again['steps'] == 2 and again['steps_this_run'] == 1


def test_two_processes_asking_for_one_run_train_it_once(world_dir, corpus, tmp_path):
    runs = [launch(tmp_path, world_dir, corpus, name, steps=3) for name in ('p1', 'p2')]
    outs = []
    for p in runs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert sorted(o['reused'] for o in outs) == [False, True] and outs[0]['key'] == outs[1]['key']


def test_a_retrain_trains_again_once(world, corpus, tmp_path):
    cache = SFTCache(tmp_path / 'cache')
    first = train(cache, world, corpus, tmp_path / 'a' / 'sft')
    retrain = SFTCache(cache.root, retrain_before=time.time())  # `ded reproduce --retrain` sets this for its run
    again = train(retrain, world, corpus, tmp_path / 'b' / 'sft')
    once = train(retrain, world, corpus, tmp_path / 'c' / 'sft')  # later in the same retrain: the fresh run
    assert (first['reused'], again['reused'], once['reused']) == (False, False, True)
    assert again['train_loss'] == first['train_loss']  # one machine, one key: the same run
