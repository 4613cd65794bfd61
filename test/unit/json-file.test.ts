// The one reader and writer of the storage root's versioned JSON files.
import { describe, expect, it } from 'vitest'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatJsonFile, parseJsonFile, readJsonFile, writeJsonFile } from '../../src/storage/json-file.js'
import { tmpDir } from '../helpers/tmp.js'

const SPEC = { version: 2, field: 'things' }

describe('versioned JSON files', () => {
  it('round-trips, writes 0600 atomically (no temporary file left), and reads a missing file as missing', async () => {
    const dir = await tmpDir('swarmpad-json-')
    const path = join(dir, 'things.json')
    expect(await readJsonFile(path, SPEC)).toEqual({ state: 'missing' })
    await writeJsonFile(path, SPEC, [{ a: 1 }, { b: 'x' }])
    expect(await readJsonFile(path, SPEC)).toEqual({ state: 'ok', records: [{ a: 1 }, { b: 'x' }] })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual(['things.json'])
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ version: 2, things: [{ a: 1 }, { b: 'x' }] })
  })

  it('tells damaged and newer files apart, and never claims a record from them', async () => {
    expect(parseJsonFile('{', SPEC)).toEqual({ state: 'damaged', why: 'not valid JSON' })
    expect(parseJsonFile('[]', SPEC)).toEqual({ state: 'damaged', why: 'not an object' })
    expect(parseJsonFile('{"version":1,"things":[]}', SPEC)).toEqual({ state: 'damaged', why: 'unknown format' })
    expect(parseJsonFile('{"version":2,"things":{}}', SPEC)).toEqual({ state: 'damaged', why: 'unknown format' })
    expect(parseJsonFile('{"version":3,"things":[]}', SPEC)).toEqual({ state: 'damaged', why: 'written by a newer swarmpad (version 3)', newer: 3 })
    expect(parseJsonFile(formatJsonFile(SPEC, [1]), SPEC)).toEqual({ state: 'ok', records: [1] })
    const dir = await tmpDir('swarmpad-json-')
    await writeFile(join(dir, 'x.json'), 'garbage')
    expect((await readJsonFile(join(dir, 'x.json'), SPEC)).state).toBe('damaged')
  })
})
