#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

// Exit explicitly: after shutdown, a module's stray timers or sockets must not keep the process alive.
process.exit(await main(process.argv.slice(2)));
