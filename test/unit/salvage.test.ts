// Salvage (src/sync/salvage.ts): this device's refused updates typed again
// next to the text the view still holds. Yjs documents in memory; the
// append queue's supersede() with a fake log.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { Text } from '@codemirror/state'
import { salvageChanges, salvageable } from '../../src/sync/salvage.js'
import { changeSetOf } from '../../src/doc/changes.js'
import { Refusal } from '../../src/doc/refusals.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import { AppendQueue } from '../../src/sync/append-queue.js'

const A = 101 // a member whose text stays
const C = 202 // the member removed while it typed
const B = 303 // this device

function docOf(client: number, ...updates: Uint8Array[]): Y.Doc {
  const d = new Y.Doc()
  for (const u of updates) Y.applyUpdate(d, u)
  // Yjs takes a new clientID when an update holds its own; put it back (as Replica.keepClientId does).
  d.clientID = client
  return d
}

/// Run `edit` on a copy of `updates` as `client`; its update.
function typed(client: number, updates: Uint8Array[], edit: (t: Y.Text) => void): Uint8Array {
  const d = docOf(client, ...updates)
  const sv = Y.encodeStateVector(d)
  edit(d.getText(TEXT_ROOT))
  return Y.encodeStateAsUpdate(d, sv)
}

function applied(after: Y.Doc, before: Y.Doc, doomed: Uint8Array[]): string {
  const text = after.getText(TEXT_ROOT).toString()
  return changeSetOf(salvageChanges(before, after, doomed, B), text.length).apply(Text.of(text.split('\n'))).toString()
}

describe('salvageChanges', () => {
  const base = typed(A, [], (t) => t.insert(0, 'hello world'))
  // C types "XYZ " after "hello "; C is then removed and this text never
  // reaches the view.
  const byC = typed(C, [base], (t) => t.insert(6, 'XYZ '))

  test('text typed right after the removed writer\'s text goes where that text was; deletions of surviving text stay', () => {
    // B saw C's text and typed next to it, and deleted "wor".
    const mine = typed(B, [base, byC], (t) => {
      t.insert(10, '123') // "hello XYZ 123world"
      t.delete(13, 3) // deletes "wor"
    })
    const before = docOf(B, base, byC, mine)
    expect(before.getText(TEXT_ROOT).toString()).toBe('hello XYZ 123ld')
    const after = docOf(B, base)
    expect(applied(after, before, [mine])).toBe('hello 123ld')
  })

  test('several refused updates, one deleting what another typed, and text typed before any surviving character', () => {
    const first = typed(B, [base, byC], (t) => t.insert(6, '[a]'))
    const second = typed(B, [base, byC, first], (t) => {
      t.insert(0, '>> ')
      t.delete(10, 1) // the "a" of "[a]", which \`first\` typed
    })
    const before = docOf(B, base, byC, first, second)
    const after = docOf(B, base)
    expect(before.getText(TEXT_ROOT).toString()).toBe('>> hello []XYZ world')
    expect(applied(after, before, [first, second])).toBe('>> hello []world')
  })

  test('text of ours that only the removed writer deleted (never in the view) comes back', () => {
    const mine = typed(B, [base, byC], (t) => t.insert(10, '<mine>')) // "hello XYZ <mine>world"
    // C, before its removal reached it, deleted "ine" of our text.
    const cut = typed(C, [base, byC, mine], (t) => t.delete(12, 3))
    const before = docOf(B, base, byC, mine, cut)
    expect(before.getText(TEXT_ROOT).toString()).toBe('hello XYZ <m>world')
    expect(applied(docOf(B, base), before, [mine])).toBe('hello <mine>world')
  })

  test('positive control: without the refused updates the changes are empty, and text the view holds is not typed twice', () => {
    const accepted = typed(B, [base], (t) => t.insert(0, 'ok '))
    const before = docOf(B, base, byC, accepted)
    const after = docOf(B, base, accepted)
    expect(salvageChanges(before, after, [], B)).toEqual([])
    expect(applied(after, before, [])).toBe('ok hello world')
  })

  test('which refusals are salvaged', () => {
    expect(salvageable(Refusal.MISSING_REFERENCE, '')).toBe(true)
    expect(salvageable(Refusal.MISSING_DELETE, '')).toBe(true)
    expect(salvageable(Refusal.CLOCK_GAP, '')).toBe(true)
    expect(salvageable(Refusal.FOREIGN_TEXT, '')).toBe(false)
    expect(salvageable(0, 'update builds on text that is not in the document')).toBe(true)
    expect(salvageable(0, "update does not continue its writer's text (clock 5, expected 3)")).toBe(true)
    expect(salvageable(0, 'update holds text authored by another writer')).toBe(false)
  })
})

describe('AppendQueue.supersede', () => {
  test('waiters of superseded updates follow the update that types them again; the one in flight is neither retried nor counted as ours', async () => {
    const appended: Uint8Array[] = []
    let release!: () => void
    let fail = true
    const durable: boolean[] = []
    const q = new AppendQueue(
      (block) => {
        appended.push(block)
        return new Promise<unknown>((resolve, reject) => {
          release = () => (fail ? reject(new Error('disk full')) : resolve(appended.length))
        })
      },
      () => {},
      (_yjs, _len, superseded) => durable.push(superseded)
    )
    const u = (client: number) => typed(client, [], (t) => t.insert(0, 'x'))
    let firstDone = false
    let secondDone = false
    const first = q.push(u(1)).then(() => (firstDone = true))
    await new Promise((r) => setImmediate(r))
    const second = q.push(u(2)).then(() => (secondDone = true))
    const { updates, settle } = q.supersede()
    expect(updates).toHaveLength(2)
    // The append in flight fails: superseded, it is not retried.
    release()
    await new Promise((r) => setTimeout(r, 20))
    expect(appended).toHaveLength(1)
    expect(firstDone || secondDone).toBe(false)
    let resolveRetyped!: () => void
    settle(new Promise<void>((r) => (resolveRetyped = r)))
    await new Promise((r) => setTimeout(r, 5))
    expect(firstDone || secondDone).toBe(false)
    resolveRetyped()
    await Promise.all([first, second])
    expect(firstDone && secondDone).toBe(true)
    // Positive control: a new push is appended and reported as ours.
    fail = false
    const third = q.push(u(3))
    await new Promise((r) => setImmediate(r))
    release()
    await third
    expect(durable).toEqual([false])
  })
})
