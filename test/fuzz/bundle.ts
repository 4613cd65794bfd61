// Bundle a TypeScript entry (and the src/ it imports) into one ES module that
// plain Node can run: a worker thread or a child process of a test. esbuild
// compiles straight from src/, so the bundle is the code under test, never a
// stale dist/. npm packages stay external; the bundle is written under
// node_modules/.cache so that Node resolves them from the repository.
import { build } from 'esbuild'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { onTestFinished } from 'vitest'

const ROOT = join(import.meta.dirname, '../..')

/// Bundle `entry` (a path from the repository root); the file is removed when
/// the calling test (or hook) finishes.
export async function bundle(entry: string, name: string, opts: { keep?: boolean } = {}): Promise<string> {
  const dir = join(ROOT, 'node_modules/.cache/swarmpad-tests')
  await mkdir(dir, { recursive: true })
  const out = join(dir, `${name}-${process.pid}-${Date.now().toString(36)}.mjs`)
  await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: out,
    logLevel: 'silent',
    sourcemap: 'inline'
  })
  if (!opts.keep) {
    try {
      onTestFinished(() => rm(out, { force: true }))
    } catch {
      // Outside a test (a beforeAll): the caller removes it.
    }
  }
  return out
}
