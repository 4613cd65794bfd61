import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, printJson } from '../output.js'
import { SwarmpadError } from '../../errors.js'
import { isDirectory } from '../../daemon/textfile.js'
import { MARKER_DIR, writeLink } from '../../editor/marker.js'
import type { DocumentSummary } from '../../daemon/api.js'
import { resolveFile } from './sync.js'

export function register(program: Command): void {
  program
    .command('link')
    .description(`link FILE to a document for live editing in an editor with a Teamtype plugin (writes ${MARKER_DIR}/ in FILE's folder)`)
    .argument('<name>', 'document name or key')
    .argument('<file>', 'the file an editor will open (it need not exist yet)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, file: string, opts: { json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const ctx = Context.of(cmd)
      const path = await resolveFile(file)
      if (await isDirectory(path)) throw SwarmpadError.badArgument(`${file} is a directory; give the path of a file`)
      const client = await ctx.daemon()
      const doc = await client.json<DocumentSummary>('GET', '/api/doc', { query: { doc: name } })
      const marker = await writeLink(path, { doc: doc.key, name: doc.name })
      if (opts.json) return printJson({ name: doc.name, key: doc.key, path, marker })
      await lines(`linked ${path} -> ${doc.name}`, `(${marker}; open the file in an editor with a Teamtype plugin configured for \`swarmpad client\` and the root marker ${MARKER_DIR})`)
    })
}
