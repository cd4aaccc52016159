import { REFS, defineAdapter } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { S3FileSystem } from './s3-file-system.js';
import type { S3FileSystemOptions } from './s3-file-system.js';

export { S3FileSystem } from './s3-file-system.js';
export type { S3FileSystemOptions } from './s3-file-system.js';

/**
 * The options of the file system selected by `flag`: `minio` reads the `FS_MINIO_*` keys (endpoint,
 * keys and bucket required, declared so in the manifest), `s3` the `FS_S3_*` keys (bucket and
 * region required; endpoint optional, AWS by default; access and secret key both or neither).
 */
export function optionsForFlag(flag: string, config: AdapterConfig): S3FileSystemOptions {
  const keys = flag === 'minio' ? 'FS_MINIO' : 'FS_S3';
  const common = {
    bucket: config.require(`${keys}_BUCKET`),
    accessKey: config.get(`${keys}_ACCESS_KEY`),
    secretKey: config.get(`${keys}_SECRET_KEY`),
    keyPrefix: config.get(`${keys}_PREFIX`),
    connectTimeoutMs: config.integer(`${keys}_CONNECT_TIMEOUT_MS`, 10_000, { min: 1 }),
    configKeyPrefix: keys,
  };
  if (flag === 'minio') {
    return {
      ...common,
      endpoint: config.require('FS_MINIO_ENDPOINT'),
      accessKey: config.require('FS_MINIO_ACCESS_KEY'),
      secretKey: config.require('FS_MINIO_SECRET_KEY'),
      region: config.get('FS_MINIO_REGION'),
    };
  }
  return { ...common, endpoint: config.get('FS_S3_ENDPOINT'), region: config.require('FS_S3_REGION') };
}

/** The `--fs s3` and `--fs minio` adapter. */
export default defineAdapter({
  interface: 'filesystem',
  dependencies: { logger: REFS.logging },
  create: ({ flag, config, logger }) => new S3FileSystem({ ...optionsForFlag(flag, config), logger }),
});
