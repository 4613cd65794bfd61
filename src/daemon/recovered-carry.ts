// The edits a recovered shared document had that no peer may have (see
// recover.ts), carried into it once this device has joined it again with a
// fresh invite and may write in it.
//
// The old device's whole Yjs state was kept (sealed) at recovery. Once the
// joined document is writable and up to date with what it fetched, that
// state is merged with the document's own in a scratch Y.Doc: Yjs keeps
// what the document has and adds the old device's items it lacks (and its
// deletions), placed where they were typed. The difference between the
// document's text and the merged text is written as one ordinary edit of
// this device (its new writer key). Nothing of the old logs is sent.
//
// Once only: the record is taken out of recovered.json before the edit is
// made, so a crash in between never writes the same edits twice (the
// read-only text file stays, for that case).
import { readFile, rm } from 'node:fs/promises'
import * as Y from 'yjs'
import { errorMessage } from '../errors.js'
import type { DocumentService, OpenDocument, Swarmpad } from '../swarmpad.js'
import { TEXT_ROOT, guardUpdate } from '../doc/yjs-guard.js'
import { openState, readRecovered, statePath, writeRecovered } from '../storage/recover.js'

/// After the document became writable: a last look for blocks still on their way.
const SETTLE_MS = 500

/// Watch the documents of `swarmpad` and carry recovered edits into each one
/// that has them waiting. Returns a handle whose close() stops watching.
export function carryRecoveredEdits(swarmpad: Swarmpad, home: string, log: (line: string) => void): { close(): void } {
  let closed = false
  const running = new Set<string>()
  // One read and write of recovered.json at a time.
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn)
    queue = next.catch(() => {})
    return next
  }
  const service: DocumentService = {
    opened(open) {
      if (closed || running.has(open.entry.key)) return
      running.add(open.entry.key)
      void carry(open)
        .catch((err) => log(`recovered edits of ${open.entry.name}: ${errorMessage(err)}`))
        .finally(() => running.delete(open.entry.key))
    }
  }
  const carry = async (open: OpenDocument): Promise<void> => {
    const { doc, entry } = open
    if (!(await readRecovered(home)).some((r) => r.key === entry.key)) return
    if (!(await untilWritable(open, () => closed))) return
    await doc.update()
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS).unref())
    await doc.update()
    if (closed || doc.closingOrClosed) return
    // Take the record out first (once only), then write.
    const record = await serial(async () => {
      const records = await readRecovered(home)
      const mine = records.find((r) => r.key === entry.key)
      if (mine === undefined) return undefined
      await writeRecovered(home, records.filter((r) => r !== mine))
      return mine
    })
    if (record === undefined) return
    const path = statePath(home, record.key)
    const sealed = await readFile(path).catch(() => null)
    const old = sealed === null ? null : openState(sealed, doc.encryptionKey, doc.key)
    if (old === null || !guardUpdate(old).ok) {
      log(`${entry.name}: no recovered state to carry (its text is in ${record.file})`)
      return
    }
    // Synchronous from here to edit(): the text cannot change in between.
    const here = doc.seedPoint()
    if (here.state === null) {
      log(`${entry.name}: too large to merge the recovered edits into; its recovered text is in ${record.file}`)
      return
    }
    const scratch = new Y.Doc({ gc: true })
    Y.applyUpdate(scratch, here.state)
    Y.applyUpdate(scratch, old)
    const merged = scratch.getText(TEXT_ROOT).toString()
    scratch.destroy()
    if (merged === here.text) {
      log(`${entry.name}: the recovered edits were all there already; nothing to carry`)
    } else {
      const result = doc.replaceText(merged)
      await result.durable
      log(`${entry.name}: carried the recovered edits no peer had into it (${here.text.length} -> ${merged.length} characters)`)
    }
    await rm(path, { force: true })
  }
  const detach = swarmpad.attach(service)
  return {
    close() {
      closed = true
      detach()
    }
  }
}

/// Resolves true once the document takes this device's edits, false when it
/// closes (or the watch stops) first.
function untilWritable(open: OpenDocument, stopped: () => boolean): Promise<boolean> {
  const { doc } = open
  if (doc.writable) return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      doc.off('writable', onWritable)
      doc.off('close', onClose)
      clearInterval(poll)
      resolve(value)
    }
    const onWritable = () => done(true)
    const onClose = () => done(false)
    const poll = setInterval(() => {
      if (doc.writable) done(true)
      else if (stopped() || doc.closingOrClosed) done(false)
    }, 1000)
    poll.unref()
    doc.on('writable', onWritable)
    doc.once('close', onClose)
  })
}
