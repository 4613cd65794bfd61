import type { Command } from 'commander'
import { Context } from '../context.js'
import { absolute, checkDocArg } from '../input.js'
import { lines, printJson } from '../output.js'
import { resolveFile } from './sync.js'

export function register(program: Command): void {
  program
    .command('unsync')
    .description('stop keeping FILE and a document equal (both stay as they are)')
    .argument('<name>', 'document name or key')
    .argument('<file>', 'the synced file')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, file: string, opts: { json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const ctx = Context.of(cmd)
      const path = await resolveFile(file).catch(() => absolute(file))
      const client = await ctx.daemon()
      const result = await client.json<{ name: string; path: string }>('POST', '/api/unsync', { json: { doc: name, path } })
      if (opts.json) return printJson(result)
      await lines(`stopped syncing ${result.name} <-> ${result.path}`)
    })
}
