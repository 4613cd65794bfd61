// @ts-check
// npm run bench [-- --only W1,W3] [--json FILE] [--reps N]
// Runs each workload with its baseline in the same process run and prints a
// Markdown table (medians, or the quantiles a row names) and the notes of
// the rows under it. The load average is printed at the start and the end:
// other work on the machine skews every number.
//
// Repetitions (--reps, default 5) per workload:
//   W1, W5, W3, W6: --reps.
//   W2: fixed sample counts (w2.mjs KEYS), p50 and p99 over all samples.
//   W4: at most 2 full replays (each is 50,000 events; the median is of those),
//       and a replay that runs past 3x the time the target allows is stopped
//       (it cannot pass) so the suite stays within 10 minutes.
import { writeFile } from 'node:fs/promises'
import { machine, loadAverage } from './lib.mjs'

const WORKLOADS = {
  W1: () => import('./w1-w5.mjs'),
  W5: () => import('./w1-w5.mjs'),
  W3: () => import('./w3.mjs'),
  W4: () => import('./w4.mjs'),
  W2: () => import('./w2.mjs'),
  // W7 runs with W2 (the same devices; the same module runs once).
  W7: () => import('./w2.mjs'),
  W6: () => import('./w6.mjs')
}

function parseArgs (argv) {
  const opts = { only: null, json: null, reps: 5 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--only') opts.only = argv[++i].split(',').map((s) => s.trim().toUpperCase())
    else if (a === '--json') opts.json = argv[++i]
    else if (a === '--reps') opts.reps = Number(argv[++i])
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench -- [--only W1,W2,W3,W4,W5,W6,W7] [--json FILE] [--reps N]')
      process.exit(0)
    } else {
      console.error(`unknown option ${a}; see --help`)
      process.exit(2)
    }
  }
  if (!Number.isInteger(opts.reps) || opts.reps < 1) {
    console.error('--reps must be a positive integer')
    process.exit(2)
  }
  if (opts.only !== null) {
    const unknown = opts.only.filter((id) => !(id in WORKLOADS))
    if (unknown.length > 0) {
      console.error(`unknown workload ${unknown.join(', ')}; known: ${Object.keys(WORKLOADS).join(', ')}`)
      process.exit(2)
    }
  }
  return opts
}

const opts = parseArgs(process.argv.slice(2))
const wanted = Object.keys(WORKLOADS).filter((id) => opts.only === null || opts.only.includes(id))
const modules = new Set()
const results = []
const loadStart = loadAverage()
const started = performance.now()
for (const id of wanted) {
  const load = WORKLOADS[id]
  const mod = await load()
  if (modules.has(mod)) continue
  modules.add(mod)
  const t0 = performance.now()
  process.stderr.write(`running ${id}... (load average ${loadAverage().join(', ')})\n`)
  for (const r of await mod.run({ reps: opts.reps })) results.push(r)
  process.stderr.write(`${id} took ${Math.round((performance.now() - t0) / 1000)} s\n`)
}
const loadEnd = loadAverage()
const info = { ...machine(), loadavg_start: loadStart, loadavg_end: loadEnd, seconds: Math.round((performance.now() - started) / 1000) }
const cell = (/** @type {unknown} */ x) => String(x ?? '').replace(/\|/g, '\\|')
const lines = [
  `Machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, Node ${info.node}, ${info.date}; load average ${loadStart.join(', ')} at the start, ${loadEnd.join(', ')} at the end; ${info.seconds} s`,
  '',
  '| id | workload | value | baseline | baseline value | ratio | target | pass |',
  '| --- | --- | ---: | --- | ---: | ---: | --- | --- |',
  ...results.map((r) => `| ${cell(r.id)} | ${cell(r.name)} | ${cell(r.value)} ${cell(r.unit)} | ${cell(r.baseline)} | ${cell(r.baseline_value)} | ${cell(r.ratio)} | ${cell(r.target)} | ${r.pass ? 'yes' : 'NO'} |`)
]
const notes = results.filter((r) => r.note)
if (notes.length > 0) lines.push('', 'Notes:', ...notes.map((r) => `- ${r.id}: ${r.note}`))
console.log(lines.join('\n'))
if (opts.json) await writeFile(opts.json, JSON.stringify({ machine: info, results }, null, 2) + '\n')
