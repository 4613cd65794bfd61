// What a file mirror needs when it starts again after the daemon stopped and
// both the file and the document changed meanwhile: the last text they had
// in common, from the document's history, or else a place for the file's
// text that loses nothing.
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import type { SwarmDocument } from '../sync/document.js'
import { DocumentHistory } from '../server/history.js'
import { errorMessage } from '../errors.js'
import { diffChanges } from '../doc/changes.js'

/// At most this many texts of the document's history are tried as the base
/// of a merge after a restart (the recorded one and the newest).
const HISTORY_CANDIDATES = 256

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/// How much text a diff from `a` to `b` inserts and deletes.
export function changeCost(a: string, b: string): number {
  if (a === b) return 0
  let cost = 0
  for (const ch of diffChanges(a, b)) cost += (ch.to ?? ch.from) - ch.from + (ch.insert?.length ?? 0)
  return cost
}

/// The text of the document's history, from the first `version` updates up
/// to now, that `fileText` is the smallest change of (the oldest on a tie, so
/// a merge against it keeps the most of the document): whoever wrote the file
/// started from a text the document held, and the closest one is the one it
/// started from. Null when no version is known or that history is not on
/// this device (a late join).
export async function closestInHistory(doc: SwarmDocument, fileText: string, version: number | null | undefined): Promise<{ text: string; version: number } | null> {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) return null
  const history = new DocumentHistory(doc)
  try {
    const count = history.count
    if (version > count) return null
    const tried = [version]
    for (let i = Math.max(version + 1, count - HISTORY_CANDIDATES + 2); i <= count; i++) tried.push(i)
    let best: { text: string; version: number; cost: number } | null = null
    for (const i of tried) {
      const { text } = await history.textAt(i, null)
      // A diff is at least the difference in length: skip what cannot win.
      if (best !== null && Math.abs(text.length - fileText.length) >= best.cost) continue
      const cost = changeCost(text, fileText)
      if (best === null || cost < best.cost) best = { text, version: i, cost }
      if (cost === 0) break
    }
    return best === null ? null : { text: best.text, version: best.version }
  } catch {
    return null
  } finally {
    history.close()
  }
}

/// Write `text` to a new file beside `path` (`PATH.conflict-<UTC time>`,
/// `-2`, `-3`... when taken), created exclusively so nothing there is
/// overwritten or followed. Returns its path.
export async function saveConflictCopy(path: string, text: string, mode: number, now = new Date()): Promise<string> {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
  for (let n = 1; n <= 100; n++) {
    const copy = `${path}.conflict-${stamp}${n === 1 ? '' : `-${n}`}`
    let fh
    try {
      fh = await open(copy, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, mode & 0o666)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue
      throw new Error(`cannot save the file's text beside it as ${copy}: ${errorMessage(err)}`)
    }
    try {
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    return copy
  }
  throw new Error(`cannot save the file's text beside ${path}: 100 conflict copies are already there`)
}
