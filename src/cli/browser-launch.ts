import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/// Launcher files older than this are removed (their tickets expired long ago).
const STALE_MS = 10 * 60_000

/// A file a browser can be started with instead of the login address, so
/// the address (a single-use ticket) never appears in a process's arguments,
/// which every user of the machine can read in `ps`. The file is private
/// (mode 0600 in a 0700 directory of the storage root) and only redirects to
/// the address. Returns the file:// URL to hand to the browser.
export async function writeLauncher(dir: string, loginUrl: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await removeStale(dir)
  const file = join(dir, `open-${randomBytes(12).toString('hex')}.html`)
  const html = [
    '<!doctype html>',
    '<meta charset="utf-8">',
    '<meta name="referrer" content="no-referrer">',
    `<meta http-equiv="refresh" content="0;url=${escapeAttribute(loginUrl)}">`,
    '<title>swarmpad</title>',
    `<p>Opening swarmpad… If nothing happens, run <code>swarmpad open</code> again.</p>`,
    ''
  ].join('\n')
  await writeFile(file, html, { mode: 0o600, flag: 'wx' })
  return pathToFileURL(file).href
}

async function removeStale(dir: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return
  }
  const now = Date.now()
  for (const name of names) {
    if (!/^open-[0-9a-f]+\.html$/.test(name)) continue
    const path = join(dir, name)
    try {
      if (now - (await stat(path)).mtimeMs > STALE_MS) await rm(path, { force: true })
    } catch {}
  }
}

function escapeAttribute(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
