#!/usr/bin/env python3
"""Checks that every dependency between the files of host/ points one way. A file depends on another when
its object uses a symbol the other's object defines (nm of the objects `make` built, build/cpu unless
given) or when it includes the other's header (a header stands for the .c of the same name; headers
included by headers count). Prints each circle with the edges that close it, and every dependency of
host/methods on host/run, then exits 1 if there was any. Usage: scripts/check-deps.py [BUILD_DIR]."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build', 'cpu')
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    out = []
    for d, _, files in os.walk(os.path.join(ROOT, 'host')):
        out += [os.path.relpath(os.path.join(d, f), ROOT) for f in files if f.endswith(('.c', '.h'))]
    return sorted(out)


def resolve(frm, name):
    """the repository path an #include "name" in frm finds (its own folder first, then -Ihost)"""
    for p in (os.path.join(os.path.dirname(frm), name), os.path.join('host', name)):
        if os.path.exists(os.path.join(ROOT, p)):
            return os.path.normpath(p)
    return None


def headers_reached(src):
    """every header src includes, directly or through other headers"""
    seen, todo = set(), [src]
    while todo:
        f = todo.pop()
        for name in INCLUDE.findall(open(os.path.join(ROOT, f)).read()):
            h = resolve(f, name)
            if h and h.endswith('.h') and h not in seen:
                seen.add(h)
                todo.append(h)
    return seen


def symbol_edges(cfiles):
    owner, used = {}, {}
    for c in cfiles:
        obj = os.path.join(BUILD, c[:-2] + '.o')
        if not os.path.exists(obj):
            sys.exit('check-deps: %s is missing: run make first' % obj)
        used[c] = set()
        for line in subprocess.run(['nm', obj], capture_output=True, text=True, check=True).stdout.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in 'TDBRC':
                owner[f[2]] = c
            elif len(f) == 2 and f[0] == 'U':
                used[c].add(f[1])
    return {(c, owner[s]): s for c in cfiles for s in used[c] if s in owner and owner[s] != c}


def circles(nodes, edges):
    """strongly connected components of more than one file (Tarjan, iterative)"""
    succ = {n: sorted({b for a, b in edges if a == n}) for n in nodes}
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                on.add(v)
            if i < len(succ[v]):
                work.append((v, i + 1))
                w = succ[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return out


def main():
    files = sources()
    cfiles = [f for f in files if f.endswith('.c') and f != 'host/main.c']
    edges = symbol_edges(cfiles)
    for c in cfiles:
        for h in headers_reached(c):
            other = h[:-2] + '.c'
            if other in cfiles and other != c:
                edges.setdefault((c, other), 'includes ' + h)
    bad = 0
    for comp in circles(cfiles, edges):
        bad += 1
        print('circle: ' + ' '.join(comp))
        for (a, b), why in sorted(edges.items()):
            if a in comp and b in comp:
                print('    %s -> %s (%s)' % (a, b, why))
    for (a, b), why in sorted(edges.items()):
        if a.startswith('host/methods/') and b.startswith('host/run/'):
            bad += 1
            print('methods on run: %s -> %s (%s)' % (a, b, why))
    for f in files:
        if f.startswith('host/methods/'):
            for h in headers_reached(f):
                if h.startswith('host/run/'):
                    bad += 1
                    print('methods on run: %s includes %s' % (f, h))
    print('check-deps: %s' % ('%d problems' % bad if bad else 'every dependency in host/ points one way'))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
