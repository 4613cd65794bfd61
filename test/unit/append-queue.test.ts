// The append queue's promise to its callers at close: an edit never handed
// to the log is CLOSED (not saved); an edit whose append was under way when
// the document closed is SAVE_UNCERTAIN (Autobase may have written it while
// closing: its append rejects on close either way).
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import { AppendQueue } from '../../src/sync/append-queue.js'
import { isSwarmpadError } from '../../src/errors.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'

function typed(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText(TEXT_ROOT).insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

async function outcome(p: Promise<void>): Promise<string> {
  return p.then(
    () => 'saved',
    (err: unknown) => (isSwarmpadError(err) ? err.code : `other: ${String(err)}`)
  )
}

describe('append queue at close', () => {
  test('the edit being appended is SAVE_UNCERTAIN, the ones waiting behind it CLOSED', async () => {
    let failAppend: (err: Error) => void = () => {}
    const appends: Uint8Array[] = []
    const queue = new AppendQueue(
      (block) =>
        new Promise((_resolve, reject) => {
          appends.push(block)
          failAppend = reject
        })
    )
    const first = outcome(queue.push(typed('in flight')))
    await new Promise((r) => setImmediate(r))
    expect(appends).toHaveLength(1)
    const second = outcome(queue.push(typed('waiting')))
    queue.stop()
    failAppend(new Error('Autobase is closing'))
    expect(await first).toBe('SAVE_UNCERTAIN')
    expect(await second).toBe('CLOSED')
    expect(appends).toHaveLength(1)
    expect(await outcome(queue.push(typed('after')))).toBe('CLOSED')
  })

  test('an append that fails while open is retried, and the edit is saved', async () => {
    let calls = 0
    const queue = new AppendQueue(async () => {
      if (++calls === 1) throw new Error('disk full')
      return calls
    })
    expect(await outcome(queue.push(typed('kept')))).toBe('saved')
    expect(calls).toBe(2)
  })
})
