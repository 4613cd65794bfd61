// Shared plumbing of the reliability suites (test/fuzz, partition-chaos,
// crash-durability, storage-damage): seeds and rounds, the repeat line printed
// on failure, regression cases in test/fuzz/cases/, and the figures each
// suite reports (printed, and written to test-results/reliability/ for the
// record of a long run).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { TestContext } from 'vitest'
import { chooseSeed, Prng, repeatLine } from '../helpers/prng.js'

export const EXTENSIVE = process.env.SWARMPAD_EXTENSIVE === '1'

/// `base` normally, `base * factor` with SWARMPAD_EXTENSIVE=1.
export function scaled(base: number, factor = 10): number {
  return EXTENSIVE ? base * factor : base
}

export const CASES_DIR = join(import.meta.dirname, 'cases')

/// The seeds of the rounds of a test: with SWARMPAD_SEED=n, rounds n, n+1, ...
/// (so the repeat line of a failed round starts with exactly that round);
/// otherwise the fixed seeds (the same in every CI run) and then random ones.
export function roundSeeds(count: number, fixed: readonly number[] = [1, 2, 3]): number[] {
  const env = process.env.SWARMPAD_SEED
  if (env !== undefined && env !== '') {
    const first = chooseSeed()
    return Array.from({ length: count }, (_, i) => (first + i) >>> 0)
  }
  const out = fixed.slice(0, Math.max(0, count - 1))
  while (out.length < count) out.push(chooseSeed())
  return out
}

/// Run one seeded round; on failure print (and put in the error) the line
/// that repeats it, and, when `saveCase` is given, write a regression case.
export async function round<T>(
  ctx: TestContext,
  seed: number,
  body: (rng: Prng) => Promise<T> | T,
  saveCase?: (err: unknown) => RegressionCase | null
): Promise<T> {
  const file = ctx.task.file?.filepath ?? ctx.task.file?.name ?? '<file>'
  const line = repeatLine(seed, file, ctx.task.name)
  try {
    return await body(new Prng(seed))
  } catch (err) {
    console.error(line)
    let saved = ''
    if (saveCase) {
      try {
        const c = saveCase(err)
        if (c !== null) saved = `; regression case written to ${relative(process.cwd(), writeCase(c))} (commit it)`
      } catch (e) {
        saved = `; could not write the regression case: ${(e as Error).message}`
      }
    }
    if (err instanceof Error) {
      err.message = `${err.message}\n${line}${saved}`
      throw err
    }
    throw new Error(`${String(err)}\n${line}${saved}`)
  }
}

/// A failure kept as a committed regression case (test/fuzz/cases/*.json).
export interface RegressionCase {
  suite: string
  name: string
  seed: number
  /// When it was found and what failed.
  found: string
  error: string
  /// Whatever the suite needs to replay it (parameters, a DAG, bytes).
  data: unknown
}

export function writeCase(c: RegressionCase): string {
  mkdirSync(CASES_DIR, { recursive: true })
  const path = join(CASES_DIR, `${c.suite}-${c.name}.json`)
  writeFileSync(path, JSON.stringify(c, null, 2) + '\n')
  return path
}

/// Every committed case of a suite.
export function readCases(suite: string): RegressionCase[] {
  let names: string[]
  try {
    names = readdirSync(CASES_DIR)
  } catch {
    return []
  }
  return names
    .filter((n) => n.startsWith(`${suite}-`) && n.endsWith('.json'))
    .sort()
    .map((n) => JSON.parse(readFileSync(join(CASES_DIR, n), 'utf8')) as RegressionCase)
}

/// Print a suite's figures and keep them in test-results/reliability/<suite>.json.
export function reportFigures(suite: string, figures: Record<string, unknown>): void {
  const line = `[reliability] ${suite}${EXTENSIVE ? ' (extensive)' : ''}: ${JSON.stringify(figures)}`
  console.log(line)
  try {
    const dir = join(import.meta.dirname, '../../test-results/reliability')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `${suite}.json`), JSON.stringify({ suite, extensive: EXTENSIVE, at: new Date().toISOString(), ...figures }, null, 2) + '\n')
  } catch {
    // Figures are informational.
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/// Resolve with `p`, or reject after `ms` with `what`.
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
      })
    ])
  } finally {
    if (timer) clearTimeout(timer)
  }
}
