import type { Config } from '../config/config';
import type { Logger } from '../log';
import { watchCdiSpecs } from '../oci/cdi-cache';
import { watchDefaultMounts } from '../oci/default-mounts';
import { watchHooks } from '../oci/hooks-cache';
import type { ServerDeps } from './deps';

/**
 * Starts the file-backed sources that CreateContainer consults (CDI specs, OCI hooks, mounts.conf):
 * each is read once here and then watched, so no create reads them again unless they changed.
 */
export async function startSpecSources(config: Config, log: Logger): Promise<{ deps: Pick<ServerDeps, 'cdi' | 'hooks' | 'defaultMounts'>; close(): void }> {
  const rc = config.runtime;
  const [cdi, hooks, defaultMounts] = await Promise.all([watchCdiSpecs(rc.cdi_spec_dirs, log), watchHooks(rc.hooks_dir, log), watchDefaultMounts(rc.default_mounts_file, log)]);
  return {
    deps: { cdi, hooks, defaultMounts },
    close: () => {
      cdi.close();
      hooks.close();
      defaultMounts.close();
    },
  };
}
