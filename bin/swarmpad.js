#!/usr/bin/env node
// The bundle (dist/bundle, made by `npm run build`) starts faster; without it
// (built without dev dependencies) the compiled modules of dist/cli run.
import { existsSync } from 'node:fs'

const bundled = new URL('../dist/bundle/main.js', import.meta.url)
const main = existsSync(bundled) ? bundled.href : '../dist/cli/main.js'
import(main).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('swarmpad is not built: run `npm install` (or `npm run build`) in its folder')
    process.exit(1)
  }
  throw err
})
