// An edit ledger and its checker, in Jepsen's terms (TESTING.md 5, "EditLedger").
//
// Every insert carries a unique token such as ⟦p2#17⟧. Each operation (one
// edit: a few inserts and deletes made together) is invoked, then completes
// as `ok` (confirmed durable), `failed` (definitely not saved) or stays
// `unknown` (the process died, or the outcome is not promised, before it was
// confirmed). Each delete records which tokens it removed, as its author saw
// them. The checker then reads the final texts of every peer and reports:
//
//   lost        ok inserts absent from a text and not removed by any delete
//               that is ok or unknown (a failed delete did not happen)
//   duplicated  a token that appears twice in one text
//   diverged    peers whose text differs from the first peer's
//   unexpected  tokens in a text that no insert wrote, or whose insert failed
//
// and, from `observe()` calls made during the run, stable-latency quantiles
// (Maelstrom): how long after its confirmation an insert was last missing
// from some live peer.
//
// This module imports no test framework: the crash-durability child process
// uses the edit generator below too.

export type OpStatus = 'pending' | 'ok' | 'failed' | 'unknown'

export interface LedgerOp {
  id: number
  /// Who made the edit (a device name such as p2).
  process: string
  /// Tokens this edit inserted.
  inserts: string[]
  /// Tokens this edit deleted (whole), as its author saw them.
  deletes: string[]
  status: OpStatus
  invokedAt: number
  completedAt: number | null
  /// Why it failed or is unknown.
  note: string | null
}

export interface CheckResult {
  ok: boolean
  lost: Array<{ peer: string; token: string }>
  duplicated: Array<{ peer: string; token: string; count: number }>
  diverged: Array<{ peer: string; firstDifference: number; length: number; expectedLength: number }>
  unexpected: Array<{ peer: string; token: string; why: string }>
  counts: { ops: number; ok: number; failed: number; unknown: number; inserts: number; deletes: number; tokensInText: number }
  latency: LatencySummary
}

export interface LatencySummary {
  /// Inserts whose stable latency was measured.
  samples: number
  p50: number | null
  p95: number | null
  p99: number | null
  max: number | null
  /// ok inserts present at the end that no observation ever saw on every live peer.
  neverStable: number
}

/// ⟦name#n⟧: a device name of letters, digits, _ or -, and a number.
export const TOKEN_RE = /⟦[A-Za-z0-9_-]+#[0-9]+⟧/g
const OPEN = '⟦'
const CLOSE = '⟧'

/// Every token of a text, in order (with repeats).
export function tokensOf(text: string): string[] {
  return text.match(TOKEN_RE) ?? []
}

/// [start, end) of every token of a text, in order.
export function tokenSpans(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = []
  TOKEN_RE.lastIndex = 0
  for (let m = TOKEN_RE.exec(text); m !== null; m = TOKEN_RE.exec(text)) out.push([m.index, m.index + m[0].length])
  return out
}

export class EditLedger {
  readonly ops: LedgerOp[] = []
  private readonly counters = new Map<string, number>()
  private readonly byToken = new Map<string, LedgerOp>()
  /// token -> time it was seen on every live peer, continuously since (undefined: not now).
  private readonly stableSince = new Map<string, number>()
  private readonly everStable = new Set<string>()

  /// A fresh token for `process` (a name of letters, digits, _ or -).
  token(process: string): string {
    if (!/^[A-Za-z0-9_-]+$/.test(process)) throw new Error(`bad process name ${process}`)
    const n = (this.counters.get(process) ?? 0) + 1
    this.counters.set(process, n)
    return `${OPEN}${process}#${n}${CLOSE}`
  }

  /// Record an edit as it is made; complete it with ok(), fail() or unknown().
  invoke(process: string, inserts: readonly string[], deletes: readonly string[], at = Date.now()): LedgerOp {
    const op: LedgerOp = { id: this.ops.length, process, inserts: [...inserts], deletes: [...deletes], status: 'pending', invokedAt: at, completedAt: null, note: null }
    for (const t of op.inserts) {
      if (this.byToken.has(t)) throw new Error(`token ${t} inserted twice by the workload`)
      this.byToken.set(t, op)
    }
    this.ops.push(op)
    return op
  }

  ok(op: LedgerOp, at = Date.now()): void {
    if (op.status !== 'pending') return
    op.status = 'ok'
    op.completedAt = at
  }

  fail(op: LedgerOp, note: string, at = Date.now()): void {
    if (op.status !== 'pending') return
    op.status = 'failed'
    op.completedAt = at
    op.note = note
  }

  /// The outcome is not known (and not promised): the op may or may not have happened.
  unknown(op: LedgerOp, note: string): void {
    if (op.status === 'failed') return
    op.status = 'unknown'
    op.note = note
  }

