import type { Config } from '../config/config';
import type { Logger } from '../log';
import { CdiCache } from '../oci/cdi-cache';
import { DefaultMountsSource } from '../oci/default-mounts';
import { HooksCache } from '../oci/hooks-cache';
import type { ServerDeps } from './deps';

/**
 * Starts the file-backed sources that CreateContainer consults (CDI specs, OCI hooks, mounts.conf):
 * each is read once here and then watched, so no create reads them again unless they changed.
 */
export async function startSpecSources(config: Config, log: Logger): Promise<{ deps: Pick<ServerDeps, 'cdi' | 'hooks' | 'defaultMounts'>; close(): void }> {
  const rc = config.runtime;
  const [cdi, hooks, defaultMounts] = await Promise.all([
    CdiCache.start({ dirs: rc.cdi_spec_dirs, log }),
    HooksCache.start({ dirs: rc.hooks_dir, log }),
    DefaultMountsSource.start(rc.default_mounts_file, log),
  ]);
  return {
    deps: { cdi, hooks, defaultMounts },
    close: () => {
      cdi.close();
      hooks.close();
      defaultMounts.close();
    },
  };
}
