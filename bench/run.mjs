// @ts-check
// npm run bench [-- --only W1,W3] [--json FILE] [--reps N]
// Runs each workload with its baseline in the same process run and prints a
// Markdown table of medians and ratios.
import { writeFile } from 'node:fs/promises'
import { machine } from './lib.mjs'

const WORKLOADS = {
  W1: () => import('./w1-w5.mjs'),
  W3: () => import('./w3.mjs'),
  W5: () => import('./w1-w5.mjs')
}

function parseArgs (argv) {
  const opts = { only: null, json: null, reps: 5 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--only') opts.only = argv[++i].split(',').map((s) => s.trim().toUpperCase())
    else if (a === '--json') opts.json = argv[++i]
    else if (a === '--reps') opts.reps = Number(argv[++i])
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench -- [--only W1,W3] [--json FILE] [--reps N]')
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
  return opts
}

const opts = parseArgs(process.argv.slice(2))
const wanted = Object.keys(WORKLOADS).filter((id) => opts.only === null || opts.only.includes(id))
const modules = new Set()
const results = []
for (const id of wanted) {
  const load = WORKLOADS[id]
  const mod = await load()
  if (modules.has(mod)) continue
  modules.add(mod)
  process.stderr.write(`running ${id}...\n`)
  for (const r of await mod.run({ reps: opts.reps })) results.push(r)
}
const info = machine()
const lines = [
  `Machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, Node ${info.node}, ${info.date}`,
  '',
  '| id | workload | value | baseline | baseline value | ratio | target | pass |',
  '| --- | --- | ---: | --- | ---: | ---: | --- | --- |',
  ...results.map((r) => `| ${r.id} | ${r.name} | ${r.value} ${r.unit} | ${r.baseline} | ${r.baseline_value ?? ''} | ${r.ratio ?? ''} | ${r.target} | ${r.pass ? 'yes' : 'NO'} |`)
]
console.log(lines.join('\n'))
if (opts.json) await writeFile(opts.json, JSON.stringify({ machine: info, results }, null, 2) + '\n')