  /// The process died: whatever it had not confirmed is unknown.
  crash(process: string, note = 'killed before confirmation'): number {
    let n = 0
    for (const op of this.ops) {
      if (op.process === process && op.status === 'pending') {
        op.status = 'unknown'
        op.note = note
        n++
      }
    }
    return n
  }

  /// The op that inserted `token`, if any.
  insertOf(token: string): LedgerOp | undefined {
    return this.byToken.get(token)
  }

  pending(process?: string): LedgerOp[] {
    return this.ops.filter((op) => op.status === 'pending' && (process === undefined || op.process === process))
  }

  /// Note which ok inserts every live peer shows now (call it every so often
  /// during a run). Peers that are down are left out of `texts`.
  observe(texts: ReadonlyMap<string, string> | Record<string, string>, at = Date.now()): void {
    const sets = [...entries(texts)].map(([, t]) => new Set(tokensOf(t)))
    if (sets.length === 0) return
    for (const op of this.ops) {
      if (op.status !== 'ok') continue
      for (const t of op.inserts) {
        const everywhere = sets.every((s) => s.has(t))
        if (everywhere) {
          if (!this.stableSince.has(t)) this.stableSince.set(t, at)
          this.everStable.add(t)
        } else this.stableSince.delete(t)
      }
    }
  }

  /// Check the final texts of every peer against the history.
  check(texts: ReadonlyMap<string, string> | Record<string, string>): CheckResult {
    const list = [...entries(texts)]
    const removedBy = new Set<string>()
    for (const op of this.ops) {
      if (op.status === 'ok' || op.status === 'unknown' || op.status === 'pending') for (const t of op.deletes) removedBy.add(t)
    }
    const lost: CheckResult['lost'] = []
    const duplicated: CheckResult['duplicated'] = []
    const diverged: CheckResult['diverged'] = []
    const unexpected: CheckResult['unexpected'] = []
    let tokensInText = 0
    for (const [peer, text] of list) {
      const counts = new Map<string, number>()
      for (const t of tokensOf(text)) counts.set(t, (counts.get(t) ?? 0) + 1)
      tokensInText = Math.max(tokensInText, counts.size)
      for (const [token, count] of counts) {
        if (count > 1) duplicated.push({ peer, token, count })
        const op = this.byToken.get(token)
        if (op === undefined) unexpected.push({ peer, token, why: 'no insert wrote it' })
        else if (op.status === 'failed') unexpected.push({ peer, token, why: `its insert failed (${op.note ?? ''})` })
      }
      for (const op of this.ops) {
        if (op.status !== 'ok') continue
        for (const t of op.inserts) if (!counts.has(t) && !removedBy.has(t)) lost.push({ peer, token: t })
      }
    }
    if (list.length > 0) {
      const [, first] = list[0]!
      for (const [peer, text] of list.slice(1)) {
        if (text === first) continue
        let i = 0
        while (i < text.length && i < first.length && text[i] === first[i]) i++
        diverged.push({ peer, firstDifference: i, length: text.length, expectedLength: first.length })
      }
    }
    const c = { ops: this.ops.length, ok: 0, failed: 0, unknown: 0, inserts: 0, deletes: 0, tokensInText }
    for (const op of this.ops) {
      if (op.status === 'ok') c.ok++
      else if (op.status === 'failed') c.failed++
      else c.unknown++
      c.inserts += op.inserts.length
      c.deletes += op.deletes.length
    }
    return {
      ok: lost.length === 0 && duplicated.length === 0 && diverged.length === 0 && unexpected.length === 0,
      lost,
      duplicated,
      diverged,
      unexpected,
      counts: c,
      latency: this.latency(list)
    }
  }

  private latency(list: Array<[string, string]>): LatencySummary {
    const present = new Set<string>()
    for (const [, text] of list) for (const t of tokensOf(text)) present.add(t)
    const samples: number[] = []
    let neverStable = 0
    const observed = this.everStable.size > 0 || this.stableSince.size > 0
    for (const op of this.ops) {
      if (op.status !== 'ok' || op.completedAt === null) continue
      for (const t of op.inserts) {
        if (!present.has(t)) continue
        const since = this.stableSince.get(t)
        if (since === undefined) {
          if (observed) neverStable++
          continue
        }
        samples.push(Math.max(0, since - op.completedAt))
      }
    }
    samples.sort((a, b) => a - b)
    const q = (p: number) => (samples.length === 0 ? null : samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!)
    return { samples: samples.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: samples.length === 0 ? null : samples[samples.length - 1]!, neverStable }
  }
}

