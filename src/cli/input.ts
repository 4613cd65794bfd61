import { resolve } from 'node:path'
import { SwarmpadError } from '../errors.js'
import { checkDocumentName } from '../storage/library.js'
import { MAX_FILE_BYTES, decodeText, readTextFile, tooLarge } from '../daemon/textfile.js'

/// The text of FILE, or of standard input when FILE is undefined or "-".
/// Errors name the path (as given) and the rule broken.
export async function readInput(file: string | undefined): Promise<string> {
  if (file !== undefined && file !== '-') return readTextFile(file)
  if (process.stdin.isTTY) process.stderr.write('reading the text from standard input; end it with Ctrl-D\n')
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    if (size > MAX_FILE_BYTES) throw tooLarge('standard input', size)
    chunks.push(chunk as Buffer)
  }
  return decodeText(Buffer.concat(chunks), 'standard input')
}

/// An absolute path for the daemon (which runs in another directory).
export function absolute(path: string): string {
  if (path === '') throw SwarmpadError.usage('a file path cannot be empty')
  return resolve(path)
}

/// Refuse a new document name before anything else happens.
export function checkNewName(name: string): void {
  const problem = checkDocumentName(name)
  if (problem !== null) throw SwarmpadError.usage(`invalid document name "${name}": ${problem}`)
}

/// A document argument (name or key) must at least be non-empty.
export function checkDocArg(doc: string): string {
  if (doc.trim() === '') throw SwarmpadError.usage('a document name cannot be empty; see `swarmpad ls`')
  return doc
}

/// A TCP/UDP port from an option; 0 means "any free port".
export function parsePort(text: string, flag = '--port'): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) throw SwarmpadError.usage(`invalid ${flag} "${text}": expected a port from 0 to 65535 (0 picks a free one)`)
  return Number(text)
}

/// Durations such as 30s, 30m, 12h, 7d, 2w, between `min` and `max` ms.
export function parseDuration(text: string, flag = '--expires', min = 60_000, max = 365 * 86_400_000): number {
  const m = /^([0-9]{1,6})(s|m|h|d|w)$/.exec(text.trim())
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }
  if (m === null) throw SwarmpadError.usage(`invalid ${flag} "${text}": expected a number and a unit, e.g. 30m, 12h, 7d, 2w`)
  const ms = Number(m[1]) * unit[m[2] as keyof typeof unit]
  if (ms < min || ms > max) throw SwarmpadError.usage(`invalid ${flag} "${text}": from ${describe(min)} to ${describe(max)}`)
  return ms
}

function describe(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return `${ms / 1000}s`
}
