#!/usr/bin/env node
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('swarmpad is not built: run `npm install` (or `npm run build`) in its folder')
    process.exit(1)
  }
  throw err
})
