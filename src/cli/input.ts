import { resolve } from 'node:path'
import { SwarmpadError } from '../errors.js'
import { durationText, INVITE_EXPIRY, type DurationRange } from '../values.js'
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

/// Durations such as 30s, 30m, 12h, 7d, 2w, within `range`.
export function parseDuration(text: string, range: DurationRange = INVITE_EXPIRY): number {
  const result = durationText(text, range)
  if (!result.ok) throw SwarmpadError.usage(`invalid ${range.what} "${text}": ${result.problem}`)
  return result.value
}

/// The invite code from standard input: a prompt on a terminal, else the
/// first line of what is piped in.
export async function readInviteCode(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('invite code: ')
  let text = ''
  for await (const chunk of process.stdin) {
    text += (chunk as Buffer).toString('utf8')
    if (text.includes('\n') || text.length > 8192) break
  }
  if (process.stdin.isTTY) process.stdin.pause()
  const code = text.split('\n')[0]!.trim()
  if (code === '') throw SwarmpadError.usage('no invite code: give it on standard input (`swarmpad join -`) or as an argument')
  return code
}
