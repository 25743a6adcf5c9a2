"""The package's import graph: every module imports on its own in a fresh interpreter, and no two modules import each
other, directly or through others — counting imports inside functions too, so a cycle cannot hide behind a lazy import."""
import ast, subprocess, sys
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parent.parent / 'ded_nb'
MODULES = sorted(p.stem for p in PKG.glob('*.py') if p.stem not in ('__init__', '_modidx'))


def imports_of(module: str) -> set:
    "The `ded_nb` modules that `module` imports anywhere in its source."
    out = set()
    for node in ast.walk(ast.parse((PKG / f'{module}.py').read_text())):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ''
            if node.level == 1: out.add(name.split('.')[0])
            elif name.startswith('ded_nb.'): out.add(name.split('.')[1])
            elif name == 'ded_nb': out.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.Import):
            out.update(a.name.split('.')[1] for a in node.names if a.name.startswith('ded_nb.'))
    return out & set(MODULES)


def find_cycle(graph: dict):
    "One cycle of `graph` as a list of modules, or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 'open'; stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 'open': return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)): return c
        state[m] = 'done'; stack.pop()
    for m in graph:
        if m not in state and (c := visit(m)): return c


def test_the_import_graph_has_no_cycle():
    graph = {m: imports_of(m) - {m} for m in MODULES}
    assert graph['cli'] and 'cli' not in set().union(*(graph[m] for m in MODULES if m != 'cli'))  # nothing imports the CLI
    assert find_cycle(graph) is None, f'import cycle: {" -> ".join(find_cycle(graph))}'


def test_find_cycle_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']


@pytest.mark.parametrize('module', MODULES)
def test_each_module_imports_alone(module):
    done = subprocess.run([sys.executable, '-c', f'import ded_nb.{module}'], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def room_map() -> list:
    "The modules of the README's room map (`nbs/index.ipynb`), top to bottom."
    import json, re
    nb = json.loads((PKG.parent / 'nbs' / 'index.ipynb').read_text())
    text = ''.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')
    table = text[text.index('### The map'):]
    return re.findall(r'^\| `ded_nb\.(\w+)` \|', table[:table.index('\n### ', 5)], re.M)


def test_the_room_map_lists_every_module_below_the_modules_it_imports():
    "Read top to bottom, the room map is an order of the import graph: each module imports only modules above it."
    order = room_map()
    assert sorted(order) == MODULES, f'room map vs package: missing {sorted(set(MODULES) - set(order))}, extra {sorted(set(order) - set(MODULES))}'
    below = [(m, n) for i, m in enumerate(order) for n in sorted(imports_of(m) - {m}) if n in order[i:]]
    assert below == [], f'modules that import one listed below them: {below}'
