import { Option, type Command } from 'commander'
import { dirname } from 'node:path'
import { Context } from '../context.js'
import { resolveLinks } from '../../storage/paths.js'
import { absolute, checkDocArg } from '../input.js'
import { lines, printJson } from '../output.js'
import { SwarmpadError } from '../../errors.js'
import { isDirectory } from '../../daemon/textfile.js'

export function register(program: Command): void {
  program
    .command('sync')
    .description('keep FILE and a document equal both ways through the daemon (kept across restarts)')
    .argument('<name>', 'document name or key')
    .argument('<file>', 'a UTF-8 text file; created from the document when missing')
    .option('--from-file', 'when both have different text, the document takes the file\'s text')
    .addOption(new Option('--from-doc', 'when both have different text, the file is overwritten with the document').conflicts('fromFile'))
    .option('--json', 'print the result as JSON')
    .action(async (name: string, file: string, opts: { fromFile?: boolean; fromDoc?: boolean; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const ctx = Context.of(cmd)
      const path = await resolveFile(file)
      if (await isDirectory(path)) throw SwarmpadError.badArgument(`${file} is a directory; give a text file`)
      const client = await ctx.daemon()
      const take = opts.fromFile ? 'file' : opts.fromDoc ? 'doc' : null
      const result = await client.json<{ name: string; path: string; started: string }>('POST', '/api/sync', { json: { doc: name, path, take } })
      if (opts.json) return printJson(result)
      await lines(`syncing ${result.name} <-> ${result.path}`)
    })
}

/// The absolute path with symlinks resolved (the file itself may not exist yet).
export async function resolveFile(file: string): Promise<string> {
  const path = absolute(file)
  const resolved = await resolveLinks(path)
  if (resolved === null) throw SwarmpadError.badArgument(`${dirname(path)} does not exist; check the path of ${file}`)
  return resolved
}
