import { PlatformError, defineAdapter } from '@platform-host/contracts';
import { LocalFileSystem } from './local-file-system.js';

export { LocalFileSystem } from './local-file-system.js';
export type { LocalFileSystemOptions } from './local-file-system.js';

/** A `true`/`false` config value (default `false`), else `PH_ERR_CONFIG_INVALID` naming the key. */
function booleanKey(key: string, value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} must be "true" or "false", got "${value}"`, {
    hint: `Set ${key}=true or ${key}=false, or leave it unset (false).`,
  });
}

/** The `--fs local` adapter. */
export default defineAdapter({
  interface: 'filesystem',
  create: ({ config }) =>
    new LocalFileSystem({
      root: config.get('FS_LOCAL_ROOT') ?? '/tmp/data-platform',
      allowHardLinks: booleanKey('FS_LOCAL_ALLOW_HARD_LINKS', config.get('FS_LOCAL_ALLOW_HARD_LINKS')),
    }),
});
