import { PlatformError, defineAdapter } from '@platform-host/contracts';
import { MemoryFileSystem } from './memory-file-system.js';

export { MemoryFileSystem } from './memory-file-system.js';
export type { MemoryFileSystemOptions } from './memory-file-system.js';

/** The `--fs memory` adapter. */
export default defineAdapter({
  interface: 'filesystem',
  create: ({ config }) => {
    const maxBytes = config.integer('FS_MEMORY_MAX_BYTES', 0);
    if (maxBytes < 0) {
      throw new PlatformError('PH_ERR_CONFIG_INVALID', `FS_MEMORY_MAX_BYTES must be 0 or more, got ${maxBytes}`, {
        hint: 'Set FS_MEMORY_MAX_BYTES to a number of bytes, or to 0 (the default) for no bound.',
      });
    }
    return new MemoryFileSystem({ maxBytes });
  },
});
