// Bundles the command and the daemon (dist/cli/main.js and what it imports,
// compiled by tsc) into dist/bundle/: main.js plus chunks for what is
// imported on demand (the daemon, the bootstrap node). Node then reads a few
// files instead of several hundred modules: the daemon's imports took about
// 0.5 s of its start, bundled about 0.15 s. bin/swarmpad.js runs the bundle
// when it is there and dist/cli/main.js otherwise (an install without dev
// dependencies has no esbuild: it says so and leaves the bundle out).
//
// Packages that load native addons or files next to their own code stay
// outside the bundle and are loaded from node_modules as usual.
import { rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}dist/bundle/`
const entry = `${root}dist/cli/main.js`

let esbuild
try {
  esbuild = await import('esbuild')
} catch {
  console.warn('build-bundle: esbuild is not installed (dev dependency); swarmpad runs from dist/cli unbundled')
  process.exit(0)
}
if (!existsSync(entry)) throw new Error('build-bundle: run tsc first (dist/cli/main.js is missing)')

// Addons (require-addon resolves them from the package's own directory),
// and `open`, which runs the xdg-open script shipped beside its code.
const EXTERNAL = [
  'require-addon', 'sodium-native', 'rocksdb-native', 'udx-native', 'quickbit-native', 'simdle-native',
  'fs-native-extensions', 'bare-*', 'open'
]

await rm(out, { recursive: true, force: true })
await esbuild.build({
  entryPoints: { main: entry },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // CommonJS packages inside the bundle call require() for the externals.
  banner: { js: "import { createRequire as __swarmpadCreateRequire } from 'node:module'; const require = __swarmpadCreateRequire(import.meta.url);" },
  logLevel: 'warning'
})
