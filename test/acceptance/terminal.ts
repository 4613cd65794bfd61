// A terminal a test can type into and read: a tmux session on a private
// server socket, running a command in the environment given.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor } from '../helpers/cli.js'

export class Terminal {
  private readonly socket: string

  constructor(
    readonly dir: string,
    readonly name: string
  ) {
    this.socket = join(dir, `tmux-${name}.sock`)
  }

  /// Start `command` (a shell command line) with exactly `env`; the pane
  /// stays after it exits, so what it printed can still be read.
  start(command: string, env: NodeJS.ProcessEnv): void {
    const script = join(this.dir, `${this.name}.sh`)
    const exports = Object.entries(env)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `export ${k}=${shellQuote(v!)}`)
    writeFileSync(script, ['#!/bin/sh', ...exports, command, 'echo "[exit $?]"', 'sleep 600', ''].join('\n'), { mode: 0o700 })
    this.tmux('new-session', '-d', '-s', this.name, '-x', '100', '-y', '30', `env -i /bin/sh ${script}`)
  }

  /// Keys as tmux names them ("Escape", "Enter", "C-o") or literal text (`{ text }`).
  keys(...keys: Array<string | { text: string }>): void {
    for (const k of keys) {
      if (typeof k === 'string') this.tmux('send-keys', '-t', this.name, k)
      else this.tmux('send-keys', '-t', this.name, '-l', k.text)
    }
  }

  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', this.name)
  }

  async waitFor(pattern: RegExp, what: string, ms = 20_000): Promise<string> {
    let last = ''
    await waitFor(() => pattern.test((last = this.screen())), what, ms).catch(() => {
      throw new Error(`timed out waiting for ${what}; the screen:\n${last}`)
    })
    return last
  }

  close(): void {
    try {
      this.tmux('kill-server')
    } catch {}
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}
