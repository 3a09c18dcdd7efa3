import type { Config } from '../config/config';
import type { Logger } from '../log';
import { watchCdiSpecs } from '../oci/cdi-cache';
import { watchDefaultMounts } from '../oci/default-mounts';
import { watchHooks } from '../oci/hooks-cache';
import type { ServerDeps } from './deps';

type SpecSources = Pick<ServerDeps, 'cdi' | 'hooks' | 'defaultMounts'>;

/**
 * Starts the file-backed sources that CreateContainer consults (CDI specs, OCI hooks, mounts.conf):
 * each is read once here and then watched, so no create reads them again unless they changed.
 */
export async function startSpecSources(config: Config, log: Logger): Promise<SpecSources> {
  const rc = config.runtime;
  const [cdi, hooks, defaultMounts] = await Promise.all([watchCdiSpecs(rc.cdi_spec_dirs, log), watchHooks(rc.hooks_dir, log), watchDefaultMounts(rc.default_mounts_file, log)]);
  return { cdi, hooks, defaultMounts };
}

/** Stops watching the sources the daemon has now (a reload may have replaced the CDI one). */
export function closeSpecSources(sources: SpecSources): void {
  sources.cdi.close();
  sources.hooks.close();
  sources.defaultMounts.close();
}
