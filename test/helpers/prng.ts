// A small seeded PRNG for random tests (lib0 / Yjs pattern).
//
// Every random test takes its seed from SWARMPAD_SEED or picks one, and on
// failure prints the line that repeats it:
//   repeat: SWARMPAD_SEED=<n> npx vitest run <file> -t "<name>"
// SWARMPAD_EXTENSIVE=1 multiplies iteration counts (see iterations()).
import { relative } from 'node:path'
import { onTestFailed, type TestContext } from 'vitest'

/// sfc32: fast, 128 bits of state, good enough statistics for tests.
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number
  readonly seed: number

  constructor(seed: number) {
    this.seed = seed >>> 0
    // splitmix32 to spread a small seed over the state.
    let s = this.seed
    const mix = () => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = mix()
    this.b = mix()
    this.c = mix()
    this.d = mix()
    for (let i = 0; i < 12; i++) this.uint32()
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /// A float in [0, 1).
  float(): number {
    return this.uint32() / 4294967296
  }

  /// An integer in [min, max] (both included).
  int(min: number, max: number): number {
    if (max < min) throw new RangeError(`int(${min}, ${max})`)
    return min + Math.floor(this.float() * (max - min + 1))
  }

  bool(p = 0.5): boolean {
    return this.float() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[this.int(0, items.length - 1)]!
  }

  /// A choice weighted by the numbers given.
  weighted<T extends string>(weights: Record<T, number>): T {
    const entries = Object.entries(weights) as Array<[T, number]>
    const total = entries.reduce((s, [, w]) => s + w, 0)
    let x = this.float() * total
    for (const [k, w] of entries) {
      if (x < w) return k
      x -= w
    }
    return entries[entries.length - 1]![0]
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.uint32() & 0xff
    return out
  }

  /// A string of `n` characters from `alphabet` (default: mixed ASCII,
  /// newlines, a non-BMP emoji's surrogate pair counted as 2).
  string(n: number, alphabet: readonly string[] = DEFAULT_ALPHABET): string {
    let s = ''
    while (s.length < n) s += this.pick(alphabet)
    return s
  }

  /// Shuffle in place and return the array.
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i)
      const t = items[i]!
      items[i] = items[j]!
      items[j] = t
    }
    return items
  }

  /// An independent generator derived from this one.
  fork(): Prng {
    return new Prng(this.uint32())
  }
}

const DEFAULT_ALPHABET = [...'abcdefghijklmnopqrstuvwxyz     ABCXYZ0123456789.,\n', 'é', 'ß', '→', '😀']

/// The seed for this run: SWARMPAD_SEED, else a random one.
export function chooseSeed(): number {
  const env = process.env.SWARMPAD_SEED
  if (env !== undefined && env !== '') {
    const n = Number(env)
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`SWARMPAD_SEED must be an integer in [0, 2^32): ${env}`)
    return n
  }
  return Math.floor(Math.random() * 0x100000000) >>> 0
}

/// How many times to repeat a random case: `base`, times 10 with SWARMPAD_EXTENSIVE=1.
export function iterations(base: number): number {
  return process.env.SWARMPAD_EXTENSIVE === '1' ? base * 10 : base
}

/// The line that repeats a failed random test.
export function repeatLine(seed: number, file: string, name: string): string {
  return `repeat: SWARMPAD_SEED=${seed} npx vitest run ${relative(process.cwd(), file)} -t "${name.replace(/"/g, '\\"')}"`
}

/// A seeded generator for the running test; prints the repeat line if it fails.
/// Use: `test('name', (ctx) => { const rng = seeded(ctx); ... })`.
export function seeded(ctx: TestContext, seed: number = chooseSeed()): Prng {
  const file = ctx.task.file?.filepath ?? ctx.task.file?.name ?? '<file>'
  const line = repeatLine(seed, file, ctx.task.name)
  onTestFailed(() => {
    console.error(line)
  })
  return new Prng(seed)
}
