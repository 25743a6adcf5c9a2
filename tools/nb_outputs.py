"""The example results a reader sees in the module notebooks: save them, or check that the saved ones are current.

A code cell tagged `show` keeps its outputs in the saved notebook; every other cell is saved without outputs (the
`test_eq` checks say what they check; the shown cells show what a function returns). Each notebook runs as
`nbdev_test` runs it (same skip flags, in its own folder), then is written through `nbdev_clean`'s rules, so
`make check-clean` stays meaningful.

    python tools/nb_outputs.py [NOTEBOOK ...]          # run and save the shown outputs (default: every nbs/*.ipynb)
    python tools/nb_outputs.py --check [NOTEBOOK ...]  # run and fail when a saved notebook would change

Every cell must be quiet: output on stderr (a warning, a progress bar) anywhere fails both modes. Every run also
reports what the notebook left in the temporary folder, and `--check` fails on it.
"""
import argparse, multiprocessing, os, shutil, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOW = 'show'


def is_shown(cell) -> bool:
    "Is `cell` a code cell tagged `show`?"
    return cell.get('cell_type') == 'code' and SHOW in cell.get('metadata', {}).get('tags', [])


def run_notebook(path: Path) -> dict:
    "Execute `path` as `nbdev_test` does; the outputs of its shown cells by cell id, and where stderr was written."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor

    os.environ['IN_TEST'] = '1'
    flags = set(get_config().tst_flags.split())
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb

    def skip(cell):
        if cell.cell_type != 'code' or 'nbdev_export(' in cell.source:
            return True
        directives = getattr(cell, 'directives_', {}) or {}
        return directives.get('eval:', [''])[0].lower() == 'false' or bool(flags & directives.keys())

    shell = CaptureShell(path)
    with working_directory(path.parent):
        try:
            shell.run_all(nb, exc_stop=True, preproc=skip)
        except Exception as e:
            raise RuntimeError(f'{e}\n{shell.prettytb(fname=path)}') from None  # the failing cell and its traceback
    noisy = {c.id: ''.join(''.join(o.get('text', '')) for o in c.get('outputs', []) if o.get('name') == 'stderr')
             for c in nb.cells if any(o.get('name') == 'stderr' for o in c.get('outputs', []))}
    return {'outputs': {c.id: list(c.outputs) for c in nb.cells if is_shown(c)}, 'stderr_cells': noisy}


def saved_text(path: Path, outputs: dict) -> str:
    "The notebook's text with `outputs` in its shown cells and none elsewhere, through nbdev_clean's rules."
    from execnb.nbio import nb2str, read_nb
    from nbdev.clean import clean_nb
    from nbdev.config import get_config

    cfg = get_config()
    nb = read_nb(path)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell['outputs'] = [dict(o) for o in outputs.get(cell.id, [])] if is_shown(cell) else []
    clean_nb(nb, False, cfg.get('allowed_metadata_keys').split(), cfg.get('allowed_cell_metadata_keys').split(),
             cfg.clean_ids)
    return nb2str(nb)


def without_images(text: str) -> str:
    "`text` with every image's bytes replaced by a mark: a figure is checked to be there, not pixel for pixel (fonts differ)."
    import re

    return re.sub(r'"image/(png|jpeg)": "[^"]*"', r'"image/\1": "<image>"', text)


# made in the temporary folder on purpose by what the notebooks call, not left behind by the notebooks themselves
EXPECTED_IN_TMP = ('ded-sandbox-uids', 'torchinductor_')  # the sandbox's uid locks (shared); torch's compile cache


def process(path: Path, check: bool, private: str) -> list[str]:
    "Run one notebook with `private` as its temporary folder, then save its shown outputs (or compare them)."
    start = time.time()
    tempfile.tempdir, os.environ['TMPDIR'] = private, private  # what the notebook leaves behind lands here
    try:
        run = run_notebook(path)
    except Exception as e:  # execnb reports the failing cell; the notebook is not written
        return [f'{path.name}: failed to run: {type(e).__name__}: {e}']
    problems, shown_ids = [], set(run['outputs'])
    text = saved_text(path, run['outputs'])
    if run['stderr_cells']:  # a reader running the notebook would see warnings or progress bars there
        problems += [f'{path.name}: cell {cid} writes to stderr (a warning or a progress bar): {text.strip()[:300]!r}'
                     for cid, text in run['stderr_cells'].items()]
    problems += [f'{path.name}: shown cell {cid} has no output' for cid, outs in run['outputs'].items() if not outs]
    if check and without_images(text) != without_images(path.read_text()):
        problems.append(f'{path.name}: saved outputs differ from a fresh run (run tools/nb_outputs.py {path})')
    elif not check and not problems and text != path.read_text():
        path.write_text(text)
    print(f'{path.name}: {len(shown_ids)} shown cells, {time.time() - start:.0f} s'
          + ('' if not problems else ' -- ' + '; '.join(problems)), flush=True)
    return problems


def left_behind(private: str) -> list[str]:
    "What a finished notebook process left in its temporary folder (beyond `EXPECTED_IN_TMP`)."
    return sorted(n for n in os.listdir(private) if not n.startswith(EXPECTED_IN_TMP))


# imported once by the process every notebook's process is forked from (the `forkserver`): what nearly every notebook
# imports, and seconds to import each time; each notebook still runs in a process of its own, exited before the checks
PRELOAD = ['torch', 'transformers', 'execnb.shell', 'nbdev.process', 'nbdev.clean']


def notebook_processes() -> multiprocessing.context.BaseContext:
    "Processes forked from a server that has imported `PRELOAD`."
    ctx = multiprocessing.get_context('forkserver')
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('notebooks', nargs='*', type=Path)
    parser.add_argument('--check', action='store_true', help='fail when a saved notebook differs from a fresh run')
    parser.add_argument('--workers', type=int, default=2)
    args = parser.parse_args()
    os.chdir(ROOT)
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / 'nbs').glob('*.ipynb'))
    privates = [tempfile.mkdtemp(prefix=f'nb-outputs-{p.stem}-') for p in notebooks]
    # a fresh process per notebook
    with ProcessPoolExecutor(args.workers, mp_context=notebook_processes(), max_tasks_per_child=1) as pool:
        found = list(pool.map(process, notebooks, [args.check] * len(notebooks), privates))
    problems = [p for f in found for p in f]
    for path, private in zip(notebooks, privates):  # every notebook's process has exited: its clean-up has run
        left = left_behind(private)
        if left:
            print(f'{path.name}: left in the temporary folder: {", ".join(left)}')
            if args.check:
                problems.append(f'{path.name}: left in the temporary folder: {", ".join(left[:5])}')
        shutil.rmtree(private, ignore_errors=True)
    if problems:
        print('\n'.join(['FAIL:'] + problems), file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
