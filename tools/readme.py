"""Generate README.md from nbs/index.ipynb without Quarto: markdown cells as they are, code cells fenced, `#| hide` cells dropped."""
import argparse, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parent.parent

def cell_directives(source):
    "The nbdev `#|` directive lines at the top of a code cell."
    return [line[2:].strip() for line in source.splitlines() if line.startswith('#|')]

def render(nb_path):
    "Markdown text of the notebook at `nb_path`."
    nb = nbformat.read(nb_path, as_version=4)
    parts = []
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            parts.append(cell.source.strip())
        elif cell.cell_type == 'code':
            directives = cell_directives(cell.source)
            if any(d.split()[0] in ('hide', 'exporti', 'default_exp') for d in directives if d): continue
            code = '\n'.join(l for l in cell.source.splitlines() if not l.startswith('#|')).strip()
            if code: parts.append(f'```python\n{code}\n```')
            for out in cell.get('outputs', []):
                text = out.get('text') or out.get('data', {}).get('text/plain')
                if text: parts.append('```\n' + (''.join(text) if isinstance(text, list) else text).rstrip() + '\n```')
    return '<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, then `make readme` -->\n\n' + '\n\n'.join(p for p in parts if p) + '\n'

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--check', action='store_true', help='fail if README.md differs from what the notebook gives')
    args = ap.parse_args()
    text, readme = render(ROOT / 'nbs' / 'index.ipynb'), ROOT / 'README.md'
    if args.check:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            sys.exit('FAIL: README.md is stale; run `make readme` (it is generated from nbs/index.ipynb)')
        print('README.md is current')
    else:
        readme.write_text(text, encoding='utf-8')
        print(f'wrote {readme}')

if __name__ == '__main__': main()
