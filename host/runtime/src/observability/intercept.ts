/**
 * A proxy of `target` that answers the properties in `overrides` with the given functions and
 * everything else from `target` itself: other methods bound to `target` (so private fields and
 * `this` keep working), properties read live (`dialect`, `capabilities`, `keyPrefix`, getters),
 * `instanceof` unchanged. The instrumenting proxies use it so that what they do not measure
 * behaves exactly as the adapter.
 */
export function interceptMethods<T extends B, B extends object>(
  target: T,
  overrides: { readonly [K in keyof B]?: B[K] },
): T {
  const bound = new Map<PropertyKey, { readonly original: unknown; readonly bound: unknown }>();
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return (overrides as Record<PropertyKey, unknown>)[property];
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      const cached = bound.get(property);
      if (cached?.original === value) return cached.bound;
      const fresh: unknown = (value as (...args: unknown[]) => unknown).bind(object);
      bound.set(property, { original: value, bound: fresh });
      return fresh;
    },
  });
}

/**
 * Calls `call` and reports its outcome to `settle` once it settles, returning a promise of the same
 * value or error (a synchronous throw is reported and rethrown synchronously).
 */
export function observeCall<T>(call: () => Promise<T>, settle: (outcome: 'ok' | 'error') => void): Promise<T> {
  let promise: Promise<T>;
  try {
    promise = call();
  } catch (error) {
    settle('error');
    throw error;
  }
  return promise.then(
    (value) => {
      settle('ok');
      return value;
    },
    (error: unknown) => {
      settle('error');
      throw error;
    },
  );
}
