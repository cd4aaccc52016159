/**
 * The version of the host API that plugins declare compatibility with in their manifest
 * (`host_api`, a semver range). Bumped in its major part whenever a contract changes incompatibly.
 */
export const HOST_API_VERSION = '1.0.0';
