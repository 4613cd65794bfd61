import { Option, type Command } from 'commander'
import { Context } from '../context.js'
import { checkNewName, readInput } from '../input.js'
import { lines, printJson } from '../output.js'
import type { DocumentSummary } from '../../daemon/api.js'

export function register(program: Command): void {
  program
    .command('new')
    .description("create a document, optionally with a file's text; print its name and key")
    .argument('<name>', 'local name of the new document')
    .option('--from <file>', 'start with the text of FILE (UTF-8)')
    .addOption(new Option('--stdin', 'start with the text read from standard input').conflicts('from'))
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { from?: string; stdin?: boolean; json?: boolean }, cmd: Command) => {
      checkNewName(name)
      const ctx = Context.of(cmd)
      // Read the input before anything changes, so a bad file leaves no document behind.
      const text = opts.from !== undefined ? await readInput(opts.from) : opts.stdin ? await readInput(undefined) : ''
      const client = await ctx.daemon()
      const doc = await client.json<DocumentSummary>('POST', '/api/new', { query: { name }, text })
      if (opts.json) return printJson(doc)
      await lines(`created ${doc.name}`, `key: ${doc.key}`)
      ctx.progress(`open it with: swarmpad open ${doc.name}`)
    })
}
