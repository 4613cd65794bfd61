// @ts-check
// Shared helpers of the benchmark harness: traces, statistics, machine info.
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { cpus, totalmem, loadavg } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mkdtemp, rm, readdir, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'

const here = dirname(fileURLToPath(import.meta.url))

/** Where the shared traces live: $SWARMPAD_TRACES, else ../shared/traces next to the checkout. */
export const TRACES = process.env.SWARMPAD_TRACES ?? join(here, '..', '..', 'shared', 'traces')

/** @param {string} rel e.g. 'sequential/automerge-paper.json.gz' */
export function loadTrace (rel) {
  return JSON.parse(gunzipSync(readFileSync(join(TRACES, rel))).toString('utf8'))
}

/** @param {number[]} xs @param {number} q */
export function quantile (xs, q) {
  const s = xs.slice().sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))
  return s[i]
}

/** @param {number[]} xs */
export const median = (xs) => quantile(xs, 0.5)

export function machine () {
  const c = cpus()
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, date: new Date().toISOString() }
}

/** A temporary directory and its removal. */
export async function tempDir (prefix = 'swarmpad-bench-') {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** Total bytes of the files under a directory. @param {string} dir @returns {Promise<number>} */
export async function dirBytes (dir) {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) total += await dirBytes(p)
    else if (entry.isFile()) total += (await stat(p)).size
  }
  return total
}

/** Let the event loop turn (timers, I/O). */
export const tick = () => new Promise((resolve) => setImmediate(resolve))

/**
 * Apply a sequential trace's patches to a string-free sink, converting code-point
 * positions to UTF-16 offsets when the trace holds characters above U+FFFF.
 * @param {{txns: Array<{patches: Array<[number, number, string]>}>}} trace
 * @returns {Array<{from: number, to: number, insert: string}>}
 */
export function sequentialEdits (trace) {
  const out = []
  let astral = false
  for (const t of trace.txns) for (const [, , ins] of t.patches) if (/[\u{10000}-\u{10ffff}]/u.test(ins)) astral = true
  if (!astral) {
    for (const t of trace.txns) for (const [pos, del, ins] of t.patches) out.push({ from: pos, to: pos + del, insert: ins })
    return out
  }
  // Slow path: keep the text as code points to convert each position.
  let cps = []
  for (const t of trace.txns) {
    for (const [pos, del, ins] of t.patches) {
      const from = cps.slice(0, pos).join('').length
      const to = from + cps.slice(pos, pos + del).join('').length
      out.push({ from, to, insert: ins })
      cps.splice(pos, del, ...Array.from(ins))
    }
  }
  return out
}

/** One row of the results table. */
export function row ({ id, name, value, unit, baseline, baselineValue, target, pass, note }) {
  const ratio = baselineValue ? value / baselineValue : null
  return { id, name, value: round(value), unit, baseline, baseline_value: baselineValue === null ? null : round(baselineValue), ratio: ratio === null ? null : round(ratio, 3), target, pass, ...(note ? { note } : {}) }
}

/** @param {number} x */
export function round (x, digits = 2) {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** The 1, 5 and 15 minute load averages (other work on the machine skews every number). */
export function loadAverage () {
  return loadavg().map((x) => Math.round(x * 100) / 100)
}

/** Poll `check` every 50 ms until it holds; throw after `ms`. @param {() => Promise<boolean>} check @param {string} what @param {string} label */
export async function waitFor (check, what, label, ms = 60_000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${label}: timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