function entries(texts: ReadonlyMap<string, string> | Record<string, string>): Iterable<[string, string]> {
  return texts instanceof Map ? texts.entries() : Object.entries(texts)
}

/// A short human summary of a check, for logs and failure messages.
export function describeCheck(r: CheckResult, max = 5): string {
  const parts = [
    `ops ${r.counts.ops} (ok ${r.counts.ok}, failed ${r.counts.failed}, unknown ${r.counts.unknown}), inserts ${r.counts.inserts}, deletes ${r.counts.deletes}`,
    `lost ${r.lost.length}, duplicated ${r.duplicated.length}, diverged ${r.diverged.length}, unexpected ${r.unexpected.length}`
  ]
  if (r.lost.length > 0) parts.push(`lost: ${r.lost.slice(0, max).map((x) => `${x.token}@${x.peer}`).join(' ')}`)
  if (r.duplicated.length > 0) parts.push(`duplicated: ${r.duplicated.slice(0, max).map((x) => `${x.token}x${x.count}@${x.peer}`).join(' ')}`)
  if (r.diverged.length > 0) parts.push(`diverged: ${r.diverged.slice(0, max).map((x) => `${x.peer} (at ${x.firstDifference}, ${x.length} vs ${x.expectedLength})`).join(' ')}`)
  if (r.unexpected.length > 0) parts.push(`unexpected: ${r.unexpected.slice(0, max).map((x) => `${x.token}@${x.peer} (${x.why})`).join(' ')}`)
  return parts.join('; ')
}

/// Feed the checker deliberately broken histories: it must catch each one
/// (and pass a correct one). Throws when it does not; every suite that relies
/// on the checker runs this first (a checker that cannot fail proves nothing).
export function checkerSelfTest(): { cases: number } {
  const problems: string[] = []
  let cases = 0
  const expectCase = (name: string, r: CheckResult, want: Partial<Record<'lost' | 'duplicated' | 'diverged' | 'unexpected', number>>, pass: boolean) => {
    cases++
    for (const k of ['lost', 'duplicated', 'diverged', 'unexpected'] as const) {
      const n = r[k].length
      if ((want[k] ?? 0) !== n) problems.push(`${name}: ${k} ${n}, expected ${want[k] ?? 0}`)
    }
    if (r.ok !== pass) problems.push(`${name}: ok=${r.ok}, expected ${pass}`)
  }
  const history = () => {
    const l = new EditLedger()
    const a = l.token('p1')
    const b = l.token('p2')
    const c = l.token('p1')
    const d = l.token('p3')
    l.ok(l.invoke('p1', [a], [], 0), 10)
    l.ok(l.invoke('p2', [b], [], 0), 10)
    l.ok(l.invoke('p1', [c], [], 0), 10)
    // p3 inserts d and p2 deletes it; the delete is ok.
    l.ok(l.invoke('p3', [d], [], 0), 10)
    l.ok(l.invoke('p2', [], [d], 20), 30)
    return { l, a, b, c, d }
  }

  {
    const { l, a, b, c } = history()
    const t = `x${a}y${b}\n${c}`
    expectCase('a correct history', l.check({ p1: t, p2: t, p3: t }), {}, true)
  }
  {
    // A dropped update: p3 never received the update that carried b.
    const { l, a, b, c } = history()
    const t = `x${a}y${b}\n${c}`
    expectCase('a dropped update', l.check({ p1: t, p2: t, p3: `x${a}y\n${c}` }), { lost: 1, diverged: 1 }, false)
    // ... even when every peer dropped it alike (no divergence to give it away).
    const same = `x${a}y\n${c}`
    expectCase('an update dropped everywhere', l.check({ p1: same, p2: same, p3: same }), { lost: 3 }, false)
  }
  {
    // A duplicated token: an update applied twice as a new insert.
    const { l, a, b, c } = history()
    const t = `x${a}y${b}${b}\n${c}`
    expectCase('a duplicated token', l.check({ p1: t, p2: t }), { duplicated: 2 }, false)
  }
  {
    // A diverged peer: same tokens, different text around them.
    const { l, a, b, c } = history()
    const t = `x${a}y${b}\n${c}`
    expectCase('a diverged peer', l.check({ p1: t, p2: t, p3: `x${a}z${b}\n${c}` }), { diverged: 1 }, false)
  }
  {
    // A failed insert that shows up anyway, and a token nobody wrote.
    const { l, a, b, c } = history()
    const e = l.token('p2')
    l.fail(l.invoke('p2', [e], []), 'refused')
    const t = `${a}${b}${c}${e}⟦p9#1⟧`
    expectCase('a failed insert present, a phantom token', l.check({ p1: t }), { unexpected: 2 }, false)
  }
  {
    // A delete that failed did not happen: the token it named must still be there.
    const l = new EditLedger()
    const a = l.token('p1')
    l.ok(l.invoke('p1', [a], []))
    l.fail(l.invoke('p2', [], [a]), 'refused')
    expectCase('a failed delete', l.check({ p1: '' }), { lost: 1 }, false)
  }
  {
    // Unknown outcomes promise nothing: an unknown insert may be missing, an
    // unknown delete may have removed its token.
    const l = new EditLedger()
    const a = l.token('p1')
    const b = l.token('p1')
    l.ok(l.invoke('p1', [a], []))
    l.invoke('p1', [b], [])
    l.invoke('p1', [], [a])
    l.crash('p1')
    expectCase('unknown operations', l.check({ p1: '', p2: '' }), {}, true)
  }
  {
    // Stable latency: measured from confirmation to the last time some live peer lacked it.
    const l = new EditLedger()
    const a = l.token('p1')
    const op = l.invoke('p1', [a], [], 0)
    l.ok(op, 100)
    l.observe({ p1: a, p2: '' }, 150)
    l.observe({ p1: a, p2: a }, 400)
    l.observe({ p1: a, p2: '' }, 500)
    l.observe({ p1: a, p2: a }, 900)
    l.observe({ p1: a }, 1000)
    const r = l.check({ p1: a, p2: a })
    cases++
    if (r.latency.samples !== 1 || r.latency.p50 !== 800) problems.push(`latency: ${JSON.stringify(r.latency)}, expected one sample of 800`)
  }
  if (problems.length > 0) throw new Error(`the edit-ledger checker is broken: ${problems.join('; ')}`)
  return { cases }
}

