// Bundles the editor page (src/web) into dist/web: index.html, app.js,
// app.css. Everything the page needs is in those files (no CDN), so it works
// with no network at all. Runs as part of `npm run build` (and so of
// `npm install`); it never fails the install: if esbuild is missing (an
// install without dev dependencies) it says so and leaves the page out.
import { copyFile, mkdir, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const src = `${root}src/web/`
const out = `${root}dist/web/`

if (!existsSync(`${src}main.ts`)) process.exit(0)

let esbuild
try {
  esbuild = await import('esbuild')
} catch {
  console.warn('build-web: esbuild is not installed (dev dependency); the editor page was not built')
  process.exit(0)
}

const watch = process.argv.includes('--watch')
await rm(out, { recursive: true, force: true })
await mkdir(out, { recursive: true })

const options = {
  entryPoints: [`${src}main.ts`],
  outfile: `${out}app.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: !watch,
  sourcemap: watch ? 'inline' : false,
  legalComments: 'none',
  logLevel: 'warning',
  tsconfig: `${src}tsconfig.json`
}

try {
  if (watch) {
    const ctx = await esbuild.context(options)
    await ctx.watch()
  } else {
    await esbuild.build(options)
  }
  await copyFile(`${src}index.html`, `${out}index.html`)
  await copyFile(`${src}app.css`, `${out}app.css`)
} catch (err) {
  console.error(`build-web: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
