import { defineAdapter } from '@platform-host/contracts';
import { LocalFileSystem } from './local-file-system.js';

export { LocalFileSystem } from './local-file-system.js';
export type { LocalFileSystemOptions } from './local-file-system.js';

/** The `--fs local` adapter. */
export default defineAdapter({
  interface: 'filesystem',
  create: ({ config }) => new LocalFileSystem({ root: config.get('FS_LOCAL_ROOT') ?? '/tmp/data-platform' }),
});
