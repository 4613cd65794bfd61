// The benchmark harness on tiny traces, so it cannot rot: `node bench/run.mjs`
// with SWARMPAD_TRACES pointing at shortened copies of the traces (the first
// 2,000 edits of automerge-paper, the first txns of the concurrent traces and
// of A2, each with the endContent its prefix produces). Every workload checks
// its final texts itself and fails the run otherwise; this test checks that
// the run succeeds, the shape of the Markdown table and of the JSON, and
// that the rows say what final text they checked.
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { ensureBuilt, ROOT } from '../helpers/cli.js'

const TRACES = process.env.SWARMPAD_TRACES ?? join(ROOT, '..', 'shared', 'traces')
/// Committed prefixes (CC BY 4.0) for a fresh clone without the shared traces.
const FIXTURES = join(ROOT, 'test', 'fixtures', 'traces', 'bench')
const SHARED = existsSync(join(TRACES, 'egwalker-paper', 'A2.json.gz'))

type Patch = [number, number, string]
interface Txn { time?: string; parents?: number[]; agent?: number; patches: Patch[]; numChildren?: number }
interface Trace { endContent: string; txns: Txn[]; [k: string]: unknown }

function load(rel: string): Trace {
  return JSON.parse(gunzipSync(readFileSync(join(TRACES, rel))).toString('utf8')) as Trace
}

async function save(dir: string, rel: string, trace: Trace): Promise<void> {
  const path = join(dir, rel)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, gzipSync(JSON.stringify(trace)))
}

/** The first `n` txns of a sequential trace and the text they make. */
function sequentialPrefix(trace: Trace, n: number): Trace {
  const txns = trace.txns.slice(0, n)
  let text = ''
  for (const t of txns) for (const [pos, del, ins] of t.patches) text = text.slice(0, pos) + ins + text.slice(pos + del)
  return { ...trace, txns, endContent: text }
}

/** The first `n` txns of a concurrent trace and the text they merge to (Yjs, exact causal replay). */
async function concurrentPrefix(trace: Trace, n: number, chains = false): Promise<Trace> {
  const c = (await import('../../bench/concurrent.mjs')) as {
    analyse: (t: unknown, o?: unknown) => unknown
    plan: (a: unknown) => unknown
    yjsReplay: (a: unknown, p: unknown) => { texts: string[] }
    chainCover: (t: unknown, limit?: number) => { chainOf: Int32Array; chains: number }
  }
  const txns = trace.txns.slice(0, n)
  const prefix = { ...trace, txns }
  let opts: unknown = {}
  if (chains) {
    const cover = c.chainCover(prefix)
    opts = { replicaOf: (i: number) => cover.chainOf[i], replicas: cover.chains }
  }
  const a = c.analyse(prefix, opts)
  const y = c.yjsReplay(a, c.plan(a))
  return { ...prefix, endContent: y.texts[0]! }
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bench', 'run.mjs'), ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d))
    p.stderr.on('data', (d: Buffer) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('benchmark harness', () => {
  it(
    'runs W1, W3 (automerge-paper and A2, with the shared traces), W4 and W5 on tiny traces: a table of every row, final texts checked',
    async () => {
      ensureBuilt()
      const dir = await mkdtemp(join(tmpdir(), 'swarmpad-bench-test-'))
      try {
        let traces = FIXTURES
        if (SHARED) {
          traces = join(dir, 'traces')
          await save(traces, 'sequential/automerge-paper.json.gz', sequentialPrefix(load('sequential/automerge-paper.json.gz'), 2000))
          await save(traces, 'concurrent/friendsforever.json.gz', await concurrentPrefix(load('concurrent/friendsforever.json.gz'), 120))
          await save(traces, 'concurrent/clownschool.json.gz', await concurrentPrefix(load('concurrent/clownschool.json.gz'), 120))
          await save(traces, 'egwalker-paper/A2.json.gz', await concurrentPrefix(load('egwalker-paper/A2.json.gz'), 40, true))
        }
        const json = join(dir, 'out.json')
        const env: NodeJS.ProcessEnv = { ...process.env, SWARMPAD_TRACES: traces }
        delete env.NODE_OPTIONS
        // W3 needs A2, which may not be redistributed (see ../shared/traces/README.md): only with the shared traces.
        const r = await run(['--only', SHARED ? 'W1,W3,W4' : 'W1,W4', '--reps', '1', '--json', json], env)
        expect(r.code, r.stderr).toBe(0)

        const ids = SHARED ? ['W1', 'W5-disk', 'W5-open', 'W3', 'W3-A2', 'W3-A2-rss', 'W4-friendsforever', 'W4-clownschool'] : ['W1', 'W5-disk', 'W5-open', 'W4-friendsforever', 'W4-clownschool']
        const lines = r.stdout.split('\n')
        expect(lines[0]).toMatch(/^Machine: .+, \d+ cores, .*Node v\d+.*load average/)
        const header = lines.indexOf('| id | workload | value | baseline | baseline value | ratio | target | pass |')
        expect(header).toBeGreaterThan(0)
        expect(lines[header + 1]).toBe('| --- | --- | ---: | --- | ---: | ---: | --- | --- |')
        const rows = lines.slice(header + 2).filter((l) => l.startsWith('| '))
        expect(rows.map((l) => l.split(' | ')[0]!.slice(2))).toEqual(ids)
        for (const l of rows) {
          const cells = l.slice(2, -2).split(' | ')
          expect(cells, l).toHaveLength(8)
          expect(cells[2], l).toMatch(/^-?\d+(\.\d+)? \S+$/)
          expect(cells[7], l).toMatch(/^(yes|NO)$/)
        }

        const out = JSON.parse(await readFile(json, 'utf8')) as { machine: Record<string, unknown>; results: Array<Record<string, unknown>> }
        expect(Object.keys(out.machine)).toEqual(expect.arrayContaining(['cpu', 'cores', 'node', 'date']))
        expect(out.results.map((x) => x.id)).toEqual(ids)
        for (const x of out.results) {
          for (const k of ['id', 'name', 'value', 'unit', 'baseline', 'baseline_value', 'ratio', 'target', 'pass']) expect(x, String(x.id)).toHaveProperty(k)
          expect(Number.isFinite(x.value), String(x.id)).toBe(true)
          expect(typeof x.pass).toBe('boolean')
        }
        // The rows that compare final texts say which: the prefix's endContent
        // (W3 automerge-paper, W4) or the source document's text (W3-A2).
        const checked = Object.fromEntries(out.results.filter((x) => x.checked).map((x) => [x.id, String(x.checked)]))
        if (SHARED) expect(checked['W3']).toMatch(/= endContent \(\d+ chars\)/)
        expect(checked['W4-friendsforever']).toMatch(/every device's final text = endContent/)
        expect(checked['W4-clownschool']).toMatch(/every device's final text = endContent/)
        if (SHARED) expect(checked['W3-A2']).toMatch(/source document/)
        expect(out.results.find((x) => x.id === 'W4-friendsforever')!.name).toMatch(/2 devices, 120 txns/)
        expect(out.results.find((x) => x.id === 'W4-clownschool')!.name).toMatch(/3 devices, 120 txns/)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    },
    30_000
  )
})
