import { constants } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { lstat, readlink, realpath } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { sep } from 'node:path';

/**
 * Flags to open a file for reading or inspection. `O_NONBLOCK` keeps the open of a FIFO (which a
 * swapped name may point at) from blocking; only regular files are ever read, and for those the
 * flag changes nothing. `O_NOCTTY`: a terminal device never becomes the controlling terminal.
 */
export const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** Flags to open a directory (to list it or to anchor operations inside it). */
export const DIRECTORY_FLAGS = constants.O_RDONLY | (constants.O_DIRECTORY ?? 0);

/** `O_NOFOLLOW`: the open fails with `ELOOP` when the last component is a symbolic link. */
export const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

/** Whether `/proc/self/fd/<n>` names the open descriptors (Linux with /proc mounted); probed once. */
let procFdWorks: boolean | undefined = process.platform === 'linux' ? undefined : false;

/**
 * Makes {@link openedFile} and {@link anchorOf} use (`true`, when available) or not use
 * (`false`) `/proc/self/fd`; for tests of the portable fallback. Not part of the adapter's API.
 */
export function useProcFd(enabled: boolean): void {
  procFdWorks = enabled && process.platform === 'linux' ? undefined : false;
}

async function procFdPath(handle: FileHandle): Promise<string | undefined> {
  if (procFdWorks === false) return undefined;
  try {
    const real = await readlink(`/proc/self/fd/${handle.fd}`);
    procFdWorks = true;
    return real;
  } catch (error) {
    if (procFdWorks === true) throw error;
    procFdWorks = false;
    return undefined;
  }
}

/**
 * What `handle` has open: its stats, and its real path — of what was actually opened, whatever
 * happened to the name since. On Linux the kernel says it (`/proc/self/fd/<n>`, every component
 * resolved; a file removed since has " (deleted)" appended, which keeps it in its directory), read
 * together with the stats. Elsewhere it is `realpath(opened)` when that names the same device and
 * inode as the descriptor, and `undefined` when it does not (the name was swapped while it was
 * opened) or is gone; a name swapped back and forth during those calls can still pass (README).
 * `opened` is the name the handle was opened by.
 */
export async function openedFile(
  handle: FileHandle,
  opened: string,
): Promise<{ readonly stats: BigIntStats; readonly real: string | undefined }> {
  const [stats, fromKernel] = await Promise.all([handle.stat({ bigint: true }), procFdPath(handle)]);
  if (fromKernel !== undefined) return { stats, real: fromKernel.startsWith('/') ? fromKernel : undefined };
  try {
    const real = await realpath(opened);
    // lstat: a link swapped in at the last component since realpath is not followed to the file.
    const named = await lstat(real, { bigint: true });
    return { stats, real: named.dev === stats.dev && named.ino === stats.ino ? real : undefined };
  } catch {
    return { stats, real: undefined };
  }
}

/**
 * A path that names the directory `handle` has open, to create, rename, link and remove names in
 * it: `/proc/self/fd/<n>` on Linux, which the kernel resolves to the opened directory itself (a
 * directory or link swapped in along the original path since is never followed); elsewhere the
 * directory's verified real path, resolved again by name at each use.
 */
export function anchorOf(handle: FileHandle, real: string): string {
  return procFdWorks === true ? `/proc/self/fd/${handle.fd}` : real;
}

/** True when the real path `real` is `rootReal` or below it. */
export function isInside(real: string, rootReal: string): boolean {
  const base = rootReal.endsWith(sep) ? rootReal : rootReal + sep;
  return real === rootReal || real.startsWith(base);
}