// --- a workload of token edits (CodeMirror-style changes) ---

/// What the edit generator needs from a random generator.
export interface Rng {
  int(min: number, max: number): number
  bool(p?: number): boolean
  float(): number
}

export interface TokenEdit {
  /// Changes in the coordinates of the text before the edit: sorted, disjoint.
  changes: Array<{ from: number; to: number; insert: string }>
  inserts: string[]
  deletes: string[]
}

const FILLER = [...'abcdefghij klmnopqrstuvwxyz\n.,é→😀']

function filler(rng: Rng, max: number): string {
  let s = ''
  const n = rng.int(0, max)
  while (s.length < n) s += FILLER[rng.int(0, FILLER.length - 1)]
  return s
}

/// A random CodeMirror-style edit of `text` with 1 to `maxChanges` changes:
/// inserts of new tokens (with some filler around them) and deletions that
/// never cut a token (a range that would is widened to whole tokens) nor a
/// surrogate pair. Deleted tokens are reported so the ledger can record them.
export function tokenEdit(rng: Rng, text: string, newToken: () => string, maxChanges = 4, deleteP = 0.3): TokenEdit {
  const spans = tokenSpans(text)
  const inside = (pos: number): [number, number] | null => {
    // The token span strictly containing pos (start < pos < end), if any.
    let lo = 0
    let hi = spans.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const [s, e] = spans[mid]!
      if (pos <= s) hi = mid - 1
      else if (pos >= e) lo = mid + 1
      else return spans[mid]!
    }
    return null
  }
  const safe = (pos: number, dir: -1 | 1): number => {
    const span = inside(pos)
    if (span !== null) pos = dir < 0 ? span[0] : span[1]
    // Never between the halves of a surrogate pair.
    const code = text.charCodeAt(pos - 1)
    if (pos > 0 && pos < text.length && code >= 0xd800 && code <= 0xdbff) pos += dir < 0 ? -1 : 1
    return pos
  }
  const changes: TokenEdit['changes'] = []
  const inserts: string[] = []
  const deletes: string[] = []
  let pos = 0
  for (let k = rng.int(1, maxChanges); k > 0 && pos <= text.length; k--) {
    let from = safe(rng.int(pos, text.length), -1)
    if (from < pos) from = safe(pos, 1)
    if (from > text.length) break
    let to = from
    if (from < text.length && rng.bool(deleteP)) {
      to = safe(Math.min(text.length, from + rng.int(1, 24)), 1)
    }
    let insert = ''
    if (to === from || rng.bool(0.5)) {
      const t = newToken()
      inserts.push(t)
      insert = filler(rng, 3) + t + filler(rng, 6)
    }
    if (to === from && insert === '') continue
    for (const [s, e] of spans) if (s >= from && e <= to) deletes.push(text.slice(s, e))
    changes.push({ from, to, insert })
    // Changes must not touch: the next one starts after a gap.
    pos = to + 1
  }
  return { changes, inserts, deletes }
}
