#!/bin/bash
# test_docs_refs.sh - every section the documentation points a reader to
# exists: '"Title" in FILE.md', 'FILE.md, "Title"' and 'see "Title"' (a
# heading of the same file) in the Markdown files and the example broker
# configuration (comments, across line breaks) name a heading of that file.
. "$(dirname "$0")/../lib.sh"

$PY - "$ROOT" <<'PY' || fail "dangling references to sections (above)"
import glob, os, re, sys
root = sys.argv[1]
files = sorted(set(glob.glob(root + '/*.md')
                   + glob.glob(root + '/docs/**/*.md', recursive=True)
                   + glob.glob(root + '/docs/mosquitto/*')))

def headings(path):
    hs = set()
    with open(path, encoding='utf-8') as f:
        for line in f:
            m = re.match(r'#+\s+(.*?)\s*$', line)
            if m:
                hs.add(m.group(1))
    return hs

def text(path):
    """The file as one line: references wrap, comments lose their '#'."""
    with open(path, encoding='utf-8') as f:
        lines = [l if path.endswith('.md') else re.sub(r'^\s*#\s?', '', l)
                 for l in f]
    return ' '.join(l.strip() for l in lines)

REF = re.compile(r'"([^"]{3,80})" in `?([A-Za-z0-9./_-]+\.md)`?'
                 r'|`?([A-Za-z0-9./_-]+\.md)`?, "([^"]{3,80})"'
                 r'|[Ss]ee "([^"]{3,80})"(?! in )')
bad = n = 0
for f in files:
    for m in REF.finditer(text(f)):
        title = m.group(1) or m.group(4) or m.group(5)
        target = m.group(2) or m.group(3)
        path = f
        if target:
            cands = [os.path.join(os.path.dirname(f), target), os.path.join(root, target)]
            path = next((c for c in cands if os.path.exists(c)), None)
        n += 1
        if path is None:
            print('%s: points to %s, which does not exist' % (os.path.relpath(f, root), target))
            bad += 1
        elif title not in headings(path):
            print('%s: points to section "%s" of %s, which has none' %
                  (os.path.relpath(f, root), title, os.path.relpath(path, root)))
            bad += 1
print('%d references to sections, %d dangling' % (n, bad), file=sys.stderr)
# the reference this test was written for must still be found
assert n >= 5, 'the pattern no longer finds the references'
sys.exit(1 if bad else 0)
PY
say "ok"
