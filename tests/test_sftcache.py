"""The training-run cache (`ded_nb.sftcache`) with real SFT runs of the micro world's student (a few optimizer steps):
a finished run is reused and linked, not trained again; a changed corpus, setting, step count or training-path function
misses; a killed run is never taken as finished (and the next attempt resumes from its checkpoint); two processes
asking for one run at the same time train it once; a retrain trains again, once."""
import inspect, json, os, shutil, signal, subprocess, sys, time, types
from dataclasses import replace
from pathlib import Path

import pytest

from ded_nb.core import config_hash, write_json
from ded_nb.sft import cached_train_sft
from ded_nb.world import build_tiny_world, micro_zoo, render
from ded_nb.recipe import load_recipe
from ded_nb.sftcache import SFTCache, TRAINING_PATH, training_code, training_key

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


def test_an_edit_on_the_training_path_misses_and_an_edit_elsewhere_does_not(tmp_path):
    "On a copy of the package: code on the training path (chat rendering included) changes the key; docs and other code don't."
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


def _global_names(code) -> set:
    "The global names a code object and the code nested in it (comprehensions, inner functions) read."
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def reached(*roots) -> set:
    "The qualified names of every ded_nb function and class `roots` call, directly or through others."
    out, todo = set(), list(roots)
    while todo:
        fn = todo.pop()
        for name in _global_names(fn.__code__):
            obj = fn.__globals__.get(name)
            if callable(obj) and str(getattr(obj, '__module__', '')).startswith('ded_nb.'):
                qualified = f'{obj.__module__}.{obj.__qualname__}'
                if qualified not in out:
                    out.add(qualified)
                    if inspect.isfunction(obj):
                        todo.append(obj)
    return out


OFF_THE_TRAINING_PATH = {  # ded_nb code a run reaches that does not decide its model or its record, and why
    **dict.fromkeys(['ded_nb.core.JsonlError', 'ded_nb.core.RecordError', 'ded_nb.core._check_type',
                     'ded_nb.core._to_jsonable', 'ded_nb.core.atomic_write', 'ded_nb.core.read_json',
                     'ded_nb.core.read_jsonl', 'ded_nb.core.write_json', 'ded_nb.core.write_jsonl',
                     'ded_nb.core.record_from_dict', 'ded_nb.core.record_to_dict'], 'JSON files read and written whole'),
    **dict.fromkeys(['ded_nb.core.config_hash', 'ded_nb.core.file_sha256', 'ded_nb.core.git_state',
                     'ded_nb.core.is_checkout', 'ded_nb.core.package_versions', 'ded_nb.core.project_root',
                     'ded_nb.core.provenance', 'ded_nb.core.package_file', 'ded_nb.models.cache_root'],
                    'provenance and where files are (the launch configs are keyed by content, `launch_files`)'),
    **dict.fromkeys(['ded_nb.models.converted_gguf', 'ded_nb.models._build_lock', 'ded_nb.models._save_model',
                     'ded_nb.models._write_folder'], 'a converted model folder: keyed by its content fingerprint'),
    'ded_nb.sft._free_port': 'the rendezvous port of a launch',
}


def test_every_function_a_training_run_reaches_is_on_the_training_path_or_named_off_it():
    """A helper added to SFT must join the key (or be named here as not deciding the model): else editing it would
    reuse runs the new code would train differently."""
    from ded_nb.sft import sft_job, train_sft

    runs = reached(train_sft, sft_job) | {'ded_nb.sft.train_sft', 'ded_nb.sft.sft_job'}
    assert runs - set(OFF_THE_TRAINING_PATH) == set(TRAINING_PATH), (
        f'reached, not on the path: {sorted(runs - set(OFF_THE_TRAINING_PATH) - set(TRAINING_PATH))}; '
        f'on the path, not reached: {sorted(set(TRAINING_PATH) - runs)}')


def test_a_training_function_moved_to_another_module_keeps_the_key():
    "The key names each function on the training path by its name and code, not its module: a move trains nothing again."
    assert training_code(['ded_nb.core.seed_everything']) == training_code(['ded_nb.sft.seed_everything'])  # one function
    moved = [name.replace('ded_nb.sft.', 'ded_nb.distill.') if name.endswith(('.train_sft', '.sft_steps')) else name
             for name in TRAINING_PATH]  # `ded_nb.distill` imports both from `ded_nb.sft`
    assert moved != list(TRAINING_PATH) and training_code(moved) == training_code()


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
