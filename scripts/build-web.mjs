// Bundles the editor page (src/web) into dist/web with esbuild.
// The page is filled in by the page work; until then this only copies nothing.
import { existsSync } from 'node:fs'
if (!existsSync(new URL('../src/web/main.ts', import.meta.url))) process.exit(0)
