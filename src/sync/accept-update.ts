// Whether apply() accepts one update (or a v2 seed) of a member, given the
// document's state in the view: the rules of PROTOCOL.md "The Yjs payload of
// an update", "Limits that depend on the document" and (v2) "Seeds". Pure
// apart from the state it reads (WriterClocks); apply() appends the entry.
import { inflateCap, updatePayload, type SeedBlock, type UpdateBlock } from '../doc/blocks.js'
import type { Member, Membership } from '../doc/membership.js'
import { Refusal, refuse, type Verdict } from '../doc/refusals.js'
import { guardUpdate, type UpdateShape } from '../doc/yjs-guard.js'
import { REASONS, type ApplyLimits, type TextPlan, type WriterClocks } from './limits-check.js'

/// An accepted update: the clients whose next clock it moves, and its text changes.
export interface Accepted {
  next: Array<[number, number]>
  plan: TextPlan | null
  inserted: number
}

/// Check an update block of `member` at position `seq` of its log.
export function checkUpdate(
  block: UpdateBlock | SeedBlock,
  ctx: { member: Member; membership: Membership; seq: number; clocks: WriterClocks; limits: ApplyLimits; updates: number }
): { ok: true; accepted: Accepted } | { ok: false; verdict: Verdict } {
  const { member, membership, clocks, limits } = ctx
  const fail = (verdict: Verdict) => ({ ok: false as const, verdict })
  if (block.kind === 'seed') {
    // Only the creator seeds, and only as the document's first update.
    if (member.n !== 0 || ctx.updates !== 0 || membership.format < 2) return fail(refuse(Refusal.SEED_NOT_FIRST, 'only the creator seeds a document, before its first update'))
  } else if ((block.file ?? 0) !== 0) {
    // A document (type 0) has one file.
    return fail(refuse(Refusal.UNKNOWN_FILE, 'update names a file the document does not have'))
  }
  // Before inflating or parsing: an over-quota writer costs little.
  if (clocks.overQuota(member.n, ctx.seq, block.yjs.length, limits)) return fail(REASONS.overQuota)
  let yjs: Uint8Array
  try {
    yjs = updatePayload(block, inflateCap(block.yjs.length))
  } catch {
    return fail(refuse(Refusal.BAD_COMPRESSION, 'bad update: compressed payload does not inflate within the size cap'))
  }
  const verdict = guardUpdate(yjs)
  if (!verdict.ok) return fail(refuse(Refusal.BAD_UPDATE, `bad update: ${verdict.reason}`))
  const shape = verdict.shape
  if (shape.clients.length === 0 && shape.deleteRanges === 0) return fail(refuse(Refusal.NO_CHANGE, 'update changes nothing'))
  if (block.kind === 'seed') return checkSeed(shape, clocks, limits)

  // Every struct is the signer's: its own client, or (a re-key's follower)
  // the old client it carries.
  const mine = (id: number) => id === member.clientId || (member.carries !== null && id === member.carries)
  if (shape.clients.some((id) => !mine(id))) return fail(refuse(Refusal.FOREIGN_TEXT, 'update holds text authored by another writer'))
  // A writer's text continues its own clock: no clock written twice (two
  // histories under one clientID, e.g. a copied device, would merge
  // differently in a snapshot than folded one by one) and no gap.
  const ends = new Map<number, number>()
  let inserted = 0
  for (const section of shape.sections) {
    const expected = clocks.next(section.client)
    if (section.clock !== expected) {
      return fail(refuse(Refusal.CLOCK_GAP, `update does not continue its writer's text (clock ${section.clock}, expected ${expected})`, [section.clock, expected]))
    }
    ends.set(section.client, section.clock + section.length)
    inserted += section.length
  }
  // Text is placed next to text it builds on. When that text is not in the
  // document (its writer was removed before it was signed, so Autobase
  // dropped it), Yjs would hold this update back forever and its writer's
  // clock would stall: refuse it here, the same way on every peer; its
  // author rebuilds and types on.
  // (An update may hold both of its author's clients, its own and the one
  // it carries, when the append queue merged a carried edit with typing:
  // an item of one may build on the other's new text in the same update.)
  const missing = clocks.referenceProblem(shape.references, membership, ends)
  if (missing !== null) return fail(missing)
  // Deletions cover only text that exists (Yjs would keep the rest pending,
  // walk it on every later update, and delete text typed later on some peers
  // only), and the text stays within its limit.
  const deletion = clocks.deletionProblem(shape, membership, ends)
  if (deletion !== null) return fail(deletion)
  const plan = clocks.planText(shape)
  if (clocks.tooLong(plan, inserted, limits.maxTextLength)) return fail(REASONS.tooLong)
  return { ok: true, accepted: { next: [...ends], plan, inserted } }
}

/// A seed is the whole state of another document: items of any clients, each
/// from clock 0, referring and deleting only within itself.
function checkSeed(shape: UpdateShape, clocks: WriterClocks, limits: ApplyLimits): { ok: true; accepted: Accepted } | { ok: false; verdict: Verdict } {
  const ends = new Map<number, number>()
  for (const s of shape.sections) {
    if (s.clock !== 0) return { ok: false, verdict: refuse(Refusal.CLOCK_GAP, `update does not continue its writer's text (clock ${s.clock}, expected 0)`, [s.clock, 0]) }
    ends.set(s.client, s.length)
  }
  for (const ref of shape.references) {
    if (!((ends.get(ref.client) ?? 0) > ref.clock)) return { ok: false, verdict: refuse(Refusal.MISSING_REFERENCE, 'update builds on text that is not in the document') }
  }
  const d = shape.deletes
  for (let i = 0; i < d.length; i += 3) {
    if (d[i + 1]! + d[i + 2]! > (ends.get(d[i]!) ?? 0)) return { ok: false, verdict: REASONS.missingDelete }
  }
  let inserted = 0
  for (const s of shape.sections) inserted += s.length
  const plan = clocks.planText(shape)
  if (clocks.tooLong(plan, inserted, limits.maxTextLength)) return { ok: false, verdict: REASONS.tooLong }
  return { ok: true, accepted: { next: shape.sections.map((s) => [s.client, s.length]), plan, inserted } }
}
