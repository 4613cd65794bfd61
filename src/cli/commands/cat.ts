import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { out, printJson } from '../output.js'

export function register(program: Command): void {
  program
    .command('cat')
    .description('print the current text of a document')
    .argument('<name>', 'document name or key')
    .option('--json', 'print name, version and text as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const client = await Context.of(cmd).daemon()
      const { body, res } = await client.call('GET', '/api/cat', { query: { doc: name } })
      if (!opts.json) return out(body.toString('utf8'))
      await printJson({
        name: decodeURIComponent(String(res.headers['x-swarmpad-name'] ?? name)),
        version: Number(res.headers['x-swarmpad-version'] ?? 0),
        text: body.toString('utf8')
      })
    })
}
