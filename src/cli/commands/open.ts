import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, printJson, warn } from '../output.js'
import type { DocumentSummary } from '../../daemon/api.js'

export function register(program: Command): void {
  program
    .command('open')
    .description("print the editor page's address and open it in the browser")
    .argument('<name>', 'document name or key')
    .option('--no-browser', 'only print the address')
    .option('--json', 'print the address as JSON')
    .action(async (name: string, opts: { browser: boolean; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const ctx = Context.of(cmd)
      const client = await ctx.daemon()
      const doc = await client.json<DocumentSummary>('GET', '/api/doc', { query: { doc: name } })
      const next = `/doc/${encodeURIComponent(doc.name)}`
      const url = `${client.origin}/login?token=${encodeURIComponent(client.info.token)}&next=${encodeURIComponent(next)}`
      if (opts.json) await printJson({ name: doc.name, url })
      else await lines(url)
      if (!opts.browser) return
      try {
        const { default: openUrl } = await import('open')
        const child = await openUrl(url, { wait: false })
        child.on('error', () => warn('could not start a browser; open the address above yourself'))
        child.unref()
      } catch {
        warn('could not start a browser; open the address above yourself')
      }
    })
}
