import type { Command } from 'commander'
import { register as newDoc } from './new.js'
import { register as ls } from './ls.js'
import { register as open } from './open.js'
import { register as cat } from './cat.js'
import { register as write } from './write.js'
import { register as edit } from './edit.js'
import { register as sync } from './sync.js'
import { register as unsync } from './unsync.js'
import { register as link } from './link.js'
import { register as client } from './client.js'
import { register as invite } from './invite.js'
import { register as invites } from './invites.js'
import { register as join } from './join.js'
import { register as members } from './members.js'
import { register as remove } from './remove.js'
import { register as upgrade } from './upgrade.js'
import { register as recover } from './recover.js'
import { register as whoami } from './whoami.js'
import { register as log } from './log.js'
import { register as status } from './status.js'
import { register as daemon } from './daemon.js'
import { register as stop } from './stop.js'
import { register as bootstrap } from './bootstrap.js'

/// Adds one command (its arguments, options, help and action) to the program.
export type Register = (program: Command) => void

/// Every command, in the order `swarmpad --help` lists them.
export const COMMANDS: Register[] = [newDoc, ls, open, cat, write, edit, sync, unsync, link, client, invite, invites, join, members, remove, upgrade, recover, whoami, log, status, daemon, stop, bootstrap]
