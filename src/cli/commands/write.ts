import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg, readInput } from '../input.js'
import { lines, printJson } from '../output.js'

export function register(program: Command): void {
  program
    .command('write')
    .description("replace a document's text with FILE or standard input, as a minimal diff (edits made elsewhere meanwhile survive)")
    .argument('<name>', 'document name or key')
    .argument('[file]', 'a UTF-8 text file; standard input when omitted or "-"')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, file: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const ctx = Context.of(cmd)
      const text = await readInput(file)
      const client = await ctx.daemon()
      const result = await client.json<{ name: string; version: number; inserted: number; deleted: number }>('POST', '/api/write', { query: { doc: name }, text })
      if (opts.json) return printJson(result)
      if (result.inserted === 0 && result.deleted === 0) return lines(`${result.name}: unchanged`)
      await lines(`${result.name}: saved (+${result.inserted} -${result.deleted} characters)`)
    })
}
