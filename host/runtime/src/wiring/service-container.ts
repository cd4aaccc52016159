import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { PlatformError, type InterfaceName, type InterfaceRef, type InterfaceTypes } from '@platform-host/contracts';

/**
 * The DI container of one host run: tsyringe behind typed refs (DESIGN.md decision 4). Only the
 * host registers services; everything resolved through it has its interface's type.
 */
export class ServiceContainer {
  private readonly provided = new Set<InterfaceName>();

  constructor(readonly inner: DependencyContainer = rootContainer.createChildContainer()) {}

  /** Registers the constructed adapter of one interface (a singleton for this run). */
  provide<K extends InterfaceName>(ref: InterfaceRef<K>, instance: InterfaceTypes[K]): void {
    this.inner.registerInstance<InterfaceTypes[K]>(ref.token, instance);
    this.provided.add(ref.id);
  }

  /** The adapter of one interface; throws when the host did not construct it. */
  resolve<K extends InterfaceName>(ref: InterfaceRef<K>): InterfaceTypes[K] {
    if (!this.provided.has(ref.id)) {
      throw new PlatformError('PH_ERR_MODULE_DEPENDENCY', `Interface ${ref.id} was not constructed for this run`, {
        hint: `Declare "${ref.id}" in dependencies.interfaces of module.json.`,
      });
    }
    return this.inner.resolve<InterfaceTypes[K]>(ref.token);
  }

  has(ref: InterfaceRef<InterfaceName>): boolean {
    return this.provided.has(ref.id);
  }

  /** The interfaces constructed so far, in construction order. */
  interfaces(): InterfaceName[] {
    return [...this.provided];
  }
}
