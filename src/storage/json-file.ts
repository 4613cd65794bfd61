// Versioned JSON files in the storage root (library.json, invites.json,
// mirrors.json ...): one shape `{ "version": N, "<field>": [...] }`, one
// reader that tells "missing", "written by a newer swarmpad" and "damaged"
// apart and never rewrites a file it could not read, one atomic writer.
import { readFile } from 'node:fs/promises'
import { writeAtomically } from './files.js'

export interface JsonFileSpec {
  /// The version this swarmpad writes and reads.
  version: number
  /// The field that holds the records, e.g. "documents".
  field: string
}

export type JsonFileRead =
  | { state: 'missing' }
  | { state: 'ok'; records: unknown[] }
  /// Left untouched: `why` says what is wrong; `newer` when a newer swarmpad wrote it.
  | { state: 'damaged'; why: string; newer?: number }

/// Parse the text of a versioned file.
export function parseJsonFile(raw: string, spec: JsonFileSpec): Exclude<JsonFileRead, { state: 'missing' }> {
  let data: unknown
  try {
    data = JSON.parse(raw)
  } catch {
    return { state: 'damaged', why: 'not valid JSON' }
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { state: 'damaged', why: 'not an object' }
  const file = data as Record<string, unknown>
  if (typeof file.version === 'number' && file.version > spec.version) {
    return { state: 'damaged', why: `written by a newer swarmpad (version ${file.version})`, newer: file.version }
  }
  const records = file[spec.field]
  if (file.version !== spec.version || !Array.isArray(records)) return { state: 'damaged', why: 'unknown format' }
  return { state: 'ok', records }
}

/// Read a versioned file; errors other than "not there" are thrown.
export async function readJsonFile(path: string, spec: JsonFileSpec): Promise<JsonFileRead> {
  let raw: string
  try {
    raw = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' }
    throw err
  }
  return parseJsonFile(raw, spec)
}

/// The text of a versioned file holding `records`.
export function formatJsonFile(spec: JsonFileSpec, records: readonly unknown[]): string {
  return JSON.stringify({ version: spec.version, [spec.field]: records }, null, 2) + '\n'
}

/// Write a versioned file atomically (temporary file, fsync, rename), mode 0600.
export async function writeJsonFile(path: string, spec: JsonFileSpec, records: readonly unknown[]): Promise<void> {
  await writeAtomically(path, formatJsonFile(spec, records), 0o600)
}
