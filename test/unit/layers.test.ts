// The import graph honours what each folder's README says it may import, and
// no module imports itself back at run time (type-only imports are free).
import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'

const SRC = join(import.meta.dirname, '..', '..', 'src')
const BASE = ['errors.ts', 'limits.ts', 'values.ts', 'resource.ts']

/// Where each part may import from at run time (type-only imports may also
/// name the parts in `types`). A part is a folder of src/, or a file at its top.
const ALLOWED: Record<string, { runtime: string[]; types?: string[] }> = {
  'errors.ts': { runtime: [] },
  'limits.ts': { runtime: [] },
  'values.ts': { runtime: ['limits.ts'] },
  'resource.ts': { runtime: ['errors.ts'] },
  doc: { runtime: BASE },
  storage: { runtime: [...BASE, 'doc'], types: ['sync'] },
  sync: { runtime: [...BASE, 'doc', 'storage'] },
  'swarmpad.ts': { runtime: [...BASE, 'doc', 'storage', 'sync'] },
  net: { runtime: [...BASE, 'doc', 'storage', 'sync'], types: ['swarmpad.ts'] },
  pairing: { runtime: [...BASE, 'doc', 'storage', 'sync', 'swarmpad.ts'] },
  server: { runtime: [...BASE, 'doc', 'storage'], types: ['sync', 'swarmpad.ts'] },
  editor: { runtime: [...BASE, 'doc', 'storage'], types: ['sync', 'swarmpad.ts', 'server'] },
  daemon: { runtime: [...BASE, 'doc', 'storage', 'sync', 'swarmpad.ts', 'net', 'pairing', 'server', 'editor'] },
  cli: { runtime: [...BASE, 'doc', 'storage', 'pairing', 'net', 'daemon', 'editor'], types: ['server', 'sync', 'swarmpad.ts'] },
  types: { runtime: [] }
}
/// The page is bundled for the browser: these files only.
const WEB_ALLOWED = ['values.ts', 'limits.ts', 'errors.ts', 'doc/changes.ts', 'server/protocol.ts']

interface Edge {
  from: string
  to: string
  typeOnly: boolean
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : []
  })
}

function edges(): Edge[] {
  const out: Edge[] = []
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.[^']+)'/gm)) {
      const whole = m[0]
      const named = /\{([^}]*)\}/.exec(whole)?.[1] ?? ''
      const allTypes = named.trim() !== '' && named.split(',').every((n) => n.trim() === '' || n.trim().startsWith('type '))
      const target = normalize(join(dirname(file), m[2]!.replace(/\.js$/, '.ts')))
      out.push({ from: relative(SRC, file), to: relative(SRC, target), typeOnly: m[1] !== undefined || (allTypes && !/^import\s+\w/.test(whole.replace(/^import\s+type/, ''))) })
    }
  }
  return out
}

const partOf = (path: string) => (path.includes('/') ? path.split('/')[0]! : path)

describe('layers', () => {
  const all = edges()

  it('reads the graph (positive control: the known edges are there)', () => {
    expect(all.some((e) => e.from === 'daemon/daemon.ts' && e.to === 'server/collab.ts' && !e.typeOnly)).toBe(true)
    expect(all.some((e) => e.from === 'server/authority.ts' && e.to === 'server/collab.ts' && e.typeOnly)).toBe(true)
    expect(all.length).toBeGreaterThan(200)
  })

  it('every part imports only what its README allows', () => {
    const bad: string[] = []
    for (const e of all) {
      const from = partOf(e.from)
      const to = partOf(e.to)
      if (from === to) continue
      if (from === 'web') {
        if (!WEB_ALLOWED.includes(e.to)) bad.push(`${e.from} -> ${e.to} (the page may import only ${WEB_ALLOWED.join(', ')})`)
        continue
      }
      const rule = ALLOWED[from]
      if (rule === undefined) {
        bad.push(`${e.from}: part ${from} has no rule`)
        continue
      }
      if (rule.runtime.includes(to)) continue
      if (e.typeOnly && (rule.types ?? []).includes(to)) continue
      bad.push(`${e.from} -> ${e.to}${e.typeOnly ? ' (type)' : ''}`)
    }
    expect(bad).toEqual([])
  })

  it('no import cycle at run time between files', () => {
    // Positive control: the search finds a planted cycle.
    expect(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a -> b -> c -> a'])
    const graph = new Map<string, string[]>()
    for (const e of all) if (!e.typeOnly) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to])
    expect(findCycles(graph)).toEqual([])
  })

  it('every folder of src/ says what it owns and may import', () => {
    for (const d of readdirSync(SRC)) {
      if (!statSync(join(SRC, d)).isDirectory()) continue
      const readme = readFileSync(join(SRC, d, 'README.md'), 'utf8')
      expect(readme, d).toMatch(/May import:/)
    }
  })
})

function findCycles(graph: Map<string, string[]>): string[] {
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (n: string) => {
    if (state.get(n) === 'done') return
    if (state.get(n) === 'open') {
      cycles.push([...stack.slice(stack.indexOf(n)), n].join(' -> '))
      return
    }
    state.set(n, 'open')
    stack.push(n)
    for (const m of graph.get(n) ?? []) visit(m)
    stack.pop()
    state.set(n, 'done')
  }
  for (const n of graph.keys()) visit(n)
  return cycles
}
